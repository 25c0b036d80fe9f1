"""The real ConvAIEngine against loopback servers playing ElevenLabs' side.

A scripted WebSocket server sends exact message sequences (turn ends, interruptions, late
audio, malformed messages); the sandbox's fake ConvAI server covers signed URLs and refusals.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from getpatter import ElevenLabsConvAI
from getpatter.engines.base import (
    AgentAudio,
    AgentInterrupted,
    AgentTranscript,
    EngineClosed,
    EngineConfig,
    EngineError,
    EngineEvent,
    ResponseDone,
    SpeechStopped,
    ToolCallRequest,
    UserTranscript,
)
from getpatter.engines.elevenlabs.engine import ConvAIEngine, client_data
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    InputValidationError,
    PatterConnectionError,
)
from getpatter.testing.fake_convai import FakeConvAIServer

KEY = "el-CANARY-engine"
METADATA = {
    "type": "conversation_initiation_metadata",
    "conversation_initiation_metadata_event": {
        "conversation_id": "conv_1",
        "agent_output_audio_format": "ulaw_8000",
        "user_input_audio_format": "ulaw_8000",
    },
}
TOOL = {"name": "check_price", "description": "Price", "parameters": {"type": "object"}}

Script = Callable[[ServerConnection], Awaitable[None]]


def config(**options: Any) -> EngineConfig:
    return EngineConfig(
        **{"instructions": "Be brief.", "voice": "", "model": "", "tools": (TOOL,), **options}
    )


def audio(event_id: int, payload: bytes = b"\x01" * 160) -> str:
    event = {"audio_base_64": base64.b64encode(payload).decode(), "event_id": event_id}
    return json.dumps({"type": "audio", "audio_event": event})


def message(kind: str, key: str, **fields: Any) -> str:
    return json.dumps({"type": kind, key: fields})


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[str]:
    """A WebSocket server that confirms the conversation, then runs ``script``; its base URL."""

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # conversation_initiation_client_data
        await ws.send(json.dumps(METADATA))
        await script(ws)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def run(script: Script, *, quiet: float = 5.0) -> list[EngineEvent]:
    """Every event of one conversation the script plays, up to its EngineClosed."""
    async with scripted(script) as base_url:
        engine = ConvAIEngine(agent_id="agent_1", base_url=base_url, turn_quiet=quiet)
        await engine.connect(config())
        async with asyncio.timeout(10):
            return [event async for event in engine.events()]


def test_the_config_reads_its_environment_and_checks_its_values(monkeypatch) -> None:
    monkeypatch.setenv("ELEVENLABS_AGENT_ID", "agent_env")
    monkeypatch.setenv("ELEVENLABS_BASE_URL", "https://api.eu.residency.elevenlabs.io/")
    engine = ElevenLabsConvAI()
    assert engine.agent_id == "agent_env"
    assert engine.base_url == "https://api.eu.residency.elevenlabs.io"
    assert ElevenLabsConvAI.for_twilio().audio_formats == ("ulaw_8000",)
    assert ElevenLabsConvAI.for_telnyx().audio_formats == ("pcm16_16000",)
    with pytest.raises(ConfigError, match="must be the agent's format on ElevenLabs"):
        ElevenLabsConvAI(audio_format="mp3_44100")
    with pytest.raises(InputValidationError, match="must be an http"):
        ElevenLabsConvAI(base_url="ftp://example.com")
    monkeypatch.delenv("ELEVENLABS_AGENT_ID")
    with pytest.raises(ConfigError, match="set ELEVENLABS_AGENT_ID"):
        ElevenLabsConvAI().factory()
    assert ElevenLabsConvAI(agent_id="a").factory().name == "ElevenLabs ConvAI"


def test_client_data_carries_only_what_the_user_set() -> None:
    assert client_data(config(has_system_prompt=False), "") == {
        "type": "conversation_initiation_client_data"
    }
    data = client_data(
        config(greeting="Hi Jane.", language="it", variables={"name": "Jane"}), "voice_1"
    )
    assert data["conversation_config_override"] == {
        "agent": {"first_message": "Hi Jane.", "language": "it", "prompt": {"prompt": "Be brief."}},
        "tts": {"voice_id": "voice_1"},
    }
    assert data["dynamic_variables"] == {"name": "Jane"}


async def test_a_turn_ends_at_the_next_transcript_and_keeps_its_text() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(message("agent_response", "agent_response_event", agent_response="Hi."))
        await ws.send(audio(1))
        await ws.send(audio(2))
        await ws.send(
            message("user_transcript", "user_transcription_event", user_transcript="Hours?")
        )
        await ws.send(message("user_transcript", "user_transcription_event", user_transcript=" "))
        await ws.close()

    events = await run(script)
    assert events == [
        AgentAudio("convai-1", b"\x01" * 160),
        AgentAudio("convai-1", b"\x01" * 160),
        AgentTranscript("convai-1", "Hi."),
        ResponseDone(status="completed"),
        SpeechStopped(),
        UserTranscript("Hours?"),  # the blank transcript after it is not a turn
        EngineClosed(finished=True),
    ]


async def test_a_turn_whose_audio_pauses_ends_on_its_own() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(audio(1))
        await ws.send(message("agent_response", "agent_response_event", agent_response="Hi."))
        await asyncio.sleep(0.3)
        await ws.close(1011, "boom")

    events = await run(script, quiet=0.1)
    assert events[:3] == [
        AgentAudio("convai-1", b"\x01" * 160),
        AgentTranscript("convai-1", "Hi."),  # the text that came after its first audio
        ResponseDone(status="completed"),
    ]
    closed = events[3]
    assert isinstance(closed, EngineClosed) and not closed.finished
    assert "close code 1011" in closed.error


async def test_an_interruption_drops_earlier_audio_and_the_correction_is_the_transcript() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(message("agent_response", "agent_response_event", agent_response="A B C."))
        await ws.send(audio(1))
        await ws.send(message("interruption", "interruption_event", event_id=2))
        await ws.send(audio(2))  # sent before the interruption reached ElevenLabs: dropped
        await ws.send(
            message(
                "agent_response_correction",
                "agent_response_correction_event",
                original_agent_response="A B C.",
                corrected_agent_response="A",
            )
        )
        await ws.send(audio(3, b"\x02" * 160))  # the next turn
        await ws.send(message("agent_response", "agent_response_event", agent_response="Yes?"))
        await ws.close()

    events = await run(script)
    assert events == [
        AgentAudio("convai-1", b"\x01" * 160),
        AgentInterrupted("convai-1"),
        AgentTranscript("convai-1", "A", generated_chars=len("A B C.")),  # 5 not heard
        ResponseDone(status="cancelled"),
        AgentAudio("convai-2", b"\x02" * 160),
        AgentTranscript("convai-2", "Yes?"),
        ResponseDone(status="completed"),
        EngineClosed(finished=True),
    ]


async def test_malformed_messages_are_skipped_and_pings_answered() -> None:
    pongs: list[Any] = []

    async def script(ws: ServerConnection) -> None:
        await ws.send("not json")
        await ws.send("[1, 2]")
        await ws.send(json.dumps({"type": "audio", "audio_event": {"audio_base_64": "***"}}))
        await ws.send(json.dumps({"type": "audio", "audio_event": "nope"}))
        await ws.send(json.dumps({"type": "vad_score", "vad_score_event": {"vad_score": 0.1}}))
        await ws.send(message("ping", "ping_event", event_id=7, ping_ms=None))
        pongs.append(json.loads(await ws.recv()))
        await ws.close()

    assert await run(script) == [EngineClosed(finished=True)]
    assert pongs == [{"type": "pong", "event_id": 7}]


async def test_client_tools_known_run_and_unknown_are_refused_with_an_error() -> None:
    results: list[Any] = []

    async def script(ws: ServerConnection) -> None:
        call = {"tool_name": "check_price", "tool_call_id": "t1", "parameters": {"s": "x"}}
        await ws.send(json.dumps({"type": "client_tool_call", "client_tool_call": call}))
        unknown = {"tool_name": "launch", "tool_call_id": "t2", "parameters": {}}
        await ws.send(json.dumps({"type": "client_tool_call", "client_tool_call": unknown}))
        results.append(json.loads(await ws.recv()))
        await ws.close()

    events = await run(script)
    assert events[0] == ToolCallRequest(call_id="t1", name="check_price", arguments='{"s": "x"}')
    error = events[1]
    assert isinstance(error, EngineError) and not error.fatal and error.code == "unknown_tool"
    assert "'launch'" in error.message and "add it to tools=" in error.message
    assert results[0]["tool_call_id"] == "t2" and results[0]["is_error"] is True


async def test_commands_use_the_conversation_messages() -> None:
    received: list[Any] = []
    done = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        for _ in range(5):
            received.append(json.loads(await ws.recv()))
        done.set()
        await ws.wait_closed()

    async with scripted(script) as base_url:
        engine = ConvAIEngine(agent_id="agent_1", base_url=base_url)
        await engine.connect(config())
        await engine.send_audio(b"\xff" * 160)
        await engine.send_user_text("[DTMF: 5]")
        await engine.instruct("Offer a callback.")
        await engine.send_tool_result("t1", '{"price": 80}')
        await engine.send_tool_result("t2", '{"error": "no such order"}')
        with pytest.raises(ConfigError, match="cannot be made to say a text verbatim"):
            await engine.say("Hello.")
        async with asyncio.timeout(5):
            await done.wait()
        await engine.close()
    assert received == [
        {"user_audio_chunk": base64.b64encode(b"\xff" * 160).decode()},
        {"type": "user_message", "text": "[DTMF: 5]"},
        {"type": "contextual_update", "text": "Offer a callback."},
        {"type": "client_tool_result", "tool_call_id": "t1", "result": '{"price": 80}',
         "is_error": False},
        {"type": "client_tool_result", "tool_call_id": "t2",
         "result": '{"error": "no such order"}', "is_error": True},
    ]  # fmt: skip


async def test_signed_urls_and_refusals_name_the_fix() -> None:
    async with FakeConvAIServer(api_key=KEY) as fake:
        fake.add_agent("agent_private", private=True)

        async def connect(agent_id: str, api_key: str) -> ConvAIEngine:
            engine = ConvAIEngine(agent_id=agent_id, base_url=fake.base_url, api_key=api_key)
            await engine.connect(config(has_system_prompt=False))
            return engine

        engine = await connect("agent_private", KEY)
        assert engine.conversation_id and fake.conversations[0].signed
        await engine.close()
        with pytest.raises(AuthenticationError, match="ELEVENLABS_API_KEY"):
            await connect("agent_private", "el-CANARY-wrong")
        with pytest.raises(AuthenticationError, match="a private agent needs"):
            await connect("agent_private", "")
        with pytest.raises(ConfigError, match=r"no agent 'agent_nobody'.*ELEVENLABS_AGENT_ID"):
            await connect("agent_nobody", "")
        fake.fail_next_connect(503)
        with pytest.raises(PatterConnectionError, match="HTTP 503"):
            await connect("agent_private", KEY)


async def test_an_agent_in_a_format_no_phone_line_carries_is_refused() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        event = {**METADATA["conversation_initiation_metadata_event"]}
        event["agent_output_audio_format"] = "pcm_44100"
        await ws.send(
            json.dumps(
                {"type": "conversation_initiation_metadata",
                 "conversation_initiation_metadata_event": event}
            )
        )  # fmt: skip
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        engine = ConvAIEngine(agent_id="a", base_url=f"http://127.0.0.1:{port}")
        with pytest.raises(ConfigError, match="agent output audio format is 'pcm_44100'"):
            await engine.connect(config())
