"""CallLogStore beyond the shared store suite: restarts, other writers, days, torn lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from getpatter.calls.call_log import CallLogger
from getpatter.calls.events import (
    CallEvent,
    CallPlaced,
    CallStarted,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.log_store import CallLogStore
from getpatter.calls.store import CallStore
from getpatter.errors import ConfigError, PatterError
from getpatter.observability.metrics import CostBreakdown, LatencyBreakdown, TurnMetrics

CALLER = "+15550001111"
DAY_ONE = datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp()


def started(call_id: str, at: float) -> CallStarted:
    return CallStarted(
        call_id=call_id, caller=CALLER, callee="+15550009999", direction="inbound", at=at
    )


def line(call_id: str, role: str, text: str, at: float) -> TranscriptFinal:
    return TranscriptFinal(call_id=call_id, role=role, text=text, history=(), at=at)


def turn(call_id: str, at: float) -> TurnCompleted:
    metrics = TurnMetrics(
        turn_index=0, user_text="Hi", agent_text="Hello!", latency=LatencyBreakdown(total_ms=300.0)
    )
    return TurnCompleted(call_id=call_id, turn=metrics, cost_so_far=CostBreakdown(llm=0.004), at=at)


async def written_by_another_process(root: Path, events: list[CallEvent]) -> None:
    writer = CallLogger(root, retention_days=0)  # mask, the default; 2026-03 is kept
    for event in events:
        writer.record(event)
    await writer.aclose()


async def test_it_reads_a_folder_another_process_wrote_numbers_as_written(tmp_path: Path) -> None:
    await written_by_another_process(
        tmp_path,
        [
            started("CA1", DAY_ONE),
            line("CA1", "user", "Hi", DAY_ONE + 1),
            line("CA1", "assistant", "Hello!", DAY_ONE + 2),
            turn("CA1", DAY_ONE + 3),
        ],
    )
    async with CallLogStore(tmp_path) as store:
        assert isinstance(store, CallStore)
        call = await store.get("CA1")
        assert call is not None and call.active  # no end yet: counted from events.jsonl
        assert (call.caller, call.turns, call.cost["llm"]) == ("***1111", 1, 0.004)
        assert call.latency_p50_ms == 300.0
        assert [c.call_id for c in await store.list(search="***1111")] == ["CA1"]
        assert await store.list(search=CALLER) == []
        assert [x["text"] for x in await store.transcript("CA1")] == ["Hi", "Hello!"]


async def test_the_agent_line_waiting_for_its_turn_is_read_in_the_writing_process(
    tmp_path: Path,
) -> None:
    async with CallLogStore(tmp_path, retention_days=0) as store:
        await store.record(started("CA1", DAY_ONE))
        await store.record(line("CA1", "assistant", "Hello, dental.", DAY_ONE + 1))
        assert [x["text"] for x in await store.transcript("CA1")] == ["Hello, dental."]
    async with CallLogStore(tmp_path) as reopened:  # not on disk until its turn or next line
        assert await reopened.transcript("CA1") == []


async def test_list_pages_across_day_folders_newest_first(tmp_path: Path) -> None:
    starts = [DAY_ONE + 86400 * day + hour * 3600 for day in range(4) for hour in (1, 5)]
    await written_by_another_process(
        tmp_path, [started(f"CA{n}", at) for n, at in enumerate(starts)]
    )
    async with CallLogStore(tmp_path) as store:
        seen: list[str] = []
        before = None
        while page := await store.list(limit=3, before=before):
            seen += [c.call_id for c in page]
            before = page[-1].started_at
        assert seen == [f"CA{n}" for n in reversed(range(8))]
        assert [c.call_id for c in await store.list(before=DAY_ONE + 86400)] == ["CA1", "CA0"]


async def test_torn_lines_and_stray_folders_are_skipped(tmp_path: Path) -> None:
    await written_by_another_process(tmp_path, [started("CA1", DAY_ONE), turn("CA1", DAY_ONE + 1)])
    folder = tmp_path / "calls" / "2026" / "03" / "01"
    with (folder / "CA1" / "events.jsonl").open("a") as events:
        events.write('{"ts": "2026-03-01T10:00:02.000Z", "type": "tu')
    (folder / "empty").mkdir()
    (tmp_path / "calls" / "2026" / "13").mkdir()
    async with CallLogStore(tmp_path) as store:
        assert [c.call_id for c in await store.list()] == ["CA1"]
        assert len(await store.turns("CA1")) == 1
        assert await store.get("empty") is None


async def test_a_missing_folder_is_an_empty_store_and_a_closed_one_refuses(tmp_path: Path) -> None:
    store = CallLogStore(tmp_path / "not-yet")
    assert await store.list() == [] and await store.get("CA1") is None
    await store.aclose()
    await store.aclose()
    with pytest.raises(PatterError, match="closed"):
        await store.list()
    assert not (tmp_path / "not-yet").exists()
    with pytest.raises(ConfigError, match="root must be a folder path"):
        CallLogStore(None)  # type: ignore[arg-type]


async def test_a_placed_calls_goal_is_logged_and_read_back(tmp_path: Path) -> None:
    placed = CallPlaced(
        call_id="CA7",
        caller="+15550009999",
        callee=CALLER,
        goal="Book a cleaning",
        client_ref="ref-1",
        max_duration_sec=300,
        at=DAY_ONE,
    )
    await written_by_another_process(tmp_path, [placed])
    async with CallLogStore(tmp_path) as store:
        call = await store.get("CA7")
        assert call is not None and call.direction == "outbound"
        assert (call.callee, call.status) == ("***1111", "queued")
        assert call.placed == {
            "goal": "Book a cleaning",
            "client_ref": "ref-1",
            "max_duration_sec": 300,
            "mode": "live",
        }
