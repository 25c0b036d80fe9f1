"""What the simulated callee's side of the line sounds like, as 8 kHz μ-law.

Speech is a steady voiced tone (a 160 Hz fundamental and three harmonics, about -16 dBFS RMS):
loud enough for any energy VAD, with no dips that would split one utterance in two. The
voicemail beep is a 1 kHz tone. Both are built by repeating one precomputed period, so making
a long utterance costs a bytes multiplication, not a synthesis loop on the event loop.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

__all__ = ["BEEP_MS", "SILENCE", "Sound", "beep", "speech"]

SILENCE = 0xFF
"""The μ-law byte for zero amplitude."""

BEEP_MS = 400
"""How long a voicemail beep lasts."""

_RATE = 8000
_SPEECH_HARMONICS = (1.0, 0.5, 0.33, 0.25)
_SPEECH_PEAK = 6000
_SPEECH_PERIOD = 50  # samples: 8000 / 50 = 160 Hz
_BEEP_PEAK = 8000
_BEEP_PERIOD = 8  # samples: 1 kHz


@dataclass(frozen=True)
class Sound:
    """μ-law audio the callee's line plays from ``start`` (event-loop time, seconds)."""

    start: float
    ulaw: bytes

    @property
    def end(self) -> float:
        """When the sound stops (event-loop time, seconds)."""
        return self.start + len(self.ulaw) / _RATE

    def paint(self, out: bytearray, at: float) -> None:
        """Write the part of this sound that plays over ``out``, a frame starting at ``at``."""
        offset = round((at - self.start) * _RATE)
        first = max(0, -offset)
        last = min(len(out), len(self.ulaw) - offset)
        if first < last:
            out[first:last] = self.ulaw[offset + first : offset + last]


def speech(duration_ms: int) -> bytes:
    """``duration_ms`` of speech-like μ-law audio."""
    return _repeat(_speech_period(), duration_ms)


def beep(duration_ms: int = BEEP_MS) -> bytes:
    """``duration_ms`` of a 1 kHz voicemail beep."""
    return _repeat(_beep_period(), duration_ms)


def _repeat(period: bytes, duration_ms: int) -> bytes:
    samples = duration_ms * _RATE // 1000
    return (period * (samples // len(period) + 1))[:samples]


@cache
def _speech_period() -> bytes:
    return _encode(
        _SPEECH_PEAK
        * sum(
            weight * math.sin(2 * math.pi * (k + 1) * n / _SPEECH_PERIOD)
            for k, weight in enumerate(_SPEECH_HARMONICS)
        )
        for n in range(_SPEECH_PERIOD)
    )


@cache
def _beep_period() -> bytes:
    return _encode(
        _BEEP_PEAK * math.sin(2 * math.pi * n / _BEEP_PERIOD) for n in range(_BEEP_PERIOD)
    )


def _encode(samples: Iterable[float]) -> bytes:
    # getpatter.audio imports numpy: load it only when a sound is first made.
    from getpatter.audio import pcm16_to_ulaw

    values = [round(value) for value in samples]
    return pcm16_to_ulaw(struct.pack(f"<{len(values)}h", *values))
