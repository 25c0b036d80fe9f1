"""Calls as downloadable files: CSV (flat, one row per call) and JSON (nested).

CSV columns (:data:`CSV_COLUMNS`): ``call_id``, ``direction``, ``caller``, ``callee``,
``status``, ``outcome``, ``ended_by``, ``started_at`` and ``ended_at`` (ISO 8601, UTC, ms),
``duration_seconds``, ``turns``, ``latency_p50_ms``, ``latency_p95_ms``, ``cost_stt``,
``cost_tts``, ``cost_llm``, ``cost_telephony``, ``cost_total`` (USD), ``provider_mode``,
``agent``, ``telephony_provider``, ``error_count``, ``error``. A cell a spreadsheet would run as
a formula (starting with ``=``, ``@``, a tab, or ``+``/``-`` not followed by a plain number) is
prefixed with ``'``; phone numbers stay as they are.

JSON: ``{"exported_at": <unix seconds>, "calls": [{"call", "transcript", "turns", "report"}]}``,
each entry shaped as ``GET /api/v1/calls/{call_id}`` answers.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from getpatter.calls.store import CallStore, StoredCall
from getpatter.dashboard.records import call_detail

__all__ = ["CSV_COLUMNS", "MAX_EXPORT", "csv_text", "export_name", "json_export"]

MAX_EXPORT = 10_000
"""The most calls one export holds (``limit``; the default is 1000)."""

CSV_COLUMNS = (
    "call_id",
    "direction",
    "caller",
    "callee",
    "status",
    "outcome",
    "ended_by",
    "started_at",
    "ended_at",
    "duration_seconds",
    "turns",
    "latency_p50_ms",
    "latency_p95_ms",
    "cost_stt",
    "cost_tts",
    "cost_llm",
    "cost_telephony",
    "cost_total",
    "provider_mode",
    "agent",
    "telephony_provider",
    "error_count",
    "error",
)

_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def export_name(extension: str, now: float | None = None) -> str:
    """``patter-calls-<UTC date and time>.<extension>``."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return f"patter-calls-{moment:%Y%m%d-%H%M%S}.{extension}"


def csv_text(calls: Sequence[StoredCall]) -> str:
    """The calls as CSV with a header row of :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for call in calls:
        writer.writerow([_cell(value) for value in _row(call)])
    return out.getvalue()


async def json_export(store: CallStore, calls: Sequence[StoredCall]) -> dict[str, Any]:
    """The calls with their transcripts, turns and reports, as one JSON-able dict."""
    entries = []
    for call in calls:
        detail = await call_detail(store, call.call_id)
        if detail is not None:
            entries.append(detail)
    return {"exported_at": time.time(), "calls": entries}


def _row(call: StoredCall) -> list[Any]:
    cost = call.cost
    return [
        call.call_id,
        call.direction,
        call.caller,
        call.callee,
        call.status,
        call.outcome,
        call.ended_by,
        _iso(call.started_at),
        _iso(call.ended_at),
        call.duration_seconds,
        call.turns,
        call.latency_p50_ms,
        call.latency_p95_ms,
        cost.get("stt"),
        cost.get("tts"),
        cost.get("llm"),
        cost.get("telephony"),
        cost.get("total"),
        call.provider_mode,
        call.agent,
        call.telephony_provider,
        call.error_count,
        call.error,
    ]


def _iso(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "=@\t\r" or (value[0] in "+-" and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value
