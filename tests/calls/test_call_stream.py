"""The call event stream: ordered, never blocking the publisher, bridged to the event bus."""

from __future__ import annotations

import asyncio
import logging

import pytest

from getpatter.calls.events import (
    AgentAudioSent,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TransferFinished,
)
from getpatter.calls.stream import CallEventStream
from getpatter.observability.events import EventBus, PatterEventType


def status(n: int) -> CallStatusChanged:
    return CallStatusChanged(call_id=f"CA{n}", status="ringing")


async def test_each_subscriber_gets_its_kinds_in_order_and_a_slow_one_delays_nobody() -> None:
    stream = CallEventStream()
    fast: list[str] = []
    slow: list[str] = []
    release = asyncio.Event()

    async def slowly(event) -> None:
        await release.wait()
        slow.append(event.call_id)

    stream.subscribe(lambda event: fast.append(event.call_id), kinds=(CallStatusChanged,))
    stream.subscribe(slowly)
    for n in range(5):
        stream.publish(status(n))  # returns at once, whatever the subscribers do
    stream.publish(CallStarted(call_id="CA9", direction="inbound"))
    await asyncio.sleep(0.01)
    assert fast == ["CA0", "CA1", "CA2", "CA3", "CA4"] and slow == []
    release.set()
    await stream.drain()
    assert slow == ["CA0", "CA1", "CA2", "CA3", "CA4", "CA9"]


async def test_a_subscriber_too_far_behind_loses_its_oldest_events_and_is_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = CallEventStream()
    seen: list[str] = []
    release = asyncio.Event()

    async def stuck(event) -> None:
        await release.wait()
        seen.append(event.call_id)

    stream.subscribe(stuck, max_pending=3, name="stuck")
    with caplog.at_level(logging.WARNING, logger="getpatter.calls"):
        for n in range(6):
            stream.publish(status(n))
    release.set()
    await stream.drain()
    assert seen == ["CA3", "CA4", "CA5"]  # only the newest three were kept
    assert "stuck is 3 events behind" in caplog.text


async def test_a_failing_subscriber_is_logged_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = CallEventStream()
    seen: list[str] = []

    def broken(event) -> None:
        raise RuntimeError("boom")

    stream.subscribe(broken, name="broken")
    stream.subscribe(broken, inline=True, name="broken inline")
    stream.subscribe(lambda event: seen.append(event.call_id))
    stream.publish(status(1))
    await stream.drain()
    assert seen == ["CA1"]
    assert "subscriber broken failed" in caplog.text
    assert "subscriber broken inline failed" in caplog.text


async def test_unsubscribing_stops_delivery_and_wants_follows_the_subscribers() -> None:
    stream = CallEventStream()
    seen: list[str] = []
    assert not stream.wants(AgentAudioSent)
    unsubscribe = stream.subscribe(lambda e: seen.append(e.call_id), kinds=(AgentAudioSent,))
    assert stream.wants(AgentAudioSent) and not stream.wants(CallStatusChanged)
    unsubscribe()
    stream.publish(AgentAudioSent(call_id="CA1", bytes=160))
    await stream.drain()
    assert seen == [] and not stream.wants(AgentAudioSent)


async def test_the_bridge_gives_the_bus_its_documented_payloads_only_when_it_listens() -> None:
    stream, bus = CallEventStream(), EventBus()
    stream.bridge(bus)
    assert not stream.wants(AgentAudioSent)  # nobody on the bus listens for TTS chunks
    got: list[dict] = []
    bus.on(PatterEventType.TRANSCRIPT_FINAL, got.append)
    bus.on(PatterEventType.TRANSFER_ENDED, got.append)
    history = ({"role": "user", "text": "Hi", "timestamp": 1.0},)
    stream.publish(
        TranscriptFinal(
            call_id="CA1", caller="+1", callee="+2", role="assistant", text="Hello",
            history=history, heard=False,
        )
    )  # fmt: skip
    stream.publish(
        TransferFinished(
            call_id="CA1", status="completed", dial_call_id="CA2", duration_seconds=3.0,
            cost_usd=0.017,
        )
    )  # fmt: skip
    await bus.wait_idle()
    assert got == [
        {
            "call_id": "CA1",
            "caller": "+1",
            "callee": "+2",
            "role": "assistant",
            "text": "Hello",
            "history": [{"role": "user", "text": "Hi", "timestamp": 1.0}],
            "heard": False,
        },
        {
            "call_id": "CA1",
            "status": "completed",
            "dial_call_id": "CA2",
            "duration_seconds": 3.0,
            "cost_usd": 0.017,
        },
    ]


def test_publishing_outside_the_event_loop_keeps_the_events_for_when_one_runs() -> None:
    stream = CallEventStream()
    seen: list[str] = []
    stream.subscribe(lambda event: seen.append(event.call_id))
    stream.publish(status(1))  # no running loop: nothing raised, nothing lost

    async def later() -> None:
        stream.publish(status(2))
        await stream.drain()

    asyncio.run(later())
    assert seen == ["CA1", "CA2"]
