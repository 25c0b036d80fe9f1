"""Streaming sentence chunker: LLM text in, TTS-sized sentences out (spec 04, CH).

The chunker only decides where a sentence ends. A boundary is decided from the text before it
and a few characters after it, never from how the text was split into tokens, so a response
streamed token by token yields exactly the sentences it yields when pushed in one piece. When a
decision needs a character that has not arrived yet, the chunker waits for the next ``push``
(or ``flush``).
"""

from __future__ import annotations

import re

from getpatter._validation import require_bool, require_int, require_str
from getpatter.errors import InputValidationError

__all__ = ["SentenceChunker"]

# Latin terminators double as decimal points and abbreviation dots ("3.14", "e.g."), so they
# end a sentence only when whitespace follows.
_SPACED_TERMINATORS = frozenset(".!?…")
# Terminators of scripts that never use them inside a word or a number: any next character
# settles the boundary, no space needed.
_BARE_TERMINATORS = frozenset("。！？｡．；।॥؟؛۔؏։՜՞።፧។៕။༎༏")
_TERMINATORS = _SPACED_TERMINATORS | _BARE_TERMINATORS
# Characters that stay with the sentence when they follow its terminator: closing quotes and
# brackets, and Markdown emphasis/code markers ("**Done.**").
_CLOSERS = frozenset("\"'”’»›)]}」』）》〉】〕〗〙〛｣*_`")
_DASHES = frozenset("—–")

# Length the first chunk must reach before a soft boundary may end it (CH-3).
_AGGRESSIVE_MIN_CHARS = 40

_ENGLISH_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "hon", "rev", "vs", "etc", "gen", "sen",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "km", "kg", "cm", "mm", "mg", "ml", "oz", "lb", "lbs", "ft", "sq", "approx",
    }
)  # fmt: skip
# Applied only when the language is Italian: "on", "ill", "arch" and "rag" are English words.
_ITALIAN_ABBREVIATIONS = frozenset(
    {
        "sig", "sig.ra", "sgr", "dott", "dott.ssa", "prof", "avv", "ing", "geom", "rag", "arch",
        "on", "egr", "spett", "gent", "ill", "s.p.a", "s.r.l", "s.a.s", "ecc",
    }
)  # fmt: skip
# Letters joined by dots: "e.g", "i.e", "p.m", "U.S", "S.p.A", "S.r.l".
_DOTTED_LETTERS = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")
# The longest bare number read as an ordered-list marker ("12. ") at the start of a line.
_LIST_MARKER_DIGITS = 3


class SentenceChunker:
    """Groups streamed LLM text into sentences ready for text-to-speech.

    ``push(text)`` returns the sentences completed by ``text``; ``flush()`` returns the rest at
    the end of a response and arms the chunker for the next one; ``reset()`` drops buffered text
    (barge-in).

    A sentence ends at a hard terminator (CH-1). ``. ! ? …`` need whitespace after them and do
    not end a sentence when the next word starts with a lowercase letter ("e.g. this", "Hi!" she
    said). Full-width CJK and other scripts' terminators end it whatever follows. Closing quotes
    and brackets stay with their sentence; runs such as ``?!`` and ``...`` stay together. A line
    break also ends a sentence, so Markdown lists and headings reach TTS one line at a time.

    A ``.`` ends no sentence after a known abbreviation (CH-2, case-insensitive; the Italian
    list only when ``language`` is Italian), after letters joined by dots ("e.g.", "p.m.",
    "S.p.A."), after a single capital initial other than "I" ("J. R. R. Tolkien"), or after a
    bare number of up to three digits at the start of a line ("1. Pasta" is a list item). Any
    other number ends the sentence ("It was 2024. Then").

    Pieces shorter than ``min_chars`` (after stripping) are joined to the next sentence, so
    fragments such as "1." or "A." never reach TTS alone; ``flush()`` emits the tail whatever
    its length.

    ``aggressive_first_flush=True`` lets the first chunk of each response also end at ``, ``,
    ``—`` or ``–`` once it holds at least 40 characters (CH-3), for earlier first audio. A dash
    between two digits ("5–10") is a range, not a boundary. The flag has no effect when
    ``language`` starts with ``"it"`` (CH-4).
    """

    def __init__(
        self, language: str = "en", aggressive_first_flush: bool = False, min_chars: int = 3
    ) -> None:
        require_str("language", language, allow_empty=False)
        if _LANGUAGE_TAG.fullmatch(language) is None:
            raise InputValidationError(
                f"language={language!r} is not a language tag: use a BCP-47 code such as "
                "'en', 'it' or 'pt-BR'"
            )
        require_bool("aggressive_first_flush", aggressive_first_flush)
        require_int("min_chars", min_chars, minimum=0)
        italian = language.casefold().startswith("it")
        self.language = language
        self.aggressive_first_flush = aggressive_first_flush
        self.min_chars = min_chars
        self._abbreviations = (
            _ENGLISH_ABBREVIATIONS | _ITALIAN_ABBREVIATIONS if italian else _ENGLISH_ABBREVIATIONS
        )
        self._soft_boundaries = aggressive_first_flush and not italian
        self.reset()

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the sentences it completes (often none)."""
        require_str("text", text)
        self._buffer += text
        return self._split(final=False)

    def flush(self) -> list[str]:
        """End the response: return every remaining sentence, then arm for the next response."""
        sentences = self._split(final=True)
        tail = self._buffer.strip()
        if tail:
            sentences.append(tail)
        self.reset()
        return sentences

    def reset(self) -> None:
        """Drop buffered text and start a new response (used on barge-in)."""
        self._buffer = ""
        # Where scanning resumes: text before it holds no boundary, or only short pieces.
        self._scan = 0
        # Whether the buffer begins a line: true at a response start, false after a cut.
        self._at_line_start = True
        self._first_chunk = True

    def _split(self, *, final: bool) -> list[str]:
        sentences: list[str] = []
        buf = self._buffer
        i = self._scan
        while i < len(buf):
            decision = self._boundary_at(buf, i, final)
            if decision is None:
                break
            cut, resume = decision
            piece = buf[:cut].strip() if cut is not None else ""
            if piece and len(piece) >= self.min_chars:
                sentences.append(piece)
                buf = buf[cut:]
                i = 0
                self._at_line_start = False
                self._first_chunk = False
            else:
                i = resume
        self._buffer = buf
        self._scan = i
        return sentences

    def _boundary_at(self, buf: str, i: int, final: bool) -> tuple[int | None, int] | None:
        """Inspect ``buf[i]``: ``None`` to wait for more text, else ``(cut, resume)``.

        ``cut`` is where the sentence would end (``None``: no boundary here); ``resume`` is
        where scanning continues when no sentence is emitted.
        """
        ch = buf[i]
        if ch == "\n":
            return i, i + 1
        if ch in _TERMINATORS:
            end = i + 1
            while end < len(buf) and (buf[end] in _TERMINATORS or buf[end] in _CLOSERS):
                end += 1
            ends = self._ends_sentence(buf, i, end, final)
            if ends is None:
                return None
            return (end if ends else None), end
        if (ch == "," or ch in _DASHES) and self._soft_boundaries and self._first_chunk:
            if len(buf[: i + 1].strip()) < max(_AGGRESSIVE_MIN_CHARS, self.min_chars):
                return None, i + 1
            if i + 1 == len(buf):
                return (None, i + 1) if final else None
            after = buf[i + 1]
            if ch == ",":
                ends = after.isspace()
            else:
                ends = not (i > 0 and buf[i - 1].isdigit() and after.isdigit())
            return (i + 1 if ends else None), i + 1
        return None, i + 1

    def _ends_sentence(self, buf: str, start: int, end: int, final: bool) -> bool | None:
        """Whether the terminator run ``buf[start:end]`` ends a sentence; ``None``: wait."""
        run = buf[start:end]
        if any(c in _BARE_TERMINATORS for c in run):
            return True if end < len(buf) or final else None
        following = end
        while following < len(buf) and buf[following].isspace():
            following += 1
        if following == len(buf):
            return True if final else None
        if following == end or buf[following].islower():
            return False
        terminators = "".join(c for c in run if c in _TERMINATORS)
        return terminators != "." or not self._is_abbreviation(buf, start)

    def _is_abbreviation(self, buf: str, dot: int) -> bool:
        """Whether the word before the ``.`` at ``buf[dot]`` makes it an abbreviation dot."""
        begin = dot
        while begin > 0 and (buf[begin - 1].isalnum() or buf[begin - 1] == "."):
            begin -= 1
        word = buf[begin:dot].lstrip(".")
        if not word:
            return False
        if word.isdigit():
            return len(word) <= _LIST_MARKER_DIGITS and self._starts_line(buf, dot - len(word))
        if len(word) == 1:
            return word.isupper() and word != "I"
        return word.casefold() in self._abbreviations or _DOTTED_LETTERS.fullmatch(word) is not None

    def _starts_line(self, buf: str, index: int) -> bool:
        """Whether only spaces or tabs stand between the line start and ``buf[index]``."""
        before = index - 1
        while before >= 0 and buf[before] in " \t":
            before -= 1
        return buf[before] == "\n" if before >= 0 else self._at_line_start
