"""Soniox real-time speech-to-text over its WebSocket (spec STT-7).

:class:`STT` (flat name ``SonioxSTT``) is the provider; each call opens its own
:class:`SonioxStream` (one socket to ``/transcribe-websocket``). The key goes in the handshake's
``Authorization: Bearer`` header (Soniox's current way; ``api_key`` in the start request is
deprecated). The first text frame is the start request: ``model``, the raw ``audio_format``
(``mulaw`` for Twilio's μ-law 8 kHz, which goes up untouched, ``alaw``, or ``pcm_s16le``),
``sample_rate``, ``num_channels``, ``language_hints`` and ``enable_endpoint_detection``. Audio
then goes up as binary frames; an empty frame ends it.

Soniox answers with tokens, each final or not. Tokens that are not final yet are an interim
result (after the final ones not yet reported). Final tokens are a final result as soon as they
end on a word boundary; the ``<end>`` token (Soniox's endpoint detection heard the speaker
finish) makes that final result ``speech_final``, and ``<fin>`` closes the one
:meth:`SonioxStream.finalize` asked for. ``total_audio_proc_ms`` is reported as
``Transcript.audio_seconds``. An error response (``error_code``, ``error_message``) raises from
:meth:`~SonioxStream.receive_transcripts`: Soniox checks the key and the start request only
after the socket opens, so a refused key is reported there, not by ``connect()``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from getpatter._env import env_secret
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, PatterConnectionError
from getpatter.providers.formats import WireFormats, carrier_format
from getpatter.providers.urls import base_url as resolve_base_url
from getpatter.providers.urls import websocket_url
from getpatter.stt._websocket import Frame, SessionFault, WebSocketSTTStream, session_error
from getpatter.stt.base import STTCapabilities, STTEvent, Transcript

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "STT", "SonioxSTT", "SonioxStream"]

logger = logging.getLogger("getpatter.stt.soniox")

#: The public real-time API, used when neither ``base_url`` nor ``SONIOX_BASE_URL`` is set.
DEFAULT_BASE_URL = "wss://stt-rt.soniox.com"
DEFAULT_MODEL = "stt-rt-v5"
"""Soniox's current real-time model (its ``stt-rt-v4`` alias points to it)."""

_WIRE = WireFormats[tuple[str, int]](
    "SonioxSTT",
    {
        "ulaw_8000": ("mulaw", 8000),
        "alaw_8000": ("alaw", 8000),
        "pcm16_16000": ("pcm_s16le", 16000),
        "pcm16_8000": ("pcm_s16le", 8000),
        "pcm16_24000": ("pcm_s16le", 24000),
    },
)
_KEY_HINT = "SonioxSTT(api_key=...) or SONIOX_API_KEY"
# Soniox closes a session that receives nothing for a while; its SDK keeps paused sessions
# alive every 5 s.
_IDLE_LIMIT_S = 20.0
_END, _FIN = "<end>", "<fin>"


def _decode(raw: str | bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _fault(code: int) -> SessionFault:
    if code in (401, 403):
        return "auth"
    if code == 429:
        return "rate_limit"
    if code == 408 or code >= 500:
        return "server"
    return "request"


class STT:
    """Soniox real-time STT; implements :class:`~getpatter.stt.base.STTProvider`.

    ``api_key`` falls back to ``SONIOX_API_KEY``; ``base_url`` (the real-time API root, such as
    ``wss://stt-rt.soniox.com`` or a local fake's ``ws://127.0.0.1:<port>``) to
    ``SONIOX_BASE_URL``. ``language`` is sent as the language hint (``None``: no hint, Soniox
    detects it). ``audio_format`` is the format a stream gets by default (PCM16 at 16 kHz;
    :meth:`for_twilio` takes μ-law 8 kHz). ``endpoint_detection`` lets Soniox say when the
    speaker finished (``speech_final``); ``max_endpoint_delay_ms`` (500 to 3000) caps how long
    it may take. A stream sends a ``keepalive`` whenever it has sent nothing for
    ``keepalive_interval`` seconds.
    """

    name: str = "soniox"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        language: str | None = "en",
        audio_format: AudioFormat = "pcm16_16000",
        endpoint_detection: bool = True,
        max_endpoint_delay_ms: int | None = None,
        base_url: str | None = None,
        keepalive_interval: float = 5.0,
    ) -> None:
        if api_key is not None:
            require_str("SonioxSTT api_key", api_key)
        key = env_secret((api_key or "").strip(), "SONIOX_API_KEY")
        if not key:
            raise ConfigError(
                "SonioxSTT needs an API key: pass SonioxSTT(api_key=...) or set SONIOX_API_KEY"
            )
        self._api_key = key
        self._model = require_str("SonioxSTT model", model, allow_empty=False)
        if language is not None:
            require_str("SonioxSTT language", language, allow_empty=False)
        self._language = language
        _WIRE.wire(audio_format)  # refuses a format Soniox cannot take
        self._format: AudioFormat = audio_format
        self._endpoints = require_bool("SonioxSTT endpoint_detection", endpoint_detection)
        if max_endpoint_delay_ms is not None:
            require_int(
                "SonioxSTT max_endpoint_delay_ms", max_endpoint_delay_ms, minimum=500, maximum=3000
            )
            if not endpoint_detection:
                raise ConfigError(
                    "SonioxSTT max_endpoint_delay_ms needs endpoint_detection=True: turn "
                    "endpoint detection on or drop max_endpoint_delay_ms"
                )
        self._max_endpoint_delay_ms = max_endpoint_delay_ms
        interval = require_number("SonioxSTT keepalive_interval", keepalive_interval)
        if not 0 < interval < _IDLE_LIMIT_S:
            raise ConfigError(
                f"SonioxSTT keepalive_interval must be between 0 and {_IDLE_LIMIT_S:g} s, got "
                f"{keepalive_interval!r}"
            )
        self._keepalive_interval = float(interval)
        self._settings: dict[str, object] = {
            "model": model,
            "language": language,
            "audio_format": audio_format,
            "endpoint_detection": endpoint_detection,
            "max_endpoint_delay_ms": max_endpoint_delay_ms,
            "keepalive_interval": keepalive_interval,
        }
        root = resolve_base_url(
            "SonioxSTT",
            base_url,
            env_var="SONIOX_BASE_URL",
            default=DEFAULT_BASE_URL,
            schemes=("wss", "ws", "https", "http"),
        )
        self._ws_url = websocket_url(
            "SonioxSTT",
            root,
            "/transcribe-websocket",
            env_var="SONIOX_BASE_URL",
            example=DEFAULT_BASE_URL,
        )
        self.capabilities = STTCapabilities(
            streaming=True,
            interim_results=True,
            endpointing=endpoint_detection,
            input_formats=_WIRE.preferring("ulaw_8000", self._format),
        )

    @classmethod
    def for_twilio(cls, api_key: str | None = None, **options: object) -> Self:
        """Take Twilio's μ-law 8 kHz as it arrives."""
        return cls._for_carrier("twilio", api_key, options)

    @classmethod
    def for_telnyx(cls, api_key: str | None = None, **options: object) -> Self:
        """Take Telnyx's PCM16 16 kHz as it arrives."""
        return cls._for_carrier("telnyx", api_key, options)

    @classmethod
    def _for_carrier(cls, carrier: str, api_key: str | None, options: dict[str, object]) -> Self:
        if "audio_format" in options:
            raise ConfigError(
                f"SonioxSTT.for_{carrier}() sets audio_format itself: use SonioxSTT(...) to "
                "choose it"
            )
        return cls(api_key, audio_format=carrier_format(carrier), **options)  # type: ignore[arg-type]

    def _pointed_at(self, api_key: str, base_url: str) -> Self:
        """The same provider, every option kept, at another service and key (the sandbox)."""
        return type(self)(api_key, base_url=base_url, **self._settings)  # type: ignore[arg-type]

    @property
    def language(self) -> str | None:
        """The language hint (``None``: Soniox detects the language)."""
        return self._language

    def __repr__(self) -> str:
        return f"SonioxSTT(model={self._model!r}, language={self._language!r})"

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> SonioxStream:
        """A new, unconnected stream for one call, receiving ``audio_format``; ``language``
        overrides the constructor's hint."""
        fmt = self._format if audio_format is None else audio_format
        encoding, rate = _WIRE.wire(fmt)
        lang = self._language if language is None else language
        if lang is not None:
            require_str("SonioxSTT open_stream language", lang, allow_empty=False)
        config: dict[str, object] = {
            "model": self._model,
            "audio_format": encoding,
            "sample_rate": rate,
            "num_channels": 1,
            "enable_endpoint_detection": self._endpoints,
        }
        if lang is not None:
            config["language_hints"] = [lang]
        if self._max_endpoint_delay_ms is not None:
            config["max_endpoint_delay_ms"] = self._max_endpoint_delay_ms
        return SonioxStream(
            self._ws_url, self._api_key, config=config, keepalive_interval=self._keepalive_interval
        )


SonioxSTT = STT


class SonioxStream(WebSocketSTTStream):
    """One call's Soniox socket; see :class:`~getpatter.stt._websocket.WebSocketSTTStream`."""

    provider = "Soniox"
    key_hint = _KEY_HINT

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        config: dict[str, object],
        keepalive_interval: float,
    ) -> None:
        super().__init__(
            url,
            api_key,
            headers={"Authorization": f"Bearer {api_key}"},
            keepalive_interval=keepalive_interval,
            logger=logger,
        )
        self._config = config
        self._pending = ""  # final text not reported yet (it may end inside a word)

    @property
    def config(self) -> dict[str, object]:
        """The start request (it carries no key)."""
        return dict(self._config)

    async def _start(self, ws: ClientConnection) -> None:
        """Send the start request. Soniox refuses a bad key in the header as soon as the socket
        opens: when it already has, the refusal raises here."""
        try:
            await ws.send(json.dumps(self._config))
        except ConnectionClosed:
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:  # what arrived before the close: the error response
                    self._parse(_decode(raw))
            raise PatterConnectionError(
                f"Soniox closed the stream before it began (close code {ws.close_code})"
            ) from None

    def _finalize_frames(self) -> list[Frame]:
        return [json.dumps({"type": "finalize"})]

    def _end_frames(self) -> list[Frame]:
        return [""]

    def _keepalive_frame(self) -> Frame:
        return json.dumps({"type": "keepalive"})

    def _parse(self, message: object) -> list[STTEvent]:
        try:
            response = _Response.model_validate(message)
        except ValidationError as exc:
            logger.warning("Soniox sent a malformed response, skipped: %s", exc)
            return []
        if response.error_code is not None or response.error_message:
            code = response.error_code or 500
            raise session_error(
                "Soniox",
                _fault(code),
                f"error {code}: {response.error_message or 'no description'}",
                api_key=self._api_key,
                key_hint=_KEY_HINT,
            )
        return self._events_of(response)

    def _events_of(self, response: _Response) -> list[STTEvent]:
        finals = [t for t in response.tokens if t.is_final and t.text not in (_END, _FIN)]
        markers = {t.text for t in response.tokens if t.text in (_END, _FIN)}
        tail = "".join(t.text for t in response.tokens if not t.is_final)
        self._pending += "".join(t.text for t in finals)
        audio_seconds = (
            response.total_audio_proc_ms / 1000
            if response.total_audio_proc_ms is not None
            else None
        )
        events: list[STTEvent] = []
        at_boundary = not tail or tail[0].isspace()
        if markers or (self._pending.strip() and at_boundary):
            confidences = [t.confidence for t in finals if t.confidence is not None]
            ends = [t.end_ms for t in finals if t.end_ms is not None]
            events.append(
                Transcript(
                    text=self._pending.strip(),
                    is_final=True,
                    speech_final=_END in markers,
                    confidence=min(confidences) if confidences else None,
                    audio_seconds=audio_seconds,
                    speech_end=ends[-1] / 1000 if ends else None,
                )
            )
            self._pending = ""
        if tail.strip():
            text = (self._pending + tail).strip()
            events.append(Transcript(text=text, is_final=False, audio_seconds=audio_seconds))
        return events


class _Token(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str
    start_ms: int | None = None
    end_ms: int | None = None
    confidence: float | None = None
    is_final: bool = False


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    tokens: list[_Token] = []
    total_audio_proc_ms: int | None = None
    finished: bool = False
    error_code: int | None = None
    error_message: str | None = None
