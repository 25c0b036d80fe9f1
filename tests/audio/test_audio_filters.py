"""Audio filters (issue 15): the built-in filters on real signals, and how a call runs one."""

from __future__ import annotations

import copy
import logging

import numpy as np
import numpy.typing as npt
import pytest

from getpatter import AudioFilter, ConfigError, HighPassFilter, NoiseGate
from getpatter.audio.filters import CallAudioFilter, check_audio_filter
from getpatter.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16


def tone(rate: int, seconds: float, hz: float, amplitude: float) -> npt.NDArray[np.float64]:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)


def pcm(signal: npt.NDArray[np.float64]) -> bytes:
    return np.clip(np.rint(signal), -32768, 32767).astype("<i2").tobytes()


def samples(data: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def framewise(audio_filter: AudioFilter, data: bytes, rate: int, frame: int) -> bytes:
    return b"".join(
        audio_filter.process(data[i : i + frame], rate) for i in range(0, len(data), frame)
    )


def level(signal: npt.NDArray[np.float64], hz: float, rate: int) -> float:
    """Amplitude of the ``hz`` component (a single-bin DFT)."""
    t = np.arange(len(signal)) / rate
    return float(abs(np.dot(signal, np.exp(-2j * np.pi * hz * t))) * 2 / len(signal))


def rms(signal: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(signal**2)))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_the_high_pass_removes_mains_hum_and_keeps_the_voice_band(rate):
    hum_and_tone = pcm(tone(rate, 2, 50, 8000) + tone(rate, 2, 1000, 8000))
    out = samples(framewise(HighPassFilter(150), hum_and_tone, rate, rate // 50 * 2))
    steady = out[rate // 2 :]  # past the filter's start-up
    hum_drop_db = 20 * np.log10(8000 / level(steady, 50, rate))
    assert hum_drop_db > 18  # second order: ~19 dB at 50 Hz under a 150 Hz cutoff
    assert level(steady, 1000, rate) == pytest.approx(8000, rel=0.01)


def test_the_high_pass_is_exact_whatever_the_chunking():
    """State carries across chunks: 20 ms frames, odd sizes and one whole buffer agree, and match
    the biquad computed sample by sample."""
    rate = 8000
    rng = np.random.default_rng(7)
    data = pcm(rng.normal(0, 3000, rate))
    whole = HighPassFilter(120).process(data, rate)
    assert framewise(HighPassFilter(120), data, rate, 320) == whole
    assert framewise(HighPassFilter(120), data, rate, 2 * 97) == whole
    w0 = 2 * np.pi * 120 / rate
    alpha = np.sin(w0) / np.sqrt(2)
    b = np.array([(1 + np.cos(w0)) / 2, -(1 + np.cos(w0)), (1 + np.cos(w0)) / 2]) / (1 + alpha)
    a1, a2 = -2 * np.cos(w0) / (1 + alpha), (1 - alpha) / (1 + alpha)
    x, y = samples(data), np.zeros(rate)
    for n in range(rate):
        y[n] = (
            b[0] * x[n]
            + (b[1] * x[n - 1] + b[2] * x[n - 2] - a1 * y[n - 1] - a2 * y[n - 2] if n >= 2 else 0)
            + (b[1] * x[0] - a1 * y[0] if n == 1 else 0)
        )
    assert np.max(np.abs(samples(whole) - np.clip(np.rint(y), -32768, 32767))) <= 1


def test_the_high_pass_refuses_bad_settings_and_keeps_calls_apart():
    for bad in (5, 5000, "100", True):
        with pytest.raises(ConfigError, match="cutoff_hz"):
            HighPassFilter(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not below half"):
        HighPassFilter(1000).process(b"\x00\x00" * 10, 1500)
    hpf = HighPassFilter()
    hpf.process(pcm(tone(8000, 0.02, 30, 20000)), 8000)
    fresh = copy.deepcopy(hpf)
    fresh.reset()
    silence = b"\x00\x00" * 160
    assert fresh.process(silence, 8000) == silence  # no memory of the other call
    assert hpf.process(silence, 8000) != silence  # still ringing from its own audio


def test_the_noise_gate_closes_on_the_noise_floor_and_opens_for_speech():
    rate = 8000
    noise = np.random.default_rng(3).normal(0, 30, 3 * rate)  # about -61 dBFS
    speech = np.concatenate([np.zeros(rate), tone(rate, 1, 440, 6000), np.zeros(rate)])
    gate = NoiseGate(threshold_db=-45)
    out = samples(framewise(gate, pcm(noise + speech), rate, 320))
    assert 20 * np.log10(rms(noise[:rate]) / rms(out[:rate])) > 35  # closed: -40 dB
    assert rms(out[rate + 80 : 2 * rate]) == pytest.approx(
        rms(speech[rate + 80 : 2 * rate]), rel=0.02
    )
    assert not gate.is_open and rms(out[-1600:]) < rms(noise) / 30  # closed again
    # the attack takes a few ms, not a step: no click at the onset
    onset = np.abs(np.diff(out[rate - 8 : rate + 80]))
    assert onset.max() < np.abs(np.diff(speech[rate : rate + 80])).max() * 1.2


def test_the_noise_gate_holds_through_short_pauses_and_checks_its_settings():
    rate = 16000
    word, pause = tone(rate, 0.2, 300, 5000), np.zeros(int(rate * 0.05))
    gate = NoiseGate(hold_ms=100)
    out = samples(framewise(gate, pcm(np.concatenate([word, pause, word])), rate, 640))
    assert rms(out[len(word) + len(pause) : len(word) + len(pause) + 160]) > 0.9 * 5000 / np.sqrt(2)
    for name, bad in (("threshold_db", 3), ("range_db", -1), ("attack_ms", "5"), ("hold_ms", None)):
        with pytest.raises(ConfigError, match=f"NoiseGate {name}"):
            NoiseGate(**{name: bad})
    assert NoiseGate().process(b"", 8000) == b""


def test_check_audio_filter_names_the_fix():
    with pytest.raises(ConfigError, match=r"process\(pcm16: bytes, sample_rate: int\)"):
        check_audio_filter(object())

    class Uncopyable:
        def process(self, pcm16: bytes, sample_rate: int) -> bytes:
            return pcm16

        def __deepcopy__(self, memo: object) -> None:
            raise TypeError("holds a socket")

    with pytest.raises(ConfigError, match="__deepcopy__"):
        check_audio_filter(Uncopyable())
    assert check_audio_filter(NoiseGate()) is not None


def test_a_call_filters_ulaw_through_pcm_and_pcm_as_it_is():
    rate = 8000
    hum = pcm(tone(rate, 1, 50, 8000) + tone(rate, 1, 1000, 4000))
    call = CallAudioFilter(HighPassFilter(150), "ulaw_8000")
    out = b"".join(call.process(pcm16_to_ulaw(hum[i : i + 320])) for i in range(0, len(hum), 320))
    assert len(out) == len(hum) // 2  # still μ-law, one byte a sample
    steady = samples(ulaw_to_pcm16(out))[rate // 2 :]
    assert level(steady, 50, rate) < 8000 / 8 and level(steady, 1000, rate) > 3800
    wide = CallAudioFilter(HighPassFilter(150), "pcm16_16000")
    data = pcm(tone(16000, 0.1, 50, 8000))
    odd_chunks = [data[:641], data[641:1280], data[1280:]]  # a sample split across chunks
    assert b"".join(wide.process(c) for c in odd_chunks) == HighPassFilter(150).process(data, 16000)


def test_a_call_gets_its_own_copy_and_a_broken_filter_is_switched_off(caplog):
    shared = HighPassFilter()
    a, b = CallAudioFilter(shared, "ulaw_8000"), CallAudioFilter(shared, "ulaw_8000")
    loud = pcm16_to_ulaw(pcm(tone(8000, 0.02, 30, 20000)))
    a.process(loud)
    assert b.process(b"\xff" * 160) == b"\xff" * 160  # b never heard a's audio
    assert not shared._state.any()  # the agent's own filter is never run

    class Broken:
        def __init__(self, result: object) -> None:
            self.result = result

        def process(self, pcm16: bytes, sample_rate: int) -> object:
            if isinstance(self.result, Exception):
                raise self.result
            return self.result

    for result in (RuntimeError("boom"), b"short", "text"):
        call = CallAudioFilter(Broken(result), "ulaw_8000")  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="getpatter.pipeline"):
            assert call.process(loud) == loud  # unfiltered, the call goes on
        assert not call.active and call.process(b"\x01\x02") == b"\x01\x02"
    assert "goes on unfiltered" in caplog.text
