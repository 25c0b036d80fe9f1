"""The on-disk call log format (spec LG-3..LG-8): paths, ``metadata.json``, and JSONL rows.

Pure functions shared by the writer (:mod:`getpatter.calls.call_log`) and the reader
(:mod:`getpatter.calls.log_store`); only :func:`day_folders` touches the disk (it lists).

Layout: ``<root>/calls/YYYY/MM/DD/<call_id>/`` (the UTC date of the first event seen for the
call) with ``metadata.json``, ``transcript.jsonl`` and ``events.jsonl``. Times in every file
are ISO-8601 UTC with milliseconds and ``Z`` (``2026-12-07T09:15:56.123Z``).

``transcript.jsonl``: one row per finished line, never redacted (LG-8)::

    {"ts": ..., "role": "user"|"assistant", "text": ..., "heard": true,
     "latency": null | {"stt_ms": ..., "llm_ttft_ms": ..., "tts_ms": ..., "total_ms": ...},
     "cost": null | {"stt": ..., "tts": ..., "llm": ..., "telephony": ..., "total": ...}}

``latency`` and ``cost`` (USD) are those of the turn an agent line ends; other lines have
``null``. ``events.jsonl``: one row per operational event, ``{"ts": ..., "type": ..., ...}``,
with the fields listed in :data:`EVENT_FIELDS`; see :func:`event_row`.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from getpatter.calls.events import (
    BargeIn,
    CallEnded,
    CallError,
    CallEvent,
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    CallTransferred,
    GuardrailBlocked,
    KeyPressed,
    RecordingReady,
    ToolFinished,
    ToolStarted,
    TransferFinished,
    TurnCompleted,
)
from getpatter.calls.phone_redaction import PhoneRedaction, redact_number
from getpatter.calls.store import StoredCall, jsonable, turn_entry
from getpatter.observability.metrics import percentile

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "call_dir",
    "day_folders",
    "day_of",
    "event_row",
    "folder_name",
    "iso",
    "metadata",
    "parse_iso",
    "turn_cost",
    "voice_of",
]

SCHEMA_VERSION = "1.0"
"""``metadata.json``'s ``schema_version`` (shared with the TypeScript SDK, LG-11)."""

EVENT_TYPES: dict[type[CallEvent], str] = {
    CallPlaced: "call_placed",
    CallStarted: "call_started",
    CallStatusChanged: "status",
    TurnCompleted: "turn",
    ToolStarted: "tool_call",
    ToolFinished: "tool_result",
    BargeIn: "barge_in",
    GuardrailBlocked: "guardrail",
    KeyPressed: "dtmf",
    CallTransferred: "transfer",
    TransferFinished: "transfer_ended",
    RecordingReady: "recording",
    CallError: "error",
    CallEnded: "call_ended",
}
"""The ``type`` of the ``events.jsonl`` row each event kind writes."""

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "call_placed": ("goal", "client_ref", "max_duration_sec", "mode"),
    "call_started": ("direction", "provider_mode", "agent", "telephony_provider"),
    "status": ("status",),
    "turn": ("turn",),
    "tool_call": ("name", "transport"),
    "tool_result": ("name",),
    "barge_in": ("item_id", "played_ms", "bargein_ms"),
    "guardrail": ("guardrail", "heard_ms"),
    "dtmf": ("digit",),
    "transfer": ("to",),
    "transfer_ended": ("status", "dial_call_id", "duration_seconds", "cost_usd"),
    "recording": ("details", "call_ended"),
    "error": ("error", "code", "source", "fatal"),
    "call_ended": ("report",),
}
"""The fields of each row type besides ``ts`` and ``type``. ``turn`` is the turn's metrics
(``TurnMetrics.to_dict()`` plus ``cost_so_far``); ``report`` is the end report without its
``transcript`` and ``history`` (they are in ``transcript.jsonl``), ``metrics`` as a dict
without ``turns`` (the ``turn`` rows hold them); ``to``
and the report's ``caller``/``callee`` are redacted like ``metadata.json``'s numbers."""


def iso(ts: float) -> str:
    """Unix seconds as ISO-8601 UTC with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: object) -> float | None:
    """The Unix seconds of an :func:`iso` string (``None`` for anything else)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def day_of(ts: float) -> date:
    """The UTC date whose folder holds a call first seen at ``ts``."""
    return datetime.fromtimestamp(ts, UTC).date()


def call_dir(root: Path, call_id: str, first_seen: float) -> Path:
    """``<root>/calls/YYYY/MM/DD/<call_id>`` for a call first seen at ``first_seen``.

    A call id that is not a plain file name (empty, ``.``, ``..``, or with a path separator)
    has those characters replaced, so a call can never write outside its day folder.
    """
    day = day_of(first_seen)
    name = folder_name(call_id)
    return root / "calls" / f"{day.year:04d}" / f"{day.month:02d}" / f"{day.day:02d}" / name


def folder_name(call_id: str) -> str:
    """The name of a call's folder: its id, with anything but ``A-Za-z0-9._-`` as ``_`` and no
    leading dot."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", call_id).lstrip(".") or "_"


def day_folders(calls: Path) -> list[tuple[date, Path]]:
    """The day folders under ``<root>/calls``, newest first; other names are left out."""
    found: list[tuple[date, Path]] = []
    for year in _numbered(calls, 4):
        for month in _numbered(year, 2):
            for day in _numbered(month, 2):
                try:
                    found.append((date(int(year.name), int(month.name), int(day.name)), day))
                except ValueError:  # 2026/02/31
                    continue
    found.sort(reverse=True)
    return found


def _numbered(folder: Path, digits: int) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        Path(e.path)
        for e in entries
        if len(e.name) == digits and e.name.isascii() and e.name.isdigit() and e.is_dir()
    ]


def metadata(
    call: StoredCall,
    totals: list[float],
    *,
    voice: str | None,
    redact: PhoneRedaction,
) -> dict[str, Any]:
    """``metadata.json`` for ``call`` (LG-6) whose turns measured ``totals`` (ms).

    ``status`` is the carrier's state while the call is active (``ringing``, ``in-progress``...)
    and its outcome once ended (``completed``, ``transferred``, ``busy``, ``error``...). What is
    not known (yet) is null: the provider before the call starts, the carrier in test mode.
    """
    ended = call.ended_at is not None
    cost = call.cost
    return {
        "schema_version": SCHEMA_VERSION,
        "call_id": call.call_id,
        "trace_id": None,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at) if call.ended_at is not None else None,
        "duration_ms": (
            round(call.duration_seconds * 1000) if call.duration_seconds is not None else None
        ),
        "status": (call.outcome or call.status or "ended") if ended else call.status or "ringing",
        "caller": redact_number(call.caller, redact),
        "callee": redact_number(call.callee, redact),
        "telephony_provider": call.telephony_provider or None,
        "provider_mode": call.provider_mode or None,
        "agent": {"provider": call.provider_mode or None, "voice": voice},
        "turns": call.turns,
        "cost": {
            **{
                name: float(cost.get(name, 0.0))
                for name in ("total", "stt", "tts", "llm", "telephony")
            },
            # Providers with no price: the total is a lower bound (absent when all were priced).
            **({"unpriced": list(cost["unpriced"])} if cost.get("unpriced") else {}),
        },
        "latency": {f"p{q}_ms": percentile(totals, q) if totals else None for q in (50, 95, 99)},
        "error": call.error,
    }


def voice_of(agent: str) -> str | None:
    """The voice named by an ``Agent.describe()`` line (after its last `` / ``), or ``None``."""
    _, slash, voice = agent.rpartition(" / ")
    return voice.strip() or None if slash else None


def turn_cost(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """The cost of one turn: the difference of two ``cost_so_far``, rounded to micro-dollars."""
    return {
        name: round(max(0.0, now.get(name, 0.0) - before.get(name, 0.0)), 6)
        for name in ("stt", "tts", "llm", "telephony", "total")
    }


def event_row(event: CallEvent, redact: PhoneRedaction) -> dict[str, Any] | None:
    """The ``events.jsonl`` row ``event`` writes, or ``None`` for kinds it does not log."""
    kind = EVENT_TYPES.get(type(event))
    if kind is None:
        return None
    row: dict[str, Any] = {"ts": iso(event.at), "type": kind}
    if isinstance(event, TurnCompleted):
        row["turn"] = turn_entry(event)
    elif isinstance(event, CallTransferred):
        row["to"] = redact_number(event.to, redact)
    elif isinstance(event, CallEnded):
        report = event.report.to_dict()
        del report["transcript"], report["history"]
        metrics = jsonable(report["metrics"])
        if isinstance(metrics, dict):
            report["metrics"] = {k: v for k, v in metrics.items() if k != "turns"}
        report["caller"] = redact_number(event.report.caller, redact)
        report["callee"] = redact_number(event.report.callee, redact)
        row["report"] = report
    else:
        for name in EVENT_FIELDS[kind]:
            row[name] = getattr(event, name)
    result: dict[str, Any] = jsonable(row)
    return result
