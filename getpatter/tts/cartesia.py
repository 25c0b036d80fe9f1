"""Cartesia text-to-speech over the ``/tts/websocket`` WebSocket (``CartesiaTTS``; TTS-3, TTS-7).

The socket carries ``Authorization: Bearer <key>`` and ``Cartesia-Version`` (as the official
``cartesia`` 4.x SDK sends them). Each :meth:`TTS.synthesize` is one *context*: a generation
request (``model_id``, ``transcript``, ``voice``, ``output_format``, ``language``,
``context_id``, ``continue: false``), then ``chunk`` frames of base64 audio, ``timestamps`` /
``flush_done`` frames (skipped) and a final ``done``, or an ``error`` frame. Leaving the
iteration early (barge-in) sends ``{"context_id": ..., "cancel": true}``.

Sockets are pooled: a finished (or cancelled) context hands its socket back, and the next
sentence of any call on the same event loop reuses it, saving the TLS and WebSocket handshakes
on the turn's critical path; frames of an earlier, cancelled context are skipped by their
``context_id``. One socket serves one sentence at a time; concurrent sentences open more. A
pooled socket the server has closed meanwhile is replaced once, before any audio is yielded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State

from getpatter._loop_bound import LoopBoundClient
from getpatter._validation import require_int, require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, ErrorCode, InputValidationError, PatterError
from getpatter.providers.errors import status_error, websocket_open_error
from getpatter.providers.formats import WireFormats, carrier_format
from getpatter.providers.urls import base_url as kit_base_url
from getpatter.providers.urls import websocket_url
from getpatter.tts._http_audio import error_detail, resolve_api_key
from getpatter.tts._samples import SampleAligner
from getpatter.tts._timeouts import require_seconds
from getpatter.tts.base import TTSCapabilities

__all__ = ["CARTESIA_VERSION", "TTS", "CartesiaTTS", "CartesiaTTSError"]

_OWNER = "CartesiaTTS"
API_KEY_ENV = "CARTESIA_API_KEY"
BASE_URL_ENV = "CARTESIA_BASE_URL"
DEFAULT_BASE_URL = "https://api.cartesia.ai"
CARTESIA_VERSION = "2026-08-14"
"""The ``Cartesia-Version`` header: the API version whose frames this client reads (the
``cartesia`` 4.x SDK's default)."""

WIRE_FORMATS = WireFormats[tuple[str, int]](
    _OWNER,
    {
        "pcm16_16000": ("pcm_s16le", 16000),
        "ulaw_8000": ("pcm_mulaw", 8000),
        "pcm16_24000": ("pcm_s16le", 24000),
        "alaw_8000": ("pcm_alaw", 8000),
    },
)
"""Patter's formats and Cartesia's raw ``(encoding, sample_rate)`` for each; all native."""
_NATIVE = {WIRE_FORMATS.wire(fmt) for fmt in WIRE_FORMATS.formats}

SPEEDS = ("fastest", "fast", "normal", "slow", "slowest")
"""The named speeds; a number (0.6-2.0) is the Sonic-3 speed multiplier instead."""
_SPEED_RANGE = (0.6, 2.0)
_VOLUME_RANGE = (0.5, 2.0)
_MAX_IDLE = 4
_CLOSE_TIMEOUT = 2.0
_MAX_MESSAGE_BYTES = 1024 * 1024


class CartesiaTTSError(PatterError):
    """Cartesia ended a sentence badly: an ``error`` frame (a status-coded one maps like an
    HTTP answer instead), no frame within ``frame_timeout`` (``code == TIMEOUT``), a frame that
    is not a Cartesia frame, or the socket closing before ``done``."""

    default_code = ErrorCode.PROVIDER_ERROR


class TTS:
    """Cartesia Sonic speech synthesis over WebSocket (flat name ``CartesiaTTS``; TTS-3, TTS-7).

    ``api_key`` falls back to ``CARTESIA_API_KEY``; ``base_url`` to ``CARTESIA_BASE_URL`` (the
    SDK's variable; ``https`` becomes ``wss``). ``model``: ``sonic-2``, ``sonic-3``...;
    ``voice`` a voice id; ``language`` an ISO 639-1 code. ``encoding`` (``pcm_s16le``,
    ``pcm_mulaw``, ``pcm_alaw``) and ``sample_rate`` (16000/24000 for PCM, 8000 for the G.711
    laws) say what :meth:`synthesize` returns without an ``audio_format``.

    ``speed``: one of ``"fastest" "fast" "normal" "slow" "slowest"``, or a Sonic-3 multiplier
    0.6-2.0. ``emotion`` (e.g. ``"happy"``) and ``volume`` (0.5-2.0) are Sonic-3 generation
    settings: with another model (which ignores them) they are refused, as is a numeric speed.

    ``open_timeout`` bounds opening a socket; ``frame_timeout`` is the longest wait for the
    next frame before :class:`CartesiaTTSError` (``code == TIMEOUT``).
    """

    name: str = "cartesia_tts"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = "sonic-2",
        voice: str = "f786b574-daa5-4673-aa0c-cbe3e8534c02",
        language: str = "en",
        sample_rate: int = 16000,
        encoding: str = "pcm_s16le",
        speed: str | float | None = None,
        emotion: str | None = None,
        volume: float | None = None,
        base_url: str | None = None,
        open_timeout: float = 5.0,
        frame_timeout: float = 10.0,
    ) -> None:
        self._api_key = resolve_api_key(api_key, _OWNER, "Cartesia", API_KEY_ENV)
        self.model: str = require_str(f"{_OWNER} model", model, allow_empty=False)
        self.voice: str = require_str(f"{_OWNER} voice", voice, allow_empty=False)
        self.language: str = require_str(f"{_OWNER} language", language, allow_empty=False)
        self.sample_rate: int = require_int(f"{_OWNER} sample_rate", sample_rate)
        self.encoding: str = require_str(f"{_OWNER} encoding", encoding, allow_empty=False)
        if (self.encoding, self.sample_rate) not in _NATIVE:
            raise ConfigError(
                f"{_OWNER} encoding={self.encoding!r} at sample_rate={self.sample_rate} is not "
                "supported: use pcm_s16le at 16000 or 24000, or pcm_mulaw / pcm_alaw at 8000"
            )
        self.output_format: AudioFormat = WIRE_FORMATS.format_of((self.encoding, self.sample_rate))
        self.capabilities = TTSCapabilities(
            output_formats=WIRE_FORMATS.preferring(self.output_format)
        )
        self.speed = _require_speed(speed, self.model)
        self.emotion = _require_sonic3(
            "emotion",
            None
            if emotion is None
            else require_str(f"{_OWNER} emotion", emotion, allow_empty=False),
            self.model,
        )
        self.volume = _require_sonic3(
            "volume", _require_range("volume", volume, _VOLUME_RANGE), self.model
        )
        http_url = kit_base_url(
            _OWNER,
            base_url,
            env_var=BASE_URL_ENV,
            default=DEFAULT_BASE_URL,
            schemes=("https", "http", "wss", "ws"),
        )
        self.base_url: str = http_url
        self._url = websocket_url(
            _OWNER, http_url, "/tts/websocket", env_var=BASE_URL_ENV, example=DEFAULT_BASE_URL
        )
        self._open_timeout = require_seconds(f"{_OWNER} open_timeout", open_timeout)
        self._frame_timeout = require_seconds(f"{_OWNER} frame_timeout", frame_timeout)
        self._pools: LoopBoundClient[_SocketPool] = LoopBoundClient(lambda: _SocketPool(self._open))
        self._closed = False

    @classmethod
    def for_twilio(cls, api_key: str | None = None, **options: Any) -> TTS:
        """μ-law 8 kHz, what Twilio streams, produced by Cartesia itself (TTS-3); keyword
        arguments as the constructor."""
        return cls._for_carrier("twilio", api_key, options)

    @classmethod
    def for_telnyx(cls, api_key: str | None = None, **options: Any) -> TTS:
        """PCM16 at 16 kHz, what Telnyx streams (TTS-3); keyword arguments as the constructor."""
        return cls._for_carrier("telnyx", api_key, options)

    @classmethod
    def _for_carrier(cls, carrier: str, api_key: str | None, options: dict[str, Any]) -> TTS:
        encoding, rate = WIRE_FORMATS.wire(carrier_format(carrier))
        return cls(api_key, encoding=encoding, sample_rate=rate, **options)

    async def synthesize(
        self, text: str, *, audio_format: AudioFormat | None = None
    ) -> AsyncIterator[bytes]:
        """Speak ``text`` as one context, yielding audio as chunks arrive.

        ``audio_format`` (one of ``capabilities.output_formats``) overrides the constructor's
        format. Blank text yields nothing. Leaving the loop early cancels the context.
        """
        require_str("text", text)
        encoding, rate = WIRE_FORMATS.wire(
            self.output_format if audio_format is None else audio_format
        )
        if not text.strip():
            return
        if self._closed:
            raise PatterError(f"this {_OWNER} is closed: create a new one to synthesize")
        pool = self._pools.get()
        context_id = uuid.uuid4().hex
        request = self._request(text, context_id, encoding, rate)
        aligner = SampleAligner() if encoding == "pcm_s16le" else None
        ws, reused = await pool.take()
        outcome = "failed"
        try:
            while True:  # a reused socket the server has closed is replaced, once
                try:
                    await ws.send(request)
                    audio, done = await self._next_frame(ws, context_id)
                    break
                except ConnectionClosed as exc:
                    if not reused:
                        raise _closed_error(exc) from None
                    ws, reused = await pool.replace(ws)
            while True:
                if aligner is not None:
                    audio = aligner.align(audio)
                if audio:
                    yield audio
                if done:
                    outcome = "done"
                    return
                try:
                    audio, done = await self._next_frame(ws, context_id)
                except ConnectionClosed as exc:
                    raise _closed_error(exc) from None
        except (GeneratorExit, asyncio.CancelledError):
            outcome = "cancelled"
            raise
        finally:
            if outcome == "done":
                await pool.give_back(ws)
            elif outcome == "cancelled":
                await pool.cancel(ws, context_id)
            else:
                await pool.discard(ws)

    async def close(self) -> None:
        """Close the pooled sockets; the provider is unusable afterwards."""
        self._closed = True
        await self._pools.close()

    def __repr__(self) -> str:
        return (
            f"CartesiaTTS(model={self.model!r}, voice={self.voice!r}, "
            f"language={self.language!r}, output_format={self.output_format!r})"
        )

    def _request(self, text: str, context_id: str, encoding: str, rate: int) -> str:
        message: dict[str, Any] = {
            "model_id": self.model,
            "transcript": text,
            "voice": {"mode": "id", "id": self.voice},
            "output_format": {"container": "raw", "encoding": encoding, "sample_rate": rate},
            "language": self.language,
            "context_id": context_id,
            "continue": False,
        }
        generation: dict[str, Any] = {}
        if isinstance(self.speed, str):
            message["speed"] = self.speed
        elif self.speed is not None:
            generation["speed"] = self.speed
        if self.emotion is not None:
            generation["emotion"] = self.emotion
        if self.volume is not None:
            generation["volume"] = self.volume
        if generation:
            message["generation_config"] = generation
        return json.dumps(message)

    async def _open(self) -> ClientConnection:
        try:
            return await connect(
                self._url,
                additional_headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Cartesia-Version": CARTESIA_VERSION,
                },
                open_timeout=self._open_timeout,
                close_timeout=_CLOSE_TIMEOUT,
                max_size=_MAX_MESSAGE_BYTES,
                compression=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            detail = ""
            if isinstance(exc, InvalidStatus):
                detail = error_detail(bytes(exc.response.body or b""))
            raise websocket_open_error(
                "Cartesia",
                exc,
                url=f"{self._url} ({_OWNER} open_timeout)"
                if isinstance(exc, TimeoutError)
                else self._url,
                timeout=self._open_timeout,
                api_key=self._api_key,
                key_hint=f"{_OWNER}(api_key=...) or {API_KEY_ENV}",
                detail=detail,
            ) from None

    async def _next_frame(self, ws: ClientConnection, context_id: str) -> tuple[bytes, bool]:
        """The audio of the next frame of ``context_id`` and whether it ends the context;
        raises ``ConnectionClosed`` when the socket closes."""
        while True:
            try:
                async with asyncio.timeout(self._frame_timeout):
                    raw = await ws.recv()
            except TimeoutError:
                raise CartesiaTTSError(
                    f"Cartesia TTS stalled: no frame for {self._frame_timeout:g} s "
                    f"({_OWNER} frame_timeout)",
                    code=ErrorCode.TIMEOUT,
                ) from None
            message = _parse(raw)
            if message.get("context_id") not in (context_id, None):
                continue  # a cancelled earlier context still draining on a reused socket
            kind = message.get("type")
            if kind == "error":
                raise self._frame_error(message)
            if kind == "chunk":
                return _audio(message), bool(message.get("done"))
            if kind == "done" or message.get("done") is True:
                return b"", True

    def _frame_error(self, message: dict[str, Any]) -> PatterError:
        said = " - ".join(
            str(message[k]) for k in ("title", "message", "error_code") if message.get(k)
        )
        status = message.get("status_code")
        if isinstance(status, int) and status >= 400:
            return status_error(
                "Cartesia",
                status,
                said,
                api_key=self._api_key,
                key_hint=f"{_OWNER}(api_key=...) or {API_KEY_ENV}",
            )
        return CartesiaTTSError(f"Cartesia TTS error: {said or 'no details'}")


CartesiaTTS = TTS


class _SocketPool:
    """Idle open sockets of one event loop, handed to one context at a time."""

    def __init__(self, opener: Any) -> None:
        self._open = opener
        self._idle: list[ClientConnection] = []

    async def take(self) -> tuple[ClientConnection, bool]:
        """An idle open socket (``True``: reused) or a new one (``False``)."""
        while self._idle:
            ws = self._idle.pop()
            if ws.state is State.OPEN:
                return ws, True
        return await self._open(), False

    async def replace(self, stale: ClientConnection) -> tuple[ClientConnection, bool]:
        """A fresh socket instead of ``stale`` (a reused one the server had closed)."""
        with contextlib.suppress(Exception):
            await stale.close()
        return await self._open(), False

    async def give_back(self, ws: ClientConnection) -> None:
        """Keep ``ws`` for the next context, if it is open and the pool has room."""
        if ws.state is State.OPEN and len(self._idle) < _MAX_IDLE:
            self._idle.append(ws)
        else:
            await self.discard(ws)

    async def discard(self, ws: ClientConnection) -> None:
        """Close ``ws`` (it failed: stalled, dropped or answered an error)."""
        with contextlib.suppress(Exception):
            await ws.close()

    async def cancel(self, ws: ClientConnection, context_id: str) -> None:
        """Cancel ``context_id`` on ``ws`` and keep the socket (its late frames are skipped);
        a socket that cannot take the cancel is closed."""
        if ws.state is State.OPEN:
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await ws.send(json.dumps({"context_id": context_id, "cancel": True}))
            except (ConnectionClosed, TimeoutError):
                pass
            else:
                await self.give_back(ws)
                return
        with contextlib.suppress(Exception):
            await ws.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for ws in idle:
            with contextlib.suppress(Exception):
                await ws.close()


def _parse(raw: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except ValueError:
        raise CartesiaTTSError(f"Cartesia sent a frame that is not JSON: {raw[:80]!r}") from None
    if not isinstance(message, dict):
        raise CartesiaTTSError(f"Cartesia sent an unexpected frame: {raw[:80]!r}")
    return message


def _audio(message: dict[str, Any]) -> bytes:
    data = message.get("data")
    if not data:
        return b""
    if not isinstance(data, str):
        raise CartesiaTTSError("Cartesia sent a chunk whose data is not base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise CartesiaTTSError("Cartesia sent audio that is not valid base64") from None


def _closed_error(exc: ConnectionClosed) -> CartesiaTTSError:
    close = exc.rcvd
    reason = f"code {close.code}: {close.reason}" if close is not None else "no close frame"
    return CartesiaTTSError(f"Cartesia closed the TTS socket mid-sentence ({reason})")


def _require_range(option: str, value: object, bounds: tuple[float, float]) -> float | None:
    if value is None:
        return None
    number = require_number(f"{_OWNER} {option}", value)
    low, high = bounds
    if not low <= number <= high:
        raise InputValidationError(
            f"{_OWNER} {option} must be between {low} and {high}, got {value}"
        )
    return number


def _require_sonic3(option: str, value: Any, model: str) -> Any:
    if value is not None and not model.startswith("sonic-3"):
        raise ConfigError(
            f"{_OWNER} {option}= needs a Sonic-3 model (model={model!r} ignores it): pass "
            f"model='sonic-3', or drop {option}"
        )
    return value


def _require_speed(speed: object, model: str) -> str | float | None:
    if speed is None or isinstance(speed, str):
        if isinstance(speed, str) and speed not in SPEEDS:
            raise InputValidationError(
                f"{_OWNER} speed={speed!r} is not a Cartesia speed: use one of {list(SPEEDS)} "
                "or a number between 0.6 and 2.0"
            )
        return speed
    number: float | None = _require_sonic3(
        "speed", _require_range("speed", speed, _SPEED_RANGE), model
    )
    return number
