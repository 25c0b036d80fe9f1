"""Where calls are kept once observed: the :class:`CallStore` seam, fed by the event stream.

A store applies each :class:`~getpatter.calls.events.CallEvent` to what it keeps about the call:
a :class:`StoredCall` summary, the transcript lines, the per-turn metrics and the end report.
Everything it returns is plain JSON-able values, so any backend (memory, SQLite, Redis) can hold
it. :func:`feed` subscribes a store to a :class:`~getpatter.calls.stream.CallEventStream`; the
store gets its events from a task of its own, so a slow store never delays a call.

The rules for turning events into a summary live here (:func:`apply_event` and friends), so every
backend keeps the same thing.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from getpatter.calls.events import (
    CallEnded,
    CallError,
    CallEvent,
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.stream import CallEventStream
from getpatter.observability.metrics import percentile

__all__ = [
    "ENDED_STATUSES",
    "RECORDED_KINDS",
    "CallStore",
    "StoredCall",
    "apply_event",
    "feed",
    "jsonable",
    "latency_percentiles",
    "transcript_line",
    "turn_entry",
]

RECORDED_KINDS: tuple[type[CallEvent], ...] = (
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TurnCompleted,
    CallError,
    CallEnded,
)
"""The event kinds a store uses; :func:`feed` subscribes to these only."""

ENDED_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
"""Carrier statuses after which a call is no longer active, even without a ``CallEnded``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCall:
    """What a store keeps about one call, as plain JSON-able values.

    ``started_at`` is the media start (or, until the call starts, its first event); ``ended_at``
    is ``None`` while the call is active. ``cost`` is the cost so far in USD by category
    (``stt``, ``tts``, ``llm``, ``telephony``, ``total``), plus ``unpriced`` (a list of price
    keys) when a provider had no price, so the total is a lower bound; ``latency_p50_ms`` and
    ``latency_p95_ms`` summarise the turns' ``total_ms`` (user speech to first agent audio).
    """

    call_id: str
    direction: str = ""
    caller: str = ""
    callee: str = ""
    status: str = ""
    started_at: float = 0.0
    ended_at: float | None = None
    duration_seconds: float | None = None
    outcome: str = ""
    ended_by: str = ""
    error: str | None = None
    cost: dict[str, Any] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    turns: int = 0
    error_count: int = 0
    provider_mode: str = ""
    agent: str = ""
    telephony_provider: str = ""
    placed: dict[str, Any] = field(default_factory=dict)
    """For a call the call-control service placed: its ``goal``, ``client_ref``,
    ``max_duration_sec`` and ``mode`` (see :class:`~getpatter.calls.events.CallPlaced`)."""

    @property
    def active(self) -> bool:
        """Whether the call has not ended yet."""
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain dict (a new one each time)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredCall:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@runtime_checkable
class CallStore(Protocol):
    """Keeps calls, transcripts, per-turn metrics and end reports; fed by :func:`feed`.

    Every method is async and returns plain JSON-able values. ``record`` accepts events of calls
    it has not seen yet (a transcript line before the call's start): the call is created then.
    """

    async def record(self, event: CallEvent) -> None:
        """Apply one event to what the store keeps about its call."""
        ...

    async def get(self, call_id: str) -> StoredCall | None:
        """The call's summary, or ``None`` for a call the store does not hold."""
        ...

    async def list(
        self,
        *,
        active: bool | None = None,
        limit: int = 50,
        before: float | None = None,
        search: str = "",
    ) -> builtins.list[StoredCall]:
        """Up to ``limit`` calls, newest ``started_at`` first.

        ``active`` keeps only active (True) or ended (False) calls; ``before`` keeps calls
        started strictly before it (pass the last call's ``started_at`` for the next page);
        ``search`` keeps calls whose id, caller, callee or transcript text contains it
        (ignoring case).
        """
        ...

    async def transcript(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's transcript lines in order: ``role``, ``text``, ``heard`` and ``at``."""
        ...

    async def turns(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's turn metrics in order (``TurnMetrics.to_dict()`` plus ``cost_so_far``)."""
        ...

    async def report(self, call_id: str) -> dict[str, Any] | None:
        """The call's end report as plain values, or ``None`` until the call ended."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources; closing twice is fine."""
        ...


def feed(stream: CallEventStream, store: CallStore) -> Callable[[], None]:
    """Subscribe ``store`` to ``stream`` (queued, in order); return the unsubscribe.

    The store gets :data:`RECORDED_KINDS`, or the kinds its ``recorded_kinds`` attribute
    names (a call log store keeps tool calls and barge-ins too).
    """
    kinds = getattr(store, "recorded_kinds", RECORDED_KINDS)
    return stream.subscribe(store.record, kinds=kinds, name="call store")


def apply_event(call: StoredCall | None, event: CallEvent) -> StoredCall:
    """``call`` (``None``: not seen yet) after ``event``; turn latencies are not set here
    (see :func:`latency_percentiles`)."""
    if call is None:
        call = StoredCall(call_id=event.call_id, started_at=event.at)
    changes: dict[str, Any] = {}
    if event.caller and not call.caller:
        changes["caller"] = event.caller
    if event.callee and not call.callee:
        changes["callee"] = event.callee
    if isinstance(event, CallPlaced):
        changes.update(
            direction="outbound",
            status=call.status or "queued",
            placed={
                "goal": event.goal,
                "client_ref": event.client_ref,
                "max_duration_sec": event.max_duration_sec,
                "mode": event.mode,
            },
        )
    elif isinstance(event, CallStarted):
        changes.update(
            direction=event.direction,
            started_at=event.at,
            provider_mode=event.provider_mode,
            agent=event.agent,
            telephony_provider=event.telephony_provider,
        )
        if call.active:
            changes["status"] = "in-progress"
    elif isinstance(event, CallStatusChanged):
        changes["status"] = event.status
        if event.status in ENDED_STATUSES and call.active:
            changes["ended_at"] = event.at
    elif isinstance(event, TurnCompleted):
        changes.update(
            turns=max(call.turns, event.turn.turn_index + 1, call.turns + 1),
            cost=event.cost_so_far.to_dict(),
        )
    elif isinstance(event, CallError):
        changes.update(error_count=call.error_count + 1, error=event.error)
    elif isinstance(event, CallEnded):
        changes.update(_from_report(call, event))
    return dataclasses.replace(call, **changes)


def _from_report(call: StoredCall, event: CallEnded) -> dict[str, Any]:
    report = event.report
    changes: dict[str, Any] = {"ended_at": _number(report.ended_at) or event.at}
    if call.status in ("", "in-progress", "ringing", "queued", "initiated", "answered"):
        changes["status"] = "ended"
    for name in ("direction", "caller", "callee", "outcome", "ended_by"):
        value = getattr(report, name)
        if value:
            changes[name] = value
    if _number(report.started_at):
        changes["started_at"] = report.started_at
    changes["duration_seconds"] = _number(report.duration_seconds)
    if report.error is not None:
        changes["error"] = report.error
    changes["error_count"] = max(report.error_count, call.error_count)
    metrics = report.metrics
    if metrics is not None:
        changes.update(
            cost=metrics.cost.to_dict(),
            turns=max(call.turns, len(metrics.turns)),
            latency_p50_ms=metrics.latency_p50.total_ms,
            latency_p95_ms=metrics.latency_p95.total_ms,
        )
    return changes


def transcript_line(event: CallEvent) -> dict[str, Any] | None:
    """The transcript line a :class:`TranscriptFinal` adds (``None`` for other events)."""
    if not isinstance(event, TranscriptFinal):
        return None
    return {"role": event.role, "text": event.text, "heard": event.heard, "at": event.at}


def turn_entry(event: CallEvent) -> dict[str, Any] | None:
    """The turn a :class:`TurnCompleted` adds (``None`` for other events)."""
    if not isinstance(event, TurnCompleted):
        return None
    return {**event.turn.to_dict(), "cost_so_far": event.cost_so_far.to_dict()}


def latency_percentiles(totals: Sequence[float | None]) -> tuple[float | None, float | None]:
    """p50 and p95 of the measured turn latencies (``None`` when none were measured)."""
    measured = [t for t in totals if t is not None]
    if not measured:
        return None, None
    return percentile(measured, 50), percentile(measured, 95)


def jsonable(value: Any) -> Any:
    """``value`` as JSON-able plain values: objects with ``to_dict`` through it, tuples as lists,
    non-finite floats as ``None``, anything else unknown as its ``repr()``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return repr(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
