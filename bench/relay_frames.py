"""Part 1 of ``bench/relay.py``: the CPU of Patter's per-frame code, with stub sockets.

Each measurement runs the functions a call runs, wired to stubs that never block: caller media
through ``ServerDesk._relay`` (with the carrier's media codec) -> ``CallSession.on_media`` ->
the engine's ``send_audio`` (``RealtimeEngine`` or ``ConvAIEngine``); agent audio through the
engine's ``_stream`` -> ``CallSession._handle`` -> ``OutboundAudio`` -> the codec's messages;
echoed marks back through ``_relay``. Coroutines are stepped directly (they never suspend on a
stub), except two that need an event loop: the engines' ``_stream`` (ConvAI's waits for each
message under ``asyncio.timeout`` while a turn is open), run in one task that never yields, and
``OutboundAudio``'s send loop, run with ``frame_ms=0`` so that it sends its queue without
pacing. Socket I/O and the event loop's polling are left out here: part 2 measures them.

A configuration is a carrier (``twilio``: ``TwilioCodec``; ``telnyx``:
``TelnyxCodec("ulaw_8000")``) with an engine (``realtime``: a GA ``response.output_audio.delta``;
``convai``: an ``audio`` message), each with the same audio in its own shape. A row is measured
once per value of what it depends on: the carrier's codec rows once per carrier, the engine's
``on_media`` and audio decoding once per engine, the rows that run both once per configuration;
the runs of a row alternate between them (best of 7 each) so that all see the same machine.
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
from getpatter.calls.stream import CallEventStream
from getpatter.carriers.base import MediaCodec
from getpatter.carriers.telnyx.media import TelnyxCodec
from getpatter.carriers.twilio.media import TwilioCodec
from getpatter.engines.base import Engine, EngineFactory
from getpatter.engines.elevenlabs import ConvAI
from getpatter.engines.elevenlabs.engine import ConvAIEngine
from getpatter.engines.openai import Realtime
from getpatter.engines.openai.engine import RealtimeEngine
from getpatter.observability.pricing import PriceTable
from getpatter.server.desk import ServerDesk, _MediaOut
from getpatter.server.registry import CallRegistry
from getpatter.session import CallCallbacks, CallSession
from getpatter.session.outbound import OutboundAudio

__all__ = ["CARRIERS", "ENGINES", "FrameCosts", "frame_costs"]

MODEL = "gpt-realtime"
AGENT_ID = "agent_bench"
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


_AGENT_AUDIO = base64.b64encode(bytes(range(160)) * 5).decode()
"""100 ms (800 bytes) of μ-law, as one agent audio message carries it."""


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
            "delta": _AGENT_AUDIO,
        }
    )


def convai_audio_json() -> str:
    """A ConvAI ``audio`` message carrying 100 ms (800 bytes) of μ-law."""
    return json.dumps(
        {"type": "audio", "audio_event": {"audio_base_64": _AGENT_AUDIO, "event_id": 7}}
    )


class _EngineSocket:
    """Stands in for the engine's ``ClientConnection``: sends are counted, reads repeat one."""

    def __init__(self, message: str = "") -> None:
        self.message = message
        self.sent = 0

    async def send(self, message: str) -> None:
        self.sent += 1

    async def recv(self) -> str:
        return self.message

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


@dataclass(frozen=True)
class EngineKind:
    """One engine as part 1 needs it: a connected engine (on a stub socket) with its agent,
    one 100 ms agent audio message in its shape, and its decoding of that message parsed."""

    name: str
    new: Callable[[], tuple[Any, Engine, EngineFactory]]
    """A new agent, engine (not connected) and factory."""
    audio_json: Callable[[], str]
    decode: Callable[[Any], Callable[[], object]]
    """Given a connected engine: decode one parsed audio message as the engine does."""


def _realtime() -> tuple[Any, Engine, EngineFactory]:
    config = Realtime(api_key="sk-bench", base_url="http://127.0.0.1:9/v1", model=MODEL)
    engine = RealtimeEngine("sk-bench", base_url=config.base_url)
    factory = EngineFactory(lambda: engine, ("ulaw_8000",), RealtimeEngine.capabilities)
    return build_agent("Benchmark agent.", engine=config), engine, factory


def _convai() -> tuple[Any, Engine, EngineFactory]:
    # A public agent (no API key); the engine never connects.
    config = ConvAI(agent_id=AGENT_ID, base_url="http://127.0.0.1:9")
    engine = ConvAIEngine(agent_id=AGENT_ID, base_url=config.base_url)
    factory = EngineFactory(lambda: engine, ("ulaw_8000",), ConvAIEngine.capabilities)
    return build_agent("Benchmark agent.", engine=config), engine, factory


def _realtime_decode(engine: RealtimeEngine) -> Callable[[], object]:
    data = json.loads(realtime_delta_json())
    return lambda: engine._agent_audio(data)


def _convai_decode(engine: ConvAIEngine) -> Callable[[], object]:
    event = json.loads(convai_audio_json())["audio_event"]
    return lambda: engine._agent_audio(event)


ENGINE_KINDS = {
    "realtime": EngineKind("realtime", _realtime, realtime_delta_json, _realtime_decode),
    "convai": EngineKind("convai", _convai, convai_audio_json, _convai_decode),
}
ENGINES = tuple(ENGINE_KINDS)


def _session(
    provider: str = "twilio", engine_name: str = "realtime"
) -> tuple[CallSession, Any, _EngineSocket]:
    """A real CallSession with a connected engine whose socket is a stub."""
    agent, engine, factory = ENGINE_KINDS[engine_name].new()
    socket_ = _EngineSocket()
    engine._ws = socket_  # type: ignore[attr-defined]
    session = CallSession(
        agent=agent,
        direction="inbound",
        caller="+15550002000",
        callee=PHONE_NUMBER,
        engine_factory=factory,
        carrier=_NoActions(),
        telephony_provider=provider,
        callbacks=CallCallbacks(),
        events=CallEventStream(),
        pricing=PriceTable(None),
        call_sid=CALL_SID,
    )
    session._engine = engine
    return session, engine, socket_


def _desk(provider: str, engine: str = "realtime") -> ServerDesk:
    return ServerDesk(
        public_host=lambda: "127.0.0.1",
        registry=CallRegistry(),
        new_inbound_call=lambda caller, callee, sid: _session(provider, engine)[0],
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


def inbound_relay(wire: Wire, engine: str) -> Prepare:
    """``ops`` caller media frames through the real ``_relay`` loop into the engine's stub
    socket."""

    def prepare(ops: int) -> Callable[[], object]:
        session, _, _ = _session(wire.provider, engine)
        websocket = _CarrierSocket([wire.media_json(7)] * ops)
        desk = _desk(wire.provider, engine)
        relay = desk._relay(websocket, session, wire.codec())  # type: ignore[arg-type]
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


def delta_to_frames(wire: Wire, engine_name: str) -> Prepare:
    """``ops`` agent audio messages through the engine's ``_stream`` and
    ``CallSession._handle``, in one task that never yields (ConvAI's ``asyncio.timeout`` needs
    one); they all belong to one response, as all but its first do."""

    def prepare(ops: int) -> Callable[[], object]:
        session, engine, _ = _session(wire.provider, engine_name)
        out = _MediaOut(_CarrierSocket(), wire.codec())  # type: ignore[arg-type]
        session._outbound = OutboundAudio(out)
        socket_ = _EngineSocket(ENGINE_KINDS[engine_name].audio_json())
        stream = engine._stream(socket_)
        loop = asyncio.new_event_loop()

        async def relay() -> None:
            for _ in range(ops):
                await session._handle(await stream.__anext__())

        def run() -> None:
            loop.run_until_complete(relay())
            loop.close()

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
    """µs per frame of one carrier with one engine. ``decode_media``, ``build_messages``,
    ``outbound_send`` and ``mark_back`` depend on the carrier only; ``on_media`` and
    ``decode_share`` on the engine only."""

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


def frame_costs(
    configs: tuple[tuple[str, str], ...] = tuple((carrier, "realtime") for carrier in CARRIERS),
) -> dict[tuple[str, str], FrameCosts]:
    """The per-frame costs of each ``(carrier, engine)`` configuration, measured alternately.
    A row that depends on the carrier only is measured once per carrier, one that depends on
    the engine only once per engine."""
    carriers = list(dict.fromkeys(carrier for carrier, _ in configs))
    engines = list(dict.fromkeys(engine for _, engine in configs))
    wires = [WIRES[name] for name in carriers]
    payload = bytes(160)

    def on_media(engine: str) -> Prepare:
        session, _, _ = _session("twilio", engine)
        return repeated(lambda: _drive(session.on_media(payload)))

    def decode_agent_audio(engine: str) -> Prepare:
        return repeated(ENGINE_KINDS[engine].decode(_session("twilio", engine)[1]))

    def decode(wire: Wire) -> Prepare:
        codec, media = wire.codec(), wire.media_json(7)
        return repeated(lambda: codec.decode(media))

    def build(wire: Wire) -> Prepare:
        codec = wire.codec()
        return repeated(lambda: (codec.audio(payload), codec.mark("42")))

    def each_carrier(make: Callable[[Wire], Prepare], ops: int) -> dict[str, float]:
        return dict(zip(carriers, per_op_each([make(w) for w in wires], ops), strict=True))

    def each_engine(make: Callable[[str], Prepare], ops: int) -> dict[str, float]:
        return dict(zip(engines, per_op_each([make(e) for e in engines], ops), strict=True))

    def each_config(make: Callable[[Wire, str], Prepare], ops: int) -> dict[tuple[str, str], float]:
        prepares = [make(WIRES[carrier], engine) for carrier, engine in configs]
        return dict(zip(configs, per_op_each(prepares, ops), strict=True))

    shared_on_media = each_engine(on_media, 20000)
    shared_decode = each_engine(decode_agent_audio, 20000)
    decode_media = each_carrier(decode, 20000)
    inbound = each_config(inbound_relay, 20000)
    delta = each_config(delta_to_frames, 4000)
    build_messages = each_carrier(build, 20000)
    outbound_send = each_carrier(outbound_frames, 20000)
    mark_back = each_carrier(mark_relay, 20000)
    return {
        (carrier, engine): FrameCosts(
            decode_media=decode_media[carrier],
            on_media=shared_on_media[engine],
            inbound=inbound[(carrier, engine)],
            decode_share=shared_decode[engine] / 5,
            delta_share=delta[(carrier, engine)] / 5,
            build_messages=build_messages[carrier],
            outbound_send=outbound_send[carrier],
            mark_back=mark_back[carrier],
        )
        for carrier, engine in configs
    }
