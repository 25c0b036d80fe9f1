"""Telnyx's side of the server under attack: forged, stale and replayed events, stolen media URLs."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from getpatter import Patter, Telnyx
from getpatter.errors import ConfigError
from getpatter.testing.sandbox import Sandbox, SandboxCall
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

GREETING = "Hello, Bright Smile Dental."


def scenario(hang_up_ms: int = 1500) -> Scenario:
    return Scenario(
        callee=Callee(steps=(Say("Hello?", pause_ms=1200), HangUp(pause_ms=hang_up_ms))),
        replies=(Reply("Hi there."),),
    )


def agent(sandbox: Sandbox):
    return sandbox.phone.agent("You are the receptionist.", first_message=GREETING)


def initiated_event(call_id: str, event_id: str = "ev-forged") -> bytes:
    return json.dumps(
        {
            "data": {
                "record_type": "event",
                "event_type": "call.initiated",
                "id": event_id,
                "occurred_at": "2026-12-07T03:00:00.000000Z",
                "payload": {
                    "call_control_id": call_id,
                    "connection_id": "1",
                    "from": "+15550006666",
                    "to": "+15550009999",
                    "direction": "incoming",
                    "state": "parked",
                },
            },
            "meta": {"attempt": 1},
        }
    ).encode()


async def post(sandbox: Sandbox, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"http://127.0.0.1:{sandbox.port}/webhooks/telnyx/voice",
            content=body,
            headers={"content-type": "application/json", **headers},
        )


async def health(sandbox: Sandbox) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{sandbox.port}/health")).json()


async def test_forged_unsigned_tampered_and_stale_events_get_403_and_start_nothing():
    started = []
    async with Sandbox(carrier="telnyx") as sandbox:
        await sandbox.serve(agent(sandbox), on_call_start=started.append)
        body = initiated_event("v3:forged-call")
        signed = sandbox.telnyx.signed_headers(body)
        stale = sandbox.telnyx.signed_headers(body, timestamp=int(time.time()) - 301)
        answers = [
            await post(sandbox, body, {}),
            await post(sandbox, body, {**signed, "telnyx-signature-ed25519": "A" * 88}),
            await post(sandbox, body.replace(b"+15550006666", b"+15550007777"), signed),
            await post(sandbox, body, stale),
        ]
        assert (await health(sandbox))["active_calls"] == 0
    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    assert started == []


async def test_a_replayed_event_is_handled_once():
    async with Sandbox(scenario(hang_up_ms=4000), carrier="telnyx") as sandbox:
        await sandbox.serve(agent(sandbox))
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await call.simulated.wait_until(lambda c: bool(c.streams))
        initiated = next(w for w in call.simulated.webhooks if w.kind == "call.initiated")
        same = await sandbox.telnyx.replay_webhook(initiated)
        fresh = await sandbox.telnyx.replay_webhook(initiated, resign=True)
        report = await call.ended()
    assert (same, fresh) == (200, 200)
    answers = [c for c in call.simulated.commands if c.name == "answer"]
    assert len(answers) == 1 and len(call.simulated.streams) == 1
    assert report["outcome"] == "completed"


async def _resend_with_a_new_id(sandbox: Sandbox, call: SandboxCall) -> httpx.Response:
    """The call's ``call.initiated`` under a new event id, properly signed: what Telnyx itself
    could send, or a key holder could forge. It must not start a second session."""
    initiated = next(w for w in call.simulated.webhooks if w.kind == "call.initiated")
    envelope = json.loads(initiated.body)
    envelope["data"]["id"] = "ev-second"
    body = json.dumps(envelope).encode()
    return await post(sandbox, body, sandbox.telnyx.signed_headers(body))


async def test_a_second_initiated_event_for_a_live_or_ended_call_starts_nothing():
    ends = []
    async with Sandbox(scenario(hang_up_ms=4000), carrier="telnyx") as sandbox:
        await sandbox.serve(agent(sandbox), on_call_end=ends.append)
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await call.simulated.wait_until(lambda c: bool(c.streams))
        live = await _resend_with_a_new_id(sandbox, call)
        assert (await health(sandbox))["active_calls"] == 1
        await call.ended()
        ended = await _resend_with_a_new_id(sandbox, call)
        await asyncio.sleep(0.3)
        assert (await health(sandbox))["active_calls"] == 0
    assert (live.status_code, ended.status_code) == (200, 200)
    assert len([c for c in call.simulated.commands if c.name == "answer"]) == 1
    assert len(ends) == 1


async def test_media_upgrades_need_a_valid_token_and_it_works_once():
    async with Sandbox(scenario(hang_up_ms=3000), carrier="telnyx") as sandbox:
        await sandbox.serve(agent(sandbox))
        base = f"ws://127.0.0.1:{sandbox.port}/ws/telnyx/media"
        for url in (f"{base}/pcmu/made-up-token", f"{base}/nocodec/made-up-token", f"{base}/"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await connect(url, proxy=None)
            assert refused.value.response.status_code in (403, 404)
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await call.simulated.wait_until(lambda c: bool(c.streams))
        (answer,) = [c for c in call.simulated.commands if c.name == "answer"]
        used = answer.params["stream_url"].replace("wss://", "ws://")
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await connect(used, proxy=None)
        report = await call.ended()
    assert report["outcome"] == "completed"


async def test_serve_refuses_telnyx_without_a_public_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-openai")
    carrier = Telnyx(api_key="KEY-CANARY-telnyx", connection_id="1")
    phone = Patter(carrier=carrier, phone_number="+15550009999", webhook_url="example.com")
    with pytest.raises(ConfigError, match="Keys & Credentials > Public Key"):
        await phone.serve(phone.agent("You help."), port=8123)


async def test_unsigned_webhooks_are_taken_only_when_asked_for():
    async with Sandbox(scenario(), carrier="telnyx") as sandbox:
        sim = sandbox.telnyx
        unchecked = Telnyx(
            api_key=sim.api_key,
            connection_id=sim.connection_id,
            base_url=sim.base_url,
            verify_webhooks=False,
        )
        sandbox._phone = Patter(
            carrier=unchecked,
            phone_number=sandbox.phone_number,
            webhook_url=f"127.0.0.1:{sandbox.port}",
        )
        await sandbox.serve(agent(sandbox))
        body = initiated_event("v3:unsigned-call")
        answer = await post(sandbox, body, {})
        call = await sandbox.call_in()
        report = await call.ended()
    assert answer.status_code == 200
    assert report["outcome"] == "completed"


async def test_verify_with_carrier_refuses_a_signed_event_for_a_call_telnyx_does_not_have():
    started = []
    async with Sandbox(scenario(), carrier="telnyx") as sandbox:
        await sandbox.serve(agent(sandbox), on_call_start=started.append, verify_with_carrier=True)
        body = initiated_event("v3:never-existed", event_id="ev-unknown-call")
        refused = await post(sandbox, body, sandbox.telnyx.signed_headers(body))
        assert (await health(sandbox))["active_calls"] == 0
        call = await sandbox.call_in()  # a real call is checked, found alive, and answered
        report = await call.ended()
    assert refused.status_code == 200
    assert report["outcome"] == "completed"
    assert [s["call_id"] for s in started] == [call.call_id]
