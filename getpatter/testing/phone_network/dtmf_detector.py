"""Hearing in-band DTMF key presses in 8 kHz μ-law, the way an IVR listens to a caller.

The audio is cut into blocks of 160 samples (20 ms, one Media Streams frame, so a stream of
frames costs one block each and needs no buffering). For each block the detector measures the
power at the eight DTMF frequencies: the value the Goertzel algorithm computes, evaluated as a
dot product with a precomputed cosine/sine basis, because a per-sample Goertzel loop in Python
would cost a hundred times more. 160 samples resolve 50 Hz; the two closest DTMF tones (697 and
770 Hz) are 73 Hz apart, past the first null of the block's spectral window, so each tone
leaks at most about -13 dB into its neighbour's bin.

A block is a key when all of these hold:

* it is loud enough: mean power of at least a sine at -35 dBm0 (quieter blocks skip the
  tone analysis, which keeps silence cheap);
* the strongest row tone and the strongest column tone together carry at least 35% of the
  block's power (a clean key carries about 100%; a block the tone only half fills, about 50%;
  a voice, a single tone or noise, far less);
* each is at least 6 dB above every other tone of its group;
* twist is within limits: the column tone at most 8 dB above the row tone ("normal" twist)
  and the row tone at most 4 dB above the column tone ("reverse" twist).

A key counts once it fills two consecutive blocks (40 ms) and counts once per press: the same
key counts again only after a block that is not that key (silence or anything else), so tones
must last at least about 40 ms, as must the silence between two presses of the same key.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from getpatter.audio.dtmf_tones import DTMF_COLUMN_HZ, DTMF_KEYPAD, DTMF_ROW_HZ, sine_peak
from getpatter.audio.g711 import ulaw_to_pcm16

__all__ = ["DtmfDetector"]

_BLOCK = 160

_RATE = 8000
_MIN_BLOCKS = 2
_MIN_MEAN_POWER = sine_peak(-35.0) ** 2 / 2
_MIN_SHARE = 0.35
_PEAK_RATIO = 10 ** (6 / 10)
_NORMAL_TWIST = 10 ** (8 / 10)
_REVERSE_TWIST = 10 ** (4 / 10)
_GROUP = len(DTMF_ROW_HZ)


class DtmfDetector:
    """Recognises DTMF key presses in a stream of μ-law audio fed in chunks of any size."""

    def __init__(self) -> None:
        self._pending = b""
        self._key: str | None = None  # what the last block was: a key, or None
        self._run = 0  # how many consecutive blocks it has been
        self._counted = False  # whether this run of the key was already reported

    def feed(self, ulaw: bytes) -> str:
        """Analyse the next chunk of μ-law audio; return the keys first recognised in it.

        A key pressed across two chunks is returned by the chunk that completes its second
        block. Samples short of a whole block wait for the next chunk.
        """
        if self._pending:
            ulaw = self._pending + ulaw
        whole = len(ulaw) - len(ulaw) % _BLOCK
        self._pending = bytes(ulaw[whole:])
        if not whole:
            return ""
        blocks = _ulaw_values()[np.frombuffer(ulaw, dtype=np.uint8, count=whole)]
        blocks = blocks.reshape(-1, _BLOCK)
        energy = np.einsum("ij,ij->i", blocks, blocks)
        loud = energy >= _MIN_MEAN_POWER * _BLOCK
        if not loud.any():
            return "".join(self._advance(None) for _ in range(len(blocks)))
        powers = np.square(blocks @ _basis())
        tone_power = (powers[:, : 2 * _GROUP] + powers[:, 2 * _GROUP :]).tolist()
        heard = ""
        for is_loud, block_energy, power in zip(
            loud.tolist(), energy.tolist(), tone_power, strict=True
        ):
            heard += self._advance(_classify(power, block_energy) if is_loud else None)
        return heard

    def _advance(self, key: str | None) -> str:
        """Take in one block's key; return it when this block completes a new press."""
        if key != self._key:
            self._key, self._run, self._counted = key, 1, False
        else:
            self._run += 1
        if key is None or self._counted or self._run < _MIN_BLOCKS:
            return ""
        self._counted = True
        return key


def _classify(tone_power: list[float], energy: float) -> str | None:
    """The key one loud block holds, from its power at the eight DTMF frequencies."""
    rows, columns = tone_power[:_GROUP], tone_power[_GROUP:]
    row = max(range(_GROUP), key=rows.__getitem__)
    column = max(range(_GROUP), key=columns.__getitem__)
    row_power, column_power = rows[row], columns[column]
    # A sine of amplitude A has power (A * _BLOCK / 2) ** 2 at its frequency and energy
    # A ** 2 * _BLOCK / 2 in the block: scaling energy by _BLOCK / 2 makes the share 1.
    if row_power + column_power < _MIN_SHARE * energy * _BLOCK / 2:
        return None
    if column_power > row_power * _NORMAL_TWIST or row_power > column_power * _REVERSE_TWIST:
        return None
    for group, best, power in ((rows, row, row_power), (columns, column, column_power)):
        if any(other * _PEAK_RATIO > power for i, other in enumerate(group) if i != best):
            return None
    return DTMF_KEYPAD[row][column]


@cache
def _ulaw_values() -> npt.NDArray[np.float64]:
    """Every μ-law byte's sample value, indexed by the byte."""
    return np.frombuffer(ulaw_to_pcm16(bytes(range(256))), dtype="<i2").astype(np.float64)


@cache
def _basis() -> npt.NDArray[np.float64]:
    """Cosines then sines of the row and column frequencies over one block: (_BLOCK, 16)."""
    hz = np.array(DTMF_ROW_HZ + DTMF_COLUMN_HZ, dtype=np.float64)
    angle = 2 * np.pi * np.outer(np.arange(_BLOCK), hz) / _RATE
    return np.hstack([np.cos(angle), np.sin(angle)])
