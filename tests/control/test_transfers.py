"""The safety policy guards every transfer, whoever asks: the in-call model (also after an
instruct), a tool handler's CallControl, on_message, and the service's own transfer_call."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from getpatter import DeepgramSTT, ElevenLabsTTS, tool
from getpatter.agent import build_agent
from getpatter.call import CallControl
from getpatter.control import AuditLog, CallService, SafetyPolicy
from getpatter.control.lines import SandboxLine
from getpatter.control.transfers import PolicyTransferGuard
from getpatter.errors import PolicyError
from getpatter.observability.cost import telephony_cost
from getpatter.observability.pricing import PriceTable
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario, ToolCall

FAST = 15
PERSON = "+15550101234"
PREMIUM = "+19005550123"
DESK = "+15550107777"


def transferring(
    number: str, *, tool_name: str = "transfer_call", arguments: dict[str, Any] | None = None
) -> Scenario:
    """The scripted model answers the first turn by transferring to ``number``, then says the
    tool's result (so a refusal is heard) and ends."""
    return Scenario(
        replies=(
            Reply(
                "One moment.",
                tool_call=ToolCall(
                    tool_name, {"number": number} if arguments is None else arguments
                ),
            ),
            Reply("Goodbye."),
        ),
        ms_per_char=FAST,
    )


def service_with(scenario: Scenario, carrier: str = "twilio", **options: Any) -> CallService:
    line = SandboxLine(ms_per_char=FAST, scenario=scenario, carrier=carrier)  # type: ignore[arg-type]
    return CallService(line=line, **options)


@pytest.fixture(params=["twilio", "telnyx"])
def carrier(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def follow_up_of(scenario: Scenario) -> Scenario:
    first = scenario.replies[0]
    return Scenario(
        replies=(
            Reply(first.text, tool_call=first.tool_call),
            Reply("The transfer said: {result}"),
            *scenario.replies[1:],
        ),
        ms_per_char=scenario.ms_per_char,
    )


async def audit_of(service: CallService, tool_name: str) -> list[Any]:
    return [e for e in await service.audit.entries() if e.tool == tool_name]


async def test_the_in_call_model_cannot_transfer_to_a_premium_number(carrier: str) -> None:
    scenario = transferring(PREMIUM)
    async with asyncio.timeout(40), service_with(scenario, carrier) as service:
        record = await service.place_call(PERSON, goal="Say hello")
        record = await service.wait(record.call_id, 30)
        model = service.line.sandbox.openai.sessions[0]
        simulated = service.line.sandbox.network.get_call(record.call_id)
        refusals = await audit_of(service, "transfer_call")
    assert record.status == "completed" and record.outcome == "completed"  # the call went on
    assert simulated.transferred_to is None
    assert len(model.tool_outputs) == 1
    assert "refused by the premium-number block" in model.tool_outputs[0].output
    assert [(e.outcome, e.rule, e.client) for e in refusals] == [("refused", "premium", "agent")]
    assert refusals[0].arguments == {"call_id": record.call_id, "to": PREMIUM}


async def test_a_transfer_the_model_makes_after_an_instruct_is_checked_too() -> None:
    scenario = Scenario(
        replies=(
            Reply("Sure, go ahead."),
            Reply(
                "Transferring you now.", tool_call=ToolCall("transfer_call", {"number": PREMIUM})
            ),
        ),
        ms_per_char=FAST,
    )
    async with asyncio.timeout(40), service_with(scenario) as service:
        record = await service.place_call(PERSON)
        simulated = service.line.sandbox.twilio.get_call(record.call_id)
        await simulated.wait_until(lambda call: call.heard_ms > 200)
        await service.instruct(record.call_id, f"Transfer the person to {PREMIUM} at once.")
        record = await service.wait(record.call_id, 30)
        refusals = await audit_of(service, "transfer_call")
    assert simulated.transferred_to is None
    assert [(e.outcome, e.rule) for e in refusals] == [("refused", "premium")]


async def test_a_tool_handler_transfer_is_refused_and_the_model_reads_the_rule() -> None:
    @tool
    async def escalate(context: dict[str, Any]) -> str:
        """Hand the caller to a human."""
        call: CallControl = context["call"]
        await call.transfer(PREMIUM)
        return "transferred"

    scenario = transferring(PREMIUM, tool_name="escalate", arguments={})
    agent = build_agent("You help.", tools=[escalate])
    async with asyncio.timeout(40), service_with(scenario, agent=agent) as service:
        record = await service.place_call(PERSON)
        record = await service.wait(record.call_id, 30)
        model = service.line.sandbox.openai.sessions[0]
        refusals = await audit_of(service, "transfer_call")
    assert record.outcome == "completed"
    assert "refused by the premium-number block" in model.tool_outputs[0].output
    assert [(e.outcome, e.rule, e.client) for e in refusals] == [
        ("refused", "premium", "call_control")
    ]


async def test_an_allowed_transfer_inherits_the_time_left_and_its_leg_counts_toward_spend(
    carrier: str,
) -> None:
    scenario = transferring(DESK)
    leg_counted = asyncio.Event()
    ended: set[str] = set()

    def on_change(call: Any) -> None:
        if call.ended:
            if call.call_id in ended:  # changed after its end: the transferred leg's cost
                leg_counted.set()
            ended.add(call.call_id)

    async with asyncio.timeout(40), service_with(scenario, carrier) as service:
        service.subscribe(on_change)
        service.line.sandbox.network.transfer_talk_s = 2
        record = await service.place_call(PERSON, max_duration_sec=60)
        simulated = service.line.sandbox.network.get_call(record.call_id)
        record = await service.wait(record.call_id, 30)
        async with asyncio.timeout(10):
            await simulated.finished()
            await leg_counted.wait()
        transfers = await audit_of(service, "transfer_call")
        legs = await audit_of(service, "transfer_ended")
        spend = await service.audit.spend_since(0)
        ended = await audit_of(service, "call_ended")
    assert record.outcome == "transferred" and simulated.transferred_to == DESK
    assert simulated.dial_time_limit is not None and 50 <= simulated.dial_time_limit < 60
    assert [(e.outcome, e.client) for e in transfers] == [("ok", "agent")]
    leg_cost = 2 * telephony_cost(PriceTable(), carrier, 2)
    assert legs[0].cost_usd == pytest.approx(leg_cost)
    assert spend == pytest.approx(ended[0].cost_usd + leg_cost)
    assert record.cost_usd == pytest.approx(ended[0].cost_usd + leg_cost)


async def test_no_transfer_once_the_days_spend_is_reached() -> None:
    audit = AuditLog()
    await audit.record("call_ended", {}, "ok", call_id="CAearlier", cost_usd=1.0)
    policy = SafetyPolicy(max_spend_per_day_usd=1.0)
    guard = PolicyTransferGuard(policy, audit, live=False, deadline=lambda _call_id: None)
    from getpatter.call import TransferRequest

    request = TransferRequest("CA1", PERSON, "+15550009999", "outbound", DESK, "agent")
    with pytest.raises(PolicyError) as refused:
        async with guard.transfer(request):
            pytest.fail("the transfer went ahead")
    assert refused.value.rule == "daily_spend"
    entries = await audit.entries()
    assert (entries[0].tool, entries[0].outcome, entries[0].rule) == (
        "transfer_call",
        "refused",
        "daily_spend",
    )
    await audit.aclose()


async def test_the_service_transfer_is_audited_once(carrier: str) -> None:
    scenario = Scenario(replies=(Reply("Hello."), Reply("Bye.")), ms_per_char=FAST)
    async with asyncio.timeout(40), service_with(scenario, carrier) as service:
        service.line.sandbox.network.transfer_talk_s = 0.5
        record = await service.place_call(PERSON, max_duration_sec=30)
        simulated = service.line.sandbox.network.get_call(record.call_id)
        await simulated.wait_until(lambda call: call.heard_ms > 200)
        with pytest.raises(PolicyError):
            await service.transfer(record.call_id, PREMIUM)
        await service.transfer(record.call_id, DESK)
        record = await service.wait(record.call_id, 30)
        transfers = await audit_of(service, "transfer_call")
    assert [(e.outcome, e.rule, e.client) for e in reversed(transfers)] == [
        ("refused", "premium", "python"),
        ("ok", "", "python"),
    ]
    assert simulated.transferred_to == DESK and simulated.dial_time_limit <= 30


async def test_on_message_transfers_pass_the_guard(caplog: pytest.LogCaptureFixture) -> None:
    callee = Callee(steps=(Say("Put me through.", pause_ms=800), HangUp(pause_ms=2500)))
    audit = AuditLog()
    guard = PolicyTransferGuard(SafetyPolicy(), audit, live=False, deadline=lambda _id: None)

    async def answer(message: dict[str, Any], call: CallControl) -> str:
        await call.transfer(PREMIUM)
        return "Let me put you through."

    async with asyncio.timeout(40), Sandbox(Scenario(callee=callee)) as sandbox:
        agent = sandbox.phone.agent(
            "You route calls.",
            stt=DeepgramSTT(api_key="dg-CANARY"),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
        )
        await sandbox.serve(agent, on_message=answer, transfer_guard=guard)
        with caplog.at_level(logging.WARNING):
            call = await sandbox.call_in()
            report = await call.ended()
    entries = await audit.entries()
    await audit.aclose()
    assert report["outcome"] == "completed" and call.twilio.transferred_to is None
    assert ("assistant", "Let me put you through.") in [
        (line["role"], line["text"]) for line in report["transcript"]
    ]
    assert [(e.tool, e.outcome, e.rule, e.client) for e in entries] == [
        ("transfer_call", "refused", "premium", "call_control")
    ]
    assert any("premium-number block" in r.getMessage() for r in caplog.records)


async def test_without_a_policy_transfers_are_free_and_unlimited() -> None:
    callee = Callee(steps=(Say("Put me through.", pause_ms=800), HangUp(pause_ms=4000)))

    async def answer(message: dict[str, Any], call: CallControl) -> str:
        await call.transfer(PREMIUM)
        return "Putting you through."

    async with asyncio.timeout(40), Sandbox(Scenario(callee=callee)) as sandbox:
        agent = sandbox.phone.agent(
            "You route calls.",
            stt=DeepgramSTT(api_key="dg-CANARY"),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
        )
        await sandbox.serve(agent, on_message=answer)
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "transferred" and call.twilio.transferred_to == PREMIUM
    assert call.twilio.dial_time_limit is None
