"""Streaming resampler: quality, chunk independence, stream length, latency, input checks."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from getpatter.audio import SUPPORTED_RATES, Resampler, resample_24k_to_16k
from getpatter.errors import ConfigError, ErrorCode, InputValidationError

PAIRS = list(itertools.permutations(SUPPORTED_RATES, 2))
AMPLITUDE = 16383.0  # -6 dBFS


def sine(rate: int, seconds: float, hz: float = 1000.0) -> npt.NDArray[np.int16]:
    n = np.arange(int(rate * seconds))
    return np.round(AMPLITUDE * np.sin(2 * np.pi * hz * n / rate)).astype("<i2")


def as_samples(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def stream(resampler: Resampler, signal: npt.NDArray[np.int16], chunk: int) -> bytes:
    parts = [
        resampler.process(signal[i : i + chunk].tobytes()) for i in range(0, len(signal), chunk)
    ]
    return b"".join(parts) + resampler.flush()


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_resampled_sine_matches_the_ideal_sine(src: int, dst: int) -> None:
    # Threshold: the filters have 80 dB stopband and ±0.001 dB ripple, and a -6 dBFS sine
    # stored in 16 bits has a ~92 dB quantisation floor; correct output measures 87-93 dB.
    # A half-sample timing error, a wrong phase filter or a click at each 20 ms chunk boundary
    # drops this below 60 dB, so 80 dB fails on real defects with room for rounding.
    out = as_samples(stream(Resampler(src, dst), sine(src, 1.0), chunk=src // 50))
    ideal = AMPLITUDE * np.sin(2 * np.pi * 1000 * np.arange(len(out)) / dst)
    steady = slice(dst // 10, -dst // 10)
    noise = np.sum((out[steady] - ideal[steady]) ** 2)
    snr = 10 * np.log10(np.sum(ideal[steady] ** 2) / noise)
    assert snr > 80, f"{src} -> {dst}: SNR {snr:.1f} dB"


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_output_does_not_depend_on_how_the_input_is_cut(src: int, dst: int) -> None:
    rng = np.random.default_rng(src + dst)
    n = np.arange(src // 2)
    signal = np.round(
        9000 * np.sin(2 * np.pi * 440 * n / src) + 4000 * rng.standard_normal(len(n))
    ).astype("<i2")
    whole = Resampler(src, dst)
    reference = as_samples(whole.process(signal.tobytes()) + whole.flush())

    # Random cut points, plus an empty chunk and a 1-sample chunk at samples 10-11.
    cuts = np.sort(np.concatenate([rng.integers(0, len(signal), size=60), [10, 10, 11]]))
    pieces = Resampler(src, dst)
    out = b"".join(pieces.process(part.tobytes()) for part in np.split(signal, cuts))
    chunked = as_samples(out + pieces.flush())

    assert len(chunked) == len(reference)
    assert np.max(np.abs(chunked - reference)) <= 1


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_stream_length_follows_the_rate_ratio_with_little_lag(src: int, dst: int) -> None:
    resampler = Resampler(src, dst)
    signal = sine(src, 0.5)
    samples_in = samples_out = 0
    for size in (1, 7, src // 50, 333, 0, 2, src // 50, src // 10):
        samples_out += len(resampler.process(signal[samples_in : samples_in + size].tobytes())) // 2
        samples_in += size
        # Output trails the input by the filter delay only, under 5 ms.
        assert samples_out <= samples_in * dst / src
        assert samples_in * dst / src - samples_out < dst * 0.005
    samples_out += len(resampler.flush()) // 2
    assert samples_out == -(-samples_in * dst // src)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_each_20ms_frame_in_gives_one_20ms_frame_out(src: int, dst: int) -> None:
    resampler = Resampler(src, dst)
    signal = sine(src, 0.2)
    frame = src // 50
    sizes = [
        len(resampler.process(signal[i : i + frame].tobytes())) // 2
        for i in range(0, len(signal), frame)
    ]
    assert sizes[1:] == [dst // 50] * (len(sizes) - 1)


def test_8k_to_16k_and_back_preserves_telephone_band_audio() -> None:
    n = np.arange(16000)
    tones = sum(
        a * np.sin(2 * np.pi * hz * n / 8000 + hz)
        for a, hz in ((6000, 440), (5000, 1250), (4000, 3000))
    )
    signal = np.round(tones).astype("<i2")
    up, down = Resampler(8000, 16000), Resampler(16000, 8000)
    wide = stream(up, signal, chunk=160)
    back = as_samples(stream(down, np.frombuffer(wide, dtype="<i2"), chunk=320))
    assert len(wide) == 2 * len(signal) * 2
    assert len(back) == len(signal)
    steady = slice(800, -800)
    assert np.max(np.abs(back[steady] - signal[steady])) <= 2


def test_downsampling_removes_tones_above_the_new_nyquist() -> None:
    # Without an anti-aliasing filter a 5 kHz tone folds to an audible 3 kHz at 8 kHz.
    resampler = Resampler(16000, 8000)
    out = as_samples(stream(resampler, sine(16000, 1.0, hz=5000), chunk=320))
    rms = np.sqrt(np.mean(out[800:-800] ** 2))
    assert rms < AMPLITUDE / np.sqrt(2) * 10 ** (-70 / 20)


def test_upsampling_adds_no_image_above_the_old_nyquist() -> None:
    out = as_samples(stream(Resampler(8000, 16000), sine(8000, 1.0, hz=3000), chunk=160))
    spectrum = np.abs(np.fft.rfft(out[1600:-1600] * np.hanning(len(out) - 3200)))
    freqs = np.fft.rfftfreq(len(out) - 3200, d=1 / 16000)
    image = spectrum[np.argmin(np.abs(freqs - 5000))]
    tone = spectrum[np.argmin(np.abs(freqs - 3000))]
    assert 20 * np.log10(image / tone) < -70


def test_flush_ends_the_stream_and_the_resampler_starts_fresh() -> None:
    signal = sine(16000, 0.1).tobytes()
    resampler = Resampler(16000, 8000)
    first = resampler.process(signal) + resampler.flush()
    second = resampler.process(signal) + resampler.flush()
    assert first == second
    assert resampler.flush() == b""


def test_same_rate_passes_audio_through() -> None:
    resampler = Resampler(16000, 16000)
    pcm = sine(16000, 0.02).tobytes()
    assert resampler.process(pcm) == pcm
    assert resampler.process(bytearray(pcm)) == pcm
    assert resampler.flush() == b""


def test_resample_24k_to_16k_is_a_whole_clip_conversion() -> None:
    clip = sine(24000, 0.5)
    out = resample_24k_to_16k(clip.tobytes())
    assert len(out) // 2 == 8000
    assert out == stream(Resampler(24000, 16000), clip, chunk=480)
    assert len(resample_24k_to_16k(clip[:1].tobytes())) == 2
    assert resample_24k_to_16k(b"") == b""


def test_loud_input_saturates_instead_of_wrapping() -> None:
    # A full-scale 200 Hz square wave: the filter overshoots past full scale at every edge.
    square = np.where((np.arange(8000) // 20) % 2 == 0, 32767, -32768).astype("<i2")
    out = as_samples(stream(Resampler(8000, 16000), square, chunk=160))
    assert out.max() == 32767
    assert out.min() == -32768
    high_half = (np.arange(len(out)) // 40) % 2 == 0
    # Wrapping would turn the overshoot of a high half into values near -32768.
    assert out[high_half].min() > -20000
    assert out[~high_half].max() < 20000


@pytest.mark.parametrize("rate", [44100, 11025, 0, -8000])
def test_unsupported_rates_are_refused(rate: int) -> None:
    with pytest.raises(ConfigError) as caught:
        Resampler(rate, 16000)
    assert caught.value.code is ErrorCode.CONFIG
    assert "from_rate" in str(caught.value)
    assert "8000, 16000, 24000, 48000" in str(caught.value)


@pytest.mark.parametrize("rate", ["16000", 16000.0, True, None])
def test_rates_must_be_ints(rate: object) -> None:
    with pytest.raises(ConfigError, match="to_rate must be an int"):
        Resampler(8000, rate)  # type: ignore[arg-type]


def test_odd_length_chunk_is_refused_with_the_fix() -> None:
    with pytest.raises(InputValidationError, match=r"odd length .*whole samples"):
        Resampler(8000, 16000).process(b"\x00\x00\x00")


def test_non_bytes_chunk_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pcm must be bytes"):
        Resampler(8000, 16000).process([0, 0])  # type: ignore[arg-type]
