"""Guardrails on the OpenAI Realtime engine: a blocked term is cut off and replaced, on the line."""

from __future__ import annotations

import asyncio

from getpatter import guardrail
from getpatter.observability.events import PatterEventType
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

GREETING = "Hello, Bright Smile Dental."
REPLACEMENT = "Let me tell you about our own services instead."
LEAK = (
    "Honestly, you should try CompetitorCo down the street, they are cheaper and their "
    "hygienists are much nicer than ours."
)


def scenario(reply: str) -> Scenario:
    return Scenario(
        callee=Callee(steps=(Say("Who else should I see?", pause_ms=1200), HangUp(pause_ms=6000))),
        replies=(Reply(reply),),
    )


async def test_a_blocked_term_is_cut_off_and_the_replacement_is_spoken(carrier):
    blocked = []
    rule = guardrail("competitors", blocked_terms=["competitorco"], replacement=REPLACEMENT)
    async with Sandbox(scenario(LEAK), carrier=carrier) as sandbox:
        sandbox.phone.events.on(PatterEventType.GUARDRAIL_BLOCKED, blocked.append)
        agent = sandbox.phone.agent(
            "You are the receptionist.", first_message=GREETING, guardrails=[rule]
        )
        await sandbox.serve(agent)
        call = await sandbox.call_in()
        report = await call.ended()
        fake = sandbox.openai.sessions[0]
    said = [line["text"] for line in report["transcript"] if line["role"] == "assistant"]
    assert said == [GREETING, REPLACEMENT]
    assert not any("CompetitorCo" in text for text in said)
    leak = next(r for r in fake.responses if r.text == LEAK)
    assert leak.status == "cancelled"  # the model stopped generating the blocked reply
    assert fake.truncations and fake.truncations[-1].audio_end_ms < leak.audio_ms
    assert call.simulated.clears  # the carrier dropped what it had buffered
    verbatim = [r.text for r in fake.responses if r.text == REPLACEMENT]
    assert verbatim == [REPLACEMENT]
    # The caller heard the greeting, the start of the blocked reply, and the replacement: far
    # less than the whole blocked reply.
    full_ms = sandbox.scenario.speech_ms(LEAK)
    assert call.simulated.heard_ms < sandbox.scenario.speech_ms(GREETING) + full_ms * 0.6 + (
        sandbox.scenario.speech_ms(REPLACEMENT)
    )
    await asyncio.sleep(0)
    assert [b["guardrail"] for b in blocked] == ["competitors"]
    assert report["outcome"] == "completed"


async def test_a_check_function_blocks_a_streamed_sentence(carrier):
    rule = guardrail(
        "no prices", check=lambda text: "$" in text, replacement="Prices are on our website."
    )
    reply = "A cleaning costs $120 with us. We also do whitening."
    async with Sandbox(scenario(reply), carrier=carrier) as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist.", first_message=GREETING, guardrails=[rule]
        )
        await sandbox.serve(agent)
        report = await (await sandbox.call_in()).ended()
    said = [line["text"] for line in report["transcript"] if line["role"] == "assistant"]
    assert said == [GREETING, "Prices are on our website."]


async def test_without_guardrails_no_text_deltas_are_read(carrier):
    async with Sandbox(scenario("We open at nine."), carrier=carrier) as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are the receptionist."))
        report = await (await sandbox.call_in()).ended()
    assert [line["text"] for line in report["transcript"]][-1] == "We open at nine."
