"""Cartesia ``ink-whisper`` streaming speech-to-text over its ``/stt/websocket`` (spec STT-5).

:class:`STT` (flat name ``CartesiaSTT``) is the provider: configuration shared by every call of
an agent. Each call opens its own :class:`CartesiaStream` with :meth:`STT.open_stream`, which
owns one socket, opened with the settings in its query string (``model``, ``language``,
``encoding``, ``sample_rate``) and the headers of Cartesia's 4.x SDK (``Authorization: Bearer
<key>``, ``Cartesia-Version``):

- caller audio goes up as binary frames as the carrier sent it: Twilio's μ-law 8 kHz as
  ``pcm_mulaw``, Telnyx's PCM16 16 kHz as ``pcm_s16le``, A-law as ``pcm_alaw``;
- Cartesia answers ``transcript`` messages: interim ones, then final ones, each final one the
  text since the previous final one;
- :meth:`CartesiaStream.finalize` sends the ``finalize`` text command; the final text it
  produces is handed over as one final :class:`~getpatter.stt.base.Transcript` when Cartesia
  confirms with ``flush_done`` (an empty one when nothing was said), so the pipeline gets
  exactly one answer to each end of turn;
- closing sends ``close``; Cartesia transcribes what is left and answers ``done``.

This endpoint has no turn detection of its own (Cartesia's SDK calls it "manual finalize"), so
``capabilities.endpointing`` is ``False``: a pipeline agent using it needs a local ``vad=``,
whose end of speech triggers ``finalize``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import AsyncIterator
from typing import Literal, get_args
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.http11 import Response

from getpatter._env import env_secret
from getpatter._redaction import register_secret
from getpatter._validation import require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, PatterConnectionError, PatterError
from getpatter.providers.errors import body_message, status_error, websocket_open_error
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import base_url as resolve_base_url
from getpatter.providers.urls import websocket_url
from getpatter.stt.base import STTCapabilities, STTEvent, Transcript
from getpatter.tts.cartesia import CARTESIA_VERSION  # one API version for both sockets

__all__ = [
    "DEFAULT_BASE_URL",
    "SAMPLE_RATES",
    "STT",
    "CartesiaSTT",
    "CartesiaStream",
    "Encoding",
]

logger = logging.getLogger("getpatter.stt.cartesia")

Encoding = Literal["pcm_s16le", "pcm_mulaw", "pcm_alaw"]
"""The raw audio encodings a stream can announce."""

SAMPLE_RATES = (8000, 16000, 24000, 44100, 48000)
"""The sample rates ``ink-whisper`` takes (spec STT-5)."""

#: The public Cartesia API, used when neither ``base_url`` nor ``CARTESIA_BASE_URL`` is set (the
#: variable Cartesia's SDK reads too).
DEFAULT_BASE_URL = "https://api.cartesia.ai"
_ENV_URL = "CARTESIA_BASE_URL"
_KEY_HINT = "CartesiaSTT(api_key=...) or CARTESIA_API_KEY"

_WIRE = WireFormats[tuple[Encoding, int]](
    "CartesiaSTT",
    {
        "ulaw_8000": ("pcm_mulaw", 8000),
        "pcm16_16000": ("pcm_s16le", 16000),
        "alaw_8000": ("pcm_alaw", 8000),
        "pcm16_8000": ("pcm_s16le", 8000),
        "pcm16_24000": ("pcm_s16le", 24000),
    },
)
_CONNECT_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 2.0
_FINALIZE = "finalize"
_CLOSE = "close"


class STT:
    """Cartesia streaming STT; implements :class:`~getpatter.stt.base.STTProvider`.

    ``api_key`` falls back to ``CARTESIA_API_KEY``; ``base_url`` (the API root, such as
    ``https://api.cartesia.ai`` or a local fake's ``http://127.0.0.1:<port>``) to
    ``CARTESIA_BASE_URL``. ``encoding`` and ``sample_rate`` (one of :data:`SAMPLE_RATES`) are
    what a stream announces when :meth:`open_stream` is called without a format (the low-level
    contract's PCM16 16 kHz by default); a pipeline opens its streams in the carrier's format.
    ``max_silence_duration_secs`` and ``min_volume``, when given, are passed to Cartesia, which
    then also finalizes by itself after that much silence (text arriving that way goes into the
    caller's turn like any final text).
    """

    name: str = "cartesia_stt"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        language: str = "en",
        model: str = "ink-whisper",
        encoding: Encoding = "pcm_s16le",
        sample_rate: int = 16000,
        max_silence_duration_secs: float | None = None,
        min_volume: float | None = None,
        base_url: str | None = None,
    ) -> None:
        if api_key is not None:
            require_str("CartesiaSTT api_key", api_key)
        key = env_secret((api_key or "").strip(), "CARTESIA_API_KEY")
        if not key:
            raise ConfigError(
                "CartesiaSTT needs an API key: pass CartesiaSTT(api_key=...) or set "
                "CARTESIA_API_KEY"
            )
        self._api_key = key
        self._language = require_str("CartesiaSTT language", language, allow_empty=False)
        self._model = require_str("CartesiaSTT model", model, allow_empty=False)
        if encoding not in get_args(Encoding):
            raise ConfigError(
                f"CartesiaSTT encoding={encoding!r} is not supported: use one of "
                f"{list(get_args(Encoding))}"
            )
        if isinstance(sample_rate, bool) or sample_rate not in SAMPLE_RATES:
            raise ConfigError(
                f"CartesiaSTT sample_rate={sample_rate!r} is not supported: use one of "
                f"{list(SAMPLE_RATES)}"
            )
        self._default_wire: tuple[Encoding, int] = (encoding, sample_rate)
        self._options: dict[str, str] = {}
        if max_silence_duration_secs is not None:
            silence = require_number(
                "CartesiaSTT max_silence_duration_secs", max_silence_duration_secs
            )
            if silence <= 0:
                raise ConfigError(
                    "CartesiaSTT max_silence_duration_secs must be above 0 (or None for "
                    f"Cartesia's default), got {max_silence_duration_secs!r}"
                )
            self._options["max_silence_duration_secs"] = f"{silence:g}"
        if min_volume is not None:
            volume = require_number("CartesiaSTT min_volume", min_volume, minimum=0)
            self._options["min_volume"] = f"{volume:g}"
        root = resolve_base_url(
            "CartesiaSTT",
            base_url,
            env_var=_ENV_URL,
            default=DEFAULT_BASE_URL,
            schemes=("https", "http", "wss", "ws"),
        )
        self._url = _stt_url(root)
        configured = [f for f in _WIRE.formats if _WIRE.wire(f) == self._default_wire]
        self.capabilities = STTCapabilities(
            streaming=True,
            interim_results=True,
            endpointing=False,
            input_formats=_WIRE.preferring("ulaw_8000", *configured),
        )

    @property
    def language(self) -> str:
        """The language Cartesia transcribes; a pipeline agent's ``language`` follows it."""
        return self._language

    def __repr__(self) -> str:
        return f"CartesiaSTT(model={self._model!r}, language={self._language!r})"

    def _pointed_at(self, api_key: str, base_url: str) -> STT:
        """This provider, every option kept, talking to ``base_url`` with ``api_key`` (the
        sandbox points an agent's provider at a local fake this way)."""
        other = copy.copy(self)
        other._url = _stt_url(base_url)
        other._api_key = register_secret(api_key)
        return other

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> CartesiaStream:
        """A new, unconnected stream for one call, receiving ``audio_format``.

        ``audio_format`` defaults to the constructor's ``encoding``/``sample_rate``; ``language``
        to the constructor's ``language``.
        """
        encoding, rate = self._default_wire if audio_format is None else _WIRE.wire(audio_format)
        lang = self._language if language is None else language
        require_str("CartesiaSTT open_stream language", lang, allow_empty=False)
        query = {
            "model": self._model,
            "language": lang,
            "encoding": encoding,
            "sample_rate": str(rate),
            **self._options,
        }
        return CartesiaStream(f"{self._url}?{urlencode(query)}", self._api_key)


CartesiaSTT = STT


class CartesiaStream:
    """One call's Cartesia socket; implements :class:`~getpatter.stt.base.STTStream`.

    :meth:`connect`, then iterate :meth:`receive_transcripts` in one task while another sends
    audio. Audio and :meth:`finalize` after :meth:`close`, or after Cartesia dropped the
    socket, are dropped silently: the iterator reports the drop, or a Cartesia ``error``
    message, by raising a :class:`~getpatter.errors.PatterError`.
    """

    def __init__(self, url: str, api_key: str) -> None:
        self._url = url
        self._api_key = api_key
        self._ws: ClientConnection | None = None
        self._connecting = False
        self._closed = False
        self._receiving = False
        self._flushes = 0  # finalize commands Cartesia has not confirmed yet
        self._flushed: list[str] = []  # final text received since the oldest of them

    @property
    def url(self) -> str:
        """The ``/stt/websocket`` URL with its query string (no credentials)."""
        return self._url

    async def connect(self) -> None:
        """Open the socket.

        Raises :class:`AuthenticationError` when Cartesia refuses the key (HTTP 401/403),
        :class:`RateLimitError` on HTTP 429 and :class:`PatterConnectionError` otherwise.
        """
        if self._connecting or self._ws is not None:
            raise RuntimeError("CartesiaStream serves one call: open a new stream per call")
        self._connecting = True
        ws = await _open(self._url, self._api_key)
        self._ws = ws
        if self._closed:  # close() was called while connecting.
            await _shut(ws)

    async def send_audio(self, chunk: bytes) -> None:
        """Send caller audio, in the format the stream was opened with, as one binary frame."""
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ConfigError(f"send_audio takes audio bytes, got {type(chunk).__name__}")
        if self._closed or not chunk:
            return
        await self._send(self._connection(), chunk)

    async def finalize(self) -> None:
        """Ask Cartesia to transcribe what it holds: one final result answers, on ``flush_done``."""
        if self._closed:
            return
        if await self._send(self._connection(), _FINALIZE):
            self._flushes += 1

    def receive_transcripts(self) -> AsyncIterator[STTEvent]:
        """Cartesia's results until the stream closes; iterate once per stream.

        Interim results with no text are skipped; see the module docstring for finals.
        """
        ws = self._connection()
        if self._receiving:
            raise RuntimeError("CartesiaStream.receive_transcripts() can be iterated only once")
        self._receiving = True
        return self._events(ws)

    async def close(self) -> None:
        """Send ``close`` and close the socket, waiting at most 2 s. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._ws is not None:
            await _shut(self._ws)

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("CartesiaStream is not connected: await connect() first")
        return self._ws

    async def _send(
        self, ws: ClientConnection, message: str | bytes | bytearray | memoryview
    ) -> bool:
        try:
            await ws.send(message)
        except ConnectionClosed:
            logger.debug("nothing sent: the Cartesia socket is closed")
            return False
        return True

    async def _events(self, ws: ClientConnection) -> AsyncIterator[STTEvent]:
        with contextlib.suppress(ConnectionClosed):  # how it closed is judged below
            async for raw in ws:
                message = _parse(raw)
                if isinstance(message, _Done):
                    break
                if isinstance(message, _Error):
                    raise _error(message, self._api_key)
                event = self._event(message)
                if event is not None:
                    yield event
        if not self._closed:
            raise PatterConnectionError(
                "Cartesia closed the stream unexpectedly "
                f"(close code {ws.close_code}: {ws.close_reason or 'no reason given'})"
            )

    def _event(self, message: _Transcript | _FlushDone | None) -> Transcript | None:
        if isinstance(message, _FlushDone):
            if not self._flushes:
                return None
            self._flushes -= 1
            text, self._flushed = "".join(self._flushed).strip(), []
            return Transcript(text=text, is_final=True)
        if message is None:
            return None
        if not message.is_final:
            text = message.text.strip()
            return Transcript(text=text, is_final=False) if text else None
        if self._flushes:  # part of the answer to a finalize: handed over on flush_done
            self._flushed.append(message.text)
            return None
        text = message.text.strip()
        return Transcript(text=text, is_final=True) if text else None


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str


class _Transcript(_Message):
    text: str = ""
    is_final: bool = False
    duration: float | None = None


class _FlushDone(_Message):
    pass


class _Done(_Message):
    pass


class _Error(_Message):
    message: str = ""
    title: str = ""
    status_code: int | None = None
    error_code: str | None = None


_MODELS: dict[str, type[_Message]] = {
    "transcript": _Transcript,
    "flush_done": _FlushDone,
    "done": _Done,
    "error": _Error,
}


def _parse(raw: str | bytes) -> _Transcript | _FlushDone | _Done | _Error | None:
    """The message, or ``None`` for one that is malformed or not needed."""
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("Cartesia sent a message that is not JSON: skipped")
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        logger.debug("Cartesia message %r ignored", kind)
        return None
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        logger.warning("Cartesia sent a malformed %s message, skipped: %s", kind, exc)
        return None


def _error(error: _Error, api_key: str) -> PatterError:
    detail = error.message or error.title or "no message"
    if error.error_code:
        detail += f" ({error.error_code})"
    status = error.status_code if error.status_code and error.status_code >= 400 else 500
    return status_error("Cartesia", status, detail, api_key=api_key, key_hint=_KEY_HINT)


def _stt_url(base_url: str) -> str:
    return websocket_url(
        "CartesiaSTT", base_url, "/stt/websocket", env_var=_ENV_URL, example=DEFAULT_BASE_URL
    )


# websockets' handshake log on this logger is redacted (getpatter/_redaction.py).
_wire_logger = logging.getLogger("getpatter.stt.cartesia.websocket")


async def _open(url: str, api_key: str) -> ClientConnection:
    try:
        return await connect(
            url,
            additional_headers={
                "Authorization": f"Bearer {api_key}",
                "Cartesia-Version": CARTESIA_VERSION,
            },
            open_timeout=_CONNECT_TIMEOUT_S,
            close_timeout=_CLOSE_TIMEOUT_S,
            # Raw audio does not compress; deflate would only cost CPU per frame.
            compression=None,
            logger=_wire_logger,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        detail = _refusal_detail(exc.response) if isinstance(exc, InvalidStatus) else ""
        raise websocket_open_error(
            "Cartesia",
            exc,
            url=url.split("?", 1)[0],
            timeout=_CONNECT_TIMEOUT_S,
            api_key=api_key,
            key_hint=_KEY_HINT,
            detail=detail,
        ) from None


def _refusal_detail(response: Response) -> str:
    """The message of Cartesia's JSON error body, or ``""``."""
    try:
        body = json.loads(response.body or b"")
    except ValueError:
        return ""
    return body_message(body, "")[:200]


async def _shut(ws: ClientConnection) -> None:
    """Ask Cartesia to finish, give it a moment to close, then close our side."""
    with contextlib.suppress(ConnectionClosed):
        await ws.send(_CLOSE)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await ws.wait_closed()
    await ws.close()
