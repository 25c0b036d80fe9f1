"""G.711 μ-law and A-law <-> PCM16 (little-endian signed 16-bit) conversion.

Phone carriers send 8 kHz G.711: μ-law (PCMU) in North America and Japan, A-law (PCMA) almost
everywhere else. The conversions are table lookups: a 256-entry decode table per law and a
65536-entry encode table indexed by the unsigned 16-bit view of each sample, built on first use.
The tables match the reference codec of Python's former ``audioop`` module bit for bit
(``ulaw2lin``/``lin2ulaw``/``alaw2lin``/``lin2alaw`` with width 2): encoding keeps the top 14
(μ-law) or 13 (A-law) bits of each sample.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from getpatter.audio._pcm import PCM16, BytesLike, pcm16_samples, require_bytes

__all__ = [
    "ALAW_SILENCE",
    "ULAW_SILENCE",
    "alaw_to_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "ulaw_to_pcm16",
]

ULAW_SILENCE = b"\xff"
"""The μ-law byte that decodes to 0: pad μ-law frames with it, never with ``b"\\x00"``."""

ALAW_SILENCE = b"\xd5"
"""The A-law byte closest to 0 (it decodes to +8): pad A-law frames with it."""

_PCM16_BITS = np.dtype("<u2")

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # the largest 14-bit magnitude μ-law encodes before its bias is added


def ulaw_to_pcm16(data: BytesLike) -> bytes:
    """Decode G.711 μ-law bytes to PCM16, one 2-byte sample per input byte."""
    return _ulaw_decode_table()[_as_u8(data, "data")].tobytes()


def pcm16_to_ulaw(pcm: BytesLike) -> bytes:
    """Encode PCM16 bytes to G.711 μ-law, one byte per 2-byte sample."""
    return _ulaw_encode_table()[_as_u16(pcm, "pcm")].tobytes()


def alaw_to_pcm16(data: BytesLike) -> bytes:
    """Decode G.711 A-law bytes to PCM16, one 2-byte sample per input byte."""
    return _alaw_decode_table()[_as_u8(data, "data")].tobytes()


def pcm16_to_alaw(pcm: BytesLike) -> bytes:
    """Encode PCM16 bytes to G.711 A-law, one byte per 2-byte sample."""
    return _alaw_encode_table()[_as_u16(pcm, "pcm")].tobytes()


def _as_u8(data: BytesLike, param: str) -> npt.NDArray[np.uint8]:
    return np.frombuffer(require_bytes(param, data), dtype=np.uint8)


def _as_u16(pcm: BytesLike, param: str) -> npt.NDArray[np.uint16]:
    return pcm16_samples(param, pcm).view(_PCM16_BITS)


def _all_samples() -> npt.NDArray[np.int32]:
    """Every int16 value, placed at the index of its unsigned 16-bit bit pattern."""
    return np.arange(1 << 16, dtype=np.uint16).view(np.int16).astype(np.int32)


def _segment(magnitude: npt.NDArray[np.int32], first_limit: int) -> npt.NDArray[np.int32]:
    """Index of the first of the eight segments ``[.., first_limit << k]`` holding ``magnitude``."""
    limits = np.array([((first_limit + 1) << k) - 1 for k in range(8)], dtype=np.int32)
    return np.searchsorted(limits, magnitude, side="left").astype(np.int32)


@cache
def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << exponent
    value = np.where(code & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS)
    return value.astype(PCM16)


@cache
def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    sample = _all_samples() >> 2
    mask = np.where(sample < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(sample), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = _segment(magnitude, 0x3F)
    # The clipped, biased magnitude 8192 overflows the last segment: it encodes as the maximum.
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


@cache
def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code >> 4) & 0x07
    base = ((code & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    magnitude: npt.NDArray[np.int32] = base << np.maximum(segment - 1, 0)
    value = np.where(code & 0x80, magnitude, -magnitude)
    return value.astype(PCM16)


@cache
def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    sample = _all_samples() >> 3
    mask = np.where(sample < 0, 0x55, 0xD5)
    # A-law folds negatives onto one's complement: -1 and 0 share the smallest magnitude.
    magnitude = np.where(sample < 0, -sample - 1, sample)
    segment = _segment(magnitude, 0x1F)
    mantissa = (magnitude >> np.maximum(segment, 1)) & 0x0F
    code = (segment << 4) | mantissa
    return (code ^ mask).astype(np.uint8)
