"""What each audio format Patter moves is: its rate, its bytes per millisecond, its silence.

Carriers stream one of these on the wire (after their media codec has undone any wire-only
detail, such as the big-endian byte order of RTP's L16); engines, STT and TTS providers say
which of them they take. This module has no dependencies, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = [
    "AudioFormat",
    "bytes_per_ms",
    "choose_format",
    "frame_size",
    "sample_rate",
    "silence",
]

AudioFormat = Literal["ulaw_8000", "alaw_8000", "pcm16_8000", "pcm16_16000", "pcm16_24000"]
"""``ulaw_8000`` / ``alaw_8000`` are G.711 μ-law / A-law at 8 kHz, one byte a sample;
``pcm16_*`` are signed 16-bit little-endian mono PCM at the given rate."""

_RATES: dict[str, int] = {
    "ulaw_8000": 8000,
    "alaw_8000": 8000,
    "pcm16_8000": 8000,
    "pcm16_16000": 16000,
    "pcm16_24000": 24000,
}
_SILENCE: dict[str, bytes] = {"ulaw_8000": b"\xff", "alaw_8000": b"\xd5"}


def sample_rate(audio_format: AudioFormat) -> int:
    """The sample rate of ``audio_format``, in Hz."""
    return _RATES[audio_format]


def bytes_per_ms(audio_format: AudioFormat) -> int:
    """How many bytes one millisecond of ``audio_format`` takes."""
    width = 1 if audio_format in _SILENCE else 2
    return _RATES[audio_format] * width // 1000


def frame_size(audio_format: AudioFormat, frame_ms: int = 20) -> int:
    """The bytes of one ``frame_ms`` frame (160 for 20 ms of μ-law, 640 for PCM16 16 kHz)."""
    return bytes_per_ms(audio_format) * frame_ms


def silence(audio_format: AudioFormat) -> bytes:
    """One sample of silence: repeat it to pad a frame."""
    return _SILENCE.get(audio_format, b"\x00\x00")


def choose_format(preferred: AudioFormat, supported: Sequence[AudioFormat]) -> AudioFormat:
    """``preferred`` when ``supported`` has it (no conversion), else the first supported."""
    return preferred if preferred in supported else supported[0]
