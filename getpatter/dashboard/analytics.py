"""Aggregates over the calls a store holds: the overview figures and cost over time.

Both look at the newest :data:`WINDOW` calls (active and ended) the store returns. A call's
minutes are its ``duration_seconds`` once ended and the time since it started while active.
Latency figures are over every measured turn of those calls (``latency.total_ms``: the caller's
last word to the agent's first audio); turns of ended calls never change, so they are read from
the store once and remembered.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from getpatter.calls.store import CallStore, StoredCall
from getpatter.observability.metrics import percentile

__all__ = ["BUCKETS", "WINDOW", "Analytics", "call_minutes", "cost_sum"]

WINDOW = 1000
"""How many of the newest calls the aggregates cover."""

BUCKETS = {"hour": 3600.0, "day": 86400.0}
"""Cost-over-time bucket widths in seconds; buckets start on UTC hour and day boundaries."""

_MAX_FILLED = 2000
"""Beyond this many buckets from the first call to the last, empty buckets are left out."""

_HOURLY_SPAN = 48 * 3600.0
"""With no ``bucket`` asked for, calls all started within this long ago are bucketed by hour."""

COST_KEYS = ("stt", "tts", "llm", "telephony", "total")


def call_minutes(call: StoredCall, now: float) -> float:
    """How long ``call`` lasted (so far, while active), in minutes."""
    if call.duration_seconds is not None:
        return call.duration_seconds / 60
    end = call.ended_at if call.ended_at is not None else now
    return max(0.0, end - call.started_at) / 60


def cost_sum(calls: Iterable[StoredCall]) -> dict[str, float]:
    """The calls' costs added up by category (``stt``, ``tts``, ``llm``, ``telephony``,
    ``total``)."""
    totals = dict.fromkeys(COST_KEYS, 0.0)
    for call in calls:
        for key in COST_KEYS:
            value = call.cost.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                totals[key] += value
    return totals


class Analytics:
    """Computes the aggregates over ``store``; keeps ended calls' turn latencies between asks."""

    def __init__(self, store: CallStore) -> None:
        self._store = store
        self._ended_latencies: dict[str, tuple[float, ...]] = {}

    async def overview(self) -> dict[str, Any]:
        """``calls``, ``active``, ``minutes``, ``average_duration_seconds``,
        ``average_latency_ms``, ``p95_latency_ms`` and ``cost`` over the newest calls."""
        calls = await self._store.list(limit=WINDOW)
        now = time.time()
        durations = [c.duration_seconds for c in calls if c.duration_seconds is not None]
        latencies = await self._latencies(calls)
        return {
            "calls": len(calls),
            "active": sum(1 for c in calls if c.active),
            "minutes": sum(call_minutes(c, now) for c in calls),
            "average_duration_seconds": sum(durations) / len(durations) if durations else None,
            "average_latency_ms": sum(latencies) / len(latencies) if latencies else None,
            "p95_latency_ms": percentile(latencies, 95) if latencies else None,
            "cost": cost_sum(calls),
        }

    async def costs(self, bucket: str | None) -> dict[str, Any]:
        """Calls, minutes and cost per ``bucket`` (``hour``/``day``; ``None``: hour when every
        call started within 48 hours, else day), oldest first; empty buckets between the first
        and the last call are included (unless there would be more than 2000)."""
        calls = await self._store.list(limit=WINDOW)
        now = time.time()
        if bucket is None:
            oldest = min((c.started_at for c in calls), default=now)
            bucket = "hour" if now - oldest <= _HOURLY_SPAN else "day"
        return {"bucket": bucket, "points": _points(calls, BUCKETS[bucket], now)}

    async def _latencies(self, calls: Sequence[StoredCall]) -> list[float]:
        held: dict[str, tuple[float, ...]] = {}
        measured: list[float] = []
        for call in calls:
            totals = self._ended_latencies.get(call.call_id)
            if totals is None:
                totals = _turn_totals(await self._store.turns(call.call_id))
            if not call.active:
                held[call.call_id] = totals
            measured.extend(totals)
        self._ended_latencies = held  # calls that left the window are forgotten
        return measured


def _turn_totals(turns: Sequence[dict[str, Any]]) -> tuple[float, ...]:
    totals: list[float] = []
    for turn in turns:
        latency = turn.get("latency")
        value = latency.get("total_ms") if isinstance(latency, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            totals.append(float(value))
    return tuple(totals)


def _points(calls: Sequence[StoredCall], width: float, now: float) -> list[dict[str, Any]]:
    if not calls:
        return []
    by_start: dict[float, list[StoredCall]] = {}
    for call in calls:
        by_start.setdefault(math.floor(call.started_at / width) * width, []).append(call)
    first, last = min(by_start), max(by_start)
    count = round((last - first) / width) + 1
    starts = (
        [first + index * width for index in range(count)]
        if count <= _MAX_FILLED
        else sorted(by_start)
    )
    points = []
    for start in starts:
        members = by_start.get(start, [])
        points.append(
            {
                "start": start,
                "calls": len(members),
                "minutes": sum(call_minutes(c, now) for c in members),
                "cost": cost_sum(members),
            }
        )
    return points
