"""The call registry: live calls, the small records finished calls leave, and CallSids seen."""

import gc
import tracemalloc
import weakref
from dataclasses import dataclass, field
from typing import Any

import pytest

from getpatter.calls.events import RecordingReady
from getpatter.calls.stream import CallEventStream
from getpatter.server.call_records import RecentCallSids
from getpatter.server.registry import (
    FINISHED_KEPT_SECONDS,
    SEEN_KEPT_MAX,
    SEEN_KEPT_SECONDS,
    TOKEN_TTL_SECONDS,
    CallRegistry,
    FinishedCall,
)


@dataclass(eq=False)
class StubSession:
    """What the registry reads of a CallSession, and its end as the session reports it."""

    patter_id: str
    call_sid: str = ""
    caller: str = "+15550100001"
    callee: str = "+15550009999"
    finished: bool = False
    on_finished: Any = None
    buffers: bytearray = field(default_factory=lambda: bytearray(100_000))

    def bind(self, call_sid: str) -> None:
        self.call_sid = call_sid

    def end(self) -> None:
        self.finished = True
        hook, self.on_finished = self.on_finished, None
        if hook is not None:
            hook(self)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return CallEventStream()


@pytest.fixture
def registry(events, clock):
    return CallRegistry(events, clock=clock)


def test_a_finished_call_leaves_a_small_record_and_not_its_session(registry):
    session = StubSession("pc_1", call_sid="CA1")
    registry.add(session)
    assert registry.find(call_sid="CA1") is session and registry.active() == [session]
    session.end()
    assert registry.find(call_sid="CA1") is None and registry.find(patter_id="pc_1") is None
    assert registry.active() == []
    record = registry.find_finished(call_sid="CA1")
    assert isinstance(record, FinishedCall) and registry.find_finished(patter_id="pc_1") is record
    assert (record.patter_id, record.call_sid, record.caller, record.callee) == (
        "pc_1",
        "CA1",
        "+15550100001",
        "+15550009999",
    )
    assert registry.finished_calls() == 1
    alive = weakref.ref(session)
    del session
    gc.collect()
    assert alive() is None


def test_records_are_dropped_after_the_retention(registry, clock):
    first = StubSession("pc_1", call_sid="CA1")
    registry.add(first)
    first.end()
    clock.now += FINISHED_KEPT_SECONDS - 1
    second = StubSession("pc_2", call_sid="CA2")
    registry.add(second)
    second.end()
    assert registry.find_finished(call_sid="CA1") is not None
    clock.now += 2
    assert registry.find_finished(call_sid="CA1") is None
    assert registry.find_finished(patter_id="pc_1") is None
    assert registry.find_finished(call_sid="CA2") is not None
    assert registry.finished_calls() == 1


def test_the_retention_can_be_shortened(events, clock):
    registry = CallRegistry(events, finished_kept=5, clock=clock)
    session = StubSession("pc_1", call_sid="CA1")
    registry.add(session)
    session.end()
    clock.now += 6
    assert registry.find_finished(call_sid="CA1") is None


def test_an_unused_media_token_does_not_keep_a_finished_call(registry):
    session = StubSession("pc_1", call_sid="CA1")
    registry.add(session)
    token = registry.mint_token(session)
    session.end()
    alive = weakref.ref(session)
    del session
    gc.collect()
    assert alive() is None
    assert registry.claim_token(token) is None


def test_a_media_token_is_claimed_once_while_the_call_is_live(registry, clock):
    session = StubSession("pc_1", call_sid="CA1")
    registry.add(session)
    token = registry.mint_token(session)
    assert registry.claim_token(token) is session
    assert registry.claim_token(token) is None
    late = registry.mint_token(session)
    clock.now += TOKEN_TTL_SECONDS + 1
    assert registry.claim_token(late) is None


def test_a_carrier_id_given_after_the_end_reaches_the_record(registry):
    session = StubSession("pc_1")
    registry.add(session)
    session.end()  # a dialed call can fail before Calls.create has answered
    registry.bind_sid(session, "CA1")
    assert registry.find(call_sid="CA1") is None
    record = registry.find_finished(call_sid="CA1")
    assert record is not None and record.patter_id == "pc_1"
    assert registry.has_seen("CA1")


def test_a_call_that_could_not_be_placed_leaves_nothing(registry):
    session = StubSession("pc_1")
    registry.add(session)
    registry.remove(session)
    assert registry.find(patter_id="pc_1") is None and registry.active() == []
    session.end()
    assert registry.find_finished(patter_id="pc_1") is None and registry.finished_calls() == 0


async def test_a_late_recording_is_emitted_as_an_event(registry, events):
    seen = []
    events.subscribe(lambda event: seen.append(event.payload()), kinds=(RecordingReady,))
    session = StubSession("pc_1", call_sid="CA1")
    registry.add(session)
    session.end()
    record = registry.find_finished(call_sid="CA1")
    assert record is not None
    record.on_recording({"recording_sid": "RE1", "url": "https://r/RE1", "status": "completed"})
    await events.drain()
    assert seen == [
        {
            "call_id": "CA1",
            "caller": "+15550100001",
            "callee": "+15550009999",
            "recording_sid": "RE1",
            "url": "https://r/RE1",
            "status": "completed",
            "call_ended": True,
        }
    ]


def test_has_seen_live_and_finished_calls_for_a_day(registry, clock):
    live = StubSession("pc_1", call_sid="CA1")
    finished = StubSession("pc_2", call_sid="CA2")
    dialed = StubSession("pc_3")
    for session in (live, finished, dialed):
        registry.add(session)
    registry.bind_sid(dialed, "CA3")
    finished.end()
    assert [registry.has_seen(sid) for sid in ("CA1", "CA2", "CA3", "CA4", "")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    clock.now += FINISHED_KEPT_SECONDS + 1
    assert registry.find_finished(call_sid="CA2") is None and registry.has_seen("CA2")
    clock.now += SEEN_KEPT_SECONDS
    assert not any(registry.has_seen(sid) for sid in ("CA1", "CA2", "CA3"))


def test_recent_call_sids_keep_the_most_recent_ones():
    recent = RecentCallSids(window=100.0, limit=5000)
    for n in range(12_000):
        recent.add(f"CA{n:032x}", now=float(n) / 1000)
    assert len(recent) == 5000
    assert not recent.seen(f"CA{6999:032x}", now=12.0)
    assert all(recent.seen(f"CA{n:032x}", now=12.0) for n in range(7000, 12_000))
    recent.add(f"CA{11_999:032x}", now=50.0)  # already kept: keeps its first time
    assert not recent.seen(f"CA{11_999:032x}", now=112.5)


def test_recent_call_sids_forget_by_time():
    recent = RecentCallSids(window=10.0, limit=SEEN_KEPT_MAX)
    recent.add("CA_old", now=0.0)
    recent.add("CA_new", now=5.0)
    assert recent.seen("CA_old", now=10.0) and recent.seen("CA_new", now=10.0)
    assert not recent.seen("CA_old", now=10.5) and recent.seen("CA_new", now=10.5)
    assert len(recent) == 1
    recent.add("CA_old", now=11.0)
    assert recent.seen("CA_old", now=20.0) and not recent.seen("CA_new", now=20.0)


def test_seen_call_sids_are_compact():
    """Memory per CallSid at the bound (docs/decisions.md: about 90 bytes; a dict of CallSid
    strings to times takes about 145)."""
    recent = RecentCallSids(window=SEEN_KEPT_SECONDS, limit=SEEN_KEPT_MAX)
    sids = [f"CA{n:032x}" for n in range(SEEN_KEPT_MAX)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, sid in enumerate(sids):
            recent.add(sid, now=n / 10)
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / SEEN_KEPT_MAX
    finally:
        tracemalloc.stop()
    assert len(recent) == SEEN_KEPT_MAX
    assert per_entry < 120
