"""Part 1 of ``bench/relay.py``: the CPU of Patter's per-frame code, with stub sockets.

Each measurement runs the functions a call runs, wired to stubs that never block: caller media
through ``ServerDesk._relay`` (with the carrier's media codec) -> ``CallSession.on_media`` ->
``RealtimeEngine.send_audio``; agent audio through ``RealtimeEngine._stream`` ->
``CallSession._handle`` -> ``OutboundAudio`` -> the codec's messages; echoed marks back through
``_relay``. Coroutines are stepped directly
(they never suspend on a stub), except ``OutboundAudio``'s send loop, which runs on an event
loop with ``frame_ms=0`` so that it sends its queue without pacing. Socket I/O and the event
loop are left out here: part 2 measures them.

Each carrier-specific row is measured for every carrier asked for (``twilio``: ``TwilioCodec``;
``telnyx``: ``TelnyxCodec("ulaw_8000")``), with the same frames in each carrier's shape, and the
carriers' runs alternate (best of 7 each) so that both see the same machine. The two rows that
never touch the carrier (``on_media`` and ``decode_audio_delta``) are measured once.
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
from getpatter.carriers.base import MediaCodec
from getpatter.carriers.telnyx.media import TelnyxCodec
from getpatter.carriers.twilio.media import TwilioCodec
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

__all__ = ["CARRIERS", "FrameCosts", "frame_costs"]

MODEL = "gpt-realtime"
STREAM_SID = "MZ" + "a" * 32
CALL_SID = "CA" + "c" * 32
TELNYX_STREAM_ID = "32de0dea-53cb-4b21-89a4-9e5f1b4a3c2d"
_CALLER_AUDIO = base64.b64encode(bytes(0x80 | (i * 11) % 0x7F for i in range(160))).decode()


def twilio_media_json(seq: int) -> str:
    """A caller ``media`` message as Twilio sends it (160 bytes of μ-law)."""
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(seq + 2),
            "media": {
                "track": "inbound",
                "chunk": str(seq),
                "timestamp": str(seq * 20),
                "payload": _CALLER_AUDIO,
            },
            "streamSid": STREAM_SID,
        },
        separators=(",", ":"),
    )


def twilio_mark_json(seq: int) -> str:
    """Twilio's echo of our mark number ``seq``."""
    return json.dumps(
        {
            "event": "mark",
            "sequenceNumber": str(seq + 3),
            "streamSid": STREAM_SID,
            "mark": {"name": str(seq + 1)},
        },
        separators=(",", ":"),
    )


def telnyx_media_json(seq: int) -> str:
    """A caller ``media`` message as Telnyx sends it (160 bytes of PCMU, inbound track)."""
    return json.dumps(
        {
            "event": "media",
            "sequence_number": str(seq + 2),
            "stream_id": TELNYX_STREAM_ID,
            "media": {
                "track": "inbound",
                "chunk": str(seq),
                "timestamp": str(seq * 20),
                "payload": _CALLER_AUDIO,
            },
        },
        separators=(",", ":"),
    )


def telnyx_mark_json(seq: int) -> str:
    """Telnyx's echo of our mark number ``seq``."""
    return json.dumps(
        {
            "event": "mark",
            "sequence_number": str(seq + 3),
            "stream_id": TELNYX_STREAM_ID,
            "mark": {"name": str(seq + 1)},
        },
        separators=(",", ":"),
    )


def _twilio_codec() -> TwilioCodec:
    codec = TwilioCodec()
    codec.stream_sid = STREAM_SID
    return codec


@dataclass(frozen=True)
class Wire:
    """One carrier as part 1 needs it: a fresh codec of a started stream, and the caller's
    media frame and mark echo in its shape."""

    provider: str
    codec: Callable[[], MediaCodec]
    media_json: Callable[[int], str]
    mark_json: Callable[[int], str]


WIRES = {
    "twilio": Wire("twilio", _twilio_codec, twilio_media_json, twilio_mark_json),
    "telnyx": Wire("telnyx", lambda: TelnyxCodec("ulaw_8000"), telnyx_media_json, telnyx_mark_json),
}
CARRIERS = tuple(WIRES)


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


def _session(provider: str = "twilio") -> tuple[CallSession, RealtimeEngine, _EngineSocket]:
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
        telephony_provider=provider,
        callbacks=CallCallbacks(),
        events=EventBus(),
        pricing=PriceTable(None),
        call_sid=CALL_SID,
    )
    session._engine = engine
    return session, engine, socket_


def _desk(provider: str) -> ServerDesk:
    return ServerDesk(
        public_host=lambda: "127.0.0.1",
        registry=CallRegistry(),
        new_inbound_call=lambda caller, callee, sid: _session(provider)[0],
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


Prepare = Callable[[int], Callable[[], object]]


def per_op_us(prepare: Prepare, ops: int, repeat: int = 7) -> float:
    """Best µs per operation: ``prepare(ops)`` (untimed) returns a run of ``ops`` operations."""
    return per_op_each([prepare], ops, repeat)[0]


def per_op_each(prepares: list[Prepare], ops: int, repeat: int = 7) -> list[float]:
    """:func:`per_op_us` of each of ``prepares``, their runs alternating."""
    best = [float("inf")] * len(prepares)
    for _ in range(repeat):
        for index, prepare in enumerate(prepares):
            run = prepare(ops)
            gc_was_enabled = gc.isenabled()
            gc.disable()
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            if gc_was_enabled:
                gc.enable()
            best[index] = min(best[index], elapsed / ops)
    return [value * 1e6 for value in best]


def repeated(operation: Callable[[], object]) -> Callable[[int], Callable[[], object]]:
    def prepare(ops: int) -> Callable[[], object]:
        def run() -> None:
            for _ in range(ops):
                operation()

        return run

    return prepare


def inbound_relay(wire: Wire) -> Prepare:
    """``ops`` caller media frames through the real ``_relay`` loop into the engine stub."""

    def prepare(ops: int) -> Callable[[], object]:
        session, _, _ = _session(wire.provider)
        websocket = _CarrierSocket([wire.media_json(7)] * ops)
        relay = _desk(wire.provider)._relay(websocket, session, wire.codec())  # type: ignore[arg-type]
        return lambda: _drive(relay)

    return prepare


def mark_relay(wire: Wire) -> Prepare:
    """``ops`` echoed marks through ``_relay`` -> ``CallSession.on_mark`` -> ``OutboundAudio``."""

    def prepare(ops: int) -> Callable[[], object]:
        session, _, _ = _session(wire.provider)
        websocket = _CarrierSocket([wire.mark_json(i) for i in range(ops)])
        codec = wire.codec()
        outbound = OutboundAudio(_MediaOut(websocket, codec))  # type: ignore[arg-type]
        outbound._pending_marks.update((str(i + 1), ("item_C1", (i + 1) * 20)) for i in range(ops))
        session._outbound = outbound
        relay = _desk(wire.provider)._relay(websocket, session, codec)  # type: ignore[arg-type]
        return lambda: _drive(relay)

    return prepare


def delta_to_frames(wire: Wire) -> Prepare:
    """``ops`` audio deltas through ``RealtimeEngine._stream`` and ``CallSession._handle``."""

    def prepare(ops: int) -> Callable[[], object]:
        session, engine, _ = _session(wire.provider)
        out = _MediaOut(_CarrierSocket(), wire.codec())  # type: ignore[arg-type]
        session._outbound = OutboundAudio(out)
        stream = engine._stream(_EngineSocket(realtime_delta_json()))  # type: ignore[arg-type]

        def run() -> None:
            for _ in range(ops):
                _drive(session._handle(_drive(stream.__anext__())))

        return run

    return prepare


def outbound_frames(wire: Wire) -> Prepare:
    """``ops`` queued frames sent by ``OutboundAudio``'s real send loop, unpaced (frame_ms=0)."""
    return lambda ops: _outbound_frames(wire, ops)


def _outbound_frames(wire: Wire, ops: int) -> Callable[[], object]:
    loop = asyncio.new_event_loop()
    websocket = _CarrierSocket()
    out = _MediaOut(websocket, wire.codec())  # type: ignore[arg-type]
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
    """µs per frame of one carrier (``on_media`` and ``decode_share`` are the same for all)."""

    decode_media: float
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


def frame_costs(carriers: tuple[str, ...] = CARRIERS) -> dict[str, FrameCosts]:
    """Each carrier's per-frame costs, measured alternately."""
    wires = [WIRES[name] for name in carriers]
    session, _, _ = _session()
    payload = bytes(160)
    delta = json.loads(realtime_delta_json())
    shared_on_media = per_op_us(repeated(lambda: _drive(session.on_media(payload))), 20000)
    shared_decode = per_op_us(repeated(lambda: decode_audio_delta(delta)), 20000) / 5

    def decode(wire: Wire) -> Prepare:
        codec, media = wire.codec(), wire.media_json(7)
        return repeated(lambda: codec.decode(media))

    def build(wire: Wire) -> Prepare:
        codec = wire.codec()
        return repeated(lambda: (codec.audio(payload), codec.mark("42")))

    def each(make: Callable[[Wire], Prepare], ops: int) -> list[float]:
        return per_op_each([make(wire) for wire in wires], ops)

    decode_media = each(decode, 20000)
    inbound = each(inbound_relay, 20000)
    delta_share = [value / 5 for value in each(delta_to_frames, 4000)]
    build_messages = each(build, 20000)
    outbound_send = each(outbound_frames, 20000)
    mark_back = each(mark_relay, 20000)
    return {
        name: FrameCosts(
            decode_media=decode_media[i],
            on_media=shared_on_media,
            inbound=inbound[i],
            decode_share=shared_decode,
            delta_share=delta_share[i],
            build_messages=build_messages[i],
            outbound_send=outbound_send[i],
            mark_back=mark_back[i],
        )
        for i, name in enumerate(carriers)
    }
