"""One call's stream over a speech-to-text service that transcribes whole recordings.

Whisper and OpenAI's transcription models answer one uploaded file at a time; the pipeline
streams caller audio. :class:`UtteranceStream` is the adapter, an
:class:`~getpatter.stt.base.STTStream`: it buffers the audio of the current utterance (as
PCM16 at the carrier's rate: G.711 is decoded, nothing is resampled) and, when the pipeline
calls :meth:`~UtteranceStream.finalize` (its local VAD heard the caller stop), hands the
utterance as a WAV file to the provider's ``transcribe`` coroutine in a background task. The
answer comes back from :meth:`~UtteranceStream.receive_transcripts` as one final
:class:`~getpatter.stt.base.Transcript` (``is_final`` and ``speech_final``).

Utterances are transcribed one after another, in order. An utterance longer than
``max_seconds`` (30 s by default) is cut there and transcribed as a final that is not
``speech_final``; the rest of the turn follows in the next file. Utterances shorter than
0.1 s are not sent (OpenAI refuses them): they end the turn with an empty final.

A failed request ends :meth:`~UtteranceStream.receive_transcripts` with the
:class:`~getpatter.errors.PatterError` it raised; the pipeline reports it and opens a new
stream, and the call goes on (that utterance is lost).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from getpatter.audio.convert import AudioConverter
from getpatter.audio.formats import AudioFormat, bytes_per_ms, sample_rate
from getpatter.errors import ConfigError, PatterError
from getpatter.stt.base import STTEvent, Transcript

__all__ = [
    "MIN_UTTERANCE_SECONDS",
    "HallucinationFilter",
    "Recognition",
    "Transcriber",
    "UtteranceStream",
    "wav_file",
]

logger = logging.getLogger("getpatter.stt.utterance")

MIN_UTTERANCE_SECONDS = 0.1
"""Shorter audio is not sent: OpenAI refuses files under 0.1 s."""

_PCM_FORMATS: dict[int, AudioFormat] = {
    8000: "pcm16_8000",
    16000: "pcm16_16000",
    24000: "pcm16_24000",
}


@dataclass(frozen=True)
class Recognition:
    """What the service heard in one file: ``text`` and, when it says, a 0-1 ``confidence``."""

    text: str
    confidence: float | None = None


Transcriber = Callable[[bytes], Awaitable[Recognition]]
"""The provider's request: a WAV file in, what it heard out; raises ``PatterError``."""


def wav_file(pcm16: bytes, rate: int) -> bytes:
    """Mono 16-bit PCM ``pcm16`` at ``rate`` Hz as a WAV file (44-byte header + samples)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm16)
    return out.getvalue()


class HallucinationFilter:
    """Drops the finals Whisper typically makes up (spec STT-3).

    Dropped: a text that is only ``"you"``, ``"thank you"`` or punctuation (compared without
    case, punctuation or extra spaces); the same text as the last kept final when its
    utterance ended less than ``duplicate_window`` seconds after that one's (a repeat, not the
    caller answering "yes" twice); any final whose utterance ended less than ``min_gap``
    seconds after the last kept one's.
    """

    FILLERS = frozenset({"", "you", "thank you"})
    """Normalised texts Whisper produces from silence and noise."""

    def __init__(self, *, min_gap: float = 0.5, duplicate_window: float = 2.0) -> None:
        self.min_gap = min_gap
        self.duplicate_window = duplicate_window
        self._last_text: str | None = None
        self._last_end = 0.0

    def keep(self, text: str, ended_at: float | None) -> bool:
        """Whether to keep the final ``text`` of an utterance that ended at ``ended_at``
        (seconds on any monotonic clock); a kept final is the one the next are compared to.

        ``ended_at=None``: a piece of an utterance cut at ``max_seconds``, checked for fillers
        only (the next piece follows it at once).
        """
        normal = normalise(text)
        if normal in self.FILLERS:
            return False
        if ended_at is None:
            return True
        if self._last_text is not None:
            gap = ended_at - self._last_end
            if gap < self.min_gap or (normal == self._last_text and gap < self.duplicate_window):
                return False
        self._last_text, self._last_end = normal, ended_at
        return True


def normalise(text: str) -> str:
    """``text`` lower-cased, without punctuation, words separated by single spaces."""
    kept = "".join(c if c.isalnum() or c.isspace() or c == "'" else " " for c in text.lower())
    return " ".join(kept.replace("'", "").split())


@dataclass(frozen=True)
class _Utterance:
    pcm: bytes
    turn_end: bool
    ended_at: float


_CLOSED = object()


class UtteranceStream:
    """One call's stream over a recording transcriber; see the module docstring.

    ``owner`` names the provider in errors. ``audio_format`` is what :meth:`send_audio`
    receives. ``final_filter`` (or ``None``) drops suspect finals.
    """

    def __init__(
        self,
        owner: str,
        transcribe: Transcriber,
        audio_format: AudioFormat,
        *,
        max_seconds: float = 30.0,
        final_filter: HallucinationFilter | None = None,
    ) -> None:
        self._owner = owner
        self._transcribe = transcribe
        self._rate = sample_rate(audio_format)
        self._to_pcm = AudioConverter(audio_format, _PCM_FORMATS[self._rate])
        self._bytes_per_second = bytes_per_ms(_PCM_FORMATS[self._rate]) * 1000
        self._max_bytes = int(max_seconds * self._bytes_per_second) // 2 * 2
        self._min_bytes = int(MIN_UTTERANCE_SECONDS * self._bytes_per_second)
        self._filter = final_filter
        self._buffer = bytearray()
        self._pending: asyncio.Queue[_Utterance] = asyncio.Queue()
        self._events: asyncio.Queue[STTEvent | PatterError | object] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._receiving = False
        self._closed = False
        self.uploaded_bytes = 0
        """Bytes of WAV files sent so far (headers included)."""
        self.uploaded_seconds = 0.0
        """Seconds of audio sent so far: what the service bills."""

    async def connect(self) -> None:
        """Start the background task that sends utterances; there is no connection to open."""
        if self._worker is not None:
            raise RuntimeError(f"{self._owner} stream serves one call: open a new one per call")
        self._worker = asyncio.create_task(self._work(), name="patter-stt-utterances")

    async def send_audio(self, chunk: bytes) -> None:
        """Add caller audio to the current utterance; past ``max_seconds`` it is cut."""
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ConfigError(f"send_audio takes audio bytes, got {type(chunk).__name__}")
        if self._closed or not chunk:
            return
        self._buffer += self._to_pcm.convert(bytes(chunk))
        while len(self._buffer) >= self._max_bytes:
            head = bytes(self._buffer[: self._max_bytes])
            del self._buffer[: self._max_bytes]
            self._queue(head, turn_end=False)

    async def finalize(self) -> None:
        """The utterance is over: transcribe what is buffered, in the background."""
        if self._closed:
            return
        pcm = bytes(self._buffer)
        self._buffer.clear()
        self._queue(pcm, turn_end=True)

    def receive_transcripts(self) -> AsyncIterator[STTEvent]:
        """One final per utterance, until :meth:`close`; raises the error of a failed request."""
        if self._worker is None:
            raise RuntimeError(f"{self._owner} stream is not connected: await connect() first")
        if self._receiving:
            raise RuntimeError("receive_transcripts() can be iterated only once per stream")
        self._receiving = True
        return self._results()

    async def close(self) -> None:
        """Stop: utterances not transcribed yet are dropped (idempotent)."""
        if self._closed:
            return
        self._closed = True
        worker = self._worker
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        self._events.put_nowait(_CLOSED)

    def _queue(self, pcm: bytes, *, turn_end: bool) -> None:
        self._pending.put_nowait(_Utterance(pcm, turn_end, time.monotonic()))

    async def _results(self) -> AsyncIterator[STTEvent]:
        while True:
            item = await self._events.get()
            if isinstance(item, PatterError):
                raise item
            if item is _CLOSED:
                return
            yield item  # type: ignore[misc]

    async def _work(self) -> None:
        while True:
            utterance = await self._pending.get()
            try:
                event = await self._recognise(utterance)
            except PatterError as exc:
                self._events.put_nowait(exc)
                return
            if event is not None:
                self._events.put_nowait(event)

    async def _recognise(self, utterance: _Utterance) -> Transcript | None:
        pcm = utterance.pcm
        if len(pcm) < self._min_bytes:
            return self._final("", None, utterance.turn_end)
        wav = wav_file(pcm, self._rate)
        self.uploaded_bytes += len(wav)
        self.uploaded_seconds += len(pcm) / self._bytes_per_second
        heard = await self._transcribe(wav)
        text = heard.text.strip()
        if text and self._filter is not None:
            ended_at = utterance.ended_at if utterance.turn_end else None
            if not self._filter.keep(text, ended_at):
                logger.debug("%s: dropped a final that looks made up", self._owner)
                text = ""
        return self._final(text, heard.confidence if text else None, utterance.turn_end)

    def _final(self, text: str, confidence: float | None, turn_end: bool) -> Transcript | None:
        if not text and not turn_end:
            return None
        return Transcript(
            text=text,
            is_final=True,
            confidence=confidence,
            speech_final=turn_end,
            audio_seconds=round(self.uploaded_seconds, 3),
        )
