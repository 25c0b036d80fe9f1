"""What the pipeline needs from a speech-to-text provider.

A provider object (``DeepgramSTT(...)``) is configuration plus shared resources; it serves every
call of an agent. Each call opens its own :class:`STTStream` with :meth:`STTProvider.open_stream`
and closes it when the call ends: one call ending never closes the provider for the others.
Nothing outside a provider's module knows its wire format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from getpatter.engines.base import AudioFormat

__all__ = [
    "STTCapabilities",
    "STTEvent",
    "STTProvider",
    "STTSpeechStarted",
    "STTStream",
    "Transcript",
    "UtteranceEnd",
]


@dataclass(frozen=True)
class STTCapabilities:
    """What a provider can do; the pipeline adapts to it.

    ``streaming``: audio goes up as it arrives and transcripts come back during speech (otherwise
    the pipeline sends one utterance at a time). ``interim_results``: partial transcripts arrive
    before the final one. ``endpointing``: the provider says when the speaker finished
    (``Transcript.speech_final`` or :class:`UtteranceEnd`). ``input_formats``: the audio formats
    it accepts as they are, best first; the pipeline sends the carrier's own format when it is
    listed, so nothing is transcoded.
    """

    streaming: bool
    interim_results: bool
    endpointing: bool
    input_formats: tuple[AudioFormat, ...]


@dataclass(frozen=True)
class Transcript:
    """Text the provider recognised (spec PV-3: ``text``, ``is_final``, ``confidence``).

    ``is_final``: this stretch of audio will not be transcribed again. ``speech_final``: the
    provider's endpointer also decided the speaker finished. ``audio_seconds`` is how much audio
    the provider has billed so far on this stream, when it says (for cost).
    """

    text: str
    is_final: bool
    confidence: float | None = None
    speech_final: bool = False
    audio_seconds: float | None = None
    speech_end: float | None = None
    """Where the last recognised word ended, in seconds of this stream's audio, when known."""


@dataclass(frozen=True)
class STTSpeechStarted:
    """The provider's own voice-activity detection heard speech begin."""


@dataclass(frozen=True)
class UtteranceEnd:
    """The provider saw a gap after the last word: the utterance is over."""


STTEvent = Transcript | STTSpeechStarted | UtteranceEnd


@runtime_checkable
class STTStream(Protocol):
    """One call's recognition session (spec PV-3's low-level contract, per call)."""

    async def connect(self) -> None:
        """Open the session. Raises a :class:`~getpatter.errors.PatterError` on failure."""
        ...

    async def send_audio(self, chunk: bytes) -> None:
        """Send caller audio in the format the stream was opened with."""
        ...

    async def finalize(self) -> None:
        """The local VAD heard the end of a turn: flush what is buffered into a final result."""
        ...

    def receive_transcripts(self) -> AsyncIterator[STTEvent]:
        """The provider's results, until the stream closes. Raises ``PatterError`` if it drops."""
        ...

    async def close(self) -> None:
        """End the session (idempotent)."""
        ...


@runtime_checkable
class STTProvider(Protocol):
    """A speech-to-text service; see the module docstring."""

    name: str
    """The provider's key in the price table (``"deepgram"``)."""
    capabilities: STTCapabilities

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> STTStream:
        """A new, unconnected stream for one call, receiving ``audio_format``.

        ``None`` keeps the provider's own setting (its constructor's format or language).
        """
        ...
