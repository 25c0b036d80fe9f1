"""What the simulated callee's side of the line sounds like, as 8 kHz μ-law.

Speech is babble (:mod:`getpatter.testing.babble`): syllables of a noisy consonant and a vowel
with gliding pitch and formants, at about -16 dBFS RMS. Energy VADs hear it (no 20 ms window of
it falls below -23 dBFS, so one utterance never splits in two) and so does a neural VAD such as
Silero, which stops hearing a steady tone within a few hundred ms. One clip of whole syllables
is synthesised on first use; an utterance repeats it from a syllable start and is cut to length,
with a 10 ms fade-out so the cut does not click. The voicemail beep is a 1 kHz tone built by
repeating one period. Making a long sound therefore costs bytes operations, not a synthesis loop
on the event loop.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import cache

__all__ = ["BEEP_MS", "SILENCE", "Sound", "beep", "speech"]

SILENCE = 0xFF
"""The μ-law byte for zero amplitude."""

BEEP_MS = 400
"""How long a voicemail beep lasts."""

_RATE = 8000
_SPEECH_RMS = 5200  # about -16 dBFS
_SPEECH_CLIP_S = 1.5  # whole syllables: the clip lasts 1.62 s
_SPEECH_SEED = 2  # of the seeds tried, the clip whose quietest 20 ms is loudest
_FADE = 80  # samples: 10 ms
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
    """``duration_ms`` of speech-like μ-law audio, starting at a syllable and fading out."""
    body = _repeat(_speech_clip(), duration_ms)
    cut = max(0, len(body) - _FADE)
    return body[:cut] + _fade_out(body[cut:])


def beep(duration_ms: int = BEEP_MS) -> bytes:
    """``duration_ms`` of a 1 kHz voicemail beep."""
    return _repeat(_beep_period(), duration_ms)


def _repeat(period: bytes, duration_ms: int) -> bytes:
    samples = duration_ms * _RATE // 1000
    return (period * (samples // len(period) + 1))[:samples]


@cache
def _speech_clip() -> bytes:
    # numpy and the babble synthesis load only when the callee first speaks.
    import numpy as np

    from getpatter.audio import pcm16_to_ulaw
    from getpatter.testing.babble import babble_loop_pcm16

    clip = babble_loop_pcm16(_RATE, _SPEECH_CLIP_S, _SPEECH_SEED)
    level = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
    return pcm16_to_ulaw(np.round(clip * (_SPEECH_RMS / level)).astype("<i2").tobytes())


def _fade_out(ulaw: bytes) -> bytes:
    from getpatter.audio import pcm16_to_ulaw, ulaw_to_pcm16

    values = struct.unpack(f"<{len(ulaw)}h", ulaw_to_pcm16(ulaw))
    faded = [round(v * (len(values) - i) / (len(values) + 1)) for i, v in enumerate(values)]
    return pcm16_to_ulaw(struct.pack(f"<{len(faded)}h", *faded))


@cache
def _beep_period() -> bytes:
    # getpatter.audio imports numpy: load it only when a sound is first made.
    from getpatter.audio import pcm16_to_ulaw

    values = [
        round(_BEEP_PEAK * math.sin(2 * math.pi * n / _BEEP_PERIOD)) for n in range(_BEEP_PERIOD)
    ]
    return pcm16_to_ulaw(struct.pack(f"<{len(values)}h", *values))
