"""Sandbox calls with SpeechmaticsSTT and CartesiaSTT: the audio stays μ-law, the turns end the
way each service works, and a dropped recognition socket is reopened mid-call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from getpatter import CartesiaSTT, ConfigError, ElevenLabsTTS, OpenAILLM, SpeechmaticsSTT
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

TURNS = [
    ("user", "When are you open?"),
    ("assistant", "We open at nine."),
    ("user", "Thanks, bye."),
    ("assistant", "Goodbye!"),
]


def two_turns() -> Scenario:
    steps = (Say("When are you open?"), Say("Thanks, bye.", pause_ms=2500), HangUp(2500))
    return Scenario(
        callee=Callee(steps=steps), replies=(Reply("We open at nine."), Reply("Goodbye!"))
    )


def agent(sandbox: Sandbox, stt: Any, **options: Any) -> Any:
    return sandbox.phone.agent(
        "You are the receptionist.",
        stt=stt,
        llm=OpenAILLM(api_key="sk-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        first_message="",
        **options,
    )


async def test_speechmatics_ends_the_turns_itself_on_untouched_mulaw() -> None:
    async with asyncio.timeout(60), Sandbox(two_turns()) as sandbox:
        await sandbox.serve(agent(sandbox, SpeechmaticsSTT(api_key="sm-CANARY")))
        report = await (await sandbox.call_in()).ended()
        session = sandbox.fake("speechmatics").sessions[0]
    assert [(t["role"], t["text"]) for t in report["transcript"]] == TURNS
    assert session.config["audio_format"] == {
        "type": "raw",
        "encoding": "mulaw",
        "sample_rate": 8000,
    }
    # No local VAD: each turn ended at Speechmatics' EndOfUtterance.
    assert [m["message"] for m in session.sent].count("EndOfUtterance") == 2
    assert "Finalize" not in session.controls
    assert report["metrics"].stt_provider == "speechmatics"


async def test_a_dropped_speechmatics_socket_is_reopened_and_the_call_goes_on() -> None:
    errors: list[dict[str, Any]] = []
    scenario = Scenario(
        callee=Callee(
            steps=(
                Say("First question?"),
                Say("Second question?", pause_ms=2500),
                Say("Third question?", pause_ms=2500),
                HangUp(pause_ms=2500),
            )
        ),
        replies=(Reply("One."), Reply("Two."), Reply("Three.")),
    )
    async with asyncio.timeout(60), Sandbox(scenario) as sandbox:
        sandbox.phone.events.on("error", errors.append)
        await sandbox.serve(agent(sandbox, SpeechmaticsSTT(api_key="sm-CANARY")))
        call = await sandbox.call_in()
        fake = sandbox.fake("speechmatics")
        await call.simulated.wait_until(lambda c: len(sandbox.llm.requests) >= 1)
        await fake.drop()
        report = await call.ended()
        sessions = fake.sessions
    assert "recognition dropped" in " | ".join(str(event.get("error")) for event in errors)
    assert report["outcome"] == "completed"
    assert len(sessions) == 2 and sessions[0].dropped and sessions[1].audio_bytes > 0
    assert ("assistant", "Three.") in [(t["role"], t["text"]) for t in report["transcript"]]


async def test_cartesia_turns_end_at_the_local_vad_which_asks_for_finalize() -> None:
    from getpatter import SileroVAD

    async with asyncio.timeout(60), Sandbox(two_turns()) as sandbox:
        await sandbox.serve(agent(sandbox, CartesiaSTT(api_key="ca-CANARY"), vad=SileroVAD()))
        report = await (await sandbox.call_in()).ended()
        session = sandbox.fake("cartesia_stt").sessions[0]
    assert [(t["role"], t["text"]) for t in report["transcript"]] == TURNS
    assert (session.query["encoding"], session.query["sample_rate"]) == ("pcm_mulaw", "8000")
    assert session.controls.count("Finalize") >= 2
    assert [m["type"] for m in session.sent].count("flush_done") >= 2
    assert report["metrics"].stt_provider == "cartesia_stt"


async def test_cartesia_without_a_vad_is_refused_naming_the_fix() -> None:
    async with asyncio.timeout(60), Sandbox(two_turns()) as sandbox:
        with pytest.raises(ConfigError, match=r"does not say when the caller has finished.*vad="):
            await sandbox.serve(agent(sandbox, CartesiaSTT(api_key="ca-CANARY")))
