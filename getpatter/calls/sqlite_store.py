"""A :class:`~getpatter.calls.store.CallStore` in SQLite: the embedded default for kept calls.

Tables ``calls`` (one row per call: indexed columns plus the summary and end report as JSON),
``transcript_lines`` and ``turns``. As for :class:`~getpatter.control.audit.AuditLog`, the
database is a :class:`~getpatter._sqlite.OffLoopDatabase`: its work runs in a worker thread on
one connection, so the event loop never waits on the disk; the file uses WAL journaling and is
created readable by its owner only (mode 0600). Each event is applied in one transaction.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from getpatter._sqlite import OffLoopDatabase
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
from getpatter.errors import ConfigError

__all__ = ["SQLiteCallStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    summary TEXT NOT NULL,
    report TEXT
);
CREATE INDEX IF NOT EXISTS calls_started_at ON calls (started_at);
CREATE TABLE IF NOT EXISTS transcript_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    at REAL NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    heard INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transcript_lines_call_id ON transcript_lines (call_id);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    total_ms REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_call_id ON turns (call_id);
"""


class SQLiteCallStore:
    """Calls kept in the SQLite file at ``path`` (``None``: in memory, gone when closed).

    Missing parent folders and the file are created; opening is synchronous (do it at start-up),
    every other method runs in a worker thread.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        if path is not None and not isinstance(path, str | os.PathLike):
            raise ConfigError(
                f"path must be a file path (str or Path) or None, got {type(path).__name__}"
            )
        self.path: Path | None = None if path is None else Path(path).expanduser()
        self._db = OffLoopDatabase(
            self.path,
            _SCHEMA,
            what="the call store",
            reopen="open a new SQLiteCallStore to use it again",
        )

    async def record(self, event: CallEvent) -> None:
        """Apply one event to its call (created when not seen yet), in one transaction."""
        await self._db.run(lambda conn: _record(conn, event))

    async def get(self, call_id: str) -> StoredCall | None:
        """The call's summary, or ``None``."""
        require_str("call_id", call_id)
        return await self._db.run(lambda conn: _get(conn, call_id))

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
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if active is not None:
            where.append("ended_at IS NULL" if active else "ended_at IS NOT NULL")
        if before is not None:
            where.append("started_at < ?")
            params.append(float(before))
        if search:
            pattern = "%" + _escape_like(search) + "%"
            where.append(
                "(call_id LIKE ? ESCAPE '\\' OR caller LIKE ? ESCAPE '\\' "
                "OR callee LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM transcript_lines t "
                "WHERE t.call_id = calls.call_id AND t.text LIKE ? ESCAPE '\\'))"
            )
            params.extend([pattern] * 4)
        query = "SELECT summary FROM calls"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY started_at DESC, call_id DESC LIMIT ?"
        params.append(limit)
        rows = await self._db.run(lambda conn: conn.execute(query, params).fetchall())
        return [StoredCall.from_dict(json.loads(row[0])) for row in rows]

    async def transcript(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's transcript lines in order (empty for an unknown call)."""
        require_str("call_id", call_id)
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT role, text, heard, at FROM transcript_lines WHERE call_id = ? ORDER BY id",
                (call_id,),
            ).fetchall()
        )
        return [
            {"role": role, "text": text, "heard": bool(heard), "at": at}
            for role, text, heard, at in rows
        ]

    async def turns(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's turn metrics in order (empty for an unknown call)."""
        require_str("call_id", call_id)
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT data FROM turns WHERE call_id = ? ORDER BY id", (call_id,)
            ).fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    async def report(self, call_id: str) -> dict[str, Any] | None:
        """The call's end report as plain values, or ``None``."""
        require_str("call_id", call_id)
        row = await self._db.run(
            lambda conn: conn.execute(
                "SELECT report FROM calls WHERE call_id = ?", (call_id,)
            ).fetchone()
        )
        if row is None or row[0] is None:
            return None
        report: dict[str, Any] = json.loads(row[0])
        return report

    async def aclose(self) -> None:
        """Close the database; later calls raise :class:`PatterError`. Closing twice is fine."""
        await self._db.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _get(conn: sqlite3.Connection, call_id: str) -> StoredCall | None:
    row = conn.execute("SELECT summary FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    return None if row is None else StoredCall.from_dict(json.loads(row[0]))


def _record(conn: sqlite3.Connection, event: CallEvent) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        call = apply_event(_get(conn, event.call_id), event)
        line = transcript_line(event)
        if line is not None:
            conn.execute(
                "INSERT INTO transcript_lines (call_id, at, role, text, heard) "
                "VALUES (?, ?, ?, ?, ?)",
                (call.call_id, line["at"], line["role"], line["text"], int(line["heard"])),
            )
        turn = turn_entry(event)
        if turn is not None:
            conn.execute(
                "INSERT INTO turns (call_id, total_ms, data) VALUES (?, ?, ?)",
                (call.call_id, turn["latency"]["total_ms"], _dumps(turn)),
            )
        if isinstance(event, TurnCompleted):
            totals = conn.execute(
                "SELECT total_ms FROM turns WHERE call_id = ? ORDER BY id", (call.call_id,)
            ).fetchall()
            p50, p95 = latency_percentiles([row[0] for row in totals])
            call = replace(call, latency_p50_ms=p50, latency_p95_ms=p95)
        report = _dumps(event.report) if isinstance(event, CallEnded) else None
        conn.execute(
            "INSERT INTO calls (call_id, started_at, ended_at, caller, callee, summary, report) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE SET "
            "started_at = excluded.started_at, ended_at = excluded.ended_at, "
            "caller = excluded.caller, callee = excluded.callee, summary = excluded.summary, "
            "report = COALESCE(excluded.report, calls.report)",
            (
                call.call_id,
                call.started_at,
                call.ended_at,
                call.caller,
                call.callee,
                _dumps(call.to_dict()),
                report,
            ),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _dumps(value: Any) -> str:
    return json.dumps(jsonable(value), allow_nan=False, ensure_ascii=False)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
