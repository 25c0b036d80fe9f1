"""DTMF tone generation: the right tones, heard back as the right keys, framed and validated."""

from __future__ import annotations

import numpy as np
import pytest

from getpatter.audio import ulaw_to_pcm16
from getpatter.audio.dtmf_tones import DTMF_KEYS, dtmf_ulaw, sine_peak
from getpatter.errors import ConfigError, ErrorCode, InputValidationError
from getpatter.testing.phone_network.dtmf_detector import DtmfDetector

FRAME = 160
SILENT = 0xFF
KEY_HZ = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip


def samples(ulaw: bytes) -> np.ndarray:
    return np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(np.float64)


def heard(ulaw: bytes) -> str:
    return DtmfDetector().feed(ulaw)


def test_every_key_is_heard_back_in_order() -> None:
    assert DTMF_KEYS == "0123456789*#ABCD"
    assert heard(dtmf_ulaw(DTMF_KEYS)) == DTMF_KEYS
    assert heard(dtmf_ulaw("#DCBA*9876543210")) == "#DCBA*9876543210"


@pytest.mark.parametrize("key", DTMF_KEYS)
def test_each_key_sounds_its_row_and_column_frequencies(key: str) -> None:
    tone = samples(dtmf_ulaw(key, tone_ms=500)[:4000])
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(tone.size), n=8000))  # 1 Hz bins
    low = 600 + int(np.argmax(spectrum[600:1100]))
    high = 1100 + int(np.argmax(spectrum[1100:1800]))
    assert (low, high) == KEY_HZ[key]
    # Nothing else: the two peaks are at least 30 dB above anything 20 Hz away from them.
    far = np.ones(spectrum.size, dtype=bool)
    for hz in (low, high):
        far[hz - 20 : hz + 21] = False
    assert spectrum[far].max() < spectrum[low] / 31.6


def test_a_repeated_key_is_two_presses_thanks_to_the_gap() -> None:
    assert heard(dtmf_ulaw("11")) == "11"
    assert heard(dtmf_ulaw("1111", tone_ms=40, gap_ms=40)) == "1111"
    audio = samples(dtmf_ulaw("11"))
    assert not audio[800:1280].any()  # 60 ms of silence after the 100 ms tone
    assert audio[1280:2080].any()


def test_pauses_are_silent_and_last_like_twilio_send_digits() -> None:
    assert dtmf_ulaw("w") == bytes([SILENT]) * 4000
    assert dtmf_ulaw("W") == bytes([SILENT]) * 8000
    audio = dtmf_ulaw("1W2")
    tone, gap = 800, 480
    assert audio[tone : tone + gap + 8000] == bytes([SILENT]) * (gap + 8000)
    second = samples(audio[tone + gap + 8000 :][:tone])
    assert np.sqrt(np.mean(second**2)) > 1000
    assert heard(audio) == "12"
    assert heard(dtmf_ulaw("ww5w")) == "5"


@pytest.mark.parametrize(
    ("digits", "tone_ms", "gap_ms"),
    [("1", 100, 60), ("12", 45, 41), ("#w", 77, 133), ("9" * 32, 500, 500), ("W", 40, 40)],
)
def test_audio_is_whole_20_ms_frames_padded_with_silence(
    digits: str, tone_ms: int, gap_ms: int
) -> None:
    audio = dtmf_ulaw(digits, tone_ms=tone_ms, gap_ms=gap_ms)
    pauses = {"w": 500, "W": 1000}
    sound = sum(8 * pauses.get(char, tone_ms + gap_ms) for char in digits)
    assert len(audio) == -(-sound // FRAME) * FRAME
    assert audio[sound:] == bytes([SILENT]) * (len(audio) - sound)


def test_each_tone_has_the_requested_level() -> None:
    for level in (-3.0, -10.0, -30.0):
        tone = samples(dtmf_ulaw("5", level_dbm0=level)[:800])
        # Two tones of peak P each have an RMS of P together.
        rms_db = 20 * np.log10(np.sqrt(np.mean(tone**2)) / sine_peak(level))
        assert abs(rms_db) < 0.3
        assert heard(dtmf_ulaw("5", level_dbm0=level)) == "5"


@pytest.mark.parametrize("digits", ["", "12a", "1-2", "1 2", "x", "9" * 33, "5" + "w" * 32])
def test_bad_digits_name_the_allowed_keys(digits: str) -> None:
    with pytest.raises(InputValidationError) as caught:
        dtmf_ulaw(digits)
    assert caught.value.code is ErrorCode.INPUT_VALIDATION
    message = str(caught.value)
    assert "digits" in message
    assert ("0-9 * # A B C D" in message) or ("at most 32" in message)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tone_ms": 39},
        {"tone_ms": 501},
        {"gap_ms": 39},
        {"gap_ms": 501},
        {"tone_ms": 100.0},
        {"tone_ms": True},
        {"level_dbm0": -2.0},
        {"level_dbm0": -31},
        {"level_dbm0": float("nan")},
        {"level_dbm0": "-10"},
    ],
)
def test_out_of_range_numbers_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        dtmf_ulaw("1", **kwargs)  # type: ignore[arg-type]
    assert next(iter(kwargs)) in str(caught.value)


def test_digits_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match="digits must be a str"):
        dtmf_ulaw(123)  # type: ignore[arg-type]
