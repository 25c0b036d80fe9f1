"""Speechmatics real-time speech-to-text over its ``/v2`` WebSocket (spec STT-7).

:class:`STT` (flat name ``SpeechmaticsSTT``) is the provider: configuration shared by every call
of an agent. Each call opens its own :class:`SpeechmaticsStream` with :meth:`STT.open_stream`,
which owns one socket. The session follows the Speechmatics real-time protocol:

- the client opens the socket with ``Authorization: Bearer <key>`` and sends
  ``StartRecognition`` (``audio_format`` raw ``pcm_s16le`` or ``mulaw`` at the stream's rate,
  and the ``transcription_config``); Speechmatics answers ``RecognitionStarted``;
- caller audio goes up as binary frames (``AddAudio``), acknowledged by ``AudioAdded``;
- ``AddPartialTranscript`` and ``AddTranscript`` come back as interim and final
  :class:`~getpatter.stt.base.Transcript`\\ s, ``EndOfUtterance`` (the silence set by
  ``end_of_utterance_silence_trigger``) as :class:`~getpatter.stt.base.UtteranceEnd`;
- :meth:`SpeechmaticsStream.finalize` sends ``ForceEndOfUtterance``, and closing sends
  ``EndOfStream`` with the number of audio frames sent, then waits for ``EndOfTranscript``.

Twilio's μ-law 8 kHz goes up untouched (``mulaw``); PCM16 at 8, 16 or 24 kHz as ``pcm_s16le``.
A-law is not among Speechmatics' raw encodings, so it is not offered.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from getpatter._env import env_fallback, env_secret
from getpatter._redaction import register_secret
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.providers.errors import connection_error
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import websocket_url
from getpatter.stt._websocket import CONNECT_TIMEOUT_S as _CONNECT_TIMEOUT_S
from getpatter.stt._websocket import Frame, WebSocketSTTStream
from getpatter.stt.base import STTCapabilities, STTEvent, Transcript, UtteranceEnd

__all__ = ["DEFAULT_BASE_URL", "STT", "Encoding", "Model", "SpeechmaticsSTT", "SpeechmaticsStream"]

logger = logging.getLogger("getpatter.stt.speechmatics")

Encoding = Literal["pcm_s16le", "mulaw"]
"""The raw audio encodings a stream can announce."""

Model = Literal["standard", "enhanced"]
"""Speechmatics' acoustic models (``enhanced`` is the more accurate, and its default)."""

#: The public real-time endpoint (EU), used when neither ``base_url`` nor
#: ``SPEECHMATICS_RT_URL`` is set; the same default and variable as Speechmatics' own SDK.
DEFAULT_BASE_URL = "wss://eu2.rt.speechmatics.com/v2"
_ENV_URL = "SPEECHMATICS_RT_URL"
_KEY_HINT = "SpeechmaticsSTT(api_key=...) or SPEECHMATICS_API_KEY"

_WIRE = WireFormats[tuple[Encoding, int]](
    "SpeechmaticsSTT",
    {
        "ulaw_8000": ("mulaw", 8000),
        "pcm16_16000": ("pcm_s16le", 16000),
        "pcm16_8000": ("pcm_s16le", 8000),
        "pcm16_24000": ("pcm_s16le", 24000),
    },
)
# Speechmatics' documented bounds (docs.speechmatics.com, "Latency" and "End of Turn").
_MAX_DELAY_RANGE = (0.7, 4.0)
_EOU_TRIGGER_MAX_S = 2.0
# Error types of Speechmatics' ``Error`` message that are not a fault of the connection.
_AUTH_ERRORS = frozenset({"not_authorised", "insufficient_funds", "not_allowed"})
_LIMIT_ERRORS = frozenset({"quota_exceeded", "timelimit_exceeded"})
# The close codes of those errors, for a close that comes without its Error message.
_CLOSE_TYPES = {
    4001: "not_authorised",
    4002: "insufficient_funds",
    4003: "not_allowed",
    4005: "quota_exceeded",
    4006: "timelimit_exceeded",
}


class STT:
    """Speechmatics real-time STT; implements :class:`~getpatter.stt.base.STTProvider`.

    ``api_key`` falls back to ``SPEECHMATICS_API_KEY``. ``base_url`` is the whole real-time URL
    (``wss://eu2.rt.speechmatics.com/v2``, a US one, or a local fake's ``ws://127.0.0.1:<port>/v2``)
    and falls back to ``SPEECHMATICS_RT_URL``, as in Speechmatics' SDK. ``max_delay`` (0.7 to
    4 s) bounds how long a final transcript may wait after a word; ``enable_partials`` sends
    interim results. ``end_of_utterance_silence_trigger`` (seconds, up to 2) is the silence
    after which Speechmatics sends ``EndOfUtterance``, which ends the caller's turn; ``None``
    turns that off, and the agent then needs a local ``vad=``.
    """

    name: str = "speechmatics"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        language: str = "en",
        model: Model = "enhanced",
        encoding: Encoding = "pcm_s16le",
        sample_rate: int = 16000,
        enable_partials: bool = True,
        max_delay: float = 1.0,
        end_of_utterance_silence_trigger: float | None = 0.5,
        base_url: str | None = None,
    ) -> None:
        if api_key is not None:
            require_str("SpeechmaticsSTT api_key", api_key)
        key = env_secret((api_key or "").strip(), "SPEECHMATICS_API_KEY")
        if not key:
            raise ConfigError(
                "SpeechmaticsSTT needs an API key: pass SpeechmaticsSTT(api_key=...) or set "
                "SPEECHMATICS_API_KEY"
            )
        self._api_key = key
        self._language = require_str("SpeechmaticsSTT language", language, allow_empty=False)
        if model not in get_args(Model):
            raise ConfigError(
                f"SpeechmaticsSTT model={model!r} is not supported: use one of "
                f"{list(get_args(Model))}"
            )
        self._model = model
        self._format = _configured_format(encoding, sample_rate)
        self._partials = require_bool("SpeechmaticsSTT enable_partials", enable_partials)
        delay = require_number("SpeechmaticsSTT max_delay", max_delay)
        low, high = _MAX_DELAY_RANGE
        if not low <= delay <= high:
            raise ConfigError(
                f"SpeechmaticsSTT max_delay must be between {low:g} and {high:g} s, got {max_delay!r}"
            )
        self._max_delay = delay
        trigger = end_of_utterance_silence_trigger
        if trigger is not None:
            trigger = require_number("SpeechmaticsSTT end_of_utterance_silence_trigger", trigger)
            if not 0 < trigger <= _EOU_TRIGGER_MAX_S:
                raise ConfigError(
                    "SpeechmaticsSTT end_of_utterance_silence_trigger must be above 0 and at most "
                    f"{_EOU_TRIGGER_MAX_S:g} s (or None to turn it off), got {trigger!r}"
                )
        self._eou_trigger = trigger
        if base_url is not None:
            require_str("SpeechmaticsSTT base_url", base_url)
        root = env_fallback((base_url or "").strip(), _ENV_URL) or DEFAULT_BASE_URL
        self._url = _realtime_url(root)
        self.capabilities = STTCapabilities(
            streaming=True,
            interim_results=enable_partials,
            endpointing=trigger is not None,
            input_formats=_WIRE.preferring("ulaw_8000", self._format),
        )

    @property
    def language(self) -> str:
        """The language Speechmatics transcribes; a pipeline agent's ``language`` follows it."""
        return self._language

    def __repr__(self) -> str:
        return f"SpeechmaticsSTT(model={self._model!r}, language={self._language!r})"

    def _pointed_at(self, api_key: str, base_url: str) -> STT:
        """This provider, every option kept, talking to ``base_url`` with ``api_key`` (the
        sandbox points an agent's provider at a local fake this way)."""
        other = copy.copy(self)
        other._url = _realtime_url(base_url)
        other._api_key = register_secret(api_key)
        return other

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> SpeechmaticsStream:
        """A new, unconnected stream for one call, receiving ``audio_format``.

        ``audio_format`` defaults to the constructor's ``encoding``/``sample_rate``; ``language``
        to the constructor's ``language``.
        """
        fmt = self._format if audio_format is None else audio_format
        encoding, rate = _WIRE.wire(fmt)
        lang = self._language if language is None else language
        require_str("SpeechmaticsSTT open_stream language", lang, allow_empty=False)
        config: dict[str, Any] = {
            "language": lang,
            "model": self._model,
            "enable_partials": self._partials,
            "max_delay": self._max_delay,
        }
        if self._eou_trigger is not None:
            config["conversation_config"] = {"end_of_utterance_silence_trigger": self._eou_trigger}
        start = {
            "message": "StartRecognition",
            "audio_format": {"type": "raw", "encoding": encoding, "sample_rate": rate},
            "transcription_config": config,
        }
        return SpeechmaticsStream(self._url, self._api_key, start)


SpeechmaticsSTT = STT


class SpeechmaticsStream(WebSocketSTTStream):
    """One call's Speechmatics session; see :class:`~getpatter.stt._websocket.WebSocketSTTStream`.

    :meth:`connect` returns once Speechmatics answered ``RecognitionStarted`` (an ``Error``
    first raises there). Results with no text are skipped (Speechmatics sends them as time
    passes); ``EndOfTranscript`` ends the iterator.
    """

    provider = "Speechmatics"
    key_hint = _KEY_HINT

    def __init__(self, url: str, api_key: str, start: dict[str, Any]) -> None:
        super().__init__(
            url, api_key, headers={"Authorization": f"Bearer {api_key}"}, logger=logger
        )
        self._start_message = start
        self._frames_sent = 0
        self._bytes_sent = 0
        self._bytes_per_second = _bytes_per_second(start["audio_format"])

    @property
    def start_message(self) -> dict[str, Any]:
        """The ``StartRecognition`` message the stream opens its session with."""
        return self._start_message

    async def _start(self, ws: ClientConnection) -> None:
        """Send ``StartRecognition`` and wait for ``RecognitionStarted``."""
        try:
            await ws.send(json.dumps(self._start_message))
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                await self._recognition_started(ws)
        except TimeoutError:
            raise connection_error(
                "Speechmatics", timed_out=True, timeout=_CONNECT_TIMEOUT_S
            ) from None
        except ConnectionClosed:
            raise self._drop_error(ws) from None

    async def _recognition_started(self, ws: ClientConnection) -> None:
        """Read messages until ``RecognitionStarted``; an ``Error`` first is raised."""
        async for raw in ws:
            data = _decode(raw)
            if data is None:
                continue
            kind = data.get("message")
            if kind == "RecognitionStarted":
                return
            if kind == "Error":
                raise _error(data, self._api_key)
            logger.debug("Speechmatics message %r before RecognitionStarted ignored", kind)
        raise self._drop_error(ws)

    def _sent(self, frame: Frame) -> None:
        if not isinstance(frame, str):  # audio (AddAudio): numbered for EndOfStream
            self._frames_sent += 1
            self._bytes_sent += len(frame)

    def _finalize_frames(self) -> list[Frame]:
        # The end of the audio sent so far, in seconds: where the utterance ends.
        seconds = round(self._bytes_sent / self._bytes_per_second, 3)
        return [json.dumps({"message": "ForceEndOfUtterance", "timestamp": seconds})]

    def _end_frames(self) -> list[Frame]:
        return [json.dumps({"message": "EndOfStream", "last_seq_no": self._frames_sent})]

    def _ends(self, message: object) -> bool:
        # The answer to EndOfStream, or the session ended on its own.
        return isinstance(message, dict) and message.get("message") == "EndOfTranscript"

    def _parse(self, message: object) -> list[STTEvent]:
        if not isinstance(message, dict):
            logger.warning("Speechmatics sent a message that is not an object: skipped")
            return []
        event = _event(message.get("message"), message, self._api_key)
        return [] if event is None else [event]

    def _close_error(self, code: int | None, reason: str) -> PatterError | None:
        kind = _CLOSE_TYPES.get(code or 0)
        if kind is None:
            return None
        return _error({"type": kind, "reason": reason or "the session was closed"}, "")

    def _refusal_detail(self, body: object) -> str:
        return ""  # the refusal's status says it all (401/403, 429...)


class _Alternative(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    content: str = ""
    confidence: float | None = None


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str = "word"
    end_time: float | None = None
    alternatives: list[_Alternative] = []


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    transcript: str = ""
    end_time: float | None = None


class _AddTranscript(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    metadata: _Metadata
    results: list[_Result] = []


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str = ""
    reason: str = ""


def _decode(raw: str | bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("Speechmatics sent a message that is not JSON: skipped")
        return None
    if not isinstance(data, dict):
        logger.warning("Speechmatics sent a message that is not an object: skipped")
        return None
    return data


def _event(kind: object, data: dict[str, Any], api_key: str) -> STTEvent | None:
    """The event of one server message, or ``None`` for what the pipeline does not need."""
    if kind == "EndOfUtterance":
        return UtteranceEnd()
    if kind == "Error":
        raise _error(data, api_key)
    if kind == "Warning":
        logger.warning("Speechmatics warned: %s", str(data.get("reason", ""))[:200])
        return None
    if kind not in ("AddTranscript", "AddPartialTranscript"):
        logger.debug("Speechmatics message %r ignored", kind)
        return None
    try:
        message = _AddTranscript.model_validate(data)
    except ValidationError as exc:
        logger.warning("Speechmatics sent a malformed %s message, skipped: %s", kind, exc)
        return None
    text = message.metadata.transcript.strip()
    if not text:
        return None
    words = [r for r in message.results if r.type == "word" and r.alternatives]
    scores = [r.alternatives[0].confidence for r in words]
    known = [s for s in scores if s is not None]
    return Transcript(
        text=text,
        is_final=kind == "AddTranscript",
        confidence=min(known) if known else None,
        audio_seconds=message.metadata.end_time,
        speech_end=words[-1].end_time if words else message.metadata.end_time,
    )


def _error(data: dict[str, Any], api_key: str) -> PatterError:
    """The Patter error for Speechmatics' ``Error`` message."""
    try:
        error = _Error.model_validate(data)
    except ValidationError:
        error = _Error()
    reason = error.reason[:200] or "no reason given"
    if len(api_key) >= 8:
        reason = reason.replace(api_key, "***")
    said = f"Speechmatics reported an error: {reason}" + (f" ({error.type})" if error.type else "")
    if error.type in _AUTH_ERRORS:
        return AuthenticationError(f"{said}; check {_KEY_HINT}")
    if error.type in _LIMIT_ERRORS:
        return RateLimitError(said)
    return PatterConnectionError(said, code=ErrorCode.PROVIDER_ERROR)


def _bytes_per_second(audio_format: dict[str, Any]) -> int:
    width = 1 if audio_format["encoding"] == "mulaw" else 2
    return int(audio_format["sample_rate"]) * width


def _realtime_url(base_url: str) -> str:
    return websocket_url(
        "SpeechmaticsSTT", base_url, "", env_var=_ENV_URL, example=DEFAULT_BASE_URL
    )


def _configured_format(encoding: object, sample_rate: object) -> AudioFormat:
    if encoding not in get_args(Encoding):
        raise ConfigError(
            f"SpeechmaticsSTT encoding={encoding!r} is not supported: use one of "
            f"{list(get_args(Encoding))}"
        )
    rate = require_int("SpeechmaticsSTT sample_rate", sample_rate, minimum=1)
    try:
        return _WIRE.format_of((encoding, rate))  # type: ignore[arg-type]
    except ConfigError:
        raise ConfigError(
            f"SpeechmaticsSTT encoding={encoding!r} with sample_rate={rate} is not supported: "
            "use pcm_s16le at 8000, 16000 or 24000, or mulaw at 8000"
        ) from None
