"""Finished calls leave little behind: no session, engine or outbound audio outlives its call.

The server keeps a small record of each finished call (for late callbacks, such as a recording
that is ready after the hang-up) and the CallSids it has seen (for replay protection).
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from getpatter import DeepgramSTT, ElevenLabsTTS, OpenAILLM
from getpatter.engines.openai.engine import RealtimeEngine
from getpatter.observability.events import PatterEventType
from getpatter.pipeline.engine import PipelineEngine
from getpatter.server.registry import CallRegistry, FinishedCall
from getpatter.session import CallSession
from getpatter.session.outbound import OutboundAudio
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario
from getpatter.testing.twilio_simulator import twilio_signature

WATCHED = (CallSession, RealtimeEngine, PipelineEngine, OutboundAudio)
SCENARIO = Scenario(
    callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=1500))),
    replies=(Reply("Nine to five."),),
)
# How often to look again for objects a call's last tasks may still hold as they unwind.
_LOOKS = 100


def watched_objects(excluding: weakref.WeakSet[Any] | None = None) -> list[Any]:
    """Sessions, engines and outbound audio the garbage collector tracks, older ones excluded.

    Types are compared exactly: ``isinstance`` would consult dead weak proxies, which raise.
    """
    found = [o for o in gc.get_objects() if type(o) in WATCHED]
    return found if excluding is None else [o for o in found if o not in excluding]


async def leftovers(earlier: weakref.WeakSet[Any], *, collect: bool) -> list[str]:
    """What is still alive of the calls, once their last tasks have had time to unwind."""
    alive: list[Any] = []
    for _ in range(_LOOKS):
        if collect:
            gc.collect()
        alive = watched_objects(earlier)
        if not alive:
            return []
        await asyncio.sleep(0.02)
    return sorted(type(o).__name__ for o in alive)


def registry_of(sandbox: Sandbox) -> CallRegistry:
    server = sandbox.phone._server
    assert server is not None
    return server.registry


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def post_recording(sandbox: Sandbox, call_sid: str, recording_sid: str) -> int:
    """A recording status callback, signed as Twilio signs it, posted to the server."""
    path = "/webhooks/twilio/recording"
    form = {
        "AccountSid": sandbox.twilio.account_sid,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/Recordings/{recording_sid}",
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
    }
    public = f"https://127.0.0.1:{sandbox.port}{path}"
    signature = twilio_signature(sandbox.twilio.auth_token, public, form)
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(
            f"http://127.0.0.1:{sandbox.port}{path}",
            data=form,
            headers={"X-Twilio-Signature": signature},
        )
    return answer.status_code


async def test_finished_calls_leave_only_small_records_and_their_recordings_still_arrive():
    gc.collect()
    earlier = weakref.WeakSet(watched_objects())
    recordings: list[dict[str, Any]] = []
    async with Sandbox(SCENARIO) as sandbox:
        unsubscribe = sandbox.phone.events.on(PatterEventType.RECORDING, recordings.append)
        try:
            await sandbox.serve(
                sandbox.phone.agent("You are the receptionist.", first_message="Hello."),
                recording=True,
            )
            inbound = [await sandbox.call_in() for _ in range(3)]
            answered = await sandbox.call_out()
            busy = await sandbox.call_out(callee=Callee(answer="busy", ring_ms=100))
            calls = [*inbound, answered, busy]
            reports = await asyncio.gather(*(call.ended() for call in calls))
            assert [r["outcome"] for r in reports] == ["completed"] * 4 + ["busy"]

            assert await leftovers(earlier, collect=True) == []
            registry = registry_of(sandbox)
            assert registry.active() == [] and registry.finished_calls() == len(calls)
            for call in calls:
                assert registry.find(call_sid=call.call_id) is None
                record = registry.find_finished(call_sid=call.call_id)
                assert isinstance(record, FinishedCall) and record.call_sid == call.call_id
                assert registry.has_seen(call.call_id)
            assert not registry.has_seen("CA" + "0" * 32)

            # Each connected call's recording arrived (during or after the call), as an event.
            await sandbox.phone.events.wait_idle()
            connected = [call.twilio.recording_sid for call in calls[:4]]
            assert None not in connected
            assert sorted(r["recording_sid"] for r in recordings) == sorted(connected)
            # One that comes well after the end goes to the call's record.
            recordings.clear()
            late = await post_recording(sandbox, inbound[0].call_id, "RE" + "7" * 32)
            await sandbox.phone.events.wait_idle()
        finally:
            unsubscribe()
    assert late == 204
    (event,) = recordings
    assert event["call_id"] == inbound[0].call_id and event["call_ended"] is True
    assert (event["recording_sid"], event["status"], event["duration_seconds"]) == (
        "RE" + "7" * 32,
        "completed",
        3,
    )
    assert event["caller"] == SCENARIO.callee.number and event["callee"] == sandbox.phone_number


async def test_a_finished_call_is_freed_by_reference_counting_alone(carrier):
    """With the cyclic collector off, a call's session, engine and audio still go at its end."""
    with collector_off():
        earlier = weakref.WeakSet(watched_objects())
        async with Sandbox(SCENARIO, carrier=carrier) as sandbox:
            await sandbox.serve(
                sandbox.phone.agent("You are the receptionist.", first_message="Hello.")
            )
            calls = [await sandbox.call_in() for _ in range(2)]
            await asyncio.gather(*(call.ended() for call in calls))
            assert await leftovers(earlier, collect=False) == []


async def test_a_finished_pipeline_call_leaves_nothing_behind(carrier):
    gc.collect()
    earlier = weakref.WeakSet(watched_objects())
    async with Sandbox(SCENARIO, carrier=carrier) as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist.",
            first_message="Hello.",
            stt=DeepgramSTT(api_key="dg-CANARY"),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
            llm=OpenAILLM(api_key="sk-CANARY"),
        )
        await sandbox.serve(agent)
        calls = [await sandbox.call_in() for _ in range(2)]
        await asyncio.gather(*(call.ended() for call in calls))
        assert await leftovers(earlier, collect=True) == []
        assert registry_of(sandbox).finished_calls() == 2
