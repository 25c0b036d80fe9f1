"""getpatter-mcp with ``PATTER_ENGINE=elevenlabs_convai``: calls on an ElevenLabs ConvAI agent.

The official ``mcp.Client`` drives servers built from the settings, as ``getpatter-mcp`` builds
them: in-process in both protocol eras (``legacy`` is the 2025-11-25 handshake, ``auto``
negotiates 2026-07-28), and as the real command over stdio. Sandbox calls reach the sandbox's
fake ConvAI server; the live one goes through the Twilio simulator to a private agent on a
fake ConvAI server reached with a signed URL. Calls take about six seconds (15 ms a character).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio
from conftest import stdio_params
from fake_cloudflared import free_port
from mcp import Client
from mcp.types import CallToolResult, TextContent

from getpatter.control import CallService
from getpatter.testing.fake_convai import FakeConvAIServer
from getpatter.testing.fake_convai.records import FakeConversation
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario
from getpatter.testing.twilio_simulator import TwilioSimulator
from getpatter_mcp import build_server
from getpatter_mcp.config import DEFAULT_SYSTEM_PROMPT, build_service, load_config

pytestmark = pytest.mark.asyncio(loop_scope="module")

ERAS = pytest.mark.parametrize("era", ["legacy", "auto"])
CONVAI = {
    "PATTER_ENGINE": "elevenlabs_convai",
    "ELEVENLABS_AGENT_ID": "agent_mcp_calls",
    "PATTER_VOICE": "21m00Tcm4TlvDq8ikWAM",
}
SANDBOX = {
    **CONVAI,
    "PATTER_SANDBOX_MS_PER_CHAR": "15",
    "PATTER_MAX_CONCURRENT_CALLS": "20",
    "PATTER_MAX_CALLS_PER_DAY": "500",
}


def number(era: str, line: int) -> str:
    """A sandbox number that answers, different for each test and era."""
    return f"+1555020{line:02d}{0 if era == 'legacy' else 1}1"


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def conversation_of(service: CallService, goal: str) -> FakeConversation:
    """The fake ConvAI conversation of the call placed with ``goal`` (each test has its own)."""
    found = [c for c in service.line.sandbox.convai.conversations if goal in c.prompt]
    assert len(found) == 1, [c.prompt for c in service.line.sandbox.convai.conversations]
    return found[0]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> Any:
    service = build_service(load_config(SANDBOX))
    await service.start()
    yield service
    await service.aclose()


@pytest.fixture(scope="module")
def server(service: CallService) -> Any:
    return build_server(service)


@ERAS
async def test_make_call_talks_through_the_elevenlabs_agent_until_the_call_completes(
    server, service, era
) -> None:
    goal = f"Confirm Friday's delivery ({era})"
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    arguments = {"to": number(era, 1), "goal": goal, "wait_seconds": 25}
    async with asyncio.timeout(35), Client(server, mode=era) as client:
        result = await client.call_tool("make_call", arguments, progress_callback=on_progress)
    assert not result.is_error, text(result)
    call = result.structured_content
    assert call is not None
    assert (call["mode"], call["status"], call["to"]) == ("sandbox", "completed", number(era, 1))
    transcript = call["transcript"]
    assert [line["role"] for line in transcript][:3] == ["agent", "user", "agent"]
    assert transcript[0]["text"] == "Hi, this is an AI assistant calling."
    assert transcript[1]["text"] == "Hi. Sure, go ahead."
    assert progress[0] == "ringing" and progress[-1] == "completed"
    # The agent on ElevenLabs got the call's goal, opening line and voice as overrides.
    conversation = conversation_of(service, goal)
    assert conversation.agent_id == "agent_mcp_calls"
    assert DEFAULT_SYSTEM_PROMPT in conversation.prompt
    assert conversation.prompt.endswith(f"The goal of this call: {goal}")
    assert conversation.first_message == "Hi, this is an AI assistant calling."
    assert conversation.voice_id == "21m00Tcm4TlvDq8ikWAM"
    assert service.line.sandbox.openai.sessions == []


@ERAS
async def test_say_is_refused_naming_the_engine_and_instruct_reaches_the_agent(
    server, service, era
) -> None:
    goal = f"Book a table ({era})"
    async with asyncio.timeout(30), Client(server, mode=era) as client:
        placed = await client.call_tool(
            "make_call", {"to": number(era, 2), "goal": goal, "wait_seconds": 0}
        )
        assert placed.structured_content is not None, text(placed)
        call_id = placed.structured_content["call_id"]
        simulated = service.line.sandbox.twilio.get_call(call_id)
        await simulated.wait_until(lambda call: call.heard_ms > 200)
        said = await client.call_tool("say", {"call_id": call_id, "text": "Your table is ready."})
        told = await client.call_tool(
            "instruct", {"call_id": call_id, "instruction": "Ask for a table by the window."}
        )
        ended = await client.call_tool("wait_for_call", {"call_id": call_id})
    assert said.is_error
    assert text(said).endswith(
        "the ElevenLabs ConvAI engine cannot speak a text verbatim: use instruct to have the "
        "agent say it in its own words"
    )
    assert not told.is_error, text(told)
    assert told.structured_content is not None
    conversation = conversation_of(service, goal)
    assert conversation.contextual_updates == ["Ask for a table by the window."]
    spoken = [reply.text for reply in conversation.replies]
    assert "Your table is ready." not in spoken  # nothing else was done with the text
    assert ended.structured_content is not None and ended.structured_content["status"] == (
        "completed"
    )
    refused = [e for e in await service.audit.entries() if e.tool == "say" and e.call_id == call_id]
    assert [(e.outcome, e.client) for e in refused] == [("error", "mcp")]


@ERAS
async def test_a_voicemail_message_is_refused_before_anything_is_dialed(
    server, service, era
) -> None:
    arguments = {"to": number(era, 3), "voicemail_message": "Please call us back."}
    async with asyncio.timeout(10), Client(server, mode=era) as client:
        made = await client.call_tool("make_call", arguments)
        planned = await client.call_tool("plan_call", arguments)
    for result in (made, planned):
        assert result.is_error
        assert "ElevenLabs ConvAI engine cannot leave a voicemail_message" in text(result)
    assert [c for c in service.line.sandbox.twilio.calls if c.to == number(era, 3)] == []


async def test_the_command_runs_sandbox_calls_on_convai_when_told() -> None:
    async with asyncio.timeout(60), Client(stdio_params(**CONVAI), mode="legacy") as client:
        result = await client.call_tool(
            "make_call", {"to": "+15550101234", "goal": "Confirm Friday", "wait_seconds": 40}
        )
        said = await client.call_tool("say", {"call_id": "CAany", "text": "Hello"})
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert result.structured_content["status"] == "completed"
    assert said.is_error and "ElevenLabs ConvAI" in text(said)


async def test_a_live_call_reaches_a_private_elevenlabs_agent_through_the_carrier() -> None:
    person = "+15550104321"
    scenario = Scenario(
        callee=Callee(
            number=person,
            steps=(
                Say("Hello, who is this?", pause_ms=800, duration_ms=300),
                HangUp(pause_ms=2000),
            ),
        ),
        replies=(Reply("I'm calling about your order."),),
        ms_per_char=15,
    )
    key = "xi-CANARY-live-key"
    async with (
        asyncio.timeout(40),
        TwilioSimulator() as carrier,
        FakeConvAIServer(scenario, api_key=key) as convai,
    ):
        convai.add_agent(
            "agent_live",
            private=True,
            allow_overrides=("agent.first_message", "agent.prompt.prompt", "tts.voice_id"),
        )
        carrier.add_number("+15550009999")
        carrier.callee_for(person, scenario.callee)
        port = free_port()
        env = {
            "TWILIO_ACCOUNT_SID": carrier.account_sid,
            "TWILIO_AUTH_TOKEN": carrier.auth_token,
            "TWILIO_BASE_URL": carrier.base_url,
            "TWILIO_PHONE_NUMBER": "+15550009999",
            "PATTER_WEBHOOK_URL": f"127.0.0.1:{port}",
            "PATTER_HOST": "127.0.0.1",
            "PATTER_PORT": str(port),
            "PATTER_ALLOWED_PREFIXES": "+1555",
            "PATTER_AUDIT_DB": ":memory:",
            **CONVAI,
            "ELEVENLABS_AGENT_ID": "agent_live",
            "ELEVENLABS_API_KEY": key,
            "ELEVENLABS_BASE_URL": convai.base_url,
        }
        service = build_service(load_config(env))
        try:
            async with Client(build_server(service), mode="auto") as client:
                result = await client.call_tool(
                    "make_call", {"to": person, "goal": "Confirm the order", "wait_seconds": 30}
                )
        finally:
            await service.aclose()
    assert not result.is_error, text(result)
    call = result.structured_content
    assert call is not None
    assert (call["mode"], call["status"]) == ("live", "completed")
    assert [(line["role"], line["text"]) for line in call["transcript"]][:3] == [
        ("agent", "Hi, this is an AI assistant calling."),
        ("user", "Hello, who is this?"),
        ("agent", "I'm calling about your order."),
    ]
    (conversation,) = convai.conversations
    assert conversation.signed  # a private agent, reached by a signed URL fetched with the key
    assert conversation.prompt.endswith("The goal of this call: Confirm the order")
    assert conversation.voice_id == "21m00Tcm4TlvDq8ikWAM"
