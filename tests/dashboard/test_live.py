"""Live updates: the event stream a browser reads while calls run."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from conftest import GREETING, call_events, events, served

from getpatter import DeepgramSTT, ElevenLabsTTS
from getpatter.calls.events import CallEvent, CallStarted, TranscriptPartial
from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.calls.stream import CallEventStream
from getpatter.dashboard import live
from getpatter.dashboard.live import Outbox, StreamFeed, event_stream
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario


async def test_a_browser_sees_a_call_start_speak_take_turns_and_end() -> None:
    async with asyncio.timeout(60), served() as s, events(s.client) as stream:
        assert stream.retry == "2000"
        call = await s.sandbox.call_in()
        started = await stream.until("call", call_id=call.call_id, active=True)
        assert started["call"]["direction"] == "inbound"
        assert started["call"]["provider_mode"] == "openai_realtime"
        greeting = await stream.until("transcript", text=GREETING)
        assert greeting == {
            "call_id": call.call_id,
            "line": {
                "role": "assistant",
                "text": GREETING,
                "heard": True,
                "at": greeting["line"]["at"],
            },
        }
        await stream.until("transcript", role="user", text="What are your hours?")
        turn = await stream.until("turn", call_id=call.call_id)
        assert turn["turn"]["user_text"] == "What are your hours?"
        assert turn["turn"]["latency"]["total_ms"] is not None
        assert turn["turn"]["cost_so_far"]["total"] > 0
        after_turn = await stream.until("call", call_id=call.call_id, turns=1)
        assert after_turn["call"]["latency_p50_ms"] == turn["turn"]["latency"]["total_ms"]
        assert after_turn["call"]["cost"] == turn["turn"]["cost_so_far"]
        ended = await stream.until("call", call_id=call.call_id, active=False)
        report = await call.ended()
        assert ended["call"]["outcome"] == "completed"
        assert ended["call"]["duration_seconds"] == report["duration_seconds"]
        assert ended["call"]["cost"]["total"] == report["metrics"].cost.total
        # What the browser was sent is what the API answers once the store caught up.
        await s.sandbox.phone.call_events.drain()
        detail = (await s.client.get(f"/api/v1/calls/{call.call_id}")).json()
        assert detail["call"] == ended["call"]
        lines = [data["line"] for name, data in stream.messages if name == "transcript"]
        assert lines == detail["transcript"]


async def test_a_browser_sees_what_the_caller_is_saying_as_it_is_recognised() -> None:
    scenario = Scenario(
        callee=Callee(steps=(Say("When are you open?"), HangUp(pause_ms=1500))),
        replies=(Reply("We open at nine."),),
    )
    async with asyncio.timeout(60), Sandbox(scenario) as sandbox:
        await sandbox.serve(
            sandbox.phone.agent(
                "You are the receptionist.",
                stt=DeepgramSTT(api_key="dg-CANARY"),
                tts=ElevenLabsTTS(api_key="el-CANARY"),
            ),
            on_message=lambda message: "We open at nine.",
        )
        async with httpx.AsyncClient() as client, events(client, sandbox_events(sandbox)) as stream:
            call = await sandbox.call_in()
            partial = await stream.until("partial", call_id=call.call_id, text="When are")
            assert partial == {"call_id": call.call_id, "role": "user", "text": "When are"}
            await stream.until("transcript", role="user", text="When are you open?")
            await call.ended()


def sandbox_events(sandbox: Sandbox) -> str:
    return sandbox.dashboard_url.replace("/dashboard?", "/api/v1/events?")


async def test_a_browser_that_leaves_is_unsubscribed() -> None:
    async with asyncio.timeout(60), served() as s:
        stream_of_calls = s.sandbox.phone.call_events
        # Only a browser subscribes to interim transcripts (the call store does not).
        assert not stream_of_calls.wants(TranscriptPartial)
        async with events(s.client):
            assert stream_of_calls.wants(TranscriptPartial)
        # The server notices the disconnect, and unsubscribes.
        while stream_of_calls.wants(TranscriptPartial):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_open_streams_end_when_the_server_stops() -> None:
    async with asyncio.timeout(60), served() as s:
        async with s.client.stream("GET", "/api/v1/events") as response:
            lines = response.aiter_lines()
            assert await anext(lines) == "retry: 2000"
            await s.sandbox.phone.disconnect()
            rest = [line async for line in lines]  # ends: the server closed the stream
        assert all(not line or line.startswith(":") for line in rest)


async def test_a_slow_browser_loses_the_oldest_messages_and_holds_up_nobody() -> None:
    outbox = Outbox(size=3)
    for index in range(5):
        outbox.put(("transcript", {"index": index}))
    assert outbox.dropped == 2
    got = [await outbox.get(0) for _ in range(4)]
    assert got == [("transcript", {"index": i}) for i in (2, 3, 4)] + [None]


async def test_a_browser_behind_on_stream_events_drops_the_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "MAX_QUEUED", 4)
    stream = CallEventStream()
    store = InMemoryCallStore()
    outbox = Outbox(size=1000)
    blocked = asyncio.Event()
    feed = StreamFeed(stream, store)

    async def slow_get(call_id: str) -> Any:
        await blocked.wait()
        return None

    monkeypatch.setattr(store, "get", slow_get)
    leave = feed.connect(outbox)
    try:
        for index in range(10):
            for event in call_events(f"CA{index}", at=1_000_000.0 + index):
                stream.publish(event)  # never waits
        blocked.set()
        await stream.drain()
    finally:
        leave()
    sent = [data for _, data in _drain(outbox)]
    assert sent and all(
        data.get("call_id", data.get("call", {}).get("call_id")) == "CA9" for data in sent
    )


def _drain(outbox: Outbox) -> list[tuple[str, dict[str, Any]]]:
    messages = []
    while outbox._messages:
        messages.append(outbox._messages.popleft())
    return messages


async def test_an_idle_stream_sends_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "PING_SECONDS", 0.01)
    stream = CallEventStream()
    outbox = Outbox()
    chunks = event_stream(outbox, StreamFeed(stream, InMemoryCallStore()))
    assert await anext(chunks) == "retry: 2000\n\n"
    assert await anext(chunks) == ": ping\n\n"
    first: CallEvent = call_events("CA1", at=1_000_000.0)[0]
    stream.publish(first)
    message = await anext(chunks)
    assert message.startswith('event: call\ndata: {"call":{"call_id":"CA1",')
    assert message.endswith("}}\n\n") and message.count("\n") == 3
    outbox.close()
    assert [chunk async for chunk in chunks] == []
    assert not stream.wants(CallStarted)


async def test_a_polled_store_says_subscribed_only_after_its_first_read() -> None:
    # Before: the first read, which only notes what is there, could run after a change the
    # browser already expected to hear about, and that change was never sent.
    class SlowStore(InMemoryCallStore):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def list(self, **options: Any) -> Any:
            await self.release.wait()
            return await super().list(**options)

    store = SlowStore()
    poller = live.StorePoller(store, interval=0.01)
    stream = event_stream(Outbox(), poller)
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    assert not first.done()  # not subscribed while the store has not been read
    store.release.set()
    assert await asyncio.wait_for(first, 5) == "retry: 2000\n\n"
    await store.record(CallStarted(call_id="CA1", direction="inbound"))
    message = await asyncio.wait_for(anext(stream), 5)
    assert message.startswith("event: call\n") and '"call_id":"CA1"' in message
    await stream.aclose()
