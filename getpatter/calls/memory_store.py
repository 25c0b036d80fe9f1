"""A :class:`~getpatter.calls.store.CallStore` in memory, bounded: the newest ended calls only."""

from __future__ import annotations

import builtins
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from getpatter._validation import require_int, require_str
from getpatter.calls.events import CallEnded, CallEvent, TurnCompleted
from getpatter.calls.store import (
    StoredCall,
    apply_event,
    jsonable,
    latency_percentiles,
    transcript_line,
    turn_entry,
)

__all__ = ["InMemoryCallStore"]


@dataclass
class _Entry:
    call: StoredCall
    lines: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None


class InMemoryCallStore:
    """Keeps every active call and the newest ``max_ended`` ended ones (default 1000).

    When more calls have ended, the one that ended first is forgotten with its transcript,
    turns and report. Nothing survives the process; use
    :class:`~getpatter.calls.sqlite_store.SQLiteCallStore` for that.
    """

    def __init__(self, *, max_ended: int = 1000) -> None:
        self._max_ended = require_int("max_ended", max_ended, minimum=1)
        self._calls: dict[str, _Entry] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()

    async def record(self, event: CallEvent) -> None:
        """Apply one event to its call (created when not seen yet)."""
        entry = self._calls.get(event.call_id)
        was_active = entry is None or entry.call.active
        call = apply_event(None if entry is None else entry.call, event)
        if entry is None:
            entry = self._calls[event.call_id] = _Entry(call)
        line = transcript_line(event)
        if line is not None:
            entry.lines.append(line)
        turn = turn_entry(event)
        if turn is not None:
            entry.turns.append(turn)
        if isinstance(event, TurnCompleted):
            p50, p95 = latency_percentiles([t["latency"]["total_ms"] for t in entry.turns])
            call = replace(call, latency_p50_ms=p50, latency_p95_ms=p95)
        if isinstance(event, CallEnded):
            entry.report = jsonable(event.report)
        entry.call = call
        if was_active and not call.active:
            self._ended[call.call_id] = None
            while len(self._ended) > self._max_ended:
                forgotten, _ = self._ended.popitem(last=False)
                self._calls.pop(forgotten, None)

    async def get(self, call_id: str) -> StoredCall | None:
        """The call's summary, or ``None``."""
        entry = self._calls.get(call_id)
        return None if entry is None else _copy(entry.call)

    async def list(
        self,
        *,
        active: bool | None = None,
        limit: int = 50,
        before: float | None = None,
        search: str = "",
    ) -> builtins.list[StoredCall]:
        """Up to ``limit`` calls, newest first; see :meth:`CallStore.list
        <getpatter.calls.store.CallStore.list>`."""
        require_int("limit", limit, minimum=1)
        require_str("search", search)
        needle = search.casefold()
        found = [
            entry.call
            for entry in self._calls.values()
            if (active is None or entry.call.active == active)
            and (before is None or entry.call.started_at < before)
            and (not needle or _matches(entry, needle))
        ]
        found.sort(key=lambda call: (call.started_at, call.call_id), reverse=True)
        return [_copy(call) for call in found[:limit]]

    async def transcript(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's transcript lines in order (empty for an unknown call)."""
        entry = self._calls.get(call_id)
        return [] if entry is None else [dict(line) for line in entry.lines]

    async def turns(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's turn metrics in order (empty for an unknown call)."""
        entry = self._calls.get(call_id)
        return [] if entry is None else [jsonable(turn) for turn in entry.turns]

    async def report(self, call_id: str) -> dict[str, Any] | None:
        """The call's end report as plain values, or ``None``."""
        entry = self._calls.get(call_id)
        return None if entry is None or entry.report is None else jsonable(entry.report)

    async def aclose(self) -> None:
        """Forget every call."""
        self._calls.clear()
        self._ended.clear()


def _copy(call: StoredCall) -> StoredCall:
    # The summary is frozen but holds dicts: hand out copies nobody else holds.
    return replace(call, cost=dict(call.cost), placed=dict(call.placed))


def _matches(entry: _Entry, needle: str) -> bool:
    call = entry.call
    if any(needle in value.casefold() for value in (call.call_id, call.caller, call.callee)):
        return True
    return any(needle in str(line["text"]).casefold() for line in entry.lines)
