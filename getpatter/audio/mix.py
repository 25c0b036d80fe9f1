"""Mixing two PCM16 streams, such as an agent's voice over background audio."""

from __future__ import annotations

import math

import numpy as np

from getpatter._validation import require_number
from getpatter.audio._pcm import PCM16, BytesLike, pcm16_samples
from getpatter.errors import ConfigError

__all__ = ["mix_pcm"]


def mix_pcm(a: BytesLike, b: BytesLike, *, gain_a: float = 1.0, gain_b: float = 1.0) -> bytes:
    """Return ``a * gain_a + b * gain_b`` as PCM16, saturating at the int16 limits.

    Both inputs are mono PCM16 at the same sample rate. The output is as long as the longer
    input; the shorter one counts as silence past its end. Gains are linear (``0.5`` is about
    -6 dB) and must be finite and >= 0. Samples are rounded to the nearest integer and clipped
    to [-32768, 32767] instead of wrapping around.
    """
    ga = _require_gain("gain_a", gain_a)
    gb = _require_gain("gain_b", gain_b)
    xa = pcm16_samples("a", a)
    xb = pcm16_samples("b", b)
    if len(xa) < len(xb):
        xa, xb, ga, gb = xb, xa, gb, ga
    mixed = xa * ga
    mixed[: len(xb)] += xb * gb
    np.rint(mixed, out=mixed)
    np.clip(mixed, -32768.0, 32767.0, out=mixed)
    return mixed.astype(PCM16).tobytes()


def _require_gain(param: str, value: object) -> float:
    gain = require_number(param, value)
    if not math.isfinite(gain) or gain < 0:
        raise ConfigError(f"{param} must be a finite number >= 0 (1.0 keeps the level), got {gain}")
    return gain
