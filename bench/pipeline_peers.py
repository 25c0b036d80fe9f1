"""The peers of the pipeline benchmark: what a caller says, and lean instant fakes of the APIs.

Everything here lives in the load-generator process, next to the Twilio callers of
``relay_peers.py`` (whose minimal WebSocket framing it reuses), and costs little per message:

- :class:`CallerVoice` makes a :class:`~relay_peers.TwilioCaller` say something: Silero-detectable
  babble (the Twilio simulator's ``speech()``) for ``speech_s`` at the start of every period,
  silence otherwise. Its first frames carry a tag (``b"PT"`` + the call number) that the fake
  Deepgram reads from the audio Patter forwards untouched, which is how a Deepgram connection is
  tied to its call whatever order the calls connected in.
- :class:`FakeDeepgram` speaks the ``/v1/listen`` WebSocket protocol: it counts the audio and, on
  command (:meth:`FakeDeepgram.final`) or when Patter sends ``Finalize``, sends a final
  ``Results`` (the real message shape, from the package fake's protocol module) whose text names
  the call and the turn: ``"Caller 17 turn 3."``.
- :class:`FakeSpeechAPIs` is one HTTP/1.1 server answering ElevenLabs'
  ``POST /v1/text-to-speech/{voice}/stream`` with 200 ms of μ-law tone in one chunk, and OpenAI's
  ``POST /v1/chat/completions`` (``stream=true``) with a few SSE chunks echoing the caller (the
  same stream under the other OpenAI-compatible APIs' paths, :data:`CHAT_PATHS`). The
  reply audio is marked as ``relay_peers`` expects: the first four bytes of every 160-byte frame
  are the call number (2 bytes), the turn and the frame's index, taken from the text to speak.
  A text without a call and turn but with a send-time stamp (a package STT fake's final, see
  ``pipeline_providers.py``) is marked ``ST``, the frame's index and the stamp (8 bytes).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from relay_peers import (
    _CLOSE,
    _PING,
    _PONG,
    _TEXT,
    FRAME_BYTES,
    FrameReader,
    LoopbackServer,
    TwilioCaller,
    _accept_key,
    _header,
    ws_frame,
)

from getpatter.testing.fake_deepgram._protocol import request_id, results
from getpatter.testing.fake_llm._server import sse
from getpatter.testing.fake_tts._audio import speech as tone
from getpatter.testing.phone_network.sound import SILENCE
from getpatter.testing.phone_network.sound import speech as babble

__all__ = [
    "CHAT_PATHS",
    "REPLY_FRAMES",
    "CallerScript",
    "CallerVoice",
    "FakeDeepgram",
    "FakeSpeechAPIs",
    "caller_script",
]

_BINARY = 0x2
TAG = b"PT"
TAG_FRAMES = 5
"""How many first frames of a call carry its tag."""
REPLY_FRAMES = 10
"""The fake TTS speaks 200 ms (ten 20 ms frames) per sentence."""
_ULAW_BYTES_PER_MS = 8
CHAT_PATHS = frozenset({"/v1/chat/completions", "/openai/v1/chat/completions"})
"""Where the fake serves the chat-completions stream: OpenAI's and Cerebras' path, Groq's."""
_TURN_TEXT = re.compile(r"Caller (\d+) turn (\d+)")
_REPLY_PREFIX = "You said: "
STAMPED_TEXT = re.compile(r"\d{16}")
"""A send-time stamp (wall clock, microseconds) in a package STT fake's final."""
STAMP_MARK = b"ST"
"""The first bytes of a reply frame whose marker is a stamp: ``ST``, the frame index, then the
stamp in 8 bytes big-endian."""


# --------------------------------------------------------------------------- the caller


@dataclass(frozen=True)
class CallerScript:
    """One period of caller audio as base64 frame payloads; the same for every call."""

    period: int
    """Frames per period."""
    speech: tuple[bytes, ...]
    """The base64 payloads of the speech at the start of each period."""
    silence: bytes
    endpoint: int
    """The frame of the period at which the STT's endpoint fires (speech end + endpointing)."""


def caller_script(every_s: float, speech_s: float, endpoint_ms: int) -> CallerScript:
    """``speech_s`` of babble then silence, every ``every_s``; endpoint ``endpoint_ms`` after."""
    audio = babble(round(speech_s * 1000))
    frames = tuple(
        base64.b64encode(audio[i : i + FRAME_BYTES]) for i in range(0, len(audio), FRAME_BYTES)
    )
    period = round(every_s / 0.020)
    endpoint = len(frames) + endpoint_ms // 20
    if endpoint >= period:
        raise SystemExit(f"a period of {every_s:g} s leaves no room after {speech_s:g} s of speech")
    silence = base64.b64encode(bytes((SILENCE,)) * FRAME_BYTES)
    return CallerScript(period, frames, silence, endpoint)


class CallerVoice:
    """Feeds one caller its script; what ``relay_load.pace`` drives instead of the caller.

    ``on_endpoint(call)`` runs when the caller's speech has ended and the STT's endpointing
    silence has passed: the moment a real Deepgram would send its final result.
    """

    def __init__(
        self,
        caller: TwilioCaller,
        stream_sid: str,
        call: int,
        script: CallerScript,
        phase: int,
        on_endpoint: Callable[[int], object] | None,
    ) -> None:
        self.call = call
        self._caller = caller
        self._script = script
        self._phase = phase
        self._on_endpoint = on_endpoint
        self._sid_tail = b'"},"streamSid":"' + stream_sid.encode() + b'"}'
        raw = TAG + call.to_bytes(2, "big") + bytes((SILENCE,)) * (FRAME_BYTES - 4)
        self._tagged = base64.b64encode(raw)

    def send_media(self, seq: int, lateness: float) -> None:
        """Caller frame ``seq`` (from 0), ``lateness`` seconds after it was due."""
        script = self._script
        local = (seq + self._phase) % script.period
        if seq < TAG_FRAMES:
            payload = self._tagged
        elif local < len(script.speech):
            payload = script.speech[local]
        else:
            payload = script.silence
        # TwilioCaller sends one fixed payload; the tail it appends is swapped per frame.
        self._caller._media_tail = b'","payload":"' + payload + self._sid_tail
        self._caller.send_media(seq, lateness)
        if local == script.endpoint and seq >= TAG_FRAMES and self._on_endpoint is not None:
            self._on_endpoint(self.call)


# --------------------------------------------------------------------------- fake Deepgram


class FakeDeepgram(LoopbackServer["_DeepgramConnection"]):
    """A lean Deepgram ``/v1/listen`` WebSocket server on 127.0.0.1 (see the module docstring).

    With ``answer_finalize`` every ``Finalize`` Patter sends (its VAD heard the caller stop) is
    answered at once with a final result (``from_finalize``); otherwise finals come only from
    :meth:`final`. ``final_sent[(call, turn & 0xFF)]`` is when each final was written.
    """

    url_scheme = "ws"

    def __init__(self, *, answer_finalize: bool) -> None:
        super().__init__()
        self.answer_finalize = answer_finalize
        self.final_sent: dict[tuple[int, int], float] = {}
        self.audio_frames = 0
        self.finalizes = 0
        self.unmapped_finals = 0
        self.encodings: set[str] = set()
        self._calls: dict[int, _DeepgramConnection] = {}
        self._opened = asyncio.Event()

    async def wait_connections(self, count: int) -> None:
        """Wait until ``count`` streams have opened."""
        while sum(1 for c in self.connections if c.opened) < count:
            self._opened.clear()
            await self._opened.wait()

    def final(self, call: int) -> None:
        """Send ``call``'s stream the final result of its next turn (``speech_final``)."""
        connection = self._calls.get(call)
        if connection is None:
            self.unmapped_finals += 1
            return
        connection.send_final(from_finalize=False)

    def opened(self, encoding: str) -> None:
        self.encodings.add(encoding)
        self._opened.set()

    def tagged(self, call: int, connection: _DeepgramConnection) -> None:
        self._calls[call] = connection

    def _new_connection(self) -> _DeepgramConnection:
        return _DeepgramConnection(self)


class _DeepgramConnection(asyncio.Protocol):
    def __init__(self, server: FakeDeepgram) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._head = b""
        self._reader: FrameReader | None = None
        self._request = request_id()
        self._model = "nova-3"
        self._bytes = 0
        self._turns = 0
        self.call = 0
        self.opened = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
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
            if opcode == _BINARY:
                self._audio(payload)
            elif opcode == _TEXT:
                self._control(payload)
            elif opcode == _PING:
                self._write(ws_frame(_PONG, payload, masked=False))
            elif opcode == _CLOSE:
                self._close(payload[:2])

    def _handshake(self, head: bytes) -> None:
        target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        self._model = query.get("model", self._model)
        self._write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(_header(head, b"sec-websocket-key")) + b"\r\n"
            b"dg-request-id: " + self._request.encode() + b"\r\n\r\n"
        )
        self.opened = True
        self._server.opened(f"{query.get('encoding')}/{query.get('sample_rate')}")

    def _audio(self, payload: bytes) -> None:
        self._server.audio_frames += 1
        self._bytes += len(payload)
        if not self.call and payload[:2] == TAG:
            self.call = int.from_bytes(payload[2:4], "big")
            self._server.tagged(self.call, self)

    def _control(self, payload: bytes) -> None:
        kind = json.loads(payload).get("type")
        if kind == "Finalize":
            self._server.finalizes += 1
            if self._server.answer_finalize:
                if self.call:
                    self.send_final(from_finalize=True)
                else:
                    self._server.unmapped_finals += 1
        elif kind == "CloseStream":
            self._close((1000).to_bytes(2, "big"))

    def send_final(self, *, from_finalize: bool) -> None:
        """The final result of this call's next turn; with ``from_finalize``, not speech_final
        (as Deepgram answers a ``Finalize``)."""
        self._turns += 1
        end_ms = self._bytes // _ULAW_BYTES_PER_MS
        message = results(
            f"Caller {self.call} turn {self._turns}.",
            start_ms=max(0, end_ms - 1500),
            end_ms=end_ms,
            is_final=True,
            speech_final=not from_finalize,
            from_finalize=from_finalize,
            model=self._model,
            request=self._request,
            speech_end_ms=end_ms - 300,
        )
        frame = ws_frame(_TEXT, json.dumps(message).encode(), masked=False)
        sent = time.monotonic()
        if self._write(frame):
            self._server.final_sent[(self.call, self._turns & 0xFF)] = sent

    def _close(self, code: bytes) -> None:
        self._write(ws_frame(_CLOSE, code, masked=False))
        if self._transport is not None:
            self._transport.close()

    def _write(self, data: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True


# --------------------------------------------------------------------------- fake TTS and LLM


class FakeSpeechAPIs(LoopbackServer["_HTTPConnection"]):
    """ElevenLabs HTTP streaming TTS and OpenAI streamed chat completions, instant, on one
    lean HTTP/1.1 (keep-alive) server on 127.0.0.1 (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.tts_requests = 0
        self.llm_requests = 0
        self.refused = 0
        self.tts_formats: set[str] = set()
        self.llm_received: dict[tuple[int, int], float] = {}
        """When each turn's first chat-completions request arrived, by ``(call, turn & 0xFF)``."""
        self.tts_received: dict[tuple[int, int], float] = {}
        """When each turn's first TTS request arrived, by ``(call, turn & 0xFF)``."""
        self._tone = tone("ulaw_8000", REPLY_FRAMES * 20)

    def _new_connection(self) -> _HTTPConnection:
        return _HTTPConnection(self)

    def answer(self, target: bytes, body: bytes, head: bytes = b"") -> bytes:
        """The whole HTTP response to ``POST target`` with ``body`` (``head``: its headers)."""
        parts = urlsplit(target.decode())
        if parts.path.startswith("/v1/text-to-speech/") and parts.path.endswith("/stream"):
            return self._speech(parts.query, json.loads(body))
        if parts.path in CHAT_PATHS:
            return self._completion(_decoded(head, body))
        self.refused += 1
        return _response(404, "application/json", [b'{"detail":"Not Found"}'])

    def _speech(self, query: str, request: dict[str, Any]) -> bytes:
        self.tts_requests += 1
        self.tts_formats.update(parse_qs(query).get("output_format", ["?"]))
        text = str(request.get("text", ""))
        found = _TURN_TEXT.search(text)
        stamp = None if found else STAMPED_TEXT.search(text)
        if stamp is not None:
            # A package STT fake's final (see pipeline_providers.py): its send time goes into
            # every frame's first bytes, as the caller's marker.
            head = STAMP_MARK + int(stamp[0]).to_bytes(8, "big")
            audio = b"".join(
                head[:2]
                + bytes((n,))
                + head[2:]
                + self._tone[n * FRAME_BYTES + 11 : (n + 1) * FRAME_BYTES]
                for n in range(REPLY_FRAMES)
            )
            return _response(200, "audio/basic", [audio])
        call, turn = (int(found[1]), int(found[2])) if found else (0, 0)
        self.tts_received.setdefault((call, turn & 0xFF), time.monotonic())
        head = bytes((call >> 8 & 0xFF, call & 0xFF, turn & 0xFF))
        audio = b"".join(
            head + bytes((n,)) + self._tone[n * FRAME_BYTES + 4 : (n + 1) * FRAME_BYTES]
            for n in range(REPLY_FRAMES)
        )
        return _response(200, "audio/basic", [audio])

    def _completion(self, request: dict[str, Any]) -> bytes:
        self.llm_requests += 1
        said = next(
            (m.get("content") for m in reversed(request["messages"]) if m.get("role") == "user"),
            "",
        )
        found = _TURN_TEXT.search(str(said))
        if found:
            self.llm_received.setdefault((int(found[1]), int(found[2]) & 0xFF), time.monotonic())
        head = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_bench",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse({**head, "choices": [choice], "usage": None})

        words = f"{_REPLY_PREFIX}{said}".split(" ")
        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": w if i == 0 else f" {w}"}) for i, w in enumerate(words)]
        events.append(chunk({}, "stop"))
        usage = {"prompt_tokens": 60, "completion_tokens": len(words), "total_tokens": 60}
        events.append(sse({**head, "choices": [], "usage": usage}))
        events.append(sse("[DONE]"))
        return _response(200, "text/event-stream; charset=utf-8", events)


def _response(status: int, content_type: str, chunks: list[bytes]) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
        "transfer-encoding: chunked\r\n\r\n"
    ).encode() + body


class _HTTPConnection(asyncio.Protocol):
    def __init__(self, server: FakeSpeechAPIs) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(buf[:end])
            size = int(_header(head, b"content-length") or b"0")
            if len(buf) < end + 4 + size:
                return
            body = bytes(buf[end + 4 : end + 4 + size])
            del buf[: end + 4 + size]
            answer = self._server.answer(head.split(b"\r\n", 1)[0].split(b" ")[1], body, head)
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(answer)


def _decoded(head: bytes, body: bytes) -> Any:
    """A JSON request body, undoing Cerebras' gzip and msgpack encodings when announced."""
    if b"gzip" in (_header(head, b"content-encoding") or b""):
        body = gzip.decompress(body)
    if b"msgpack" in (_header(head, b"content-type") or b""):
        import msgpack

        return msgpack.unpackb(body)
    return json.loads(body)
