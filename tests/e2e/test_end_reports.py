"""End reports tell the truth: a call whose agent could not speak or think is not "completed"."""

from __future__ import annotations

import asyncio

import pytest

import getpatter.session.health as health
from getpatter import DeepgramSTT, ElevenLabsTTS, OpenAILLM
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

GREETING = "Hello, Bright Smile Dental."


def two_turns() -> Scenario:
    return Scenario(
        callee=Callee(
            steps=(
                Say("When are you open?", pause_ms=1200),
                Say("Hello?", pause_ms=1500),
                HangUp(pause_ms=1500),
            )
        ),
        replies=(Reply("We open at nine."), Reply("Yes, I am here.")),
    )


def pipeline_agent(sandbox: Sandbox):
    return sandbox.phone.agent(
        "You are the receptionist.",
        stt=DeepgramSTT(api_key="dg-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        llm=OpenAILLM(api_key="sk-CANARY"),
        first_message=GREETING,
    )


def lines(report: dict) -> list[tuple[str, str]]:
    return [(line["role"], line["text"]) for line in report["transcript"]]


async def test_every_tts_request_failing_is_an_error_and_no_unheard_line_is_in_the_transcript(
    carrier,
):
    async with Sandbox(two_turns(), carrier=carrier) as sandbox:
        for _ in range(10):
            sandbox.elevenlabs.fail_next(500)
        await sandbox.serve(pipeline_agent(sandbox))
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error"
    assert report["error"].startswith("the agent could not answer: tts:")
    assert lines(report) == [("user", "When are you open?"), ("user", "Hello?")]
    assert {e["source"] for e in report["errors"]} == {"tts"}
    assert report["error_count"] == len(report["errors"]) == 3  # greeting and two turns
    assert call.simulated.heard_ms == 0


async def test_the_llm_refusing_every_turn_is_an_error_with_each_failure_counted(carrier):
    async with Sandbox(two_turns(), carrier=carrier) as sandbox:
        await sandbox.serve(pipeline_agent(sandbox))
        sandbox.llm.fail_next(429, times=10)
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error"
    assert "llm:" in report["error"]
    assert lines(report) == [
        ("assistant", GREETING),  # spoken verbatim: no LLM needed
        ("user", "When are you open?"),
        ("user", "Hello?"),
    ]
    assert [e["source"] for e in report["errors"]] == ["llm", "llm"]


async def test_a_failure_the_agent_recovers_from_is_completed_with_the_error_counted(carrier):
    async with Sandbox(two_turns(), carrier=carrier) as sandbox:
        await sandbox.serve(pipeline_agent(sandbox))
        sandbox.llm.fail_next(500)
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "completed" and report["error"] is None
    assert report["error_count"] == 1 and report["errors"][0]["source"] == "llm"
    assert lines(report)[-1] == ("assistant", "Yes, I am here.")  # the reply to turn two


async def test_a_realtime_session_that_goes_silent_is_an_error(
    carrier, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(health, "REPLY_TIMEOUT", 1.0)
    scenario = Scenario(
        callee=Callee(steps=(Say("Hello?", pause_ms=1500), HangUp(pause_ms=1500))),
        replies=(Reply("Hi there."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are a receptionist.", first_message=GREETING))
        sandbox.openai.silence_next()
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error"
    assert report["error"] == "the agent could not answer: the AI did not answer within 1 s"
    assert [e["message"] for e in report["errors"]] == ["the AI did not answer within 1 s"]
    assert lines(report) == []


async def test_the_caller_hanging_up_while_the_ai_connects_is_an_error(carrier):
    scenario = Scenario(callee=Callee(steps=(HangUp(pause_ms=300),)))
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are a receptionist.", first_message=GREETING))
        sandbox.openai.delay_next_session(3.0)
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error"
    assert report["ended_by"] == "caller"
    assert report["error"] == "the caller hung up while the AI connection was being set up"


async def test_a_media_frame_over_the_size_limit_ends_the_call_as_an_error(carrier):
    scenario = Scenario(
        callee=Callee(steps=(Say("Are you there?", pause_ms=1500), HangUp(pause_ms=4000))),
        replies=(Reply("Yes, I am here."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are a receptionist.", first_message=GREETING))
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await call.simulated.wait_until(lambda c: bool(c.streams))
        await asyncio.sleep(0.2)
        huge = '{"event": "media", "media": {"payload": "' + "A" * (1024 * 1024) + '"}}'
        await call.simulated.send_raw(huge)
        report = await call.ended()
    assert report["outcome"] == "error"
    assert report["malformed_frames"] == 1
    assert [e["source"] for e in report["errors"]] == ["media"]
    assert "over the size limit" in report["error"]
    assert call.simulated.hangup_by == "app"
