"""Mid-call behaviour through the sandbox: barge-in, tools, transfer, hang-up, DTMF."""

import pytest

from getpatter import ElevenLabsConvAI, tool
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Press, Reply, Say, Scenario, ToolCall

GREETING = "Hello, Bright Smile Dental."
CONVAI = ElevenLabsConvAI(api_key="el-CANARY", agent_id="agent_e2e")


def agent(sandbox, **kwargs):
    return sandbox.phone.agent("You are the receptionist.", first_message=GREETING, **kwargs)


async def test_barge_in_clears_the_carrier_and_truncates_the_model(carrier):
    long_reply = (
        "Let me tell you about every single one of our many dental services in great detail. " * 2
    )
    scenario = Scenario(
        callee=Callee(
            steps=(
                Say("Tell me about your services."),
                Say("Stop, just book me in.", interrupt_after_ms=1200),
                HangUp(pause_ms=2500),
            )
        ),
        replies=(Reply(long_reply), Reply("Sure, you're booked.")),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox))
        call = await sandbox.call_in()
        report = await call.ended()
        fake = sandbox.openai.sessions[0]
    assert call.simulated.clears, "the carrier never got a clear"
    (truncation,) = fake.truncations
    full_ms = fake.responses[1].audio_ms
    assert 0 < truncation.audio_end_ms < full_ms
    assert truncation.item_id == fake.responses[1].item_id
    # What the caller heard of the long reply matches what the model was told it said.
    heard_after_greeting = call.simulated.heard_ms - fake.responses[0].audio_ms
    assert heard_after_greeting == pytest.approx(
        truncation.audio_end_ms + fake.responses[2].audio_ms, abs=100
    )
    assert report["transcript"][-1]["text"] == "Sure, you're booked."
    bargein_turns = [t for t in report["metrics"].turns if t.latency.bargein_ms is not None]
    assert len(bargein_turns) == 1 and bargein_turns[0].latency.bargein_ms > 0


async def test_convai_interruption_clears_the_carrier_and_keeps_the_heard_words(carrier):
    long_reply = (
        "Let me tell you about every single one of our many dental services in great detail. " * 2
    )
    scenario = Scenario(
        callee=Callee(
            steps=(
                Say("Tell me about your services."),
                Say("Stop, just book me in.", interrupt_after_ms=1200),
                HangUp(pause_ms=2500),
            )
        ),
        replies=(Reply(long_reply), Reply("Sure, you're booked.")),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, engine=CONVAI))
        call = await sandbox.call_in()
        report = await call.ended()
        fake = sandbox.convai.conversations[0]
    assert call.simulated.clears, "the carrier never got a clear"
    interrupted = [reply for reply in fake.replies if reply.interrupted]
    assert len(interrupted) == 1 and fake.interruptions
    heard = interrupted[0].heard
    assert heard and long_reply.startswith(heard) and len(heard) < len(long_reply.strip())
    # The transcript keeps what the caller heard of the long reply, as ElevenLabs corrected it.
    assert [(e["role"], e["text"]) for e in report["transcript"]] == [
        ("assistant", GREETING),
        ("user", "Tell me about your services."),
        ("assistant", heard),
        ("user", "Stop, just book me in."),
        ("assistant", "Sure, you're booked."),
    ]
    assert report["outcome"] == "completed" and report["error"] is None


async def test_barge_in_can_be_disabled(carrier):
    scenario = Scenario(
        callee=Callee(
            steps=(Say("Hi."), Say("Wait!", interrupt_after_ms=300), HangUp(pause_ms=3000))
        ),
        replies=(Reply("A reply long enough to be talked over by the caller."), Reply("Okay.")),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, barge_in_threshold_ms=0))
        call = await sandbox.call_in()
        await call.ended()
        assert call.simulated.clears == []
        assert sandbox.openai.sessions[0].truncations == []


async def test_a_tool_call_runs_the_handler_and_returns_its_result(carrier, engine):
    calls = []

    @tool
    async def check_price(service: str, context: dict) -> dict:
        """Price of a service."""
        calls.append((service, context["call_id"]))
        return {"price": "eighty dollars"}

    scenario = Scenario(
        callee=Callee(steps=(Say("How much is a cleaning?"), HangUp(pause_ms=3000))),
        replies=(
            Reply(
                "A cleaning is {result}.",
                tool_call=ToolCall("check_price", {"service": "cleaning"}),
            ),
        ),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, tools=[check_price], **engine))
        call = await sandbox.call_in()
        report = await call.ended()
        realtime = None if engine else sandbox.openai.sessions[0]
        convai = sandbox.convai.conversations[0] if engine else None
    assert calls == [("cleaning", call.call_id)]
    assert report["transcript"][-1]["text"] == 'A cleaning is {"price": "eighty dollars"}.'
    if realtime is not None:
        (output,) = realtime.tool_outputs
        assert output.output == '{"price": "eighty dollars"}'
        declared = [t["name"] for t in realtime.session_config["tools"]]
        assert declared == ["check_price", "transfer_call", "end_call"]
    if convai is not None:  # a client tool: its declaration lives on the ElevenLabs agent
        (result,) = convai.tool_results
        assert (result.tool_name, result.result) == ("check_price", '{"price": "eighty dollars"}')
        assert not result.is_error


async def test_transfer_tool_moves_the_call_after_the_agent_speaks(carrier, engine):
    scenario = Scenario(
        callee=Callee(steps=(Say("Can I talk to a person?"),)),
        replies=(
            Reply(
                "Connecting you now.",
                tool_call=ToolCall("transfer_call", {"number": "+15550100200"}),
            ),
        ),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, **engine))
        call = await sandbox.call_in()
        report = await call.ended()
    assert call.simulated.transferred_to == "+15550100200"
    assert report["outcome"] == "transferred" and report["ended_by"] == "agent"


async def test_hangup_from_call_control_in_a_tool(carrier, engine):
    @tool
    async def finish(context: dict) -> str:
        """End the call."""
        await context["call"].hangup()
        return "done"

    scenario = Scenario(
        callee=Callee(steps=(Say("That's all, thanks."),)),
        replies=(Reply("Goodbye!", tool_call=ToolCall("finish", {})),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, tools=[finish], **engine))
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "completed" and report["ended_by"] == "agent"
    assert call.simulated.hangup_by == "app"


async def test_end_call_system_tool_hangs_up(carrier, engine):
    scenario = Scenario(
        callee=Callee(steps=(Say("Bye now."),)),
        replies=(Reply("", tool_call=ToolCall("end_call", {"reason": "caller said goodbye"})),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, **engine))
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["ended_by"] == "agent" and call.simulated.hangup_by == "app"
    assert report["end_reason"] == "caller said goodbye"
    last = report["transcript"][-1]
    assert (last["role"], last["text"]) == ("system", "end_call: caller said goodbye")


async def test_key_presses_reach_the_model_as_dtmf_text(carrier, engine):
    scenario = Scenario(
        callee=Callee(steps=(Press("5", pause_ms=1800), HangUp(pause_ms=3000))),
        replies=(Reply("You pressed five."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, **engine))
        call = await sandbox.call_in()
        report = await call.ended()
        if engine:
            texts = sandbox.convai.conversations[0].user_messages
        else:
            texts = [
                part.get("text")
                for event in sandbox.openai.sessions[0].received
                if event["type"] == "conversation.item.create"
                for part in event["item"].get("content", [])
            ]
    assert "[DTMF: 5]" in texts
    assert report["transcript"][-1]["text"] == "You pressed five."
    assert ("user", "[DTMF: 5]") in [(e["role"], e["text"]) for e in report["transcript"]]


async def test_recording_is_started_for_inbound_calls(carrier):
    async with Sandbox(
        Scenario(callee=Callee(steps=(HangUp(pause_ms=2000),))), carrier=carrier
    ) as sandbox:
        await sandbox.serve(agent(sandbox), recording=True)
        call = await sandbox.call_in()
        await call.ended()
    assert call.simulated.recording_sid is not None
