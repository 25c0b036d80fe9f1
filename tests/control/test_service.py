"""CallService on the sandbox: calls placed, followed and steered the way an external agent would."""

from __future__ import annotations

import asyncio
import time

import pytest

from getpatter.control import AuditLog, CallService, SafetyPolicy
from getpatter.control.lines import SandboxLine
from getpatter.errors import ConfigError, ErrorCode, InputValidationError, PolicyError
from getpatter.testing.scenario import Callee

FAST = 15  # ms of simulated speech per character: a sandbox call lasts about six seconds
PERSON = "+15550101234"
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def sandbox(**options) -> CallService:
    return CallService.sandbox(ms_per_char=FAST, **options)


async def connected(service: CallService, call_id: str) -> None:
    """Wait until the callee has heard the agent's greeting (the call is live)."""
    simulated = service.line.sandbox.network.get_call(call_id)
    await simulated.wait_until(lambda call: call.heard_ms > 200)


async def test_a_placed_call_returns_at_once_and_ends_with_both_sides_transcript() -> None:
    async with asyncio.timeout(40), sandbox() as service:
        record = await service.place_call(
            PERSON, goal="Confirm Friday's delivery", first_message="I'm calling about a delivery."
        )
        assert record.status == "ringing"
        updates: list[str] = []

        async def on_update(call) -> None:
            updates.append(call.status)

        record = await service.wait(record.call_id, 30, on_update=on_update)
        result = record.to_dict()
        assert result["status"] == "completed" and result["mode"] == "sandbox"
        roles = [line["role"] for line in result["transcript"]]
        assert "agent" in roles and "user" in roles
        # The AI says what it is before anything else (disclosure is on by default).
        assert result["transcript"][0]["text"].startswith("Hi, this is an AI assistant calling.")
        assert "delivery" in result["transcript"][0]["text"]
        assert result["cost_usd"] > 0 and result["duration_seconds"] > 0
        assert "in-progress" in updates and updates[-1] == "completed"
        model = service.line.sandbox.openai.sessions[0]
        assert "Confirm Friday's delivery" in model.session_config["instructions"]
        audit = await service.audit.entries()
        assert [(e.tool, e.outcome) for e in reversed(audit)] == [
            ("make_call", "ok"),
            ("call_ended", "ok"),
        ]
        assert audit[0].cost_usd == pytest.approx(record.cost_usd)


async def test_concurrent_calls_keep_their_own_results_and_a_retried_ref_dials_once() -> None:
    policy = SafetyPolicy(max_concurrent_calls=5)
    async with asyncio.timeout(40), sandbox(policy=policy) as service:
        numbers = ["+15550101111", "+15550102222", "+15550100002"]
        first, second, busy, retry_a, retry_b = await asyncio.gather(
            *(service.place_call(n, goal=f"call {n}") for n in numbers),
            service.place_call("+15550103333", client_ref="order-17"),
            service.place_call("+15550103333", client_ref="order-17"),
        )
        assert retry_a is retry_b
        ids = {first.call_id, second.call_id, busy.call_id, retry_a.call_id}
        assert len(ids) == 4
        assert len(service.line.sandbox.twilio.calls) == 4
        ended = await asyncio.gather(*(service.wait(call_id, 30) for call_id in ids))
        by_number = {record.to: record for record in ended}
        assert by_number["+15550100002"].status == "busy"
        assert by_number["+15550101111"].goal == "call +15550101111"
        assert by_number["+15550102222"].status == "completed"
        again = await service.place_call("+15550103333", client_ref="order-17")
        assert again.call_id == retry_a.call_id and len(service.line.sandbox.twilio.calls) == 4
        assert service.find_by_ref("order-17") is again


async def test_a_call_over_its_time_limit_is_hung_up_and_reported_as_timeout() -> None:
    async with asyncio.timeout(30), sandbox() as service:
        record = await service.place_call(PERSON, max_duration_sec=2)
        record = await service.wait(record.call_id, 20)
        assert record.status == "timeout"
        simulated = await service.line.sandbox.twilio.get_call(record.call_id).finished()
        assert simulated.hangup_by == "app"


@pytest.mark.parametrize("carrier", ["twilio", "telnyx"])
async def test_control_keys_instruction_verbatim_sentence_and_hangup(carrier: str) -> None:
    line = SandboxLine(ms_per_char=FAST, carrier=carrier)  # type: ignore[arg-type]
    async with asyncio.timeout(40), CallService(line=line) as service:
        record = await service.place_call(PERSON)
        with pytest.raises(Exception, match="not connected yet"):
            await service.say(record.call_id, "Too early")
        await connected(service, record.call_id)
        await service.send_dtmf(record.call_id, "42#")
        await service.instruct(record.call_id, "Offer the five pm slot.")
        await service.say(record.call_id, "Your order number is four two.")
        simulated = service.line.sandbox.network.get_call(record.call_id)
        await simulated.wait_until(lambda call: call.dtmf_heard == "42#")
        await service.hangup(record.call_id)
        record = await service.wait(record.call_id, 20)
        assert record.keys_sent == "42#" and record.instructions == ["Offer the five pm slot."]
        assert record.ended_by == "agent"
        spoken = [line.text for line in record.transcript if line.role == "agent"]
        assert "Your order number is four two." in spoken
        received = service.line.sandbox.openai.sessions[0].received
        system_items = [
            event["item"]["content"][0]["text"]
            for event in received
            if event["type"] == "conversation.item.create" and event["item"].get("role") == "system"
        ]
        assert system_items == ["Offer the five pm slot."]
        with pytest.raises(InputValidationError, match="has ended"):
            await service.hangup(record.call_id)
        tools = [(e.tool, e.outcome) for e in reversed(await service.audit.entries())]
        assert ("send_dtmf", "ok") in tools and ("hangup_call", "error") in tools


async def test_transfer_goes_through_the_destination_rules() -> None:
    policy = SafetyPolicy(blocked_prefixes=("+1555999",))
    async with asyncio.timeout(40), sandbox(policy=policy) as service:
        record = await service.place_call(PERSON)
        await connected(service, record.call_id)
        with pytest.raises(PolicyError) as refused:
            await service.transfer(record.call_id, "+15559990000")
        assert refused.value.rule == "blocked"
        for premium_number in ("+19005550100", "+4409012345678"):
            with pytest.raises(PolicyError) as premium:
                await service.transfer(record.call_id, premium_number)
            assert premium.value.rule == "premium"
        for emergency_number in ("+1911", "+112"):
            with pytest.raises(PolicyError) as emergency:
                await service.transfer(record.call_id, emergency_number)
            assert emergency.value.rule == "emergency"
        with pytest.raises(InputValidationError, match="ASCII"):
            await service.transfer(record.call_id, "+1９００5550100")
        # The number the call is transferred to is the canonical one the rules were applied to.
        await service.transfer(record.call_id, "+4402071234567")
        simulated = await service.line.sandbox.twilio.get_call(record.call_id).finished()
        assert simulated.transferred_to == "+442071234567"
        record = await service.wait(record.call_id, 20)
        assert record.outcome == "transferred" and record.status == "completed"


async def test_policy_refusals_name_their_rule_and_dial_nobody() -> None:
    audit = AuditLog()
    await audit.record("call_ended", {}, "ok", call_id="CAold", cost_usd=3.0)
    policy = SafetyPolicy(max_spend_per_day_usd=2.0)
    async with asyncio.timeout(20), sandbox(policy=policy, audit=audit) as service:
        with pytest.raises(PolicyError) as spend:
            await service.place_call(PERSON)
        assert spend.value.rule == "daily_spend" and spend.value.code == ErrorCode.POLICY
        with pytest.raises(PolicyError) as premium:
            await service.place_call("+19005550100")
        assert premium.value.rule == "premium"
        with pytest.raises(InputValidationError, match="ASCII digit"):
            await service.place_call("+1" + "9005550100".translate(FULLWIDTH))
        with pytest.raises(PolicyError) as emergency:
            await service.place_call("+1911")
        assert emergency.value.rule == "emergency"
        assert service.line.sandbox.twilio.calls == []
        refusals = [(e.tool, e.outcome, e.rule) for e in await service.audit.entries()]
        assert ("make_call", "refused", "daily_spend") in refusals
        assert ("make_call", "refused", "premium") in refusals


async def test_the_concurrency_cap_counts_calls_in_progress() -> None:
    async with asyncio.timeout(30), sandbox(policy=SafetyPolicy(max_concurrent_calls=1)) as service:
        first = await service.place_call(PERSON)
        with pytest.raises(PolicyError) as refused:
            await service.place_call("+15550105555")
        assert refused.value.rule == "concurrency"
        await service.wait(first.call_id, 20)
        second = await service.place_call("+15550105555", max_duration_sec=1)
        assert (await service.wait(second.call_id, 20)).ended


async def test_confirmation_needs_a_plan_a_person_and_its_token_once() -> None:
    policy = SafetyPolicy(require_confirmation=True)
    async with asyncio.timeout(30), sandbox(policy=policy) as service:
        with pytest.raises(PolicyError) as refused:
            await service.place_call(PERSON)
        assert refused.value.rule == "confirmation" and "plan_call" in refused.value.message
        plan = service.plan_call(PERSON, goal="Say hello", max_duration_sec=1)
        receipt = plan.receipt()
        assert receipt["to"] == PERSON and receipt["first_message"].startswith("Hi, this is an AI")
        # The token alone (all the model sees) does not dial.
        with pytest.raises(PolicyError) as unconfirmed:
            await service.confirm_call(plan.token)
        assert unconfirmed.value.rule == "confirmation"
        assert service.line.sandbox.twilio.calls == []
        await service.plans.confirm(plan.token, plan.secret, client="test")
        record = await service.confirm_call(plan.token)
        with pytest.raises(InputValidationError, match="plan_call again"):
            await service.confirm_call(plan.token)
        assert (await service.wait(record.call_id, 20)).ended


async def test_inbound_calls_answered_by_the_agent_are_listed() -> None:
    async with asyncio.timeout(30), sandbox() as service:
        await service.start()
        caller = Callee(number="+15550108888", steps=())
        call = await service.line.sandbox.call_in(caller)
        answered = asyncio.Event()
        service.subscribe(lambda record: record.status == "in-progress" and answered.set())
        await answered.wait()
        listed = service.list_calls(active_only=True)
        assert [(r.call_id, r.direction, r.from_) for r in listed] == [
            (call.call_id, "inbound", "+15550108888")
        ]
        await service.hangup(call.call_id)
        assert service.list_calls(active_only=True) == []
        assert service.list_calls()[0].ended


async def test_bad_requests_are_refused_with_the_fix() -> None:
    async with sandbox() as service:
        with pytest.raises(InputValidationError, match=r"E\.164"):
            await service.place_call("555-0100")
        with pytest.raises(InputValidationError, match="no call 'CAnope'"):
            service.get_call("CAnope")
        with pytest.raises(InputValidationError):
            await service.place_call(PERSON, max_duration_sec=5000)
        with pytest.raises(InputValidationError, match="under"):
            await service.place_call(PERSON, goal="x" * 5000)
    with pytest.raises(ConfigError, match=r"CallService\.sandbox"):
        CallService()


async def test_a_live_service_with_no_allowlist_dials_nobody() -> None:
    from getpatter.testing.sandbox import Sandbox

    async with asyncio.timeout(20), Sandbox() as network:
        agent = network.phone.agent("You call people.")
        service = CallService(network.phone, agent, port=network.port, host="127.0.0.1")
        assert service.mode == "live"
        with pytest.raises(PolicyError) as refused:
            await service.place_call(PERSON)
        assert refused.value.rule == "allowlist"
        assert network.twilio.calls == []
        await service.aclose()


async def test_keys_reach_the_callee_whole_while_the_event_loop_stalls() -> None:
    """A key press is never cut by a late wakeup: each tone plays from the carrier's buffer."""
    from getpatter.audio.dtmf_tones import dtmf_ulaw

    keys = "1234567890#"
    tones_ms = len(dtmf_ulaw(keys)) // 8

    async def stall() -> None:
        while True:  # a busy process: the loop is blocked for 45 ms, every 30 ms
            time.sleep(0.045)  # noqa: ASYNC251 -- blocking the loop is the point
            await asyncio.sleep(0.03)

    async with asyncio.timeout(40), sandbox() as service:
        record = await service.place_call(PERSON)
        await connected(service, record.call_id)
        simulated = service.line.sandbox.network.get_call(record.call_id)
        staller = asyncio.create_task(stall())
        try:
            await service.send_dtmf(record.call_id, keys)
            heard_before = simulated.heard_ms
            await simulated.wait_until(lambda call: call.heard_ms >= heard_before + tones_ms)
        finally:
            staller.cancel()
        await service.hangup(record.call_id)
        await service.wait(record.call_id, 20)
    assert simulated.dtmf_heard == keys


async def test_a_convai_agent_runs_on_the_fake_convai_and_is_never_made_to_read_a_text() -> None:
    from getpatter import ElevenLabsConvAI
    from getpatter.agent import build_agent

    agent = build_agent("You call people.", engine=ElevenLabsConvAI(agent_id="agent_calls"))
    async with asyncio.timeout(40), sandbox(agent=agent) as service:
        # A voicemail message must be read verbatim: refused before anyone confirms or dials.
        with pytest.raises(ConfigError, match="ElevenLabs ConvAI engine cannot leave a voicemail"):
            service.plan_call(PERSON, voicemail_message="Please call back.")
        record = await service.place_call(PERSON, goal="Confirm Friday's delivery")
        await connected(service, record.call_id)
        with pytest.raises(ConfigError, match="ElevenLabs ConvAI engine cannot speak a text") as no:
            await service.say(record.call_id, "Your order number is four two.")
        assert "use instruct" in no.value.message
        await service.instruct(record.call_id, "Offer the five pm slot.")
        record = await service.wait(record.call_id, 30)
        assert record.status == "completed"
        assert [line.role for line in record.transcript][:2] == ["agent", "user"]
        assert record.transcript[0].text.startswith("Hi, this is an AI assistant calling.")
        (conversation,) = service.line.sandbox.convai.conversations
        assert conversation.agent_id == "agent_calls"
        assert conversation.prompt.endswith("The goal of this call: Confirm Friday's delivery")
        assert conversation.contextual_updates == ["Offer the five pm slot."]
        assert service.line.sandbox.openai.sessions == []
        tools = [(e.tool, e.outcome) for e in reversed(await service.audit.entries())]
        assert ("say", "error") in tools and ("instruct", "ok") in tools


async def test_a_history_store_keeps_calls_across_a_restart(tmp_path) -> None:
    from getpatter.calls.sqlite_store import SQLiteCallStore

    path = tmp_path / "calls.sqlite3"
    async with asyncio.timeout(40):
        async with sandbox(history=SQLiteCallStore(path)) as service:
            record = await service.place_call(
                PERSON, goal="Confirm Friday's delivery", client_ref="order-9"
            )
            ended = (await service.wait(record.call_id, 30)).to_dict()
        async with sandbox(history=SQLiteCallStore(path)) as restarted:
            again = restarted.get_call(record.call_id).to_dict()
            assert [r.call_id for r in restarted.list_calls()] == [record.call_id]
    for key in ("status", "outcome", "direction", "to", "from", "goal", "client_ref", "mode"):
        assert again[key] == ended[key], key
    assert again["transcript"] == ended["transcript"] and again["transcript"]
    assert again["cost_usd"] == pytest.approx(ended["cost_usd"])
    assert again["duration_seconds"] == pytest.approx(ended["duration_seconds"], abs=1e-3)


def test_a_history_that_is_not_a_call_store_is_refused() -> None:
    with pytest.raises(ConfigError, match="history must be"):
        sandbox(history=object())
