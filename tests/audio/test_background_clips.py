"""Built-in clips: synthesised deterministically, written once as 16 kHz mono PCM16 WAV files."""

import wave

import numpy as np
import pytest

from getpatter import BuiltinAudioClip, builtin_clip_path
from getpatter.audio.background.clips import _synthesised, clip_samples
from getpatter.errors import ConfigError

SECONDS = {
    BuiltinAudioClip.HOLD_MUSIC: 16.0,
    BuiltinAudioClip.RINGBACK: 6.0,
    BuiltinAudioClip.DIAL_TONE: 1.0,
    BuiltinAudioClip.HANGUP_CHIME: 1.2,
    BuiltinAudioClip.KEYBOARD_TYPING: 4.0,
    BuiltinAudioClip.THINKING: 3.0,
}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PATTER_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("clip", list(BuiltinAudioClip))
@pytest.mark.parametrize("rate", [8000, 16000])
def test_each_clip_has_its_length_a_fixed_level_and_is_the_same_every_time(clip, rate):
    samples = clip_samples(clip, rate)
    assert samples.dtype == np.dtype("<i2")
    assert len(samples) == round(SECONDS[clip] * rate)
    assert int(np.max(np.abs(samples.astype(np.int32)))) == 16384  # normalised to -6 dBFS
    _synthesised.cache_clear()
    assert np.array_equal(clip_samples(clip, rate), samples)  # fixed seeds, no randomness


@pytest.mark.parametrize("clip", list(BuiltinAudioClip))
def test_builtin_clip_path_writes_a_16k_mono_wav_once(clip, cache_dir):
    path = builtin_clip_path(clip.value)
    assert path.is_file() and path.parent == cache_dir / "clips"
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        data = wav.readframes(wav.getnframes())
    assert data == clip_samples(clip, 16000).tobytes()
    written = path.stat().st_mtime_ns
    assert builtin_clip_path(clip) == path  # the enum member works too, and the file is reused
    assert path.stat().st_mtime_ns == written
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []


def test_the_tones_are_where_the_phone_networks_put_them():
    rate = 8000
    ringback = clip_samples(BuiltinAudioClip.RINGBACK, rate).astype(float)
    on, off = ringback[: 2 * rate], ringback[2 * rate :]
    assert np.max(np.abs(off)) == 0  # 2 s on, 4 s off
    spectrum = np.abs(np.fft.rfft(on))
    peaks = sorted(np.argsort(spectrum)[-2:] * rate / len(on))
    assert peaks == pytest.approx([440, 480], abs=1)
    dial = clip_samples(BuiltinAudioClip.DIAL_TONE, rate).astype(float)
    spectrum = np.abs(np.fft.rfft(dial))
    assert sorted(np.argsort(spectrum)[-2:] * rate / len(dial)) == pytest.approx([350, 440])
    # The dial tone's loop has no seam: its last sample is the one before its first (t = -1/rate,
    # where a sum of sines starting at 0 is odd).
    assert dial[0] == 0 and dial[-1] == -dial[1]


def test_an_unknown_clip_name_is_refused_with_the_known_names():
    with pytest.raises(ConfigError, match="hold_music, ringback"):
        builtin_clip_path("elevator_jazz")


def test_an_unwritable_cache_dir_names_the_fix(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PATTER_CACHE_DIR", str(blocker))
    with pytest.raises(ConfigError, match="PATTER_CACHE_DIR"):
        builtin_clip_path("thinking")
