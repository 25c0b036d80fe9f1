"""TelnyxAdapter: Call Control through the official SDK, against the Telnyx simulator."""

import asyncio

import pytest

from getpatter import AuthenticationError, PatterError, Telnyx, TelnyxAdapter
from getpatter.carriers.telnyx.adapter import StreamSettings
from getpatter.errors import ErrorCode, PatterConnectionError, ProvisionError
from getpatter.testing.scenario import Callee
from getpatter.testing.telnyx_simulator import TelnyxSimulator

OURS = "+15550009999"
THEM = "+15550101234"


def carrier(sim: TelnyxSimulator, **overrides) -> Telnyx:
    fields = {
        "api_key": sim.api_key,
        "connection_id": sim.connection_id,
        "public_key": sim.public_key,
        "base_url": sim.base_url,
    }
    return Telnyx(**{**fields, **overrides})


async def test_dial_sends_what_was_asked_and_hangup_of_an_ended_call_is_fine():
    async with TelnyxSimulator(webhook_event_url="https://127.0.0.1:9/hook") as sim:
        sim.add_number(OURS)
        sim.callee_for(THEM, Callee(answer="busy", ring_ms=50))
        async with TelnyxAdapter(carrier(sim)) as telnyx:
            call_id = await telnyx.dial(
                to=THEM,
                from_=OURS,
                webhook_url="https://127.0.0.1:9/hook",
                client_state="c3RhdGU=",
                timeout_secs=20,
                time_limit_secs=90,
                machine_detection="detect_beep",
                record=True,
            )
            call = sim.get_call(call_id)
            (dial,) = [c for c in call.commands if c.name == "dial"]
            assert dial.params["timeout_secs"] == 20 and dial.params["time_limit_secs"] == 90
            assert dial.params["answering_machine_detection"] == "detect_beep"
            assert dial.params["record"] == "record-from-answer"
            assert dial.params["client_state"] == "c3RhdGU="
            async with asyncio.timeout(10):
                await call.finished()
            assert call.outcome == "busy"
            await telnyx.hangup(call_id)  # already ended: not an error
            assert await telnyx.is_alive(call_id) is False
            assert await telnyx.is_alive("v3:no-such-call") is None


async def test_telnyx_errors_become_patter_errors():
    async with TelnyxSimulator() as sim:
        sim.add_number(OURS)
        async with TelnyxAdapter(carrier(sim, api_key="KEY-CANARY-wrong")) as wrong:
            with pytest.raises(AuthenticationError, match="TELNYX_API_KEY"):
                await wrong.dial(to=THEM, from_=OURS, webhook_url="https://h/x", client_state="")
        async with TelnyxAdapter(carrier(sim)) as telnyx:
            with pytest.raises(PatterError) as missing:
                await telnyx.answer("v3:no-such-call", client_state="")
            assert missing.value.code == ErrorCode.PROVIDER_ERROR
            assert "HTTP 404" in str(missing.value)
            with pytest.raises(PatterError, match="HTTP 404"):
                await telnyx.start_streaming(
                    "v3:no-such-call", StreamSettings("wss://h/ws", "PCMU", 8000)
                )
        async with TelnyxAdapter(carrier(sim, connection_id="no-such-app")) as unknown:
            with pytest.raises(ProvisionError, match="TELNYX_CONNECTION_ID"):
                await unknown.set_webhook_url("https://h/webhooks/telnyx/voice")
    closed = Telnyx(api_key="KEY-CANARY", connection_id="1", base_url="http://127.0.0.1:9/v2")
    async with TelnyxAdapter(closed) as nowhere:
        with pytest.raises(PatterConnectionError, match="cannot reach"):
            await nowhere.hangup("v3:x")


async def test_the_application_webhook_url_is_set_keeping_its_name():
    async with TelnyxSimulator() as sim:
        name = sim.application.application_name
        async with TelnyxAdapter(carrier(sim)) as telnyx:
            await telnyx.set_webhook_url("https://agent.example.com/webhooks/telnyx/voice")
        assert sim.application.webhook_event_url == (
            "https://agent.example.com/webhooks/telnyx/voice"
        )
        assert sim.application.application_name == name
