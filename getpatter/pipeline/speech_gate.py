"""What caller audio goes to an STT that transcribes one utterance at a time.

A streaming STT hears the whole call. A service billed per uploaded second that answers one
file per utterance (Whisper, OpenAI Transcribe: ``STTCapabilities.streaming=False``) only
needs the caller's speech: the agent's local VAD opens the gate when speech starts and
closes it when speech stops. The VAD reports a start some time after the speech began (Silero
waits ``min_speech_ms``), so the gate keeps the last moments of audio and, on opening, sends
them from :data:`LEAD_MS` before the onset the VAD named. Silence between turns, which would
cost upload time and money and which Whisper turns into made-up words, is never sent.
"""

from __future__ import annotations

from getpatter.audio.formats import AudioFormat, bytes_per_ms

__all__ = ["LEAD_MS", "SpeechGate"]

LEAD_MS = 300
"""Audio sent from before the onset the VAD named: soft first sounds, and context for the
model."""
_KEPT_MS = 3000
"""The most audio kept while closed (a VAD reporting speech later than this clips it)."""


class SpeechGate:
    """Lets audio in ``audio_format`` through only while the caller speaks; see the module."""

    def __init__(self, audio_format: AudioFormat) -> None:
        self._per_ms = bytes_per_ms(audio_format)
        self._kept = bytearray()
        self._open = False
        self._lead_bytes: int | None = None

    def open(self, onset_ago_ms: float) -> None:
        """Speech started ``onset_ago_ms`` before the end of the audio the VAD has heard
        (which includes the frame :meth:`admit` gets next)."""
        self._open = True
        self._lead_bytes = int(max(0.0, onset_ago_ms) + LEAD_MS) * self._per_ms

    def close(self) -> None:
        """Speech stopped: keep audio back from the next frame on."""
        self._open = False
        self._lead_bytes = None

    def admit(self, audio: bytes) -> bytes:
        """What of ``audio`` (and of the audio kept back) to send now."""
        if not self._open:
            self._kept += audio
            excess = len(self._kept) - _KEPT_MS * self._per_ms
            if excess > 0:
                del self._kept[:excess]
            return b""
        if self._lead_bytes is None:
            return audio
        lead, self._lead_bytes = self._lead_bytes, None
        held = bytes(self._kept) + audio
        self._kept.clear()
        return held[-lead:] if lead < len(held) else held
