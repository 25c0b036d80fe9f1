"""The real RealtimeEngine against a loopback WebSocket server playing OpenAI's side."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from getpatter.engines.base import (
    VERBATIM_PREFIX,
    AgentAudio,
    AgentTranscript,
    EngineClosed,
    EngineConfig,
    EngineError,
    EngineEvent,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
    ToolCallRequest,
    UserTranscript,
    UserTranscriptPartial,
)
from getpatter.engines.openai import Realtime
from getpatter.engines.openai.engine import RealtimeEngine
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.observability.cost import RealtimeUsage

GA_MODEL = "gpt-realtime"
BETA_MODEL = "gpt-4o-mini-realtime-preview"

LOOKUP_ORDER = {
    "name": "lookup_order",
    "description": "Find an order",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}

USAGE = {
    "total_tokens": 821,
    "input_tokens": 789,
    "output_tokens": 32,
    "input_token_details": {
        "text_tokens": 313,
        "audio_tokens": 476,
        "image_tokens": 0,
        "cached_tokens": 640,
        "cached_tokens_details": {"text_tokens": 256, "audio_tokens": 384, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 9, "audio_tokens": 23},
}


def bounded(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Fail a test after 10 s instead of letting a bug hang CI."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        async with asyncio.timeout(10):
            await test(*args, **kwargs)

    return run


def config(model: str = GA_MODEL, **overrides: Any) -> EngineConfig:
    values: dict[str, Any] = {
        "instructions": "You are a helpful phone agent.",
        "voice": "marin",
        "model": model,
        "language": "en-US",
        "tools": (LOOKUP_ORDER,),
    }
    values.update(overrides)
    return EngineConfig(**values)


def audio_delta(item_id: str, audio: bytes, *, beta: bool = False) -> dict[str, Any]:
    return {
        "type": "response.audio.delta" if beta else "response.output_audio.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(audio).decode(),
    }


class Peer:
    """The server side of one engine connection."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.request_path = ws.request.path if ws.request else ""
        self.headers: Headers = ws.request.headers if ws.request else Headers()
        self.session_update: dict[str, Any] = {}
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(self, *events: dict[str, Any] | str) -> None:
        for event in events:
            await self.ws.send(event if isinstance(event, str) else json.dumps(event))

    async def next_message(self) -> dict[str, Any]:
        return await self.received.get()

    def pending(self) -> list[dict[str, Any]]:
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        return found


class FakeOpenAI:
    """A loopback server that answers ``session.update`` the way OpenAI does (or as told)."""

    def __init__(self) -> None:
        self.reject_status: int | None = None
        self.session_reply: list[dict[str, Any]] = [
            {"type": "session.created", "event_id": "event_0", "session": {}},
            {"type": "session.updated", "event_id": "event_1", "session": {}},
        ]
        self.connections = 0
        self.hang_up_on_session_update = False
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.server: Server | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def engine(self) -> RealtimeEngine:
        return RealtimeEngine("sk-CANARY-test", base_url=self.base_url)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.connections += 1
        if self.reject_status is not None:
            return connection.respond(HTTPStatus(self.reject_status), "refused\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        peer = Peer(ws)
        self.peers.put_nowait(peer)
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "session.update":
                peer.session_update = message
                await peer.send(*self.session_reply)
                if self.hang_up_on_session_update:
                    await ws.close()
            else:
                peer.received.put_nowait(message)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    async with serve(
        server._handler, "127.0.0.1", 0, process_request=server._process_request
    ) as running:
        server.server = running
        yield server


async def connected(
    fake: FakeOpenAI, cfg: EngineConfig | None = None
) -> tuple[RealtimeEngine, Peer]:
    engine = fake.engine()
    await engine.connect(cfg or config())
    return engine, await fake.peers.get()


async def collect(events: AsyncIterator[EngineEvent], count: int) -> list[EngineEvent]:
    return [await anext(events) for _ in range(count)]


# --- connecting ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
@bounded
async def test_refused_key_at_handshake_raises_authentication_error(fake, status):
    fake.reject_status = status
    with pytest.raises(AuthenticationError, match=f"HTTP {status}.*OPENAI_API_KEY") as info:
        await fake.engine().connect(config())
    assert info.value.code is ErrorCode.AUTH


@bounded
async def test_other_handshake_refusals_raise_connection_errors(fake):
    fake.reject_status = 429
    with pytest.raises(RateLimitError):
        await fake.engine().connect(config())
    fake.reject_status = 500
    with pytest.raises(PatterConnectionError, match="HTTP 500"):
        await fake.engine().connect(config())


@bounded
async def test_nothing_listening_raises_connection_error(fake):
    url = fake.base_url
    fake.server.close()
    await fake.server.wait_closed()
    with pytest.raises(PatterConnectionError, match="cannot connect"):
        await RealtimeEngine("sk-CANARY-test", base_url=url).connect(config())


@bounded
async def test_invalid_key_error_event_before_session_updated_is_an_auth_error(fake):
    fake.session_reply = [
        {
            "type": "error",
            "event_id": "event_9",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_api_key",
                "message": "Incorrect API key provided",
                "param": None,
                "event_id": None,
            },
        }
    ]
    with pytest.raises(AuthenticationError, match="Incorrect API key"):
        await fake.engine().connect(config())


@bounded
async def test_refused_session_configuration_is_a_config_error(fake):
    fake.session_reply = [
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "bad voice",
            },
        }
    ]
    with pytest.raises(ConfigError, match="bad voice"):
        await fake.engine().connect(config())


@bounded
async def test_no_session_updated_times_out(fake):
    fake.session_reply = []
    engine = RealtimeEngine("sk-CANARY-test", base_url=fake.base_url, connect_timeout=0.2)
    with pytest.raises(PatterConnectionError, match="did not confirm") as info:
        await engine.connect(config())
    assert info.value.code is ErrorCode.TIMEOUT


@bounded
async def test_hang_up_before_session_updated_raises_connection_error(fake):
    fake.session_reply = []
    fake.hang_up_on_session_update = True
    with pytest.raises(PatterConnectionError, match="before confirming the session"):
        await fake.engine().connect(config())


@bounded
async def test_pcm16_16000_is_refused_before_connecting(fake):
    with pytest.raises(ConfigError, match="pcm16_24000"):
        await fake.engine().connect(config(audio_format="pcm16_16000"))
    assert fake.connections == 0


@bounded
async def test_ga_model_gets_the_ga_session(fake):
    engine, peer = await connected(fake, config(GA_MODEL))
    assert peer.request_path == "/v1/realtime?model=gpt-realtime"
    assert peer.headers["Authorization"] == "Bearer sk-CANARY-test"
    assert "OpenAI-Beta" not in peer.headers
    session = peer.session_update["session"]
    assert session["type"] == "realtime"
    assert session["instructions"] == "You are a helpful phone agent."
    assert session["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "marin"}
    audio_in = session["audio"]["input"]
    assert audio_in["format"] == {"type": "audio/pcmu"}
    assert audio_in["transcription"] == {"model": "gpt-4o-transcribe", "language": "en"}
    vad = audio_in["turn_detection"]
    assert (vad["type"], vad["create_response"], vad["interrupt_response"]) == (
        "server_vad",
        True,
        False,
    )
    assert session["tools"] == [{"type": "function", **LOOKUP_ORDER}]
    assert session["tool_choice"] == "auto"
    await engine.close()


@bounded
async def test_preview_model_gets_the_beta_session(fake):
    engine, peer = await connected(fake, config(BETA_MODEL))
    assert peer.request_path == f"/v1/realtime?model={BETA_MODEL}"
    assert peer.headers["OpenAI-Beta"] == "realtime=v1"
    session = peer.session_update["session"]
    assert "audio" not in session and "type" not in session
    assert session["voice"] == "marin"
    assert session["input_audio_format"] == session["output_audio_format"] == "g711_ulaw"
    assert session["input_audio_transcription"] == {"model": "whisper-1", "language": "en"}
    assert session["turn_detection"]["interrupt_response"] is False
    assert session["tools"][0]["name"] == "lookup_order"
    await engine.close()


@pytest.mark.parametrize(
    ("audio_format", "ga", "beta"),
    [
        ("alaw_8000", {"type": "audio/pcma"}, "g711_alaw"),
        ("pcm16_24000", {"type": "audio/pcm", "rate": 24000}, "pcm16"),
    ],
)
@bounded
async def test_audio_format_is_used_both_ways(fake, audio_format, ga, beta):
    engine, peer = await connected(fake, config(GA_MODEL, audio_format=audio_format))
    audio = peer.session_update["session"]["audio"]
    assert audio["input"]["format"] == audio["output"]["format"] == ga
    await engine.close()
    engine, peer = await connected(fake, config(BETA_MODEL, audio_format=audio_format))
    assert peer.session_update["session"]["output_audio_format"] == beta
    await engine.close()


@bounded
async def test_the_config_object_makes_a_working_engine(fake):
    engine = Realtime(api_key="sk-CANARY-cfg", base_url=fake.base_url).create_engine()
    await engine.connect(config())
    peer = await fake.peers.get()
    assert peer.headers["Authorization"] == "Bearer sk-CANARY-cfg"
    await engine.close()


# --- the conversation ---------------------------------------------------------------------


@bounded
async def test_caller_audio_goes_out_as_base64_appends(fake):
    engine, peer = await connected(fake)
    caller = bytes(range(160))
    await engine.send_audio(caller)
    await engine.send_audio(b"")
    message = await peer.next_message()
    assert message["type"] == "input_audio_buffer.append"
    assert base64.b64decode(message["audio"]) == caller
    await engine.close()
    assert peer.pending() == []


@pytest.mark.parametrize("beta", [False, True])
@bounded
async def test_agent_audio_and_transcripts_come_back(fake, beta):
    engine, peer = await connected(fake, config(BETA_MODEL if beta else GA_MODEL))
    events = engine.events()
    transcript_done = (
        "response.audio_transcript.done" if beta else ("response.output_audio_transcript.done")
    )
    await peer.send(
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": "in_1"},
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "in_1"},
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "in_1",
            "content_index": 0,
            "transcript": "Where is my order?",
        },
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        audio_delta("item_1", b"\x7f" * 160, beta=beta),
        {
            "type": transcript_done,
            "item_id": "item_1",
            "content_index": 0,
            "transcript": "Let me check.",
        },
        {
            "type": "response.done",
            "response": {"id": "resp_1", "status": "completed", "output": [], "usage": USAGE},
        },
    )
    got = await collect(events, 6)
    assert got == [
        SpeechStarted(),
        SpeechStopped(),
        UserTranscript("Where is my order?"),
        AgentAudio("item_1", b"\x7f" * 160),
        AgentTranscript("item_1", "Let me check."),
        ResponseDone(
            "completed",
            RealtimeUsage(
                audio_input=476,
                audio_output=23,
                text_input=313,
                text_output=9,
                cached_audio_input=384,
                cached_text_input=256,
            ),
        ),
    ]
    await engine.close()


def transcription_delta(item_id: str, delta: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.delta",
        "item_id": item_id,
        "content_index": 0,
        "delta": delta,
    }


@pytest.mark.parametrize("wanted", [True, False])
@bounded
async def test_caller_transcription_deltas_become_partials_only_when_wanted(fake, wanted):
    engine, peer = await connected(fake, config(stream_partial_transcripts=wanted))
    events = engine.events()
    await peer.send(
        transcription_delta("in_1", "Where"),
        transcription_delta("in_2", " "),  # nothing said yet: no partial
        transcription_delta("in_1", " is my"),
        transcription_delta("in_1", " order?"),
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "in_1",
            "content_index": 0,
            "transcript": "Where is my order?",
        },
    )
    got = await collect(events, 4 if wanted else 1)
    partials = [UserTranscriptPartial(t) for t in ("Where", "Where is my", "Where is my order?")]
    assert got == [*(partials if wanted else []), UserTranscript("Where is my order?")]
    assert engine._heard_so_far == ({"in_2": " "} if wanted else {})  # finished ones forgotten
    await engine.close()


@bounded
async def test_response_done_without_usage_has_none(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send({"type": "response.done", "response": {"id": "r", "status": "cancelled"}})
    assert await anext(events) == ResponseDone("cancelled", None)
    await engine.close()


@bounded
async def test_tool_call_round_trip(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(
        {
            "type": "response.function_call_arguments.done",
            "event_id": "event_5",
            "response_id": "resp_1",
            "item_id": "fc_1",
            "output_index": 0,
            "call_id": "call_42",
            "name": "lookup_order",
            "arguments": '{"order_id": "A7"}',
        }
    )
    assert await anext(events) == ToolCallRequest("call_42", "lookup_order", '{"order_id": "A7"}')
    await engine.send_tool_result("call_42", '{"status": "shipped"}')
    assert await peer.next_message() == {
        "type": "conversation.item.create",
        "item": {
            "type": "function_call_output",
            "call_id": "call_42",
            "output": '{"status": "shipped"}',
        },
    }
    assert await peer.next_message() == {"type": "response.create"}
    await engine.close()


@bounded
async def test_user_text_and_say(fake):
    engine, peer = await connected(fake)
    await engine.send_user_text("[DTMF: 5]")
    item = (await peer.next_message())["item"]
    assert item == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "[DTMF: 5]"}],
    }
    assert await peer.next_message() == {"type": "response.create"}
    await engine.say("Hello, this is Patter.")
    assert await peer.next_message() == {
        "type": "response.create",
        "response": {"instructions": VERBATIM_PREFIX + "Hello, this is Patter."},
    }
    await engine.close()


@bounded
async def test_barge_in_cancels_and_truncates_to_the_audio_received(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        audio_delta("item_a", b"\xff" * 800),
        audio_delta("item_a", b"\xff" * 800),
    )
    await collect(events, 2)
    # The session thinks 5 s were played, but only 1600 μ-law bytes (200 ms) ever arrived.
    await engine.interrupt("item_a", 5000)
    assert await peer.next_message() == {"type": "response.cancel"}
    assert await peer.next_message() == {
        "type": "conversation.item.truncate",
        "item_id": "item_a",
        "content_index": 0,
        "audio_end_ms": 200,
    }
    # Audio of the interrupted item still in flight is not played; the next item is.
    await peer.send(audio_delta("item_a", b"\xff" * 160), audio_delta("item_b", b"\x01" * 160))
    assert await anext(events) == AgentAudio("item_b", b"\x01" * 160)
    await engine.close()


@bounded
async def test_barge_in_keeps_a_shorter_played_time_and_skips_what_it_cannot_do(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(audio_delta("item_a", b"\xff" * 1600))
    await anext(events)
    # No response.created seen: nothing to cancel; 120 ms played of 200 ms received.
    await engine.interrupt("item_a", 120)
    assert await peer.next_message() == {
        "type": "conversation.item.truncate",
        "item_id": "item_a",
        "content_index": 0,
        "audio_end_ms": 120,
    }
    await engine.interrupt("unknown_item", 50)
    await engine.interrupt("", 50)
    await engine.close()
    assert peer.pending() == []


@bounded
async def test_unknown_and_malformed_events_are_skipped(fake, caplog):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(
        {"type": "rate_limits.updated", "rate_limits": []},
        {"type": "conversation.item.added", "item": {"id": "x"}},
        "this is not json",
        "[1, 2]",
        {"no_type": True},
        {"type": "response.function_call_arguments.done", "call_id": "c"},
        {"type": "response.output_audio.delta", "item_id": "i", "delta": "%%%not base64%%%"},
        {"type": "response.output_audio.delta", "delta": "AAAA"},
        {
            "type": "response.done",
            "response": {
                "status": "completed",
                "usage": {"input_tokens": -1, "input_token_details": []},
            },
        },
        {"type": "input_audio_buffer.speech_started", "item_id": "in_2", "audio_start_ms": 5},
    )
    assert await collect(events, 2) == [ResponseDone("completed", None), SpeechStarted()]
    assert "malformed 'response.function_call_arguments.done'" in caplog.text
    await engine.close()


@bounded
async def test_non_fatal_error_is_reported_and_the_session_goes_on(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": "x",
            },
        },
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "audio_end_ms too big",
            },
        },
        {"type": "input_audio_buffer.speech_stopped", "item_id": "in_1", "audio_end_ms": 1},
    )
    assert await collect(events, 2) == [
        EngineError("audio_end_ms too big", fatal=False, code="invalid_value"),
        SpeechStopped(),
    ]
    await engine.close()


@bounded
async def test_fatal_error_ends_the_session(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "session_expired",
                "message": "Your session hit the maximum duration of 30 minutes.",
            },
        },
        {"type": "input_audio_buffer.speech_started", "item_id": "late"},
    )
    fatal, closed = await collect(events, 2)
    assert fatal == EngineError(
        "Your session hit the maximum duration of 30 minutes.", fatal=True, code="session_expired"
    )
    assert isinstance(closed, EngineClosed)
    assert "maximum duration" in closed.error
    assert closed.details == {"error_code": "session_expired"}
    with pytest.raises(StopAsyncIteration):
        await anext(events)
    await engine.close()


# --- the end ------------------------------------------------------------------------------


@bounded
async def test_dropped_socket_ends_with_one_closed_event_carrying_the_error(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.send(audio_delta("item_1", b"\x00" * 160))
    peer.ws.transport.abort()
    got = [event async for event in events]
    assert got[0] == AgentAudio("item_1", b"\x00" * 160)
    assert len(got) == 2 and isinstance(got[1], EngineClosed)
    assert "closed unexpectedly" in got[1].error
    await engine.send_audio(b"\x00" * 160)  # dropped quietly: events() already said why
    await engine.close()


@bounded
async def test_server_closing_the_session_is_unexpected_too(fake):
    engine, peer = await connected(fake)
    events = engine.events()
    await peer.ws.close(1011, "internal error")
    (closed,) = [event async for event in events]
    assert closed.error and closed.details == {"close_code": 1011, "close_reason": "internal error"}


@bounded
async def test_our_close_ends_events_cleanly_and_is_idempotent(fake):
    engine, _ = await connected(fake)
    events = engine.events()
    pending = asyncio.ensure_future(anext(events))
    await engine.close()
    await engine.close()
    assert await pending == EngineClosed()
    with pytest.raises(StopAsyncIteration):
        await anext(events)
    await engine.send_audio(b"\x00")
    await engine.say("dropped")
    with pytest.raises(RuntimeError, match="only once"):
        engine.events()


@bounded
async def test_commands_before_connect_say_to_connect_first():
    engine = RealtimeEngine("sk-CANARY-test")
    with pytest.raises(RuntimeError, match="connect"):
        await engine.send_audio(b"\x00")
    with pytest.raises(RuntimeError, match="connect"):
        engine.events()
    await engine.close()
