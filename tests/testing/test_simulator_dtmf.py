"""The Twilio simulator's DTMF detector: hears key presses, and nothing else the sandbox plays."""

from __future__ import annotations

import numpy as np
import pytest

from getpatter.audio import Resampler, pcm16_to_ulaw
from getpatter.audio.dtmf_tones import DTMF_KEYS, dtmf_ulaw, sine_peak
from getpatter.testing._fake_audio import Codec, tone_chunk
from getpatter.testing.fake_realtime._protocol import PCM24
from getpatter.testing.phone_network.dtmf_detector import DtmfDetector
from getpatter.testing.phone_network.sound import beep, speech

FRAME = 160
SILENCE = b"\xff" * FRAME
ULAW = Codec("ulaw", 8000, {"type": "audio/pcmu"}, "g711_ulaw")


def in_frames(ulaw: bytes, size: int = FRAME) -> str:
    """Feed ``ulaw`` to a fresh detector in chunks of ``size`` bytes; return all keys heard."""
    detector = DtmfDetector()
    return "".join(detector.feed(ulaw[i : i + size]) for i in range(0, len(ulaw), size))


def ulaw_of(samples: np.ndarray) -> bytes:
    return pcm16_to_ulaw(np.round(samples).astype("<i2").tobytes())


def fake_model_speech_at_8k() -> bytes:
    """The fake Realtime model's voice as a Twilio call carries it: its 24 kHz PCM tone
    resampled to 8 kHz μ-law (and its native μ-law tone, for μ-law sessions)."""
    resampler = Resampler(24000, 8000)
    pcm = b"".join(resampler.process(tone_chunk(PCM24)) for _ in range(30))
    return pcm16_to_ulaw(pcm) + tone_chunk(ULAW) * 30


SANDBOX_SOUNDS = {
    "silence": SILENCE * 100,
    "callee speech": speech(5000),
    "voicemail beep": beep(2000),
    "fake model speech": fake_model_speech_at_8k(),
    "noise": ulaw_of(np.random.default_rng(7).normal(0, 4000, 40000)),
    "speech then noise then beep": speech(900)
    + ulaw_of(np.random.default_rng(8).normal(0, 800, 4000))
    + beep(400),
}


@pytest.mark.parametrize("name", SANDBOX_SOUNDS)
def test_no_key_is_heard_in_the_sandbox_sounds(name: str) -> None:
    assert in_frames(SANDBOX_SOUNDS[name]) == ""


def test_a_lone_dtmf_frequency_or_a_pair_from_one_group_is_not_a_key() -> None:
    t = np.arange(8000) / 8000
    row_only = 7000 * np.sin(2 * np.pi * 770 * t)
    two_rows = 5000 * (np.sin(2 * np.pi * 697 * t) + np.sin(2 * np.pi * 941 * t))
    assert in_frames(ulaw_of(row_only)) == ""
    assert in_frames(ulaw_of(two_rows)) == ""


def test_twist_beyond_the_limits_is_refused_and_within_them_accepted() -> None:
    t = np.arange(1600) / 8000

    def key_5(row_db: float, column_db: float) -> bytes:
        row = 4000 * 10 ** (row_db / 20) * np.sin(2 * np.pi * 770 * t)
        column = 4000 * 10 ** (column_db / 20) * np.sin(2 * np.pi * 1336 * t)
        return ulaw_of(row + column)

    assert in_frames(key_5(0, 6)) == "5"  # column 6 dB louder: normal twist, allowed to 8 dB
    assert in_frames(key_5(3, 0)) == "5"  # row 3 dB louder: reverse twist, allowed to 4 dB
    assert in_frames(key_5(0, 12)) == ""
    assert in_frames(key_5(7, 0)) == ""


def test_two_keys_pressed_at_once_are_neither_key() -> None:
    t = np.arange(1600) / 8000
    keys_2_and_5 = 4000 * np.sin(2 * np.pi * np.outer(t, [697, 770, 1336])).sum(axis=1)
    assert in_frames(ulaw_of(keys_2_and_5)) == ""


def test_a_key_drowned_in_louder_sound_is_not_heard_but_one_over_quiet_noise_is() -> None:
    t = np.arange(1600) / 8000
    key_8 = 2000 * (np.sin(2 * np.pi * 852 * t) + np.sin(2 * np.pi * 1336 * t))
    noise = np.random.default_rng(9).normal(0, 1, t.size)
    assert in_frames(ulaw_of(key_8 + 4000 * noise)) == ""
    assert in_frames(ulaw_of(key_8 + 500 * noise)) == "8"


def test_a_key_quieter_than_minus_35_dbm0_is_not_heard() -> None:
    t = np.arange(1600) / 8000

    def key_0(level_dbm0: float) -> bytes:
        peak = sine_peak(level_dbm0)
        return ulaw_of(peak * (np.sin(2 * np.pi * 941 * t) + np.sin(2 * np.pi * 1336 * t)))

    assert in_frames(key_0(-33)) == "0"
    assert in_frames(key_0(-42)) == ""


def test_speech_does_not_hide_keys_pressed_after_it() -> None:
    audio = speech(1000) + dtmf_ulaw("42#") + SANDBOX_SOUNDS["fake model speech"] + dtmf_ulaw("9")
    assert in_frames(audio) == "42#9"


@pytest.mark.parametrize("size", [1, 7, 100, 159, 161, 333, 4096])
def test_keys_survive_any_chunk_size(size: int) -> None:
    audio = dtmf_ulaw("1" + DTMF_KEYS + "1", tone_ms=45, gap_ms=45)
    assert in_frames(audio, size) == "1" + DTMF_KEYS + "1"


def test_the_shortest_presses_are_heard_at_any_alignment_with_the_frames() -> None:
    press = dtmf_ulaw("77", tone_ms=40, gap_ms=40)
    for offset in range(0, FRAME, 8):
        assert in_frames(b"\xff" * offset + press) == "77", offset


def test_a_held_key_counts_once_and_a_blip_not_at_all() -> None:
    assert in_frames(dtmf_ulaw("5", tone_ms=500) + SILENCE) == "5"
    assert in_frames(dtmf_ulaw("5")[:FRAME] + SILENCE * 3) == ""  # 20 ms of tone


def test_a_key_is_reported_by_the_chunk_that_completes_its_second_block() -> None:
    detector = DtmfDetector()
    audio = dtmf_ulaw("3")
    assert detector.feed(audio[:FRAME]) == ""
    assert detector.feed(audio[FRAME : 2 * FRAME]) == "3"
    assert detector.feed(audio[2 * FRAME :]) == ""
    assert detector.feed(dtmf_ulaw("3")) == "3"
