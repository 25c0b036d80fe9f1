"""AssemblyAI streaming speech-to-text over its v3 Universal Streaming WebSocket (spec STT-6).

:class:`STT` (flat name ``AssemblyAISTT``) is the provider; each call opens its own
:class:`AssemblyAIStream` (one socket to ``/v3/ws``). The key goes raw in the
``Authorization`` header; the query names the ``speech_model`` (``universal-streaming-english``
by default), the ``encoding`` (``pcm_mulaw`` for Twilio's μ-law 8 kHz, which goes up untouched,
or ``pcm_s16le``) and the ``sample_rate``. :meth:`AssemblyAIStream.connect` returns once
AssemblyAI's ``Begin`` arrives, so a refused key (an ``Error`` then close 1008) raises there.

AssemblyAI takes audio chunks of 50 to 1000 ms only, so the stream gathers the carrier's 20 ms
frames into 60 ms chunks (and pads the last one with silence on :meth:`finalize` and
:meth:`close`). ``Turn`` messages become the events of :mod:`getpatter.stt.base`: a turn in
progress is an interim result (all its words, final or not), the end-of-turn ``Turn`` the final
result with ``speech_final`` (with ``format_turns=True``, the formatted copy that follows it).
:meth:`finalize` sends ``ForceEndpoint``; :meth:`close` sends ``Terminate``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Literal, Self, get_args
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from getpatter._env import env_secret
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.audio.formats import bytes_per_ms, silence
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, PatterConnectionError, PatterError
from getpatter.providers.errors import connection_error
from getpatter.providers.formats import WireFormats, carrier_format
from getpatter.providers.urls import base_url as resolve_base_url
from getpatter.providers.urls import websocket_url
from getpatter.stt._websocket import (
    CONNECT_TIMEOUT_S,
    Frame,
    SessionFault,
    WebSocketSTTStream,
    session_error,
)
from getpatter.stt.base import STTCapabilities, STTEvent, STTSpeechStarted, Transcript

__all__ = ["DEFAULT_BASE_URL", "STT", "AssemblyAISTT", "AssemblyAIStream", "Encoding", "Model"]

logger = logging.getLogger("getpatter.stt.assemblyai")

Encoding = Literal["pcm_s16le", "pcm_mulaw"]
"""The raw audio encodings a stream can announce."""

Model = Literal["universal-streaming-english", "universal-streaming-multilingual"]
"""The Universal Streaming models (``speech_model``)."""

#: The public streaming API, used when neither ``base_url`` nor ``ASSEMBLYAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "wss://streaming.assemblyai.com"

_WIRE = WireFormats[tuple[Encoding, int]](
    "AssemblyAISTT",
    {
        "ulaw_8000": ("pcm_mulaw", 8000),
        "pcm16_16000": ("pcm_s16le", 16000),
        "pcm16_8000": ("pcm_s16le", 8000),
        "pcm16_24000": ("pcm_s16le", 24000),
    },
)
_API_VERSION = "2025-05-12"  # the AssemblyAI-Version header of the v3 SDK
_CHUNK_MS = 60  # AssemblyAI takes 50-1000 ms per chunk; three 20 ms carrier frames
_MAX_CHUNK_MS = 1000
_KEY_HINT = "AssemblyAISTT(api_key=...) or ASSEMBLYAI_API_KEY"
# Close codes AssemblyAI documents for a refused or failed session.
_FAULTS: dict[int, SessionFault] = {
    1008: "auth",
    3009: "rate_limit",
    3005: "server",
    3006: "request",
    3007: "request",
    3008: "server",
}


class STT:
    """AssemblyAI Universal Streaming STT; implements :class:`~getpatter.stt.base.STTProvider`.

    ``api_key`` falls back to ``ASSEMBLYAI_API_KEY``; ``base_url`` (the streaming API root, such
    as ``wss://streaming.assemblyai.com`` or a local fake's ``ws://127.0.0.1:<port>``) to
    ``ASSEMBLYAI_BASE_URL``. ``model`` is the ``speech_model``. ``encoding``/``sample_rate``
    name the format a stream gets by default (PCM16 at 16 kHz; :meth:`for_twilio` takes μ-law
    8 kHz). ``format_turns`` adds punctuation and casing to each finished turn (off by default:
    it delays the final and reformats numbers, see STT-2). ``min_turn_silence_ms``,
    ``max_turn_silence_ms`` and ``end_of_turn_confidence_threshold`` tune AssemblyAI's turn
    detection (``None``: AssemblyAI's defaults). A stream sends a ``KeepAlive`` whenever it has
    sent nothing for ``keepalive_interval`` seconds.
    """

    name: str = "assemblyai"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: Model = "universal-streaming-english",
        encoding: Encoding = "pcm_s16le",
        sample_rate: int = 16000,
        format_turns: bool = False,
        min_turn_silence_ms: int | None = None,
        max_turn_silence_ms: int | None = None,
        end_of_turn_confidence_threshold: float | None = None,
        base_url: str | None = None,
        keepalive_interval: float = 5.0,
    ) -> None:
        if api_key is not None:
            require_str("AssemblyAISTT api_key", api_key)
        key = env_secret((api_key or "").strip(), "ASSEMBLYAI_API_KEY")
        if not key:
            raise ConfigError(
                "AssemblyAISTT needs an API key: pass AssemblyAISTT(api_key=...) or set "
                "ASSEMBLYAI_API_KEY"
            )
        self._api_key = key
        if model not in get_args(Model):
            raise ConfigError(
                f"AssemblyAISTT model={model!r} is not a Universal Streaming model: use one of "
                f"{list(get_args(Model))}"
            )
        self._model: Model = model
        self._format = _configured_format(encoding, sample_rate)
        options: dict[str, str] = {
            "speech_model": model,
            "format_turns": _flag(require_bool("AssemblyAISTT format_turns", format_turns)),
        }
        if min_turn_silence_ms is not None:
            require_int("AssemblyAISTT min_turn_silence_ms", min_turn_silence_ms, minimum=0)
            options["min_turn_silence"] = str(min_turn_silence_ms)
        if max_turn_silence_ms is not None:
            require_int("AssemblyAISTT max_turn_silence_ms", max_turn_silence_ms, minimum=0)
            options["max_turn_silence"] = str(max_turn_silence_ms)
        if end_of_turn_confidence_threshold is not None:
            threshold = require_number(
                "AssemblyAISTT end_of_turn_confidence_threshold", end_of_turn_confidence_threshold
            )
            if not 0 <= threshold <= 1:
                raise ConfigError(
                    "AssemblyAISTT end_of_turn_confidence_threshold must be between 0 and 1, "
                    f"got {threshold!r}"
                )
            options["end_of_turn_confidence_threshold"] = str(threshold)
        self._options = options
        self._format_turns = format_turns
        interval = require_number("AssemblyAISTT keepalive_interval", keepalive_interval)
        if interval <= 0:
            raise ConfigError(
                f"AssemblyAISTT keepalive_interval must be > 0 seconds, got {keepalive_interval!r}"
            )
        self._keepalive_interval = float(interval)
        self._settings: dict[str, object] = {
            "model": model,
            "encoding": encoding,
            "sample_rate": sample_rate,
            "format_turns": format_turns,
            "min_turn_silence_ms": min_turn_silence_ms,
            "max_turn_silence_ms": max_turn_silence_ms,
            "end_of_turn_confidence_threshold": end_of_turn_confidence_threshold,
            "keepalive_interval": keepalive_interval,
        }
        root = _root(base_url)
        self._ws_url = websocket_url(
            "AssemblyAISTT",
            root,
            "/v3/ws",
            env_var="ASSEMBLYAI_BASE_URL",
            example=DEFAULT_BASE_URL,
        )
        self.capabilities = STTCapabilities(
            streaming=True,
            interim_results=True,
            endpointing=True,
            input_formats=_WIRE.preferring("ulaw_8000", self._format),
        )

    @classmethod
    def for_twilio(cls, api_key: str | None = None, **options: object) -> Self:
        """Take Twilio's μ-law 8 kHz as it arrives (``encoding="pcm_mulaw"``)."""
        return cls._for_carrier("twilio", api_key, options)

    @classmethod
    def for_telnyx(cls, api_key: str | None = None, **options: object) -> Self:
        """Take Telnyx's PCM16 16 kHz as it arrives."""
        return cls._for_carrier("telnyx", api_key, options)

    @classmethod
    def _for_carrier(cls, carrier: str, api_key: str | None, options: dict[str, object]) -> Self:
        if "encoding" in options or "sample_rate" in options:
            raise ConfigError(
                f"AssemblyAISTT.for_{carrier}() sets encoding and sample_rate itself: use "
                "AssemblyAISTT(...) to choose them"
            )
        encoding, rate = _WIRE.wire(carrier_format(carrier))
        return cls(api_key, encoding=encoding, sample_rate=rate, **options)  # type: ignore[arg-type]

    def _pointed_at(self, api_key: str, base_url: str) -> Self:
        """The same provider, every option kept, at another service and key (the sandbox)."""
        return type(self)(api_key, base_url=base_url, **self._settings)  # type: ignore[arg-type]

    @property
    def language(self) -> str | None:
        """``"en"`` for the English model; ``None`` (any language) for the multilingual one."""
        return "en" if self._model == "universal-streaming-english" else None

    def __repr__(self) -> str:
        return f"AssemblyAISTT(model={self._model!r}, format={self._format!r})"

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> AssemblyAIStream:
        """A new, unconnected stream for one call, receiving ``audio_format``.

        ``language`` must agree with the model (``"en"`` for the English one); the
        multilingual model detects the language itself.
        """
        fmt = self._format if audio_format is None else audio_format
        encoding, sample_rate = _WIRE.wire(fmt)
        if language is not None:
            require_str("AssemblyAISTT open_stream language", language, allow_empty=False)
            if self._model == "universal-streaming-english" and language.split("-")[0] != "en":
                raise ConfigError(
                    f"AssemblyAISTT model 'universal-streaming-english' transcribes English, not "
                    f"{language!r}: use AssemblyAISTT(model='universal-streaming-multilingual')"
                )
        query = {"sample_rate": str(sample_rate), "encoding": encoding, **self._options}
        return AssemblyAIStream(
            f"{self._ws_url}?{urlencode(query)}",
            self._api_key,
            audio_format=fmt,
            format_turns=self._format_turns,
            keepalive_interval=self._keepalive_interval,
        )


AssemblyAISTT = STT


def _root(given: str | None) -> str:
    """The streaming API root: ``given``, ``ASSEMBLYAI_BASE_URL`` or the public one."""
    return resolve_base_url(
        "AssemblyAISTT",
        given,
        env_var="ASSEMBLYAI_BASE_URL",
        default=DEFAULT_BASE_URL,
        schemes=("wss", "ws", "https", "http"),
    )


class AssemblyAIStream(WebSocketSTTStream):
    """One call's AssemblyAI socket; see :class:`~getpatter.stt._websocket.WebSocketSTTStream`."""

    provider = "AssemblyAI"
    key_hint = _KEY_HINT

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        audio_format: AudioFormat,
        format_turns: bool,
        keepalive_interval: float,
    ) -> None:
        super().__init__(
            url,
            api_key,
            headers={"Authorization": api_key, "AssemblyAI-Version": _API_VERSION},
            keepalive_interval=keepalive_interval,
            logger=logger,
        )
        self._format_turns = format_turns
        per_ms = bytes_per_ms(audio_format)
        self._chunk_bytes = per_ms * _CHUNK_MS
        self._max_bytes = per_ms * _MAX_CHUNK_MS
        self._min_bytes = per_ms * 50
        self._silence = silence(audio_format)
        self._buffer = bytearray()
        self.session_id: str | None = None
        """AssemblyAI's id of the session, from ``Begin``."""

    async def _start(self, ws: ClientConnection) -> None:
        """Wait for ``Begin``; an ``Error`` or a close before it raises."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                raw = await ws.recv()
        except TimeoutError:
            raise connection_error(
                "AssemblyAI", timed_out=True, timeout=CONNECT_TIMEOUT_S
            ) from None
        except ConnectionClosed:
            raise self._close_error(ws.close_code, ws.close_reason or "") or PatterConnectionError(
                f"AssemblyAI closed the stream before it began (close code {ws.close_code})"
            ) from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "Begin":
            session = data.get("id") if isinstance(data, dict) else None
            self.session_id = session if isinstance(session, str) else None
            return
        self._parse(data)  # raises for an Error message
        raise PatterConnectionError(f"AssemblyAI began the stream with {kind!r}, not 'Begin'")

    def _audio_frames(self, chunk: bytes) -> list[Frame]:
        self._buffer += chunk
        frames: list[Frame] = []
        while len(self._buffer) >= self._chunk_bytes:
            size = min(len(self._buffer), self._max_bytes)
            size -= size % len(self._silence)
            frames.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return frames

    def _flush(self) -> list[Frame]:
        """The buffered audio, padded with silence to AssemblyAI's 50 ms minimum."""
        if not self._buffer:
            return []
        missing = max(0, self._min_bytes - len(self._buffer))
        frame = bytes(self._buffer) + self._silence * (missing // len(self._silence))
        self._buffer.clear()
        return [frame]

    def _finalize_frames(self) -> list[Frame]:
        return [*self._flush(), json.dumps({"type": "ForceEndpoint"})]

    def _end_frames(self) -> list[Frame]:
        return [*self._flush(), json.dumps({"type": "Terminate"})]

    def _keepalive_frame(self) -> Frame:
        return json.dumps({"type": "KeepAlive"})

    def _parse(self, message: object) -> list[STTEvent]:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "Turn":
            try:
                turn = _Turn.model_validate(message)
            except ValidationError as exc:
                logger.warning("AssemblyAI sent a malformed Turn message, skipped: %s", exc)
                return []
            event = _transcript(turn, format_turns=self._format_turns)
            return [] if event is None else [event]
        if kind == "SpeechStarted":
            return [STTSpeechStarted()]
        if kind == "Error" or (isinstance(message, dict) and "error" in message):
            assert isinstance(message, dict)
            code = message.get("error_code")
            detail = str(message.get("error") or "no description")
            fault = _FAULTS.get(code, "server") if isinstance(code, int) else "server"
            raise session_error(
                "AssemblyAI", fault, detail, api_key=self._api_key, key_hint=_KEY_HINT
            )
        if kind is None:
            logger.warning("AssemblyAI sent a message that is not a JSON object: skipped")
        else:
            logger.debug("AssemblyAI message %r ignored", kind)
        return []

    def _close_error(self, code: int | None, reason: str) -> PatterError | None:
        fault = _FAULTS.get(code) if code is not None else None
        if fault is None:
            return None
        return session_error(
            "AssemblyAI",
            fault,
            f"close code {code}: {reason or 'no reason given'}",
            api_key=self._api_key,
            key_hint=_KEY_HINT,
        )


class _Word(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str = ""
    start: int | None = None
    end: int | None = None
    confidence: float | None = None
    word_is_final: bool = False


class _Turn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    turn_order: int = 0
    end_of_turn: bool = False
    turn_is_formatted: bool = False
    transcript: str = ""
    words: list[_Word] = []


def _transcript(turn: _Turn, *, format_turns: bool) -> Transcript | None:
    if not turn.end_of_turn:
        text = " ".join(w.text for w in turn.words if w.text) or turn.transcript
        return Transcript(text=text, is_final=False) if text.strip() else None
    if format_turns and not turn.turn_is_formatted:
        return None  # the formatted copy of this turn follows
    confidences: Sequence[float] = [w.confidence for w in turn.words if w.confidence is not None]
    ends = [w.end for w in turn.words if w.end is not None]
    return Transcript(
        text=turn.transcript,
        is_final=True,
        speech_final=True,
        confidence=min(confidences) if confidences else None,
        speech_end=ends[-1] / 1000 if ends else None,
    )


def _configured_format(encoding: object, sample_rate: object) -> AudioFormat:
    if encoding not in get_args(Encoding):
        raise ConfigError(
            f"AssemblyAISTT encoding={encoding!r} is not supported: use one of "
            f"{list(get_args(Encoding))}"
        )
    rate = require_int("AssemblyAISTT sample_rate", sample_rate, minimum=1)
    try:
        return _WIRE.format_of((encoding, rate))  # type: ignore[arg-type]
    except ConfigError:
        raise ConfigError(
            f"AssemblyAISTT encoding={encoding!r} with sample_rate={rate} is not supported: use "
            "pcm_mulaw at 8000, or pcm_s16le at 8000, 16000 or 24000"
        ) from None


def _flag(value: bool) -> str:
    return "true" if value else "false"
