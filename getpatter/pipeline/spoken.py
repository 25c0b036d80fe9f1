"""What a pipeline response has put on the line, and when each stage of a turn happened.

:class:`Spoken` keeps a response's sentences with the audio each made, so a barge-in or a
failure keeps exactly the words the caller heard. :class:`TurnTimings` holds a turn's
monotonic timestamps and turns them into the turn's :class:`LatencyBreakdown` (spec MT-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from getpatter.observability.metrics import LatencyBreakdown

__all__ = ["Sentence", "Spoken", "TurnTimings"]

MS_PER_CHAR = 65
"""Typical speech rate of TTS voices, to estimate a sentence still being synthesised."""


@dataclass
class Sentence:
    """One sentence put on the line: its text and how much audio it made."""

    text: str
    audio_ms: float = 0.0
    complete: bool = False
    provider: str = ""
    """The price key of the fallback TTS provider that spoke it ("": the agent's TTS)."""


@dataclass
class Spoken:
    """What one response has put on the line: sentences and their audio length."""

    sentences: list[Sentence] = field(default_factory=list)
    blocked: bool = False
    """A guardrail replaced a sentence: the rest of the response is not spoken."""
    round_start: int = 0
    """Index of the first sentence of the current brain round (rounds split at tool calls)."""
    round_in_context: bool = False
    """The current round's text is already in the conversation."""
    transcribed: bool = False
    """Its :class:`AgentTranscript` was emitted (whole, or what was heard of it)."""
    generated: int = 0
    """Characters of text produced for it (the brain's, or the verbatim text), spoken or not."""

    def heard(self, played_ms: float, since: int = 0) -> str:
        """The words of sentences ``since`` onwards the caller heard when ``played_ms`` of
        this response had played.

        A sentence still being synthesised has an unknown length: it is estimated at
        ``MS_PER_CHAR`` (or what has arrived, if longer).
        """
        words: list[str] = []
        left = played_ms
        for index, sentence in enumerate(self.sentences):
            length = sentence.audio_ms
            if not sentence.complete:
                length = max(length, MS_PER_CHAR * len(sentence.text))
            if left >= length:
                if index >= since:
                    words.append(sentence.text)
                left -= length
                continue
            if left > 0 and length > 0 and index >= since:
                cut = sentence.text[: int(len(sentence.text) * left / length)]
                partial = cut.rsplit(" ", 1)[0] if " " in cut else ""
                if partial:
                    words.append(partial)
            break
        return " ".join(words)

    @property
    def text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences)

    def keep_heard(self) -> None:
        """After a failure: keep only the words that reached the line (what the audio covers)."""
        played = sum(sentence.audio_ms for sentence in self.sentences)
        heard = self.heard(played)
        self.sentences = [Sentence(heard, played, complete=True)] if heard else []
        self.round_start = min(self.round_start, len(self.sentences))

    @property
    def round_text(self) -> str:
        return " ".join(sentence.text for sentence in self.sentences[self.round_start :])

    @property
    def characters(self) -> int:
        return sum(len(sentence.text) for sentence in self.sentences)

    def characters_by_provider(self) -> dict[str, int]:
        """Characters spoken by a fallback TTS's other providers, by price key."""
        counts: dict[str, int] = {}
        for sentence in self.sentences:
            if sentence.provider:
                counts[sentence.provider] = counts.get(sentence.provider, 0) + len(sentence.text)
        return counts


@dataclass
class TurnTimings:
    """Timings of the turn being answered (monotonic seconds)."""

    speech_end: float | None = None
    """When the caller's last word ended (the STT's word timings, or the VAD's)."""
    endpoint_at: float | None = None
    """When the end of the turn was decided (the STT's endpoint, or the VAD's)."""
    final_at: float | None = None
    """When the final transcript of the last words arrived."""
    transcript_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    first_sentence_at: float | None = None
    first_audio_at: float | None = None
    last_audio_at: float | None = None

    def latency(self) -> LatencyBreakdown:
        return LatencyBreakdown(
            stt_ms=_ms(self.final_at or self.transcript_at, self.speech_end),
            endpoint_ms=_ms(self.endpoint_at, self.speech_end),
            llm_ttft_ms=_ms(self.first_token_at, self.transcript_at),
            llm_total_ms=_ms(self.last_token_at, self.transcript_at),
            tts_ms=_ms(self.first_audio_at, self.first_sentence_at),
            tts_total_ms=_ms(self.last_audio_at, self.first_sentence_at),
        )


def _ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier) * 1000
