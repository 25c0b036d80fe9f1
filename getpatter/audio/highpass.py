""":class:`HighPassFilter`: a second-order Butterworth high-pass for caller audio.

It removes mains hum (50/60 Hz), handling rumble and DC offset below ``cutoff_hz`` while speech
(whose useful energy on a phone line is 300-3400 Hz) passes. The biquad's coefficients are the
RBJ "Audio EQ Cookbook" high-pass with Q = 1/√2. It runs in numpy without a per-sample Python
loop: over a block of N samples a biquad is a linear map, ``y = T·x + O·s`` and
``s' = Aᴺ·s + Q·x`` (``s`` its two-sample state, ``T`` the lower-triangular Toeplitz matrix of
its impulse response), so each 20 ms frame costs two small matrix-vector products. The matrices
depend only on the cutoff and the sample rate and are shared by every call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from getpatter.audio._pcm import pcm16_samples
from getpatter.errors import ConfigError

__all__ = ["HighPassFilter"]

_Matrix = npt.NDArray[np.float64]


class HighPassFilter:
    """Removes audio below ``cutoff_hz`` (default 100 Hz): an :class:`~getpatter.AudioFilter`.

    ``agent(stt=..., tts=..., audio_filter=HighPassFilter())``. Attenuation is 12 dB per octave
    below the cutoff (-3 dB at it); 50 Hz hum under a 100 Hz cutoff loses about 12 dB, under
    200 Hz about 24 dB. The filter keeps its state across frames, so the output is continuous.
    """

    def __init__(self, cutoff_hz: float = 100.0) -> None:
        if isinstance(cutoff_hz, bool) or not isinstance(cutoff_hz, int | float):
            raise ConfigError(f"cutoff_hz must be a number of Hz, got {type(cutoff_hz).__name__}")
        if not 10.0 <= cutoff_hz <= 1000.0:
            raise ConfigError(f"cutoff_hz={cutoff_hz} must be between 10 and 1000 Hz")
        self.cutoff_hz = float(cutoff_hz)
        self._state: _Matrix = np.zeros(2)
        self._rate = 0

    def __repr__(self) -> str:
        return f"HighPassFilter(cutoff_hz={self.cutoff_hz:g})"

    def reset(self) -> None:
        """Forget the audio heard so far (a new call starts from silence)."""
        self._state = np.zeros(2)

    def process(self, pcm16: bytes, sample_rate: int) -> bytes:
        """``pcm16`` (16-bit LE mono at ``sample_rate``) with the low frequencies removed."""
        x = pcm16_samples("pcm16", pcm16).astype(np.float64)
        if sample_rate != self._rate:
            if self.cutoff_hz >= sample_rate / 2:
                raise ConfigError(
                    f"cutoff_hz={self.cutoff_hz:g} is not below half the {sample_rate} Hz rate"
                )
            self._rate, self._state = sample_rate, np.zeros(2)
        blocks = _blocks(self.cutoff_hz, sample_rate)
        size = blocks.size
        out = np.empty_like(x)
        state = self._state
        for start in range(0, len(x), size):
            chunk = x[start : start + size]
            n = len(chunk)
            out[start : start + n] = blocks.impulse[:n, :n] @ chunk + blocks.from_state[:n] @ state
            state = blocks.power[n] @ state + blocks.to_state[:, size - n :] @ chunk
        self._state = state
        return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True)
class _Blocks:
    """The biquad as a linear map over blocks of up to ``size`` samples (see the docstring)."""

    size: int
    impulse: _Matrix
    """``T``: output from the block's input, ``size`` x ``size``, lower triangular."""
    from_state: _Matrix
    """``O``: output from the state, ``size`` x 2."""
    power: tuple[_Matrix, ...]
    """``Aⁿ`` for n = 0..size: the state carried over n samples."""
    to_state: _Matrix
    """``Q``: the next state from the block's input, 2 x ``size`` (last n columns for n < size)."""


@cache
def _blocks(cutoff_hz: float, rate: int) -> _Blocks:
    w0 = 2 * math.pi * cutoff_hz / rate
    alpha = math.sin(w0) / math.sqrt(2)  # Q = 1/√2: sin(w0) / (2 Q)
    a0 = 1 + alpha
    b0 = b2 = (1 + math.cos(w0)) / 2 / a0
    b1 = -(1 + math.cos(w0)) / a0
    a1, a2 = -2 * math.cos(w0) / a0, (1 - alpha) / a0
    # Transposed direct form II as a state-space system: s' = A s + B x, y = C s + D x.
    a = np.array([[-a1, 1.0], [-a2, 0.0]])
    b = np.array([b1 - a1 * b0, b2 - a2 * b0])
    size = rate // 50  # 20 ms
    power = [np.eye(2)]
    for _ in range(size):
        power.append(a @ power[-1])
    response = np.empty(size)  # h[0] = D, h[m] = C A^(m-1) B
    response[0] = b0
    for m in range(1, size):
        response[m] = (power[m - 1] @ b)[0]
    lags = np.subtract.outer(np.arange(size), np.arange(size))
    impulse = np.where(lags >= 0, response[np.clip(lags, 0, None)], 0.0)
    from_state = np.array([p[0] for p in power[:size]])
    to_state = np.stack([power[size - 1 - k] @ b for k in range(size)], axis=1)
    return _Blocks(size, impulse, from_state, tuple(power), to_state)
