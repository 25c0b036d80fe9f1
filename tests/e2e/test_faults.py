"""Rejected input and failures: nothing forged gets in, and a broken call still reports its end."""

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario
from getpatter.testing.twilio_simulator import twilio_signature

GREETING = "Hello, Bright Smile Dental."
VOICE_FORM = {
    "CallSid": "CA" + "f" * 32,
    "AccountSid": "AC" + "f" * 32,
    "From": "+15550100001",
    "To": "+15550009999",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


def agent(sandbox):
    return sandbox.phone.agent("You are the receptionist.", first_message=GREETING)


async def test_forged_or_unsigned_webhooks_get_403_and_start_nothing():
    started = []
    async with Sandbox() as sandbox:
        await sandbox.serve(agent(sandbox), on_call_start=started.append)
        url = f"http://127.0.0.1:{sandbox.port}/webhooks/twilio/voice"
        public = f"https://127.0.0.1:{sandbox.port}/webhooks/twilio/voice"
        forged = twilio_signature("not-the-auth-token-CANARY", public, VOICE_FORM)
        genuine = twilio_signature(sandbox.twilio.auth_token, public, VOICE_FORM)
        async with httpx.AsyncClient() as client:
            unsigned = await client.post(url, data=VOICE_FORM)
            bad = await client.post(url, data=VOICE_FORM, headers={"X-Twilio-Signature": forged})
            tampered = await client.post(
                url,
                data={**VOICE_FORM, "From": "+15550666666"},
                headers={"X-Twilio-Signature": genuine},
            )
            for path in ("status", "amd", "recording"):
                other = await client.post(
                    f"http://127.0.0.1:{sandbox.port}/webhooks/twilio/{path}", data=VOICE_FORM
                )
                assert other.status_code == 403
            good = await client.post(url, data=VOICE_FORM, headers={"X-Twilio-Signature": genuine})
            health = (await client.get(f"http://127.0.0.1:{sandbox.port}/health")).json()
    assert (unsigned.status_code, bad.status_code, tampered.status_code) == (403, 403, 403)
    assert good.status_code == 200 and "<Connect><Stream" in good.text
    assert health["active_calls"] == 1  # only the genuine webhook created a call
    assert started == []


async def test_media_stream_without_a_valid_token_is_refused_at_the_upgrade():
    async with Sandbox() as sandbox:
        await sandbox.serve(agent(sandbox))
        base = f"ws://127.0.0.1:{sandbox.port}/ws/twilio/media"
        for url in (f"{base}/made-up-token", f"{base}/"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await connect(url, proxy=None)
            assert refused.value.response.status_code in (403, 404)


async def test_a_media_token_works_once():
    async with Sandbox() as sandbox:
        await sandbox.serve(agent(sandbox))
        public = f"https://127.0.0.1:{sandbox.port}/webhooks/twilio/voice"
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{sandbox.port}/webhooks/twilio/voice",
                data=VOICE_FORM,
                headers={
                    "X-Twilio-Signature": twilio_signature(
                        sandbox.twilio.auth_token, public, VOICE_FORM
                    )
                },
            )
        stream_url = response.text.split('url="')[1].split('"')[0].replace("wss://", "ws://")
        async with connect(stream_url, proxy=None) as first:
            await first.send(
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            )
            with pytest.raises(websockets.exceptions.InvalidStatus):
                await connect(stream_url, proxy=None)


async def test_malformed_media_frames_are_skipped_and_the_call_goes_on(carrier):
    scenario = Scenario(
        callee=Callee(steps=(Say("Are you there?", pause_ms=1500), HangUp(pause_ms=2500))),
        replies=(Reply("Yes, I am here."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox))
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await call.simulated.wait_until(lambda c: bool(c.streams))
        await asyncio.sleep(0.2)
        for junk in (
            "not json",
            '{"event": "media", "media": {"payload": "@@not base64@@"}}',
            '{"event": "teleport"}',
            "[1, 2, 3]",
            '{"event": "media", "media": {"payload": "' + "A" * 70_000 + '"}}',
            b"\x00\x01binary",
        ):
            await call.simulated.send_raw(junk)
        report = await call.ended()
    assert report["malformed_frames"] == 6
    assert report["outcome"] == "completed"
    assert [e["text"] for e in report["transcript"]] == [
        GREETING,
        "Are you there?",
        "Yes, I am here.",
    ]


async def test_realtime_socket_dropped_mid_call_ends_the_call_cleanly(carrier):
    ends = []
    replied = asyncio.Event()

    def on_transcript(data):
        if data["text"] == "Hi there.":
            replied.set()

    scenario = Scenario(
        callee=Callee(steps=(Say("Hello?"), Say("Hello??", pause_ms=4000))),
        replies=(Reply("Hi there."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox), on_call_end=ends.append, on_transcript=on_transcript)
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await replied.wait()
            await sandbox.openai.drop()
        report = await call.ended()
    assert report["outcome"] == "error"
    assert "dropped" in report["error"]
    assert [e["text"] for e in report["transcript"]][:2] == [GREETING, "Hello?"]
    assert call.simulated.hangup_by == "app"
    assert len(ends) == 1


async def test_engine_refusing_to_connect_hangs_up_and_reports_an_error(carrier):
    async with Sandbox(carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox))
        sandbox.openai.fail_next_connect(status=500)
        call = await sandbox.call_in()
        report = await call.ended()
    assert report["outcome"] == "error" and report["error"]
    assert call.simulated.hangup_by == "app"
