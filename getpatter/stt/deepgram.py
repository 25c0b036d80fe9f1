"""Deepgram streaming speech-to-text over its ``/v1/listen`` WebSocket (spec STT-1, STT-2).

:class:`STT` (flat name ``DeepgramSTT``) is the provider: configuration shared by every call of
an agent. Each call opens its own :class:`DeepgramStream` with :meth:`STT.open_stream`, which
owns one socket. Caller audio goes up as binary frames exactly as the carrier sent it (Twilio's
μ-law 8 kHz goes up untouched, announced as ``encoding=mulaw&sample_rate=8000``); Deepgram's
``Results``, ``SpeechStarted`` and ``UtteranceEnd`` messages come back as the events of
:mod:`getpatter.stt.base`. ``Metadata`` and unknown message types are ignored.

Deepgram decodes every :data:`~getpatter.engines.base.AudioFormat` itself, so each one is
accepted as it is. The constructor's ``encoding`` and ``sample_rate`` name the format a stream
gets when :meth:`STT.open_stream` is called without one (PCM16 at 16 kHz by default, the
low-level contract of spec PV-3); that format is ranked right after μ-law 8 kHz in
``capabilities.input_formats``.
"""

from __future__ import annotations

import json
import logging
from typing import Literal, get_args
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, ValidationError

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import (
    ConfigError,
    ErrorCode,
    PatterConnectionError,
)
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import websocket_url
from getpatter.stt._websocket import Frame, WebSocketSTTStream
from getpatter.stt.base import STTCapabilities, STTEvent, STTSpeechStarted, Transcript, UtteranceEnd

__all__ = ["DEFAULT_BASE_URL", "STT", "DeepgramSTT", "DeepgramStream", "Encoding"]

logger = logging.getLogger("getpatter.stt.deepgram")

Encoding = Literal["linear16", "mulaw", "alaw"]
"""The raw audio encodings a stream can announce."""

#: The public Deepgram API, used when neither ``base_url`` nor ``DEEPGRAM_BASE_URL`` is set.
DEFAULT_BASE_URL = "wss://api.deepgram.com"

_WIRE = WireFormats[tuple[Encoding, int]](
    "DeepgramSTT",
    {
        "ulaw_8000": ("mulaw", 8000),
        "alaw_8000": ("alaw", 8000),
        "pcm16_16000": ("linear16", 16000),
        "pcm16_24000": ("linear16", 24000),
    },
)
_KEY_HINT = "DeepgramSTT(api_key=...) or DEEPGRAM_API_KEY"
# Deepgram closes a socket that received nothing for about 10 s (NET-0001).
_IDLE_LIMIT_S = 10.0
_KEEPALIVE = json.dumps({"type": "KeepAlive"})
_FINALIZE = json.dumps({"type": "Finalize"})
_CLOSE_STREAM = json.dumps({"type": "CloseStream"})


class STT:
    """Deepgram streaming STT; implements :class:`~getpatter.stt.base.STTProvider`.

    ``api_key`` falls back to ``DEEPGRAM_API_KEY``; ``base_url`` (the API root, such as
    ``wss://api.deepgram.com`` or a local fake's ``ws://127.0.0.1:<port>``) to
    ``DEEPGRAM_BASE_URL``. ``endpointing_ms`` is the silence after which Deepgram marks a final
    result ``speech_final``; ``utterance_end_ms`` (``None`` to turn it off) the gap after the
    last word before an ``UtteranceEnd``, which needs ``interim_results=True``.
    ``smart_format`` stays off by default because reformatted numbers and dates disturb
    tool-argument extraction (STT-2). A stream sends a ``KeepAlive`` whenever it has sent
    nothing for ``keepalive_interval`` seconds, so Deepgram does not close a quiet call.
    """

    name: str = "deepgram"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        language: str = "en",
        model: str = "nova-3",
        encoding: Encoding = "linear16",
        sample_rate: int = 16000,
        endpointing_ms: int = 150,
        utterance_end_ms: int | None = 1000,
        smart_format: bool = False,
        interim_results: bool = True,
        vad_events: bool = True,
        base_url: str | None = None,
        keepalive_interval: float = 5.0,
    ) -> None:
        if api_key is not None:
            require_str("DeepgramSTT api_key", api_key)
        key = env_secret((api_key or "").strip(), "DEEPGRAM_API_KEY")
        if not key:
            raise ConfigError(
                "DeepgramSTT needs an API key: pass DeepgramSTT(api_key=...) or set "
                "DEEPGRAM_API_KEY"
            )
        self._api_key = key
        self._language = require_str("DeepgramSTT language", language, allow_empty=False)
        self._model = require_str("DeepgramSTT model", model, allow_empty=False)
        self._format = _configured_format(encoding, sample_rate)
        require_int("DeepgramSTT endpointing_ms", endpointing_ms, minimum=1)
        if utterance_end_ms is not None:
            require_int("DeepgramSTT utterance_end_ms", utterance_end_ms, minimum=1)
        require_bool("DeepgramSTT smart_format", smart_format)
        require_bool("DeepgramSTT interim_results", interim_results)
        require_bool("DeepgramSTT vad_events", vad_events)
        if utterance_end_ms is not None and not interim_results:
            raise ConfigError(
                "DeepgramSTT utterance_end_ms needs interim_results=True: keep interim results "
                "on or pass utterance_end_ms=None"
            )
        interval = require_number("DeepgramSTT keepalive_interval", keepalive_interval)
        if not 0 < interval < _IDLE_LIMIT_S:
            raise ConfigError(
                f"DeepgramSTT keepalive_interval must be between 0 and {_IDLE_LIMIT_S:g} s "
                f"(Deepgram closes idle sockets after about 10 s), got {keepalive_interval!r}"
            )
        self._keepalive_interval = interval
        if base_url is not None:
            require_str("DeepgramSTT base_url", base_url)
        root = env_fallback((base_url or "").strip(), "DEEPGRAM_BASE_URL") or DEFAULT_BASE_URL
        self._listen_url = _listen_url(root)
        self._options: dict[str, str] = {
            "endpointing": str(endpointing_ms),
            "interim_results": _flag(interim_results),
            "vad_events": _flag(vad_events),
            "smart_format": _flag(smart_format),
        }
        if utterance_end_ms is not None:
            self._options["utterance_end_ms"] = str(utterance_end_ms)
        self.capabilities = STTCapabilities(
            streaming=True,
            interim_results=interim_results,
            endpointing=True,
            input_formats=_WIRE.preferring("ulaw_8000", self._format),
        )

    @property
    def language(self) -> str:
        """The language Deepgram transcribes; a pipeline agent's ``language`` follows it."""
        return self._language

    @property
    def model(self) -> str:
        """The Deepgram model (``nova-3``)."""
        return self._model

    def __repr__(self) -> str:
        return f"DeepgramSTT(model={self._model!r}, language={self._language!r})"

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> DeepgramStream:
        """A new, unconnected stream for one call, receiving ``audio_format``.

        ``audio_format`` defaults to the constructor's ``encoding``/``sample_rate``; ``language``
        to the constructor's ``language``.
        """
        fmt = self._format if audio_format is None else audio_format
        encoding, sample_rate = _WIRE.wire(fmt)
        lang = self._language if language is None else language
        require_str("DeepgramSTT open_stream language", lang, allow_empty=False)
        query = {
            "model": self._model,
            "language": lang,
            "encoding": encoding,
            "sample_rate": str(sample_rate),
            "channels": "1",
            **self._options,
        }
        return DeepgramStream(
            f"{self._listen_url}?{urlencode(query)}",
            self._api_key,
            keepalive_interval=self._keepalive_interval,
        )


DeepgramSTT = STT


class DeepgramStream(WebSocketSTTStream):
    """One call's Deepgram socket; see :class:`~getpatter.stt._websocket.WebSocketSTTStream`.

    Interim results with no text are skipped; an empty final result is kept only when it is
    ``speech_final``, so the pipeline still learns where the turn ended. A Deepgram ``Error``
    message raises :class:`~getpatter.errors.PatterConnectionError` from
    :meth:`receive_transcripts`. :meth:`finalize` sends ``Finalize``; :meth:`close` sends
    ``CloseStream`` (Deepgram answers with the last results and ``Metadata``, then closes).
    """

    provider = "Deepgram"
    key_hint = _KEY_HINT

    def __init__(self, url: str, api_key: str, *, keepalive_interval: float) -> None:
        super().__init__(
            url,
            api_key,
            headers={"Authorization": f"Token {api_key}"},
            logger=logger,
            keepalive_interval=keepalive_interval,
        )

    def _finalize_frames(self) -> list[Frame]:
        return [_FINALIZE]

    def _end_frames(self) -> list[Frame]:
        return [_CLOSE_STREAM]

    def _keepalive_frame(self) -> Frame:
        return _KEEPALIVE

    def _parse(self, message: object) -> list[STTEvent]:
        event = _event(message)
        return [] if event is None else [event]

    def _refusal_detail(self, body: object) -> str:
        message = body.get("err_msg") if isinstance(body, dict) else None
        return message if isinstance(message, str) else ""


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str


class _Word(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    end: float | None = None


class _Alternative(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    transcript: str = ""
    confidence: float | None = None
    words: list[_Word] = []


class _Channel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    alternatives: list[_Alternative] = []


class _Results(_Message):
    channel: _Channel
    is_final: bool = False
    speech_final: bool = False
    start: float | None = None
    duration: float | None = None


class _Error(_Message):
    description: str = ""
    message: str = ""
    variant: str = ""
    code: str | int | None = None


def _event(data: object) -> STTEvent | None:
    """The event of one decoded server message, or ``None`` for what the pipeline does not
    need."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "SpeechStarted":
        return STTSpeechStarted()
    if kind == "UtteranceEnd":
        return UtteranceEnd()
    try:
        if kind == "Results":
            return _transcript(_Results.model_validate(data))
        if kind == "Error":
            error = _Error.model_validate(data)
        else:
            logger.debug("Deepgram message %r ignored", kind)
            return None
    except ValidationError as exc:
        logger.warning("Deepgram sent a malformed %s message, skipped: %s", kind, exc)
        return None
    detail = error.description or error.message or "no description"
    tag = error.variant or (str(error.code) if error.code is not None else "")
    raise PatterConnectionError(
        f"Deepgram reported an error: {detail}" + (f" ({tag})" if tag else ""),
        code=ErrorCode.PROVIDER_ERROR,
    )


def _transcript(results: _Results) -> Transcript | None:
    alternatives = results.channel.alternatives
    best = alternatives[0] if alternatives else _Alternative()
    if not best.transcript.strip() and not (results.is_final and results.speech_final):
        return None
    billed = None
    if results.start is not None and results.duration is not None:
        billed = round(results.start + results.duration, 3)
    return Transcript(
        text=best.transcript,
        is_final=results.is_final,
        confidence=best.confidence,
        speech_final=results.speech_final,
        audio_seconds=billed,
        speech_end=best.words[-1].end if best.words else None,
    )


def _configured_format(encoding: object, sample_rate: object) -> AudioFormat:
    if encoding not in get_args(Encoding):
        raise ConfigError(
            f"DeepgramSTT encoding={encoding!r} is not supported: use one of "
            f"{list(get_args(Encoding))}"
        )
    rate = require_int("DeepgramSTT sample_rate", sample_rate, minimum=1)
    try:
        return _WIRE.format_of((encoding, rate))  # type: ignore[arg-type]
    except ConfigError:
        raise ConfigError(
            f"DeepgramSTT encoding={encoding!r} with sample_rate={rate} is not supported: use "
            "linear16 at 16000 or 24000, or mulaw / alaw at 8000"
        ) from None


def _listen_url(base_url: str) -> str:
    return websocket_url(
        "DeepgramSTT", base_url, "/v1/listen", env_var="DEEPGRAM_BASE_URL", example=DEFAULT_BASE_URL
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"
