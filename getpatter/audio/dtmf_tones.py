"""DTMF key presses as in-band dual tones, in 8 kHz G.711 μ-law.

Twilio Media Streams have no message for sending a key press, so an agent presses keys the
way a handset does: it plays the key's two tones into its outbound audio, and the IVR at the
far end detects them. Each key is one tone from the low (row) group plus one from the high
(column) group of the keypad; ``w`` and ``W`` are pauses of 0.5 s and 1 s, as in Twilio's
``SendDigits``.
"""

from __future__ import annotations

import math

import numpy as np

from getpatter._validation import require_int, require_number, require_str
from getpatter.audio.g711 import ULAW_SILENCE, pcm16_to_ulaw
from getpatter.errors import ConfigError, InputValidationError

__all__ = [
    "DTMF_COLUMN_HZ",
    "DTMF_KEYPAD",
    "DTMF_KEYS",
    "DTMF_PAUSES_MS",
    "DTMF_ROW_HZ",
    "MAX_KEYS",
    "check_digits",
    "dtmf_ulaw",
    "sine_peak",
]

DTMF_KEYS = "0123456789*#ABCD"
"""The sixteen keys :func:`dtmf_ulaw` can press (A-D exist on some keypads)."""

DTMF_PAUSES_MS = {"w": 500, "W": 1000}
"""Pause characters accepted among the keys, and how long each one is silent."""

DTMF_ROW_HZ = (697, 770, 852, 941)
"""The low-group frequency of each keypad row, top to bottom."""

DTMF_COLUMN_HZ = (1209, 1336, 1477, 1633)
"""The high-group frequency of each keypad column, left to right."""

DTMF_KEYPAD = ("123A", "456B", "789C", "*0#D")
"""The keys by row, then column: key ``DTMF_KEYPAD[r][c]`` sounds row ``r`` plus column ``c``."""

MAX_KEYS = 32
"""The longest ``digits`` string :func:`dtmf_ulaw` accepts, pauses included."""

_RATE = 8000
_FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law: carriers send whole frames
_MIN_LEVEL_DBM0 = -30.0
_MAX_LEVEL_DBM0 = -3.0  # two tones at -3 dBm0 each still fit under full scale without clipping
# G.711: a sine whose peak is the μ-law full scale (8159 in 14-bit units) is +3.17 dBm0.
_FULL_SCALE_PEAK = 8159 * 4
_FULL_SCALE_DBM0 = 3.17

_ALLOWED = DTMF_KEYS + "".join(DTMF_PAUSES_MS)
_TONES_HZ = {
    key: (row_hz, column_hz)
    for row_hz, keys in zip(DTMF_ROW_HZ, DTMF_KEYPAD, strict=True)
    for column_hz, key in zip(DTMF_COLUMN_HZ, keys, strict=True)
}


def sine_peak(level_dbm0: float) -> float:
    """The PCM16 peak amplitude of a sine at ``level_dbm0`` (dBm0, the G.711 power scale)."""
    return _FULL_SCALE_PEAK * 10 ** ((level_dbm0 - _FULL_SCALE_DBM0) / 20)


def dtmf_ulaw(
    digits: str, *, tone_ms: int = 100, gap_ms: int = 60, level_dbm0: float = -10.0
) -> bytes:
    """The key presses in ``digits`` as 8 kHz μ-law, ready to send as outbound call audio.

    Each key plays its two tones for ``tone_ms``, each tone at ``level_dbm0``, then ``gap_ms``
    of silence, so a repeated key (``"11"``) is heard as two presses. ``w`` pauses 500 ms and
    ``W`` 1000 ms. The result is padded with silence to whole 20 ms frames (160 bytes).

    Raises ``InputValidationError`` when ``digits`` is empty, longer than 32 characters or
    holds anything but ``0-9 * # A-D w W``; ``ConfigError`` when a number is out of range
    (``tone_ms`` and ``gap_ms`` 40-500, ``level_dbm0`` -30 to -3).
    """
    digits = require_str("digits", digits)
    tone_ms = require_int("tone_ms", tone_ms, minimum=40, maximum=500)
    gap_ms = require_int("gap_ms", gap_ms, minimum=40, maximum=500)
    level = require_number("level_dbm0", level_dbm0)
    if not _MIN_LEVEL_DBM0 <= level <= _MAX_LEVEL_DBM0:
        raise ConfigError(
            f"level_dbm0 must be between {_MIN_LEVEL_DBM0:g} and {_MAX_LEVEL_DBM0:g} dBm0 "
            f"(the level of each tone; phones use about -10), got {level_dbm0!r}"
        )
    check_digits(digits)
    gap = ULAW_SILENCE * (gap_ms * _RATE // 1000)
    presses: dict[str, bytes] = {}
    parts: list[bytes] = []
    for char in digits:
        if char in DTMF_PAUSES_MS:
            parts.append(ULAW_SILENCE * (DTMF_PAUSES_MS[char] * _RATE // 1000))
            continue
        if char not in presses:
            presses[char] = _tone_pair(*_TONES_HZ[char], tone_ms, sine_peak(level)) + gap
        parts.append(presses[char])
    audio = b"".join(parts)
    return audio + ULAW_SILENCE * (-len(audio) % _FRAME_BYTES)


def check_digits(digits: str) -> None:
    """Raise ``InputValidationError`` unless ``digits`` is what :func:`dtmf_ulaw` can press."""
    allowed = "the keys 0-9 * # A B C D and the pauses w (0.5 s) and W (1 s)"
    if not digits:
        raise InputValidationError(f"digits must not be empty: use {allowed}, e.g. '1234#'")
    wrong = sorted({char for char in digits if char not in _ALLOWED})
    if wrong:
        raise InputValidationError(
            f"digits={digits!r} holds {''.join(wrong)!r}: use only {allowed} (A-D upper case)"
        )
    if len(digits) > MAX_KEYS:
        raise InputValidationError(
            f"digits has {len(digits)} characters: send at most {MAX_KEYS} keys and pauses "
            "at a time"
        )


def _tone_pair(row_hz: int, column_hz: int, tone_ms: int, peak: float) -> bytes:
    step = 2 * math.pi * np.arange(tone_ms * _RATE // 1000) / _RATE
    samples = peak * (np.sin(row_hz * step) + np.sin(column_hz * step))
    return pcm16_to_ulaw(np.round(samples).astype("<i2").tobytes())
