"""Noticing that the far end keeps saying the same thing: TF-IDF over its recent utterances.

An automated phone menu that did not take the key pressed (or heard none) plays its prompt
again, word for word or nearly. :class:`TfidfLoopDetector` keeps the far end's last
``window_size`` final transcripts, weighs their words by TF-IDF (raw counts times the smoothed
inverse document frequency ``ln((1 + n) / (1 + df)) + 1``, rows scaled to unit length, as
scikit-learn's ``TfidfVectorizer`` does by default) and compares the newest utterance with each
earlier one by cosine similarity. An utterance whose best match reaches
``similarity_threshold`` is a repeat; ``consecutive_threshold`` repeats in a row are a loop.

The window is small (20 short texts), so the matrix is built afresh for each utterance with
numpy: about 0.25 ms with a full window, once per far-end sentence, never per audio frame.
"""

from __future__ import annotations

import re

import numpy as np

from getpatter._validation import require_int, require_number, require_str
from getpatter.errors import ConfigError

__all__ = ["TfidfLoopDetector"]

_WORDS = re.compile(r"\w+")


class TfidfLoopDetector:
    """Counts how many of the far end's utterances in a row repeat an earlier one.

    Args:
        window_size: How many recent utterances are kept and compared (1-200, default 20).
        similarity_threshold: The TF-IDF cosine similarity (0-1, default 0.85) at which an
            utterance counts as a repeat of an earlier one in the window.
        consecutive_threshold: How many repeats in a row make a loop (1-50, default 2: a
            prompt heard three times, or a two-sentence prompt heard twice).
        min_words: Utterances with fewer words are ignored (not kept, not counted, the run
            of repeats is not broken): "Goodbye." or "Sorry?" repeated is no menu loop
            (0-50, default 3).

    Feed it final transcripts with :meth:`add`, which says when a loop is found; after that,
    call :meth:`reset` (IVRActivity does) so the next loop needs fresh repeats.
    """

    def __init__(
        self,
        *,
        window_size: int = 20,
        similarity_threshold: float = 0.85,
        consecutive_threshold: int = 2,
        min_words: int = 3,
    ) -> None:
        self.window_size = require_int("window_size", window_size, minimum=1, maximum=200)
        threshold = require_number("similarity_threshold", similarity_threshold)
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(
                f"similarity_threshold must be above 0 and at most 1 (a cosine similarity; "
                f"0.85 catches a prompt replayed with small transcription differences), "
                f"got {similarity_threshold!r}"
            )
        self.similarity_threshold = float(threshold)
        self.consecutive_threshold = require_int(
            "consecutive_threshold", consecutive_threshold, minimum=1, maximum=50
        )
        self.min_words = require_int("min_words", min_words, minimum=0, maximum=50)
        self._texts: list[list[str]] = []
        self.repeats = 0
        """Utterances in a row, up to the latest, that repeated an earlier one."""
        self.last_similarity = 0.0
        """The latest counted utterance's best similarity with an earlier one (0 if none)."""

    def fresh(self) -> TfidfLoopDetector:
        """A new, empty detector with the same settings (one per call)."""
        return TfidfLoopDetector(
            window_size=self.window_size,
            similarity_threshold=self.similarity_threshold,
            consecutive_threshold=self.consecutive_threshold,
            min_words=self.min_words,
        )

    def add(self, text: str) -> bool:
        """Take the far end's next final transcript; True when it completes a loop."""
        words = _WORDS.findall(require_str("text", text).casefold())
        if not words or len(words) < self.min_words:
            return False
        self._texts.append(words)
        del self._texts[: -self.window_size]
        self.last_similarity = _best_match(self._texts)
        if self.last_similarity >= self.similarity_threshold:
            self.repeats += 1
        else:
            self.repeats = 0
        return self.repeats >= self.consecutive_threshold

    def reset(self) -> None:
        """Forget every utterance: the next loop is counted from scratch."""
        self._texts = []
        self.repeats = 0
        self.last_similarity = 0.0

    def __repr__(self) -> str:
        return (
            f"TfidfLoopDetector(window_size={self.window_size}, "
            f"similarity_threshold={self.similarity_threshold}, "
            f"consecutive_threshold={self.consecutive_threshold}, min_words={self.min_words})"
        )


def _best_match(texts: list[list[str]]) -> float:
    """The highest TF-IDF cosine similarity between the last text and each earlier one."""
    if len(texts) < 2:
        return 0.0
    vocabulary: dict[str, int] = {}
    cells: list[int] = []  # row * (a bound on the vocabulary) + column, one per word
    width = sum(len(words) for words in texts)
    for row, words in enumerate(texts):
        cells.extend(row * width + vocabulary.setdefault(word, len(vocabulary)) for word in words)
    counts = np.bincount(cells, minlength=len(texts) * width).reshape(len(texts), width)
    counts = counts[:, : len(vocabulary)].astype(np.float64)
    document_frequency = np.count_nonzero(counts, axis=0)
    weights = counts * (np.log((1 + len(texts)) / (1 + document_frequency)) + 1)
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    return float(np.max(weights[:-1] @ weights[-1]))
