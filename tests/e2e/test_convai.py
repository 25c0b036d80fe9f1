"""ElevenLabs ConvAI calls through the sandbox: what only this engine does, and its faults.

The flows every engine shares (calls in and out, tools, transfers, keys) run for ConvAI too,
through the ``engine`` fixture of the other end-to-end tests.
"""

from __future__ import annotations

import asyncio

import pytest

import getpatter.session.health as health
from getpatter import ElevenLabsConvAI
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario, ToolCall

GREETING = "Hello, Bright Smile Dental."
KEY = "el-CANARY"


def convai(**options) -> ElevenLabsConvAI:
    return ElevenLabsConvAI(**{"api_key": KEY, "agent_id": "agent_e2e", **options})


def agent(sandbox: Sandbox, engine: ElevenLabsConvAI | None = None, **kwargs):
    options = {"first_message": GREETING, **kwargs}
    return sandbox.phone.agent("You are the receptionist.", engine=engine or convai(), **options)


def one_question() -> Scenario:
    return Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=2500))),
        replies=(Reply("We are open nine to five."),),
    )


def lines(report) -> list[tuple[str, str]]:
    return [(e["role"], e["text"]) for e in report["transcript"]]


async def test_a_private_agent_gets_its_overrides_and_variables_through_a_signed_url(carrier):
    async with Sandbox(one_question(), carrier=carrier) as sandbox:
        await sandbox.serve(
            agent(
                sandbox,
                convai(voice="voice_jane"),
                first_message="Hi {name}, Bright Smile here.",
                language="it",
                variables={"name": "Jane"},
            )
        )
        call = await sandbox.call_in()
        report = await call.ended()
        conversation = sandbox.convai.conversations[0]
    assert conversation.signed and "xi-api-key" not in str(conversation.client_data)
    override = conversation.client_data["conversation_config_override"]
    assert override["agent"]["first_message"] == "Hi Jane, Bright Smile here."
    assert override["agent"]["language"] == "it"
    assert override["agent"]["prompt"]["prompt"].endswith("You are the receptionist.")
    assert override["tts"] == {"voice_id": "voice_jane"}
    assert conversation.dynamic_variables == {"name": "Jane"}
    assert conversation.voice_id == "voice_jane"
    assert lines(report)[0] == ("assistant", "Hi Jane, Bright Smile here.")
    assert report["outcome"] == "completed"


async def test_a_public_agent_with_its_own_prompt_gets_no_override_it_did_not_ask_for():
    async with Sandbox(one_question()) as sandbox:
        public = ElevenLabsConvAI(agent_id="agent_public")
        await sandbox.serve(sandbox.phone.agent("", engine=public))
        call = await sandbox.call_in()
        report = await call.ended()
        conversation = sandbox.convai.conversations[0]
    assert not conversation.signed
    assert conversation.client_data == {"type": "conversation_initiation_client_data"}
    assert lines(report) == [
        ("user", "What are your hours?"),
        ("assistant", "We are open nine to five."),
    ]
    assert report["outcome"] == "completed"


async def test_an_override_the_agent_does_not_allow_is_a_clear_error_in_the_report():
    async with Sandbox(one_question()) as sandbox:
        await sandbox.start_convai()
        await sandbox.serve(agent(sandbox, language="it"))
        # The agent on ElevenLabs allows every override but the language.
        sandbox.convai.add_agent(
            "agent_e2e",
            private=True,
            allow_overrides=("agent.first_message", "agent.prompt.prompt"),
        )
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error" and call.simulated.hangup_by == "app"
    assert "does not allow overriding agent.language" in report["error"]
    assert "language=" in report["error"] and "Security settings" in report["error"]


async def test_an_agent_speaking_pcm_on_twilio_is_converted_both_ways():
    async with Sandbox(one_question()) as sandbox:
        await sandbox.serve(agent(sandbox, convai(audio_format="pcm_16000")))
        call = await sandbox.call_in()
        report = await call.ended()
        conversation = sandbox.convai.conversations[0]
    assert lines(report)[1:] == [
        ("user", "What are your hours?"),
        ("assistant", "We are open nine to five."),
    ]
    assert conversation.audio_received_ms > 1000  # the caller's audio reached it, as PCM
    assert call.simulated.heard_ms >= 1500


async def test_for_telnyx_streams_l16_end_to_end_on_telnyx():
    async with Sandbox(one_question(), carrier="telnyx") as sandbox:
        await sandbox.serve(agent(sandbox, ElevenLabsConvAI.for_telnyx(api_key=KEY, agent_id="a")))
        call = await sandbox.call_in()
        report = await call.ended()
    stream = call.simulated.streams[0]
    assert (stream.codec, stream.sample_rate, stream.bidirectional_codec) == ("L16", 16000, "L16")
    assert report["outcome"] == "completed" and lines(report)[-1][1] == "We are open nine to five."


async def test_a_tool_the_patter_agent_does_not_have_is_refused_and_reported(carrier):
    scenario = Scenario(
        callee=Callee(steps=(Say("Book me in."), HangUp(pause_ms=2500))),
        replies=(Reply("Done: {result}", tool_call=ToolCall("book_slot", {"day": "Friday"})),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox))
        call = await sandbox.call_in()
        report = await call.ended()
        conversation = sandbox.convai.conversations[0]
    (result,) = conversation.tool_results
    assert result.tool_name == "book_slot" and result.is_error
    (error,) = report["errors"]
    assert "called the client tool 'book_slot'" in error["message"]
    assert "add it to tools=" in error["message"]


async def test_pings_are_answered_mid_call():
    greeted = asyncio.Event()
    async with Sandbox(Scenario(callee=Callee(steps=(HangUp(pause_ms=3000),)))) as sandbox:
        await sandbox.serve(
            agent(sandbox),
            on_transcript=lambda data: greeted.set() if data["text"] == GREETING else None,
        )
        call = await sandbox.call_in()
        async with asyncio.timeout(10):
            await greeted.wait()
            await sandbox.convai.ping()
            await sandbox.convai.ping()
        report = await call.ended()
        pongs = sandbox.convai.conversations[0].pongs
    assert pongs == [1, 2] and report["outcome"] == "completed"


async def test_the_agent_ending_the_conversation_completes_the_call(carrier):
    greeted = asyncio.Event()

    def on_transcript(data):
        if data["text"] == GREETING:
            greeted.set()

    async with Sandbox(Scenario(callee=Callee()), carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox), on_transcript=on_transcript)
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await greeted.wait()
        await sandbox.convai.end()
        report = await call.ended()
    assert report["outcome"] == "completed" and report["ended_by"] == "agent"
    assert report["error"] is None and call.simulated.hangup_by == "app"
    assert lines(report) == [("assistant", GREETING)]


async def test_a_dropped_conversation_ends_the_call_as_an_error(carrier):
    greeted = asyncio.Event()
    async with Sandbox(Scenario(callee=Callee()), carrier=carrier) as sandbox:
        await sandbox.serve(
            agent(sandbox),
            on_transcript=lambda data: greeted.set() if data["text"] == GREETING else None,
        )
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await greeted.wait()
        await sandbox.convai.drop()
        report = await call.ended()
    assert report["outcome"] == "error" and "dropped" in report["error"]
    assert call.simulated.hangup_by == "app"


async def test_a_refused_conversation_hangs_up_and_reports_an_error(carrier):
    async with Sandbox(carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox))
        sandbox.convai.fail_next_connect(status=500)
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error" and "HTTP 500" in report["error"]
    assert call.simulated.hangup_by == "app"


async def test_a_conversation_that_goes_silent_is_an_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(health, "REPLY_TIMEOUT", 1.0)
    scenario = Scenario(
        callee=Callee(steps=(Say("Hello?", pause_ms=1500), HangUp(pause_ms=1500))),
        replies=(Reply("Hi there."),),
    )
    async with Sandbox(scenario) as sandbox:
        await sandbox.serve(agent(sandbox))
        sandbox.convai.silence_next()
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error"
    assert report["error"] == "the agent could not answer: the AI did not answer within 1 s"


async def test_the_agents_voice_reaches_elevenlabs_when_the_engine_sets_none():
    async with Sandbox(one_question()) as sandbox:
        await sandbox.serve(agent(sandbox, voice="voice_rachel"))
        report = await (await sandbox.call_in()).ended()
        conversation = sandbox.convai.conversations[0]
    assert conversation.voice_id == "voice_rachel" and report["outcome"] == "completed"
