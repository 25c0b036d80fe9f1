"""A :class:`~getpatter.calls.store.CallStore` over a call log folder: it writes it and reads it.

``CallLogStore(root)`` is the :class:`~getpatter.calls.call_log.CallLogger` of ``root`` plus the
read side of the store protocol, answered from the files alone, so it answers after a restart
and for a folder another process writes (``getpatter dashboard --logs DIR``). Every read runs
on the writer's worker thread after the writes queued before it, so a caller reads what it
recorded. Summaries are cached per call folder and re-read only when its files change.

What is read back is what is on disk: phone numbers as the folder's redaction mode wrote them;
the summary by the rules of every store (:func:`~getpatter.calls.store.apply_event`), replaying
the ``events.jsonl`` rows over the call ``metadata.json`` names; the end report from the
``call_ended`` row, its metrics' turns from the ``turn`` rows and its transcript from
``transcript.jsonl``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar

from getpatter._validation import require_int, require_str
from getpatter.calls import log_format
from getpatter.calls.call_log import (
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SWEEP_CHANCE,
    LOGGED_KINDS,
    CallLogger,
)
from getpatter.calls.events import (
    CallEnded,
    CallError,
    CallEvent,
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    TurnCompleted,
)
from getpatter.calls.phone_redaction import DEFAULT_PHONE_REDACTION, PhoneRedaction
from getpatter.calls.report import CallReport
from getpatter.calls.store import StoredCall, apply_event, latency_percentiles
from getpatter.errors import ConfigError, PatterError
from getpatter.observability.metrics import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
)

__all__ = ["CallLogStore"]

_T = TypeVar("_T")

_MAX_CACHED = 10_000
"""Call summaries kept in memory (the first cached are forgotten first, and re-read if asked)."""


@dataclass
class _Cached:
    stamp: tuple[int, ...]
    call: StoredCall


class CallLogStore:
    """The calls of the log folder ``root``: written as :class:`CallLogger` writes them, read
    back from the files.

    ``redact_phone``, ``retention_days`` and ``sweep_chance`` configure the writing, as for
    :class:`CallLogger`. A folder that does not exist yet is an empty store.
    """

    recorded_kinds: tuple[type[CallEvent], ...] = LOGGED_KINDS
    """What :func:`~getpatter.calls.store.feed` subscribes it to: every kind the log keeps."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        redact_phone: PhoneRedaction = DEFAULT_PHONE_REDACTION,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        sweep_chance: float = DEFAULT_SWEEP_CHANCE,
    ) -> None:
        if not isinstance(root, str | os.PathLike):
            raise ConfigError(f"root must be a folder path, got {type(root).__name__}")
        self.writer = CallLogger(
            root,
            redact_phone=redact_phone,
            retention_days=retention_days,
            sweep_chance=sweep_chance,
        )
        assert self.writer.root is not None
        self.root: Path = self.writer.root
        self._summaries: OrderedDict[Path, _Cached] = OrderedDict()
        self._folders: dict[str, Path] = {}

    async def record(self, event: CallEvent) -> None:
        """Write ``event`` to its call's folder (queued: returns at once)."""
        self.writer.record(event)

    async def get(self, call_id: str) -> StoredCall | None:
        """The call's summary, or ``None`` for a call the folder does not hold."""
        require_str("call_id", call_id)
        return await self._read(lambda: self._get(call_id))

    async def list(
        self,
        *,
        active: bool | None = None,
        limit: int = 50,
        before: float | None = None,
        search: str = "",
    ) -> builtins.list[StoredCall]:
        """Up to ``limit`` calls, newest first; see :meth:`CallStore.list
        <getpatter.calls.store.CallStore.list>`. ``search`` matches numbers as written."""
        require_int("limit", limit, minimum=1)
        require_str("search", search)
        return await self._read(lambda: self._list(active, limit, before, search.casefold()))

    async def transcript(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's transcript lines in order: ``role``, ``text``, ``heard`` and ``at``."""
        require_str("call_id", call_id)
        return await self._read(lambda: self._transcript(call_id))

    async def turns(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's turn metrics in order (``TurnMetrics.to_dict()`` plus ``cost_so_far``)."""
        require_str("call_id", call_id)
        return await self._read(lambda: self._turns(call_id))

    async def report(self, call_id: str) -> dict[str, Any] | None:
        """The call's end report as read back, or ``None`` until the call ended."""
        require_str("call_id", call_id)
        return await self._read(lambda: self._report(call_id))

    async def aclose(self) -> None:
        """Finish the queued writes; later reads raise :class:`PatterError`. Twice is fine."""
        await self.writer.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _read(self, work: Callable[[], _T]) -> _T:
        if not self.writer.enabled:
            raise PatterError(f"the call log store of {self.root} is closed: open a new one")
        result: _T = await asyncio.wrap_future(self.writer.run_on_worker(work))
        return result

    # ------------------------------------------------------------------ on the worker thread

    def _folder(self, call_id: str) -> Path | None:
        name = log_format.folder_name(call_id)
        known = self._folders.get(name)
        if known is not None and known.is_dir():
            return known
        for _, day in log_format.day_folders(self.root / "calls"):
            folder = day / name
            if folder.is_dir():
                self._folders[name] = folder
                return folder
        return None

    def _get(self, call_id: str) -> StoredCall | None:
        folder = self._folder(call_id)
        return None if folder is None else self._summary(folder)

    def _summary(self, folder: Path) -> StoredCall | None:
        stamp = (*_version(folder / "metadata.json"), *_version(folder / "events.jsonl"))
        cached = self._summaries.get(folder)
        if cached is not None and cached.stamp == stamp:
            return cached.call
        call = _summarise(folder)
        if call is not None:
            self._summaries[folder] = _Cached(stamp, call)
            self._summaries.move_to_end(folder)
            while len(self._summaries) > _MAX_CACHED:
                forgotten, _ = self._summaries.popitem(last=False)
                self._folders.pop(forgotten.name, None)
        return call

    def _list(
        self, active: bool | None, limit: int, before: float | None, needle: str
    ) -> builtins.list[StoredCall]:
        found: list[StoredCall] = []
        last_day = None
        for day, day_folder in log_format.day_folders(self.root / "calls"):
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            if before is not None and day_start >= before:
                continue  # every call of that day started at or after it
            if len(found) >= limit and last_day is not None and day < last_day:
                break  # one more day was read: a call ringing over midnight is not missed
            for folder in _subfolders(day_folder):
                call = self._summary(folder)
                if call is None:
                    continue
                self._folders.setdefault(folder.name, folder)
                if (
                    (active is None or call.active == active)
                    and (before is None or call.started_at < before)
                    and (not needle or self._matches(call, folder, needle))
                ):
                    found.append(call)
            if len(found) >= limit and last_day is None:
                last_day = day - timedelta(days=1)
        found.sort(key=lambda call: (call.started_at, call.call_id), reverse=True)
        return found[:limit]

    def _matches(self, call: StoredCall, folder: Path, needle: str) -> bool:
        if any(needle in value.casefold() for value in (call.call_id, call.caller, call.callee)):
            return True
        return any(
            needle in str(line.get("text", "")).casefold()
            for line in _rows(folder / "transcript.jsonl")
        )

    def _transcript(self, call_id: str) -> builtins.list[dict[str, Any]]:
        folder = self._folder(call_id)
        if folder is None:
            return []
        rows = _rows(folder / "transcript.jsonl")
        held = self.writer.held_line(call_id)
        if held is not None:
            rows.append(held)
        return [
            {
                "role": row.get("role", ""),
                "text": row.get("text", ""),
                "heard": bool(row.get("heard", True)),
                "at": log_format.parse_iso(row.get("ts")),
            }
            for row in rows
        ]

    def _turns(self, call_id: str) -> builtins.list[dict[str, Any]]:
        folder = self._folder(call_id)
        if folder is None:
            return []
        return _turn_rows(_rows(folder / "events.jsonl"))

    def _report(self, call_id: str) -> dict[str, Any] | None:
        folder = self._folder(call_id)
        if folder is None:
            return None
        events = _rows(folder / "events.jsonl")
        ended = [row for row in events if row.get("type") == "call_ended"]
        if not ended or not isinstance(ended[-1].get("report"), dict):
            return None
        report: dict[str, Any] = dict(ended[-1]["report"])
        turns = [
            {k: v for k, v in turn.items() if k != "cost_so_far"} for turn in _turn_rows(events)
        ]
        if isinstance(report.get("metrics"), dict):
            report["metrics"] = {**report["metrics"], "turns": turns}
        lines = [
            {"role": row.get("role", ""), "text": row.get("text", "")}
            for row in _rows(folder / "transcript.jsonl")
        ]
        report["transcript"] = lines
        report["history"] = [dict(line) for line in lines]
        return report


def _turn_rows(rows: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
    """The turn metrics the ``turn`` rows of ``events.jsonl`` hold, in order."""
    return [
        row["turn"]
        for row in rows
        if row.get("type") == "turn" and isinstance(row.get("turn"), dict)
    ]


def _summarise(folder: Path) -> StoredCall | None:
    """A call's summary, by the rules every store uses (:func:`apply_event`): ``metadata.json``
    gives the call and its numbers, then the ``events.jsonl`` rows are replayed as events."""
    try:
        meta = _mapping(json.loads((folder / "metadata.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        meta = {}
    rows = _rows(folder / "events.jsonl")
    if not meta and not rows:
        return None
    first = log_format.parse_iso(meta.get("started_at"))
    if first is None:
        first = log_format.parse_iso(rows[0].get("ts")) if rows else None
    call = StoredCall(
        call_id=str(meta.get("call_id") or folder.name),
        caller=str(meta.get("caller") or ""),
        callee=str(meta.get("callee") or ""),
        started_at=first or 0.0,
    )
    totals: list[float | None] = []
    for row in rows:
        event = _event(call, row)
        if event is not None:
            call = apply_event(call, event)
        if row.get("type") == "turn":
            totals.append(_mapping(_mapping(row.get("turn")).get("latency")).get("total_ms"))
    p50, p95 = latency_percentiles(totals)
    return replace(call, latency_p50_ms=p50, latency_p95_ms=p95)


def _event(call: StoredCall, row: dict[str, Any]) -> CallEvent | None:
    """The event an ``events.jsonl`` row records, as far as a summary needs it."""
    at = log_format.parse_iso(row.get("ts")) or call.started_at
    call_id = call.call_id
    kind = row.get("type")
    try:
        if kind == "call_started":
            return CallStarted(
                call_id=call_id,
                at=at,
                direction=str(row.get("direction") or ""),
                provider_mode=str(row.get("provider_mode") or ""),
                agent=str(row.get("agent") or ""),
                telephony_provider=str(row.get("telephony_provider") or ""),
            )
        if kind == "status":
            return CallStatusChanged(call_id=call_id, at=at, status=str(row.get("status") or ""))
        if kind == "error":
            return CallError(
                call_id=call_id,
                at=at,
                error=str(row.get("error") or ""),
                code=str(row.get("code") or ""),
                source=str(row.get("source") or ""),
                fatal=bool(row.get("fatal")),
            )
        if kind == "turn":
            turn = _mapping(row.get("turn"))
            cost = _mapping(turn.get("cost_so_far"))
            return TurnCompleted(
                call_id=call_id,
                at=at,
                turn=TurnMetrics(
                    turn_index=int(turn.get("turn_index") or 0),
                    user_text=str(turn.get("user_text") or ""),
                    agent_text=str(turn.get("agent_text") or ""),
                ),
                cost_so_far=_cost(cost),
            )
        if kind == "call_placed":
            return CallPlaced(
                call_id=call_id,
                at=at,
                goal=str(row.get("goal") or ""),
                client_ref=str(row.get("client_ref") or ""),
                max_duration_sec=int(row.get("max_duration_sec") or 0),
                mode=str(row.get("mode") or "live"),
            )
        if kind == "call_ended":
            return CallEnded(call_id=call_id, at=at, report=_report(call_id, row.get("report")))
    except (TypeError, ValueError):  # a row this version cannot read: the others still count
        return None
    return None


def _report(call_id: str, value: Any) -> CallReport:
    """The end report of a ``call_ended`` row, as far as a summary needs it (its metrics have
    the cost and latency summaries, not the turns: those are the ``turn`` rows)."""
    data = _mapping(value)
    metrics = _mapping(data.get("metrics"))
    cost = _mapping(metrics.get("cost"))
    error = data.get("error")
    return CallReport(
        call_id=call_id,
        caller=str(data.get("caller") or ""),
        callee=str(data.get("callee") or ""),
        direction=str(data.get("direction") or ""),
        started_at=float(data.get("started_at") or 0.0),
        ended_at=float(data.get("ended_at") or 0.0),
        duration_seconds=float(data.get("duration_seconds") or 0.0),
        outcome=str(data.get("outcome") or ""),
        ended_by=str(data.get("ended_by") or ""),
        error=None if error is None else str(error),
        error_count=int(data.get("error_count") or 0),
        end_reason=str(data.get("end_reason") or "") or None,
        metrics=CallMetrics(
            call_id=call_id,
            duration_seconds=float(metrics.get("duration_seconds") or 0.0),
            cost=_cost(cost),
            latency_p50=_latency(metrics.get("latency_p50")),
            latency_p95=_latency(metrics.get("latency_p95")),
        )
        if metrics
        else None,
    )


def _latency(value: Any) -> LatencyBreakdown:
    total = _mapping(value).get("total_ms")
    return LatencyBreakdown(total_ms=float(total) if isinstance(total, int | float) else None)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rows(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file (none if missing); a torn or bad line is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_dir()]
    except OSError:
        return []


def _version(path: Path) -> tuple[int, int, int]:
    # metadata.json is replaced (a new inode), events.jsonl only grows: either way one of these
    # changes with every write, even within the file system's mtime granularity.
    try:
        stat = path.stat()
    except OSError:
        return (0, 0, 0)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _cost(data: Mapping[str, Any]) -> CostBreakdown:
    """A cost read back from a log: the four categories and the unpriced providers."""
    return CostBreakdown(
        **{k: float(data.get(k) or 0.0) for k in ("stt", "tts", "llm", "telephony")},
        unpriced=tuple(str(name) for name in data.get("unpriced") or ()),
    )
