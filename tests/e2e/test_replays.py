"""Captured webhooks replayed: a signed request for a call Patter has seen starts nothing."""

from __future__ import annotations

import asyncio

import httpx

from getpatter.testing.sandbox import Sandbox, SandboxCall
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario
from getpatter.testing.twilio_simulator import twilio_signature

GREETING = "Hello, Bright Smile Dental."


def scenario(hang_up_ms: int = 1500) -> Scenario:
    return Scenario(
        callee=Callee(steps=(Say("Hello?", pause_ms=1200), HangUp(pause_ms=hang_up_ms))),
        replies=(Reply("Hi there."),),
    )


async def replay(sandbox: Sandbox, call: SandboxCall, kind: str = "voice") -> httpx.Response:
    """Send the call's ``kind`` webhook again, signed as Twilio signed it (a captured request)."""
    original = next(w for w in call.twilio.webhooks if w.kind == kind)
    local = original.url.replace("https://", "http://")
    signature = twilio_signature(sandbox.twilio.auth_token, original.url, original.params)
    async with httpx.AsyncClient() as client:
        return await client.post(
            local, data=original.params, headers={"X-Twilio-Signature": signature}
        )


async def health(sandbox: Sandbox) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{sandbox.port}/health")).json()


async def test_a_replayed_voice_webhook_for_a_live_call_gets_no_second_stream():
    started = []
    async with Sandbox(scenario(hang_up_ms=2500)) as sandbox:
        await sandbox.serve(
            sandbox.phone.agent("You are a receptionist.", first_message=GREETING),
            on_call_start=started.append,
        )
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await call.twilio.wait_until(lambda c: bool(c.streams))
        replayed = await replay(sandbox, call)
        during = await health(sandbox)
        report = await call.ended()
    assert replayed.status_code == 200
    assert "<Hangup" in replayed.text and "<Stream" not in replayed.text
    assert during["active_calls"] == 1 and len(started) == 1
    assert report["outcome"] == "completed"
    assert [e["text"] for e in report["transcript"]][-1] == "Hi there."


async def test_verify_with_carrier_refuses_a_signed_webhook_for_a_call_twilio_does_not_have():
    form = {
        "CallSid": "CA" + "e" * 32,
        "AccountSid": "AC" + "e" * 32,
        "From": "+15550100001",
        "To": "+15550009999",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    async with Sandbox(scenario()) as sandbox:
        await sandbox.serve(
            sandbox.phone.agent("You are a receptionist.", first_message=GREETING),
            verify_with_carrier=True,
        )
        public = f"https://127.0.0.1:{sandbox.port}/webhooks/twilio/voice"
        signature = twilio_signature(sandbox.twilio.auth_token, public, form)
        async with httpx.AsyncClient() as client:
            captured = await client.post(
                f"http://127.0.0.1:{sandbox.port}/webhooks/twilio/voice",
                data=form,
                headers={"X-Twilio-Signature": signature},
            )
        after = await health(sandbox)
        # A real call still gets through: Twilio has it ringing between the right numbers.
        call = await sandbox.call_in()
        report = await call.ended()
    assert "<Hangup" in captured.text and "<Stream" not in captured.text
    assert after["active_calls"] == 0
    assert report["outcome"] == "completed"


async def test_a_replayed_voice_webhook_for_an_ended_call_starts_nothing():
    started, ended = [], []
    async with Sandbox(scenario()) as sandbox:
        await sandbox.serve(
            sandbox.phone.agent("You are a receptionist.", first_message=GREETING),
            on_call_start=started.append,
            on_call_end=ended.append,
        )
        call = await sandbox.call_in()
        await call.ended()
        replayed = await replay(sandbox, call)
        after = await health(sandbox)
    assert "<Hangup" in replayed.text and "<Stream" not in replayed.text
    assert after["active_calls"] == 0
    assert len(started) == 1 and len(ended) == 1
