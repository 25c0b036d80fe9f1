"""The call stores: one behaviour suite run against the in-memory, SQLite and log-folder stores."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from getpatter.calls.events import (
    AgentAudioSent,
    CallEnded,
    CallError,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.log_store import CallLogStore
from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.calls.report import CallReport
from getpatter.calls.sqlite_store import SQLiteCallStore
from getpatter.calls.store import CallStore, StoredCall, feed
from getpatter.calls.stream import CallEventStream
from getpatter.errors import PatterError
from getpatter.observability.metrics import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
)

CALLER = "+15550001111"
CALLEE = "+15550009999"


@pytest.fixture(params=["memory", "sqlite", "logs"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CallStore]:
    made: CallStore
    if request.param == "memory":
        made = InMemoryCallStore()
    elif request.param == "sqlite":
        made = SQLiteCallStore(tmp_path / "c.db")
    else:
        # retention_days=0: these calls of 1970 would be swept away at a random call start.
        made = CallLogStore(tmp_path / "logs", redact_phone="full", retention_days=0)
    yield made
    await made.aclose()


def turn(index: int, user: str, agent: str, total_ms: float | None) -> TurnMetrics:
    return TurnMetrics(
        turn_index=index,
        user_text=user,
        agent_text=agent,
        latency=LatencyBreakdown(total_ms=total_ms),
        timestamp=1000.0 + index,
    )


def call_events(call_id: str = "CA1", start: float = 1000.0, *, hang_up: bool = True) -> list:
    who = {"call_id": call_id, "caller": CALLER, "callee": CALLEE}
    turns = (turn(0, "What are your hours?", "Nine to five.", 400.0), turn(1, "Bye", "Bye!", 600.0))
    events = [
        CallStatusChanged(**who, status="ringing", at=start - 1),
        CallStarted(**who, direction="inbound", at=start),
        TranscriptFinal(**who, role="assistant", text="Hello, dental.", history=(), at=start + 1),
        TranscriptFinal(**who, role="user", text="What are your hours?", history=(), at=start + 2),
        TurnCompleted(**who, turn=turns[0], cost_so_far=CostBreakdown(llm=0.01), at=start + 3),
        CallError(**who, error="TTS hiccup", code="tts", source="tts", fatal=False, at=start + 4),
        TurnCompleted(**who, turn=turns[1], cost_so_far=CostBreakdown(llm=0.02), at=start + 5),
    ]
    if hang_up:
        metrics = CallMetrics.from_turns(
            call_id=call_id,
            duration_seconds=10.0,
            turns=list(turns),
            cost=CostBreakdown(llm=0.02, telephony=0.01),
        )
        report = CallReport(
            call_id=call_id,
            caller=CALLER,
            callee=CALLEE,
            direction="inbound",
            started_at=start,
            ended_at=start + 10,
            duration_seconds=10.0,
            outcome="completed",
            ended_by="caller",
            error_count=1,
            transcript=({"role": "user", "text": "What are your hours?"},),
            metrics=metrics,
        )
        events.append(CallEnded(**who, report=report, at=start + 10))
    return events


async def record_all(store: CallStore, events: list) -> None:
    for event in events:
        await store.record(event)


async def test_a_calls_events_make_its_summary_transcript_turns_and_report(
    store: CallStore,
) -> None:
    assert isinstance(store, CallStore)
    await record_all(store, call_events()[:-1])
    active = await store.get("CA1")
    assert active is not None and active.active
    assert (active.status, active.direction, active.started_at) == ("in-progress", "inbound", 1000)
    assert (active.turns, active.error_count, active.error) == (2, 1, "TTS hiccup")
    assert (active.latency_p50_ms, active.latency_p95_ms) == (500.0, 590.0)
    assert active.cost["llm"] == 0.02
    assert await store.report("CA1") is None

    await record_all(store, call_events()[-1:])
    call = await store.get("CA1")
    assert call == StoredCall(
        call_id="CA1",
        direction="inbound",
        caller=CALLER,
        callee=CALLEE,
        status="ended",
        started_at=1000.0,
        ended_at=1010.0,
        duration_seconds=10.0,
        outcome="completed",
        ended_by="caller",
        error="TTS hiccup",
        cost={"stt": 0.0, "tts": 0.0, "llm": 0.02, "telephony": 0.01, "total": 0.03},
        latency_p50_ms=500.0,
        latency_p95_ms=590.0,
        turns=2,
        error_count=1,
    )
    assert json.loads(json.dumps(call.to_dict())) == call.to_dict()
    assert StoredCall.from_dict(call.to_dict()) == call

    lines = await store.transcript("CA1")
    assert [(line["role"], line["text"], line["heard"]) for line in lines] == [
        ("assistant", "Hello, dental.", True),
        ("user", "What are your hours?", True),
    ]
    assert lines[0]["at"] == 1001.0
    turns = await store.turns("CA1")
    assert [(t["turn_index"], t["user_text"], t["latency"]["total_ms"]) for t in turns] == [
        (0, "What are your hours?", 400.0),
        (1, "Bye", 600.0),
    ]
    assert turns[1]["cost_so_far"]["llm"] == 0.02
    report = await store.report("CA1")
    assert report is not None
    assert (report["outcome"], report["ended_by"], report["error_count"]) == (
        "completed",
        "caller",
        1,
    )
    assert report["metrics"]["cost"]["total"] == pytest.approx(0.03)
    assert [t["agent_text"] for t in report["metrics"]["turns"]] == ["Nine to five.", "Bye!"]
    assert json.loads(json.dumps(report)) == report


async def test_unknown_calls_are_empty_and_events_before_the_start_create_the_call(
    store: CallStore,
) -> None:
    assert await store.get("nope") is None
    assert await store.transcript("nope") == []
    assert await store.turns("nope") == []
    assert await store.report("nope") is None

    await store.record(
        TranscriptFinal(call_id="CA9", role="user", text="Hi", history=(), heard=False, at=5.0)
    )
    early = await store.get("CA9")
    assert early is not None and early.active and early.started_at == 5.0
    await store.record(
        CallStarted(call_id="CA9", caller=CALLER, callee=CALLEE, direction="outbound", at=6.0)
    )
    call = await store.get("CA9")
    assert call is not None
    assert (call.caller, call.direction, call.started_at) == (CALLER, "outbound", 6.0)
    assert [line["heard"] for line in await store.transcript("CA9")] == [False]


async def test_a_final_carrier_status_ends_a_call_that_never_started(store: CallStore) -> None:
    await store.record(CallStatusChanged(call_id="CA5", callee=CALLEE, status="ringing", at=1.0))
    await store.record(CallStatusChanged(call_id="CA5", callee=CALLEE, status="no-answer", at=9.0))
    call = await store.get("CA5")
    assert call is not None and not call.active
    assert (call.status, call.ended_at) == ("no-answer", 9.0)
    assert [c.call_id for c in await store.list(active=False)] == ["CA5"]


async def test_list_filters_active_and_ended_searches_and_pages_newest_first(
    store: CallStore,
) -> None:
    for n in range(5):
        await record_all(store, call_events(f"CA{n}", start=1000.0 + 100 * n, hang_up=n % 2 == 0))
    await store.record(
        TranscriptFinal(
            call_id="CA3",
            caller=CALLER,
            callee=CALLEE,
            role="user",
            text="Need a ROOT canal",
            history=(),
            at=1310.0,
        )
    )

    def ids(calls: list[StoredCall]) -> list[str]:
        return [c.call_id for c in calls]

    assert ids(await store.list()) == ["CA4", "CA3", "CA2", "CA1", "CA0"]
    assert ids(await store.list(active=True)) == ["CA3", "CA1"]
    assert ids(await store.list(active=False)) == ["CA4", "CA2", "CA0"]
    first = await store.list(limit=2)
    assert ids(first) == ["CA4", "CA3"]
    second = await store.list(limit=2, before=first[-1].started_at)
    assert ids(second) == ["CA2", "CA1"]
    assert ids(await store.list(limit=2, before=second[-1].started_at)) == ["CA0"]
    assert ids(await store.list(active=False, before=1300.0)) == ["CA2", "CA0"]
    assert ids(await store.list(search="root canal")) == ["CA3"]
    assert ids(await store.list(search="5550001111", limit=1)) == ["CA4"]
    assert ids(await store.list(search="ca2")) == ["CA2"]
    assert ids(await store.list(search="100%_")) == []
    assert await store.list(search="nobody said this") == []


async def test_the_memory_store_keeps_every_active_call_and_the_newest_ended_ones() -> None:
    store = InMemoryCallStore(max_ended=2)
    await record_all(store, call_events("live", start=1.0, hang_up=False))
    for n in range(4):
        await record_all(store, call_events(f"CA{n}", start=100.0 + n))
    assert [c.call_id for c in await store.list()] == ["CA3", "CA2", "live"]
    assert await store.transcript("CA0") == []
    await store.aclose()


async def test_the_sqlite_store_keeps_calls_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "calls.db"
    first = SQLiteCallStore(path)
    await record_all(first, call_events())
    before = await first.get("CA1")
    await first.aclose()
    await first.aclose()
    with pytest.raises(PatterError, match="closed"):
        await first.get("CA1")
    assert path.stat().st_mode & 0o777 == 0o600

    async with SQLiteCallStore(path) as reopened:
        assert await reopened.get("CA1") == before
        assert len(await reopened.transcript("CA1")) == 2
        assert len(await reopened.turns("CA1")) == 2
        report = await reopened.report("CA1")
        assert report is not None and report["outcome"] == "completed"
        assert [c.call_id for c in await reopened.list(active=False)] == ["CA1"]


async def test_feed_records_a_streams_events_in_order_and_unsubscribes(store: CallStore) -> None:
    stream = CallEventStream()
    unsubscribe: Callable[[], None] = feed(stream, store)
    for event in call_events():
        stream.publish(event)
    stream.publish(AgentAudioSent(call_id="CA1", bytes=160))
    await stream.drain()
    call = await store.get("CA1")
    assert call is not None and call.outcome == "completed" and call.turns == 2
    assert len(await store.transcript("CA1")) == 2

    unsubscribe()
    stream.publish(CallStarted(call_id="CA2", direction="inbound"))
    await stream.drain()
    assert await store.get("CA2") is None
