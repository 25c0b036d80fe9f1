""":class:`NoiseGate`: silences caller audio between words, when only line noise is left.

The level is measured in 5 ms blocks (RMS, in dBFS: 0 dB is a full-scale square wave). A block
at or above ``threshold_db`` opens the gate; it stays open for ``hold_ms`` after the last such
block, then closes. The gain moves towards 1 (open) with time constant ``attack_ms`` and towards
``-range_db`` (closed) with ``release_ms``, and is interpolated sample by sample between block
ends, so opening and closing never click.
"""

from __future__ import annotations

import math

import numpy as np

from getpatter.audio._pcm import pcm16_samples
from getpatter.errors import ConfigError

__all__ = ["NoiseGate"]

_BLOCK_MS = 5.0


class NoiseGate:
    """Attenuates audio below ``threshold_db`` dBFS by ``range_db``: an :class:`~getpatter.AudioFilter`.

    ``agent(stt=..., tts=..., audio_filter=NoiseGate(threshold_db=-45))``. Set the threshold
    between the line's noise floor and the caller's quietest speech (phone speech is typically
    -30 to -15 dBFS; a quiet line's hiss -60 to -50 dBFS).
    """

    def __init__(
        self,
        threshold_db: float = -45.0,
        *,
        range_db: float = 40.0,
        attack_ms: float = 5.0,
        release_ms: float = 150.0,
        hold_ms: float = 100.0,
    ) -> None:
        self.threshold_db = _number("threshold_db", threshold_db, -90.0, 0.0)
        self.range_db = _number("range_db", range_db, 0.0, 120.0)
        self.attack_ms = _number("attack_ms", attack_ms, 0.0, 1000.0)
        self.release_ms = _number("release_ms", release_ms, 0.0, 5000.0)
        self.hold_ms = _number("hold_ms", hold_ms, 0.0, 5000.0)
        self._closed_gain = 10 ** (-self.range_db / 20)
        self._threshold = 32768.0 * 10 ** (self.threshold_db / 20)  # as an RMS sample value
        self._gain = self._closed_gain
        self._hold_left = 0.0

    def __repr__(self) -> str:
        return (
            f"NoiseGate(threshold_db={self.threshold_db:g}, range_db={self.range_db:g}, "
            f"attack_ms={self.attack_ms:g}, release_ms={self.release_ms:g}, "
            f"hold_ms={self.hold_ms:g})"
        )

    @property
    def is_open(self) -> bool:
        """True while speech (a level over the threshold, or its hold time) is passing."""
        return self._hold_left > 0

    def reset(self) -> None:
        """Start closed, as at the beginning of a call."""
        self._gain, self._hold_left = self._closed_gain, 0.0

    def process(self, pcm16: bytes, sample_rate: int) -> bytes:
        """``pcm16`` (16-bit LE mono at ``sample_rate``) with the gate's gain applied."""
        x = pcm16_samples("pcm16", pcm16).astype(np.float64)
        if not len(x):
            return b""
        block = max(1, int(sample_rate * _BLOCK_MS / 1000))
        ends = np.arange(block, len(x) + block, block)
        ends[-1] = len(x)
        gains = np.empty(len(ends) + 1)
        gains[0] = gain = self._gain
        start = 0
        for i, end in enumerate(ends):
            chunk = x[start:end]
            ms = (end - start) * 1000 / sample_rate
            if math.sqrt(float(np.dot(chunk, chunk)) / len(chunk)) >= self._threshold:
                self._hold_left = self.hold_ms + ms  # counted down from this block's end
            self._hold_left = max(0.0, self._hold_left - ms)
            target, tau = (
                (1.0, self.attack_ms)
                if self._hold_left > 0
                else (self._closed_gain, self.release_ms)
            )
            gain += (target - gain) * (1.0 - math.exp(-ms / tau) if tau > 0 else 1.0)
            gains[i + 1] = gain
            start = int(end)
        self._gain = gain
        curve = np.interp(np.arange(1, len(x) + 1), np.concatenate(([0], ends)), gains)
        return np.clip(np.rint(x * curve), -32768, 32767).astype("<i2").tobytes()


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"NoiseGate {name} must be a number, got {type(value).__name__}")
    if not low <= value <= high:
        raise ConfigError(f"NoiseGate {name}={value} must be between {low:g} and {high:g}")
    return float(value)
