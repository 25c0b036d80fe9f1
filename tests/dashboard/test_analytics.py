"""Aggregates: the overview and cost over time, over the calls a store holds."""

from __future__ import annotations

import time

import pytest
from conftest import call_events

from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.dashboard.analytics import Analytics
from getpatter.observability.metrics import CostBreakdown


async def _store(*calls: tuple[str, float, float | None, float | None]) -> InMemoryCallStore:
    store = InMemoryCallStore()
    for call_id, at, total_ms, duration in calls:
        for event in call_events(call_id, at=at, total_ms=total_ms, duration=duration):
            await store.record(event)
    return store


async def test_the_overview_adds_up_calls_minutes_latency_and_cost() -> None:
    now = time.time()
    store = await _store(
        ("CA1", now - 3600, 100.0, 60.0),
        ("CA2", now - 1800, 300.0, 120.0),
        ("CA3", now - 900, None, 30.0),
        ("CAlive", now - 10, 500.0, None),
    )
    overview = await Analytics(store).overview()
    assert (overview["calls"], overview["active"]) == (4, 1)
    assert overview["average_duration_seconds"] == 70.0
    assert 3.5 + 10 / 60 <= overview["minutes"] < 3.5 + 60 / 60  # the active call counts so far
    assert overview["average_latency_ms"] == 300.0  # turns that measured it: 100, 300, 500
    assert overview["p95_latency_ms"] == pytest.approx(480.0)
    assert overview["cost"] == pytest.approx(
        {"stt": 0.04, "tts": 0.08, "llm": 0.12, "telephony": 0.16, "total": 0.4}
    )


async def test_an_empty_store_has_no_averages() -> None:
    overview = await Analytics(InMemoryCallStore()).overview()
    assert overview == {
        "calls": 0,
        "active": 0,
        "minutes": 0.0,
        "average_duration_seconds": None,
        "average_latency_ms": None,
        "p95_latency_ms": None,
        "cost": {"stt": 0.0, "tts": 0.0, "llm": 0.0, "telephony": 0.0, "total": 0.0},
    }
    assert await Analytics(InMemoryCallStore()).costs(None) == {"bucket": "hour", "points": []}


async def test_costs_are_bucketed_by_hour_for_recent_calls_with_empty_hours_between() -> None:
    hour = (time.time() // 3600 - 5) * 3600
    store = await _store(
        ("CA1", hour + 10, 100.0, 60.0),
        ("CA2", hour + 20, 100.0, 60.0),
        ("CA3", hour + 2 * 3600 + 5, 100.0, 120.0),
    )
    costs = await Analytics(store).costs(None)
    assert costs["bucket"] == "hour"
    assert [(p["start"], p["calls"], p["minutes"]) for p in costs["points"]] == [
        (hour, 2, 2.0),
        (hour + 3600, 0, 0.0),
        (hour + 7200, 1, 2.0),
    ]
    assert costs["points"][0]["cost"]["total"] == pytest.approx(0.2)
    assert costs["points"][1]["cost"]["total"] == 0.0


async def test_older_calls_are_bucketed_by_day_unless_hours_are_asked_for() -> None:
    day = (time.time() // 86400 - 3) * 86400
    store = await _store(("CA1", day + 100, None, 60.0), ("CA2", day + 86400 + 5, None, 60.0))
    analytics = Analytics(store)
    by_day = await analytics.costs(None)
    assert by_day["bucket"] == "day"
    assert [(p["start"], p["calls"]) for p in by_day["points"]] == [(day, 1), (day + 86400, 1)]
    by_hour = await analytics.costs("hour")
    assert by_hour["bucket"] == "hour" and len(by_hour["points"]) == 25


async def test_ended_calls_turns_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = await _store(("CA1", 1_000_000.0, 100.0, 60.0), ("CAlive", 1_000_100.0, 200.0, None))
    read: list[str] = []
    turns = store.turns

    async def counted(call_id: str) -> list[dict[str, object]]:
        read.append(call_id)
        return await turns(call_id)

    monkeypatch.setattr(store, "turns", counted)
    analytics = Analytics(store)
    await analytics.overview()
    await analytics.overview()
    assert sorted(read) == ["CA1", "CAlive", "CAlive"]


def test_cost_keys_match_the_cost_breakdown() -> None:
    from getpatter.dashboard.analytics import COST_KEYS

    assert set(COST_KEYS) == set(CostBreakdown().to_dict())
