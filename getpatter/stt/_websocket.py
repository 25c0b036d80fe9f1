"""What every streaming STT socket with JSON messages shares (Deepgram, AssemblyAI, Soniox,
Speechmatics, Cartesia).

:class:`WebSocketSTTStream` owns one call's socket and its life: open it (a refused handshake
maps to a Patter error), run the vendor's opening (:meth:`~WebSocketSTTStream._start`), send
audio and control messages, keep a quiet socket alive (for a vendor that has a keep-alive
message), turn each server message into events, stop at the vendor's last message, and close
it the vendor's way. A socket that closes without :meth:`close` having been called is reported
by raising from :meth:`receive_transcripts`. The vendor subclass supplies the messages and the
parsing; nothing here knows a wire format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.providers.errors import websocket_open_error
from getpatter.stt.base import STTEvent

__all__ = [
    "CONNECT_TIMEOUT_S",
    "Frame",
    "SessionFault",
    "WebSocketSTTStream",
    "session_error",
]

CONNECT_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 2.0

SessionFault = Literal["auth", "rate_limit", "server", "request"]
"""How a vendor's in-band error (an error message or close code) maps to a Patter error."""

Frame = str | bytes
"""One WebSocket frame: text (JSON) or binary (audio)."""


def session_error(
    provider: str, fault: SessionFault, detail: str, *, api_key: str, key_hint: str
) -> PatterError:
    """The error for a session ``provider`` refused or ended in-band (after the handshake).

    ``auth`` → :class:`AuthenticationError` naming ``key_hint``; ``rate_limit`` →
    :class:`RateLimitError`; ``server`` → :class:`PatterConnectionError`; ``request`` →
    :class:`PatterError` with ``PROVIDER_ERROR`` (a request the vendor refused). ``detail``,
    the vendor's message, never shows ``api_key``.
    """
    said = detail.strip() or "no details"
    if len(api_key) >= 8:
        said = said.replace(api_key, "***")
    if fault == "auth":
        return AuthenticationError(f"{provider} refused the credentials ({said}); check {key_hint}")
    if fault == "rate_limit":
        return RateLimitError(f"{provider} is rate limiting sessions ({said})")
    if fault == "server":
        return PatterConnectionError(f"{provider} ended the session with an error ({said})")
    return PatterError(f"{provider} refused the session ({said})", code=ErrorCode.PROVIDER_ERROR)


class WebSocketSTTStream(ABC):
    """One call's socket to a streaming STT; implements :class:`~getpatter.stt.base.STTStream`.

    :meth:`connect`, then iterate :meth:`receive_transcripts` in one task while another sends
    audio. Audio and :meth:`finalize` after :meth:`close` are dropped silently, and so is audio
    sent after the vendor dropped the socket: the iterator reports the drop by raising
    :class:`~getpatter.errors.PatterConnectionError` (or the vendor's error, mapped).

    ``keepalive_interval``: when the vendor has a keep-alive message
    (:meth:`_keepalive_frame` returns one), it is sent whenever nothing was sent for that many
    seconds; ``None`` (or no such message) sends none.
    """

    provider: ClassVar[str]
    """The vendor's name in errors (``"AssemblyAI"``)."""
    key_hint: ClassVar[str]
    """Where the key comes from, for authentication errors."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        headers: Mapping[str, str],
        logger: logging.Logger,
        keepalive_interval: float | None = None,
    ) -> None:
        self._url = url
        self._api_key = api_key
        self._headers = dict(headers)
        self._keepalive_interval = keepalive_interval
        self._logger = logger
        # websockets' handshake log on this logger is redacted (getpatter/_redaction.py).
        self._wire_logger = logging.getLogger(f"{logger.name}.websocket")
        self._ws: ClientConnection | None = None
        self._connecting = False
        self._closed = False
        self._receiving = False
        self._last_sent = 0.0
        self._keepalive: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The WebSocket URL with its query string (no credentials)."""
        return self._url

    async def connect(self) -> None:
        """Open the socket and the session.

        Raises :class:`AuthenticationError` when the vendor refuses the key,
        :class:`RateLimitError` when it refuses for load and :class:`PatterConnectionError`
        (``TIMEOUT`` for a stall) otherwise. The stream counts as connected (audio goes up)
        once the vendor's opening succeeded; a :meth:`close` meanwhile closes it right after.
        """
        if self._connecting or self._ws is not None:
            raise RuntimeError(f"{type(self).__name__} serves one call: open a new stream per call")
        self._connecting = True
        ws = await self._open()
        if not self._closed:
            try:
                await self._start(ws)
            except BaseException:
                self._closed = True
                await ws.close()
                raise
        self._ws = ws
        if self._closed:  # close() was called while connecting.
            await self._shut(ws)
            return
        frame = self._keepalive_frame()
        if frame is not None and self._keepalive_interval is not None:
            self._last_sent = asyncio.get_running_loop().time()
            self._keepalive = asyncio.create_task(
                self._keep_alive(ws, frame, self._keepalive_interval)
            )

    async def send_audio(self, chunk: bytes) -> None:
        """Send caller audio, in the format the stream was opened with."""
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ConfigError(f"send_audio takes audio bytes, got {type(chunk).__name__}")
        if self._closed or not chunk:
            return
        ws = self._connection()
        for frame in self._audio_frames(bytes(chunk)):
            await self._send(ws, frame)

    async def finalize(self) -> None:
        """Ask the vendor to finish the pending words now: they arrive as a final result."""
        if self._closed:
            return
        ws = self._connection()
        for frame in self._finalize_frames():
            await self._send(ws, frame)

    def receive_transcripts(self) -> AsyncIterator[STTEvent]:
        """The vendor's results until the stream closes; iterate once per stream."""
        ws = self._connection()
        if self._receiving:
            raise RuntimeError(
                f"{type(self).__name__}.receive_transcripts() can be iterated only once"
            )
        self._receiving = True
        return self._events(ws)

    async def close(self) -> None:
        """End the audio the vendor's way and close the socket, waiting at most 2 s.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.wait([self._keepalive])
        if self._ws is not None:
            await self._shut(self._ws)

    # What a vendor supplies.

    async def _start(self, ws: ClientConnection) -> None:
        """The vendor's opening once the socket is open: a configuration message, or waiting
        for the session-begins message. Raise a :class:`PatterError` when it is refused.
        Nothing by default (the socket's query string configured the session)."""
        return

    def _audio_frames(self, chunk: bytes) -> list[Frame]:
        """The frames that carry ``chunk`` (buffered or split where the vendor needs it)."""
        return [chunk]

    @abstractmethod
    def _finalize_frames(self) -> list[Frame]:
        """The frames that ask the vendor to finalize the pending words."""

    @abstractmethod
    def _end_frames(self) -> list[Frame]:
        """The frames that end the audio, before the socket closes."""

    def _keepalive_frame(self) -> Frame | None:
        """The frame sent when nothing was sent for ``keepalive_interval`` seconds, or ``None``
        (the default) when the vendor has no keep-alive message."""
        return None

    def _sent(self, frame: Frame) -> None:
        """Called after each frame :meth:`send_audio`, :meth:`finalize` or the keep-alive
        handed to the socket (not after one lost to a closed socket); nothing by default."""
        return

    @abstractmethod
    def _parse(self, message: object) -> list[STTEvent]:
        """The events of one decoded JSON message; raise a :class:`PatterError` for an
        error message."""

    def _ends(self, message: object) -> bool:
        """Whether ``message`` is the vendor's last one (the answer to the end frames): the
        iterator stops there. ``False`` by default: it stops when the socket closes."""
        return False

    def _close_error(self, code: int | None, reason: str) -> PatterError | None:
        """The error for an unexpected close with ``code``, or ``None`` for the generic one."""
        return None

    def _refusal_detail(self, body: object) -> str:
        """The vendor's message in the decoded JSON body of a refused handshake, or ``""``.

        By default the first of ``error``, ``error_message``, ``message`` and ``detail`` that
        is a string.
        """
        if not isinstance(body, dict):
            return ""
        for name in ("error", "error_message", "message", "detail"):
            value = body.get(name)
            if isinstance(value, str) and value:
                return value
        return ""

    def _drop_error(self, ws: ClientConnection) -> PatterError:
        """The error for the socket closing when nobody asked: the vendor's, or the generic."""
        error = self._close_error(ws.close_code, ws.close_reason or "")
        if error is not None:
            return error
        return PatterConnectionError(
            f"{self.provider} closed the stream unexpectedly "
            f"(close code {ws.close_code}: {ws.close_reason or 'no reason given'})"
        )

    # The life of the socket.

    async def _open(self) -> ClientConnection:
        try:
            return await connect(
                self._url,
                additional_headers=self._headers,
                open_timeout=CONNECT_TIMEOUT_S,
                close_timeout=_CLOSE_TIMEOUT_S,
                # Raw audio does not compress; deflate would only cost CPU per frame.
                compression=None,
                logger=self._wire_logger,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            detail = ""
            if isinstance(exc, InvalidStatus):
                detail = self._refusal_detail(_body(exc.response.body))[:200]
            raise websocket_open_error(
                self.provider,
                exc,
                url=self._url.split("?", 1)[0],
                timeout=CONNECT_TIMEOUT_S,
                api_key=self._api_key,
                key_hint=self.key_hint,
                detail=detail,
            ) from None

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError(f"{type(self).__name__} is not connected: await connect() first")
        return self._ws

    async def _send(self, ws: ClientConnection, frame: Frame) -> bool:
        try:
            await ws.send(frame)
        except ConnectionClosed:
            self._logger.debug("nothing sent: the %s socket is closed", self.provider)
            return False
        self._last_sent = asyncio.get_running_loop().time()
        self._sent(frame)
        return True

    async def _keep_alive(self, ws: ClientConnection, frame: Frame, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = self._last_sent + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif not await self._send(ws, frame):
                return

    async def _events(self, ws: ClientConnection) -> AsyncIterator[STTEvent]:
        with contextlib.suppress(ConnectionClosed):  # how it closed is judged below
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    self._logger.warning(
                        "%s sent a message that is not JSON: skipped", self.provider
                    )
                    continue
                if self._ends(message):
                    break
                for event in self._parse(message):
                    yield event
        if not self._closed:
            raise self._drop_error(ws)

    async def _shut(self, ws: ClientConnection) -> None:
        """End the audio, give the vendor a moment to close, then close our side."""
        with contextlib.suppress(ConnectionClosed):
            for frame in self._end_frames():
                await ws.send(frame)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await ws.wait_closed()
        await ws.close()


def _body(body: bytes | bytearray | None) -> object:
    """The decoded JSON body of a refused handshake, or ``None``."""
    try:
        return json.loads(body or b"")
    except ValueError:
        return None
