"""The peers of the relay benchmark: Twilio and Telnyx callers, fake OpenAI Realtime and
ElevenLabs ConvAI servers, and a fake Telnyx Call Control REST API (which only answers calls).

They live in the benchmark process as asyncio protocols. The callers and the agent fakes speak
WebSocket through a minimal framing of their own (no extensions, whole messages), so the load
they cost stays small next to the Patter process they drive; the ``websockets`` library would
cost several times more per message. Client frames carry a zero mask (valid framing; it leaves
the payload as is). The REST fake speaks just enough HTTP/1.1 for the ``telnyx`` SDK.

Agent audio carries its own position: the first four bytes of every 160-byte frame the fake
sends are the connection number (2 bytes), the response number and the frame's index in the
response, so a caller can tell which response and frame each ``media`` message belongs to
without any shared state with Patter.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import unquote

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure-Python fallback of the same function
    from websockets.utils import apply_mask

__all__ = [
    "CallerStats",
    "FakeAgentServer",
    "FakeConvAI",
    "FakeRealtime",
    "FakeTelnyxRest",
    "MediaCaller",
    "TelnyxCaller",
    "TwilioCaller",
]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
_ZERO_MASK = b"\0\0\0\0"
FRAME_BYTES = 160
FRAME_S = 0.020
_FILLER = bytes(0x80 | (i * 37) % 0x7F for i in range(FRAME_BYTES - 4))


def ws_frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    """One final WebSocket frame; ``masked`` (client side) uses the zero mask."""
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head = bytes((0x80 | opcode, mask_bit | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, mask_bit | 127)) + size.to_bytes(8, "big")
    return head + _ZERO_MASK + payload if masked else head + payload


class FrameReader:
    """Splits a received byte stream into ``(opcode, payload)`` messages, joining fragments."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        size = len(buf)
        pos = 0
        out: list[tuple[int, bytes]] = []
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = pos + 2
            if length == 126:
                if size - head < 2:
                    break
                length = int.from_bytes(buf[head : head + 2], "big")
                head += 2
            elif length == 127:
                if size - head < 8:
                    break
                length = int.from_bytes(buf[head : head + 8], "big")
                head += 8
            mask = b""
            if b1 & 0x80:
                if size - head < 4:
                    break
                mask = bytes(buf[head : head + 4])
                head += 4
            end = head + length
            if end > size:
                break
            payload = bytes(buf[head:end])
            if mask and mask != _ZERO_MASK:
                payload = apply_mask(payload, mask)
            pos = end
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode == 0:
                self._parts.append(payload)
                if fin:
                    out.append((self._opcode, b"".join(self._parts)))
                    self._parts = []
            elif opcode < 8 and not fin:
                self._opcode, self._parts = opcode, [payload]
            else:
                out.append((opcode, payload))
        if pos:
            del buf[:pos]
        return out


def _accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())


def _header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return b""


# --------------------------------------------------------------------------- fake agents


class _Abortable(Protocol):
    def abort(self) -> None: ...


_C = TypeVar("_C", bound=_Abortable)


class LoopbackServer(Generic[_C]):
    """A lean asyncio server on a free 127.0.0.1 port. It keeps its connections (each built by
    :meth:`_new_connection`) in ``connections`` and aborts them when it closes."""

    url_scheme = "http"
    url_path = ""

    def __init__(self) -> None:
        self.connections: list[_C] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"{self.url_scheme}://127.0.0.1:{self.port}{self.url_path}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in self.connections:
                connection.abort()
            await self._server.wait_closed()

    def _connection(self) -> _C:
        connection = self._new_connection()
        self.connections.append(connection)
        return connection

    def _new_connection(self) -> _C:
        raise NotImplementedError


class FakeAgentServer(LoopbackServer[_C]):
    """What the fake Realtime and ConvAI servers share: sessions counted as they are opened,
    responses spread over the period, caller audio counted (``appends``), and
    ``first_delta_sent[(connection, response)]``: when each response's first audio was written.
    Each connection sends a response every ``every`` seconds: ``seconds`` of μ-law audio in
    100 ms messages written back to back.
    """

    def __init__(self, *, every: float = 3.0, seconds: float = 2.0, seed: int = 7) -> None:
        super().__init__()
        self.every = every
        self.frames_per_response = round(seconds / FRAME_S)
        self.first_delta_sent: dict[tuple[int, int], float] = {}
        self.appends = 0
        self.sessions = 0
        self._session_opened = asyncio.Event()
        self._rng = random.Random(seed)

    async def wait_sessions(self, count: int) -> None:
        """Wait until ``count`` sessions have been configured."""
        while self.sessions < count:
            self._session_opened.clear()
            await self._session_opened.wait()

    def session_opened(self) -> None:
        self.sessions += 1
        self._session_opened.set()

    def first_response_delay(self) -> float:
        """Spread the connections' responses over the period, as real calls would be."""
        return self._rng.uniform(0.2, self.every)


class _AgentConnection(asyncio.Protocol):
    """The server side of one fake agent WebSocket: the handshake, the framing, pings and
    closes; a subclass reads text messages (:meth:`_message`) and sends each response
    (:meth:`_respond`, every ``server.every`` seconds once :meth:`_session_started`)."""

    def __init__(self, server: FakeAgentServer[Any], number: int) -> None:
        self._server = server
        self._number = number
        self._transport: asyncio.Transport | None = None
        self._head = b""
        self._reader: FrameReader | None = None
        self._responses = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._reader is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self._head[:end], self._head[end + 4 :]
            self._handshake(head)
            self._reader = FrameReader()
        for opcode, payload in self._reader.feed(data):
            if opcode == _TEXT:
                self._message(payload)
            elif opcode == _PING:
                self._write(ws_frame(_PONG, payload, masked=False))
            elif opcode == _CLOSE:
                self._write(ws_frame(_CLOSE, payload[:2], masked=False))
                if self._transport is not None:
                    self._transport.close()

    def _handshake(self, head: bytes) -> None:
        self._opened(head.split(b"\r\n", 1)[0].split(b" ")[1])
        accept = _accept_key(_header(head, b"sec-websocket-key"))
        self._write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    def _opened(self, target: bytes) -> None:
        """The request target of the WebSocket handshake."""

    def _message(self, payload: bytes) -> None:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _send(self, event: dict[str, Any]) -> None:
        self._write(ws_frame(_TEXT, json.dumps(event).encode(), masked=False))

    def _session_started(self) -> None:
        self._server.session_opened()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._server.first_response_delay(), self._next_response)

    def _next_response(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        self._responses += 1
        self._respond(self._responses)
        self._timer = asyncio.get_running_loop().call_later(self._server.every, self._next_response)

    def _respond(self, number: int) -> None:
        raise NotImplementedError

    def _audio_chunks(self, number: int) -> list[bytes]:
        """Response ``number``'s audio in 100 ms (5-frame) pieces, each frame marked."""
        conn, frames = self._number, self._server.frames_per_response
        marker = bytes((conn >> 8 & 0xFF, conn & 0xFF, number & 0xFF))
        return [
            b"".join(marker + bytes((n,)) + _FILLER for n in range(first, min(first + 5, frames)))
            for first in range(0, frames, 5)
        ]

    def _write_audio(self, number: int, messages: list[bytes]) -> None:
        """Write a response's audio messages back to back, noting when the first went."""
        self._server.first_delta_sent[(self._number, number & 0xFF)] = time.monotonic()
        for message in messages:
            self._write(message)


class FakeRealtime(FakeAgentServer["_RealtimeConnection"]):
    """A lean OpenAI Realtime server on 127.0.0.1.

    It answers ``session.update`` with ``session.updated`` (GA shape for GA models, beta for
    ``*-realtime-preview*``), ignores caller audio (counting it), and every ``every`` seconds per
    connection makes a turn: the caller's (server VAD ``speech_started`` and ``speech_stopped``,
    the input transcription), then a response: ``response.created``, ``seconds`` of μ-law audio
    as 100 ms audio deltas written back to back, its transcript, and ``response.done`` with a
    small usage. Each turn is thus one of Patter's (turn metrics, transcript lines).
    """

    url_path = "/v1"

    def _new_connection(self) -> _RealtimeConnection:
        return _RealtimeConnection(self, len(self.connections) + 1)


class _RealtimeConnection(_AgentConnection):
    _beta = False

    def _opened(self, target: bytes) -> None:
        self._beta = b"realtime-preview" in target

    def _message(self, payload: bytes) -> None:
        if payload.startswith(b'{"type":"input_audio_buffer.append"'):
            self._server.appends += 1
            return
        event = json.loads(payload)
        if event.get("type") != "session.update":
            return  # response.cancel, truncation, tool results: not used by this benchmark
        session = dict(event.get("session") or {})
        if not self._beta:
            session.setdefault("type", "realtime")
        session.update(object="realtime.session", id=f"sess_{self._number}")
        self._send({"type": "session.updated", "event_id": "event_su", "session": session})
        self._session_started()

    def _respond(self, number: int) -> None:
        conn = self._number
        response_id, item_id = f"resp_{conn}_{number}", f"item_{conn}_{number}"
        caller_item = f"item_caller_{conn}_{number}"
        for kind in ("speech_started", "speech_stopped"):
            self._send({"type": f"input_audio_buffer.{kind}", "item_id": caller_item})
        self._send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": caller_item,
                "content_index": 0,
                "transcript": f"Benchmark question {number}.",
            }
        )
        delta_type = "response.audio.delta" if self._beta else "response.output_audio.delta"
        head = (
            f'{{"type":"{delta_type}","event_id":"ev","response_id":"{response_id}",'
            f'"item_id":"{item_id}","output_index":0,"content_index":0,"delta":"'
        ).encode()
        self._send(
            {
                "type": "response.created",
                "event_id": "ev_rc",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                },
            }
        )
        chunks = [
            ws_frame(_TEXT, head + base64.b64encode(audio) + b'"}', masked=False)
            for audio in self._audio_chunks(number)
        ]
        self._write_audio(number, chunks)
        transcript_type = (
            "response.audio_transcript.done"
            if self._beta
            else "response.output_audio_transcript.done"
        )
        self._send(
            {
                "type": transcript_type,
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "transcript": f"Benchmark reply {number}.",
            }
        )
        audio_tokens = self._server.frames_per_response * 2
        self._send(
            {
                "type": "response.done",
                "event_id": "ev_rd",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "completed",
                    "usage": {
                        "total_tokens": 40 + audio_tokens,
                        "input_tokens": 40,
                        "output_tokens": audio_tokens,
                        "input_token_details": {
                            "text_tokens": 30,
                            "audio_tokens": 10,
                            "cached_tokens": 0,
                            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
                        },
                        "output_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                    },
                },
            }
        )


# --------------------------------------------------------------------------- fake ConvAI


class FakeConvAI(FakeAgentServer["_ConvAIConnection"]):
    """A lean ElevenLabs Conversational AI server on 127.0.0.1, for public agents (no signed
    URL): ``base_url`` is the API base, the conversation is at ``/v1/convai/conversation``.

    It answers ``conversation_initiation_client_data`` with ``conversation_initiation_metadata``
    (μ-law 8 kHz both ways, so Patter converts nothing), ignores caller audio (counting each
    ``user_audio_chunk``), and every ``every`` seconds per connection sends a response as
    ElevenLabs does, with the Realtime fake's cadence: a ``user_transcript`` (the caller's
    turn), an ``agent_response`` with the reply's text, then ``seconds`` of audio as 100 ms
    ``audio`` messages (``event_id`` counting up per connection) written back to back. ConvAI
    sends no end of turn: the engine ends it when the audio pauses.
    """

    def _new_connection(self) -> _ConvAIConnection:
        return _ConvAIConnection(self, len(self.connections) + 1)


class _ConvAIConnection(_AgentConnection):
    _event_id = 0

    def _message(self, payload: bytes) -> None:
        if payload.startswith(b'{"user_audio_chunk":'):
            self._server.appends += 1
            return
        event = json.loads(payload)
        if event.get("type") != "conversation_initiation_client_data":
            return  # pongs, contextual updates, tool results: not used by this benchmark
        self._send(
            {
                "type": "conversation_initiation_metadata",
                "conversation_initiation_metadata_event": {
                    "conversation_id": f"conv_{self._number}",
                    "agent_output_audio_format": "ulaw_8000",
                    "user_input_audio_format": "ulaw_8000",
                },
            }
        )
        self._session_started()

    def _respond(self, number: int) -> None:
        self._send(
            {
                "type": "user_transcript",
                "user_transcription_event": {"user_transcript": f"Benchmark question {number}."},
            }
        )
        self._send(
            {
                "type": "agent_response",
                "agent_response_event": {"agent_response": f"Benchmark reply {number}."},
            }
        )
        messages = []
        for audio in self._audio_chunks(number):
            self._event_id += 1
            messages.append(
                ws_frame(
                    _TEXT,
                    b'{"type":"audio","audio_event":{"audio_base_64":"'
                    + base64.b64encode(audio)
                    + b'","event_id":%d}}' % self._event_id,
                    masked=False,
                )
            )
        self._write_audio(number, messages)


# --------------------------------------------------------------------------- fake Telnyx REST


class FakeTelnyxRest(LoopbackServer["_RestConnection"]):
    """Telnyx's Call Control REST API reduced to what a benchmark call needs, on 127.0.0.1.

    Every ``POST /v2/calls/{call_control_id}/actions/{action}`` is answered 200
    ``{"data":{"result":"ok"}}`` and counted in ``actions``; an ``answer`` hands the
    ``stream_url`` of its JSON body to whoever awaits :meth:`answered` for that call. Other
    requests get 404. HTTP/1.1 with keep-alive and ``Content-Length`` bodies (what the SDK sends).
    """

    url_path = "/v2"

    def __init__(self) -> None:
        super().__init__()
        self.actions: Counter[str] = Counter()
        self.unexpected = 0
        self._answers: dict[str, asyncio.Future[str]] = {}

    def answered(self, call_id: str) -> asyncio.Future[str]:
        """The ``stream_url`` Patter will answer ``call_id`` with (ask before the call rings)."""
        future = self._answers.get(call_id)
        if future is None:
            future = self._answers[call_id] = asyncio.get_running_loop().create_future()
        return future

    def request(self, method: bytes, target: bytes, body: bytes) -> tuple[int, bytes]:
        """Status and JSON body of the answer to one request."""
        parts = unquote(target.decode("latin-1").split("?", 1)[0]).split("/")
        # ['', 'v2', 'calls', call_control_id, 'actions', action]
        if method != b"POST" or len(parts) != 6 or parts[1:3] != ["v2", "calls"]:
            self.unexpected += 1
            return 404, b'{"errors":[{"code":"10005","title":"Resource not found"}]}'
        call_id, action = parts[3], parts[5]
        self.actions[action] += 1
        if action == "answer":
            future = self._answers.pop(call_id, None)
            if future is not None and not future.done():
                future.set_result(str(json.loads(body).get("stream_url", "")))
        return 200, b'{"data":{"result":"ok"}}'

    def _new_connection(self) -> _RestConnection:
        return _RestConnection(self)


class _RestConnection(asyncio.Protocol):
    def __init__(self, server: FakeTelnyxRest) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while self._transport is not None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end]
            size = int(_header(head, b"content-length") or b"0")
            if len(self._buf) < end + 4 + size:
                return
            body = self._buf[end + 4 : end + 4 + size]
            self._buf = self._buf[end + 4 + size :]
            method, target = head.split(b"\r\n", 1)[0].split(b" ")[:2]
            status, answer = self._server.request(method, target, body)
            reason = b"OK" if status == 200 else b"Not Found"
            self._transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (status, reason, len(answer))
                + answer
            )


# --------------------------------------------------------------------------- Twilio and Telnyx callers


@dataclass
class CallerStats:
    """What all callers saw. Lists fill only while ``recording`` is set, except per-response data."""

    recording: bool = False
    media_sent: int = 0
    marks_echoed: int = 0
    media_received: int = 0
    clears: int = 0
    send_lateness: list[float] = field(default_factory=list)
    echo_lateness: list[float] = field(default_factory=list)
    first_arrival: dict[tuple[int, int], float] = field(default_factory=dict)
    lateness: dict[tuple[int, int], list[float]] = field(default_factory=dict)


_MEDIA_PAYLOAD = base64.b64encode(bytes(0x80 | (i * 11) % 0x7F for i in range(FRAME_BYTES)))


class MediaCaller(asyncio.Protocol):
    """One simulated carrier media stream: sends caller frames on demand, echoes marks on time.

    The caller plays the agent audio it receives at real time (a frame starts when it arrives or
    when the previous one ends) and echoes each ``mark`` when the audio before it has played.
    Twilio and Telnyx send agent audio, marks and clears in the same shape as far as a caller
    needs (``{"event":"media"`` ... ``"payload":"``), so only the caller's own ``media``
    message differs: a subclass sets its three constant parts around the counters.
    """

    _media_head = b""
    """From the start of a caller ``media`` message to its sequence number."""

    def __init__(
        self,
        *,
        host: str,
        path: str,
        stats: CallerStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: cmVsYXktYmVuY2gtMDAwMQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self._stats = stats
        self._clock = clock
        self._transport: asyncio.Transport | None = None
        self._reader: FrameReader | None = None
        self._head = b""
        self._play_end = 0.0
        self._close_sent = False
        self._media_middle = b""
        """From after the sequence number to the chunk number."""
        self._media_tail = b""
        """From after the timestamp to the end of the message."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("media stream closed before it opened"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._reader is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            status, data = self._head[:end], self._head[end + 4 :]
            if b" 101 " not in status.split(b"\r\n", 1)[0]:
                self.opened.set_exception(ConnectionError(status.split(b"\r\n", 1)[0].decode()))
                self.abort()
                return
            self._reader = FrameReader()
            self.opened.set_result(None)
        stats = self._stats
        for opcode, payload in self._reader.feed(data):
            if opcode == _TEXT:
                if payload.startswith(b'{"event":"media"'):
                    self._media(payload)
                elif payload.startswith(b'{"event":"mark"'):
                    self._loop.call_at(self._play_end, self._echo, payload, self._play_end)
                elif payload.startswith(b'{"event":"clear"'):
                    stats.clears += 1
            elif opcode == _PING:
                self._write(ws_frame(_PONG, payload, masked=True))
            elif opcode == _CLOSE:
                if not self._close_sent:
                    self._close_sent = True
                    self._write(ws_frame(_CLOSE, payload[:2], masked=True))
                if self._transport is not None:
                    self._transport.close()

    def _media(self, payload: bytes) -> None:
        now = self._clock()
        self._play_end = max(self._play_end, now) + FRAME_S
        stats = self._stats
        stats.media_received += 1
        start = payload.find(b'"payload":"') + 11
        marker = binascii.a2b_base64(payload[start : start + 8])
        key = (marker[0] << 8 | marker[1], marker[2])
        first = stats.first_arrival.get(key)
        if first is None:
            stats.first_arrival[key] = now
            stats.lateness[key] = [0.0]
        else:
            stats.lateness[key].append(now - first - marker[3] * FRAME_S)

    def _echo(self, mark: bytes, due: float) -> None:
        if self._write(ws_frame(_TEXT, mark, masked=True)):
            stats = self._stats
            stats.marks_echoed += 1
            if stats.recording:
                stats.echo_lateness.append(self._clock() - due)

    def _write(self, data: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing() or (self._close_sent and data[0] != 0x88):
            return False
        transport.write(data)
        return True

    def send_json(self, message: dict[str, Any]) -> None:
        self._write(ws_frame(_TEXT, json.dumps(message).encode(), masked=True))

    def send_media(self, seq: int, lateness: float) -> None:
        """Caller frame number ``seq`` (from 0), sent ``lateness`` seconds after it was due."""
        message = (
            self._media_head
            + str(seq + 3).encode()
            + self._media_middle
            + str(seq + 1).encode()
            + b'","timestamp":"'
            + str(seq * 20).encode()
            + self._media_tail
        )
        if self._write(ws_frame(_TEXT, message, masked=True)):
            stats = self._stats
            stats.media_sent += 1
            if stats.recording:
                stats.send_lateness.append(lateness)

    def hang_up(self, stop: dict[str, Any]) -> None:
        """Send ``stop`` and close the stream."""
        self.send_json(stop)
        if not self._close_sent:
            self._write(ws_frame(_CLOSE, (1000).to_bytes(2, "big"), masked=True))
            self._close_sent = True

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class TwilioCaller(MediaCaller):
    """A Twilio media stream (``sequenceNumber``, ``streamSid`` after the ``media`` object)."""

    _media_head = b'{"event":"media","sequenceNumber":"'

    def __init__(
        self,
        *,
        host: str,
        path: str,
        stream_sid: str,
        stats: CallerStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host=host, path=path, stats=stats, clock=clock)
        self._media_middle = b'","media":{"track":"inbound","chunk":"'
        self._media_tail = (
            b'","payload":"' + _MEDIA_PAYLOAD + b'"},"streamSid":"' + stream_sid.encode() + b'"}'
        )


class TelnyxCaller(MediaCaller):
    """A Telnyx media stream (snake_case ``sequence_number``, ``stream_id`` before ``media``)."""

    _media_head = b'{"event":"media","sequence_number":"'

    def __init__(
        self,
        *,
        host: str,
        path: str,
        stream_id: str,
        stats: CallerStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host=host, path=path, stats=stats, clock=clock)
        self._media_middle = (
            b'","stream_id":"' + stream_id.encode() + b'","media":{"track":"inbound","chunk":"'
        )
        self._media_tail = b'","payload":"' + _MEDIA_PAYLOAD + b'"}}'
