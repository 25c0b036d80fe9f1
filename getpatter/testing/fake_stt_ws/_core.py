"""The shared core of the JSON-over-WebSocket STT fakes: one server, one connection loop.

:class:`FakeSTTServer` is a loopback WebSocket server; a vendor fake is a subclass that sets
``dialect`` (a :class:`~getpatter.testing.fake_stt_ws._dialect.Dialect`) and ``_label``. The
core runs everything that is the same for every vendor: the handshake (injected HTTP
failures, path, the dialect's checks), the opening (settings from the handshake or a configure
message), decoding audio in the negotiated encoding, the energy VAD over 20 ms windows of audio
time, the scripted utterance text (``scenario.caller_lines[n]`` for the n-th utterance,
``"hello"`` past the end), interims, finals, finalize/terminate, idle timeout, fault injection
and the :class:`FakeSTTSession` records. The dialect only parses and renders messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from getpatter._validation import require_number, require_str
from getpatter.errors import InputValidationError
from getpatter.testing._energy_vad import WINDOW_MS, EnergyVad, rms
from getpatter.testing._loopback_ws import LoopbackWebSocketServer, json_response
from getpatter.testing.fake_stt_ws._dialect import (
    Audio,
    BadMessage,
    Configure,
    Control,
    Dialect,
    FakeSTTSession,
    Finalize,
    Heard,
    HttpRefusal,
    Ignore,
    Opening,
    RefusalKind,
    Refused,
    StreamSettings,
    Terminate,
)
from getpatter.testing.scenario import Scenario

__all__ = ["UNSCRIPTED_TEXT", "Connection", "FakeSTTServer"]

logger = logging.getLogger("getpatter.testing")

UNSCRIPTED_TEXT = "hello"
"""What the fake hears for an utterance the scenario does not script."""

_RMS_THRESHOLD = 500.0  # about -36 dBFS, as the other loopback fakes
_INTERIM_EVERY_MS = 200
_SEGMENT_SILENCE_MS = 300
_SECRET_NAMES = frozenset(
    {"authorization", "x-api-key", "api_key", "token", "key", "sec-websocket-protocol"}
)
_REFUSAL_KINDS = ("auth", "rate_limit", "bad_request", "server")
_DEFAULT_MESSAGES: dict[str, str] = {
    "auth": "Invalid API key",
    "rate_limit": "Too many concurrent sessions",
    "bad_request": "Bad request",
    "server": "Internal server error",
    "idle": "Session idle for too long",
}
_UNSET: Any = object()


@dataclass
class _Utterance:
    index: int
    text: str
    start_ms: int
    shown: int = 0


class Connection:
    """One client's session: opening, audio, VAD, script, controls, faults."""

    def __init__(
        self,
        ws: ServerConnection,
        record: FakeSTTSession,
        *,
        dialect: Dialect,
        opening: Opening,
        scenario: Scenario,
        idle_timeout: float | None,
        refusal: tuple[RefusalKind, str] | None,
    ) -> None:
        self.ws = ws
        self.record = record
        self.finished = asyncio.Event()
        self._dialect = dialect
        self._opening = opening
        self._lines = scenario.caller_lines
        self._idle_timeout = idle_timeout
        self._refusal = refusal
        self._settings: StreamSettings | None = None
        self._pending = bytearray()
        self._position_ms = 0
        self._last_voiced_ms = 0
        self._vad = EnergyVad()
        self._utterance: _Utterance | None = None
        self._heard = 0

    async def run(self) -> None:
        """Serve the connection until it ends (terminate, refusal, drop, idle or client close)."""
        try:
            with contextlib.suppress(Refused):  # a refusal has been sent; the socket is closed
                await self._open()
                while await self._next():
                    pass
        except ConnectionClosed:
            logger.debug("the %s client closed the connection", self._dialect.label)
        finally:
            self.record.closed = True
            self.finished.set()

    async def fail(self, kind: RefusalKind, message: str) -> None:
        """Send the dialect's error for ``kind`` and close with its close code."""
        messages, code, reason = self._dialect.error(kind, message)
        for item in messages:
            await self._send(item)
        await self.ws.close(code, reason[:120])

    async def _open(self) -> None:
        try:
            settings = self._dialect.open(self._opening)
        except Refused as refused:
            await self._refuse(refused.kind, refused.message)
        if settings is not None:
            await self._configured(settings)

    async def _configured(self, settings: StreamSettings) -> None:
        self._settings = self.record.settings = settings
        if self._refusal is not None:
            await self._refuse(*self._refusal)
        for item in self._dialect.begin(self.record):
            await self._send(item)

    async def _refuse(self, kind: RefusalKind, message: str) -> None:
        self.record.refused = kind
        await self.fail(kind, message)
        raise Refused(kind, message)

    async def _next(self) -> bool:
        """Handle one client message; False once the connection is over."""
        try:
            async with asyncio.timeout(self._idle_timeout):
                message = await self.ws.recv()
        except TimeoutError:
            self.record.timed_out = True
            await self.fail("idle", _DEFAULT_MESSAGES["idle"])
            return False
        try:
            if isinstance(message, bytes):
                control = self._dialect.parse_binary(message, self._settings)
            else:
                control = self._dialect.parse_text(
                    self._opening, message, configured=self._settings is not None
                )
        except Refused as refused:
            await self._refuse(refused.kind, refused.message)
        return await self._on_control(control)

    async def _on_control(self, control: Control) -> bool:
        if isinstance(control, Audio):
            if self._settings is None:
                return await self._bad("Audio received before the session was configured")
            await self._on_audio(control.data, self._settings)
            return True
        if isinstance(control, Configure):
            self.record.controls.append("Configure")
            if self._settings is not None:
                return await self._bad("The session is already configured")
            self.record.config = dict(control.config)
            self.record.key_source = control.key_source or self.record.key_source
            await self._configured(control.settings)
            return True
        if isinstance(control, BadMessage):
            return await self._bad(control.message)
        name = control.name if isinstance(control, Ignore) else type(control).__name__
        self.record.controls.append(name)
        if isinstance(control, Finalize):
            await self._final("finalize")
            self._vad = EnergyVad()
        elif isinstance(control, Terminate):
            if self._utterance is not None:
                await self._final("terminate")
            for item in self._dialect.end(self.record):
                await self._send(item)
            await self.ws.close(*self._dialect.end_close())
            return False
        return True

    async def _bad(self, message: str) -> bool:
        self.record.refused = "bad_request"
        await self.fail("bad_request", message)
        return False

    async def _send(self, message: dict[str, Any]) -> None:
        if self.record.stalled:
            return
        self.record.sent.append(message)
        await self.ws.send(json.dumps(message))

    # Caller audio

    async def _on_audio(self, audio: bytes, settings: StreamSettings) -> None:
        record = self.record
        record.audio_frames += 1
        record.audio_bytes += len(audio)
        record.audio_seconds = record.audio_bytes / settings.bytes_per_second
        for item in self._dialect.audio_received(record, record.audio_frames):
            await self._send(item)
        self._pending += audio
        size = settings.bytes_per_second * WINDOW_MS // 1000
        while len(self._pending) >= size:
            window = bytes(self._pending[:size])
            del self._pending[:size]
            await self._on_window(settings.to_pcm16(window), settings)

    async def _on_window(self, pcm: bytes, settings: StreamSettings) -> None:
        start_ms = self._position_ms
        self._position_ms += WINDOW_MS
        voiced = rms(pcm) >= _RMS_THRESHOLD
        if voiced:
            self._last_voiced_ms = self._position_ms
        endpointing = settings.endpointing_ms
        change = self._vad.feed(
            start_ms, voiced, _SEGMENT_SILENCE_MS if endpointing is None else endpointing
        )
        if change == "started":
            text = self._lines[self._heard] if self._heard < len(self._lines) else UNSCRIPTED_TEXT
            self._utterance = _Utterance(self._heard, text, self._vad.start_ms)
            self._heard += 1
            for item in self._dialect.speech_started(self.record, self._vad.start_ms):
                await self._send(item)
        elif change == "stopped":
            await self._final("segment" if endpointing is None else "endpoint")
        elif self._vad.speaking and settings.interim_results:
            await self._interim()

    async def _interim(self) -> None:
        utterance = self._utterance
        if utterance is None:
            return
        words = utterance.text.split()
        due = (self._position_ms - utterance.start_ms) // _INTERIM_EVERY_MS
        if not words or utterance.shown >= min(due, len(words)):
            return
        utterance.shown += 1
        for item in self._dialect.interim(self.record, self._heard_now(utterance)):
            await self._send(item)

    async def _final(self, reason: Literal["endpoint", "segment", "finalize", "terminate"]) -> None:
        """Send the current utterance's final (the dialect's empty answer when there is none)."""
        utterance, self._utterance = self._utterance, None
        heard = None if utterance is None else self._heard_now(utterance)
        if heard is not None:
            heard = Heard(
                heard.index,
                heard.text,
                heard.start_ms,
                heard.end_ms,
                heard.speech_end_ms,
                len(heard.text.split()),
            )
        for item in self._dialect.final(self.record, heard, reason):
            await self._send(item)
        if heard is not None:
            self.record.transcripts.append(heard.text)

    def _heard_now(self, utterance: _Utterance) -> Heard:
        return Heard(
            index=utterance.index,
            text=utterance.text,
            start_ms=utterance.start_ms,
            end_ms=self._position_ms,
            speech_end_ms=self._last_voiced_ms,
            shown=utterance.shown,
        )


class FakeSTTServer(LoopbackWebSocketServer[Connection]):
    """A local streaming-STT API speaking ``dialect``'s protocol, for offline calls and tests.

    Use it as ``async with FakeXServer(scenario) as fake:`` and point the client at
    ``fake.base_url``. Any non-empty key is accepted, or exactly ``api_key`` when given. Every
    connection plays its own copy of ``scenario`` from the start. ``idle_timeout`` (default:
    the vendor's) ends a session that receives nothing for that many seconds.

    Faults: :meth:`fail_next_connect` (an HTTP status at the handshake), :meth:`refuse_next`
    (the vendor's own refusal for a bad key, a rate limit, a bad request or a server error,
    in-band or at the handshake as the vendor does it; queued HTTP failures come first), :meth:`drop` (cut the socket),
    :meth:`stall` / :meth:`stall_next_connect` (keep reading, answer nothing) and
    :meth:`send_error`.
    """

    dialect: ClassVar[Dialect]
    _scheme = "ws"
    _noun = "session"

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        idle_timeout: float | None = _UNSET,
    ) -> None:
        super().__init__(scenario, api_key)
        timeout = self.dialect.idle_timeout if idle_timeout is _UNSET else idle_timeout
        if timeout is not None and require_number(f"{self._label} idle_timeout", timeout) <= 0:
            raise InputValidationError(
                f"{self._label} idle_timeout must be > 0 seconds or None, got {timeout!r}"
            )
        self._idle_timeout = None if timeout is None else float(timeout)
        self._refusals: deque[tuple[RefusalKind, str]] = deque()
        self._stall_next = 0
        self._inband: dict[int, tuple[RefusalKind, str]] = {}

    @property
    def sessions(self) -> list[FakeSTTSession]:
        """One record per accepted connection, in connect order."""
        return [connection.record for connection in self._connections]

    def refuse_next(self, kind: RefusalKind = "auth", message: str | None = None) -> None:
        """Refuse the next session as the vendor refuses ``kind`` (``"auth"``,
        ``"rate_limit"``, ``"bad_request"``, ``"server"``); each call refuses one more."""
        if kind not in _REFUSAL_KINDS:
            raise InputValidationError(
                f"refuse_next kind must be one of {list(_REFUSAL_KINDS)}, got {kind!r}"
            )
        if message is not None:
            require_str("refuse_next message", message, allow_empty=False)
        self._refusals.append((kind, message or _DEFAULT_MESSAGES[kind]))

    def stall_next_connect(self) -> None:
        """Accept the next connection, then never answer it (it still reads)."""
        self._stall_next += 1

    async def stall(self, index: int = -1) -> None:
        """Make session ``index`` stop answering (it still reads and records)."""
        self._nth(index, "stall index").record.stalled = True

    async def drop(self, index: int = -1) -> None:
        """Cut session ``index`` abruptly, with no close frame (a network drop)."""
        await self._drop(self._nth(index, "drop index"))

    async def send_error(
        self, index: int = -1, kind: RefusalKind = "server", message: str | None = None
    ) -> None:
        """Make session ``index`` send the vendor's error for ``kind`` and close."""
        connection = self._nth(index, "send_error index")
        if not connection.record.closed:
            await connection.fail(kind, message or _DEFAULT_MESSAGES[kind])
        await connection.finished.wait()

    def _opening(self, request: Request) -> Opening:
        url = urlsplit(request.path)
        return Opening(
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={name.lower(): value for name, value in request.headers.raw_items()},
            expected_key=self._api_key,
        )

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        dialect = self.dialect
        if self._failures:
            status = self._failures.popleft()
            body = dialect.http_error_body(status, http.HTTPStatus(status).phrase)
            return json_response(connection, status, body)
        opening = self._opening(request)
        if opening.path.rstrip("/") != dialect.path:
            return json_response(
                connection, 404, dialect.http_error_body(404, f"Unknown path {opening.path}")
            )
        refused = dialect.handshake(opening)
        if refused is None and self._refusals:
            kind, message = self._refusals.popleft()
            refused = dialect.refusal(kind, message)
            if refused is None:
                self._inband[id(request)] = (kind, message)
        if isinstance(refused, HttpRefusal):
            return json_response(connection, refused.status, refused.body)
        return None

    def _accept(self, ws: ServerConnection, request: Request) -> Connection:
        opening = self._opening(request)
        record = FakeSTTSession(
            index=len(self._connections),
            id=str(uuid.uuid4()),
            path=request.path.split("?", 1)[0],
            query={k: _shown(k, v) for k, v in opening.query.items()},
            headers={k: _shown(k, v) for k, v in opening.headers.items()},
            key_source=self.dialect.key_source(opening),
        )
        if self._stall_next:
            self._stall_next -= 1
            record.stalled = True
        return Connection(
            ws,
            record,
            dialect=self.dialect,
            opening=opening,
            scenario=self._scenario,
            idle_timeout=self._idle_timeout,
            refusal=self._inband.pop(id(request), None),
        )


def _shown(name: str, value: str) -> str:
    return "***" if name.lower() in _SECRET_NAMES else value
