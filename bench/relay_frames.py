"""Part 1 of ``bench/relay.py``: the CPU of Patter's per-frame code, with stub sockets.

Each measurement runs the functions a call runs, wired to stubs that never block: caller media
through ``ServerDesk._relay`` (with Twilio's media codec) -> ``CallSession.on_media`` ->
``RealtimeEngine.send_audio``; agent audio through ``RealtimeEngine._stream`` ->
``CallSession._handle`` -> ``OutboundAudio`` -> the codec's messages; echoed marks back through
``_relay``. Coroutines are stepped directly
(they never suspend on a stub), except ``OutboundAudio``'s send loop, which runs on an event
loop with ``frame_ms=0`` so that it sends its queue without pacing. Socket I/O and the event
loop are left out here: part 2 measures them.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relay_server import PHONE_NUMBER

from getpatter.agent import build_agent
from getpatter.carriers.twilio.media import TwilioCodec, mark_message, media_message, parse_frame
from getpatter.engines.base import EngineFactory
from getpatter.engines.openai import Realtime
from getpatter.engines.openai.engine import RealtimeEngine
from getpatter.engines.openai.events import decode_audio_delta
from getpatter.observability.events import EventBus
from getpatter.observability.pricing import PriceTable
from getpatter.server.desk import ServerDesk, _MediaOut
from getpatter.server.registry import CallRegistry
from getpatter.session import CallCallbacks, CallSession
from getpatter.session.outbound import OutboundAudio

__all__ = ["FrameCosts", "frame_costs"]

MODEL = "gpt-realtime"
STREAM_SID = "MZ" + "a" * 32
CALL_SID = "CA" + "c" * 32


def twilio_media_json(seq: int) -> str:
    """A caller ``media`` message as Twilio sends it (160 bytes of μ-law)."""
    payload = bytes(0x80 | (i * 11) % 0x7F for i in range(160))
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(seq + 2),
            "media": {
                "track": "inbound",
                "chunk": str(seq),
                "timestamp": str(seq * 20),
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": STREAM_SID,
        },
        separators=(",", ":"),
    )


def realtime_delta_json() -> str:
    """A GA ``response.output_audio.delta`` carrying 100 ms (800 bytes) of μ-law."""
    return json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": "event_C1",
            "response_id": "resp_C1",
            "item_id": "item_C1",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(bytes(range(160)) * 5).decode(),
        }
    )


class _EngineSocket:
    """Stands in for the Realtime ``ClientConnection``: sends are counted, reads repeat one."""

    def __init__(self, message: str = "") -> None:
        self.message = message
        self.sent = 0

    async def send(self, message: str) -> None:
        self.sent += 1

    def __aiter__(self) -> _EngineSocket:
        return self

    async def __anext__(self) -> str:
        return self.message


class _CarrierSocket:
    """Stands in for the Starlette ``WebSocket`` of a Twilio stream."""

    def __init__(self, incoming: list[str] | None = None) -> None:
        self._incoming = iter(incoming or [])
        self.sent = 0
        self.until = -1
        self.done: asyncio.Future[None] | None = None

    async def receive(self) -> dict[str, Any]:
        text = next(self._incoming, None)
        if text is None:
            return {"type": "websocket.disconnect", "code": 1000}
        return {"type": "websocket.receive", "text": text}

    async def send_text(self, text: str) -> None:
        self.sent += 1
        if self.sent == self.until and self.done is not None:
            self.done.set_result(None)


class _NoActions:
    async def transfer(self, call_sid: str, number: str) -> None:
        return None

    async def hangup(self, call_sid: str) -> None:
        return None


def _session() -> tuple[CallSession, RealtimeEngine, _EngineSocket]:
    """A real CallSession with a connected RealtimeEngine whose socket is a stub."""
    engine_config = Realtime(api_key="sk-bench", base_url="http://127.0.0.1:9/v1", model=MODEL)
    agent = build_agent("Benchmark agent.", engine=engine_config)
    engine = RealtimeEngine("sk-bench", base_url=engine_config.base_url)
    socket_ = _EngineSocket()
    engine._ws = socket_  # type: ignore[assignment]
    session = CallSession(
        agent=agent,
        direction="inbound",
        caller="+15550002000",
        callee=PHONE_NUMBER,
        engine_factory=EngineFactory(lambda: engine, ("ulaw_8000",)),
        carrier=_NoActions(),
        telephony_provider="twilio",
        callbacks=CallCallbacks(),
        events=EventBus(),
        pricing=PriceTable(None),
        call_sid=CALL_SID,
    )
    session._engine = engine
    return session, engine, socket_


def _desk() -> ServerDesk:
    return ServerDesk(
        public_host=lambda: "127.0.0.1",
        registry=CallRegistry(),
        new_inbound_call=lambda caller, callee, sid: _session()[0],
    )


def _drive(coro: Any) -> Any:
    """Run a coroutine whose sockets are stubs to its end.

    A bare ``asyncio.sleep(0)`` (a yield to the event loop, which yields ``None``) is resumed at
    once; any real suspension is an error.
    """
    for _ in range(4):
        try:
            if coro.send(None) is not None:
                break
        except StopIteration as done:
            return done.value
    raise RuntimeError("the benchmarked coroutine suspended")


def per_op_us(prepare: Callable[[int], Callable[[], object]], ops: int, repeat: int = 7) -> float:
    """Best µs per operation: ``prepare(ops)`` (untimed) returns a run of ``ops`` operations."""
    best = float("inf")
    for _ in range(repeat):
        run = prepare(ops)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        if gc_was_enabled:
            gc.enable()
        best = min(best, elapsed / ops)
    return best * 1e6


def repeated(operation: Callable[[], object]) -> Callable[[int], Callable[[], object]]:
    def prepare(ops: int) -> Callable[[], object]:
        def run() -> None:
            for _ in range(ops):
                operation()

        return run

    return prepare


def inbound_relay(ops: int) -> Callable[[], object]:
    """``ops`` caller media frames through the real ``_relay`` loop into the engine stub."""
    session, _, _ = _session()
    websocket = _CarrierSocket([twilio_media_json(7)] * ops)
    relay = _desk()._relay(websocket, session, _codec())  # type: ignore[arg-type]
    return lambda: _drive(relay)


def _codec() -> TwilioCodec:
    codec = TwilioCodec()
    codec.stream_sid = STREAM_SID
    return codec


def mark_relay(ops: int) -> Callable[[], object]:
    """``ops`` echoed marks through ``_relay`` -> ``CallSession.on_mark`` -> ``OutboundAudio``."""
    session, _, _ = _session()
    websocket = _CarrierSocket(
        [
            json.dumps(
                {
                    "event": "mark",
                    "sequenceNumber": str(i + 3),
                    "streamSid": STREAM_SID,
                    "mark": {"name": str(i + 1)},
                },
                separators=(",", ":"),
            )
            for i in range(ops)
        ]
    )
    codec = _codec()
    outbound = OutboundAudio(_MediaOut(websocket, codec))  # type: ignore[arg-type]
    outbound._pending_marks.update((str(i + 1), ("item_C1", (i + 1) * 20)) for i in range(ops))
    session._outbound = outbound
    relay = _desk()._relay(websocket, session, codec)  # type: ignore[arg-type]
    return lambda: _drive(relay)


def delta_to_frames(ops: int) -> Callable[[], object]:
    """``ops`` audio deltas through ``RealtimeEngine._stream`` and ``CallSession._handle``."""
    session, engine, _ = _session()
    session._outbound = OutboundAudio(_MediaOut(_CarrierSocket(), _codec()))  # type: ignore[arg-type]
    stream = engine._stream(_EngineSocket(realtime_delta_json()))  # type: ignore[arg-type]

    def run() -> None:
        for _ in range(ops):
            _drive(session._handle(_drive(stream.__anext__())))

    return run


def outbound_frames(ops: int) -> Callable[[], object]:
    """``ops`` queued frames sent by ``OutboundAudio``'s real send loop, unpaced (frame_ms=0)."""
    loop = asyncio.new_event_loop()
    websocket = _CarrierSocket()
    out = _MediaOut(websocket, _codec())  # type: ignore[arg-type]
    outbound = OutboundAudio(out, frame_ms=0)
    for _ in range(ops // 5):
        outbound.push("item_C1", bytes(range(160)) * 5)
    websocket.until = 2 * (ops // 5 * 5)

    async def drain() -> None:
        websocket.done = loop.create_future()
        outbound.start()
        await websocket.done
        await outbound.stop()

    def run() -> None:
        loop.run_until_complete(drain())
        loop.close()

    return run


@dataclass
class FrameCosts:
    parse_media: float
    on_media: float
    inbound: float
    decode_share: float
    delta_share: float
    build_messages: float
    outbound_send: float
    mark_back: float

    @property
    def outbound(self) -> float:
        return self.delta_share + self.outbound_send + self.mark_back


def frame_costs() -> FrameCosts:
    media = twilio_media_json(7)
    session, _, _ = _session()
    payload = bytes(160)
    delta = json.loads(realtime_delta_json())
    return FrameCosts(
        parse_media=per_op_us(repeated(lambda: parse_frame(media)), 20000),
        on_media=per_op_us(repeated(lambda: _drive(session.on_media(payload))), 20000),
        inbound=per_op_us(inbound_relay, 20000),
        decode_share=per_op_us(repeated(lambda: decode_audio_delta(delta)), 20000) / 5,
        delta_share=per_op_us(delta_to_frames, 4000) / 5,
        build_messages=per_op_us(
            repeated(lambda: (media_message(STREAM_SID, payload), mark_message(STREAM_SID, "42"))),
            20000,
        ),
        outbound_send=per_op_us(outbound_frames, 20000),
        mark_back=per_op_us(mark_relay, 20000),
    )
