"""An SQLite audit log of what external agents asked Patter to do, and what happened.

Every tool call (placed, refused or failed) and every call's end is one row, so the daily call
count and spend survive a restart: :meth:`AuditLog.calls_placed_since` and
:meth:`AuditLog.spend_since` with :func:`utc_day_start` feed
:meth:`~getpatter.control.policy.SafetyPolicy.check_capacity`.

The database work runs in a worker thread (``asyncio.to_thread``) on one connection guarded by a
lock, so the event loop never waits on the disk. Arguments are stored as JSON with secret-looking
keys masked; the file is created readable by its owner only (mode 0600).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from getpatter._sqlite import OffLoopDatabase
from getpatter._validation import require_amount, require_int, require_str
from getpatter.errors import ConfigError, InputValidationError

__all__ = ["OUTCOMES", "AuditEntry", "AuditLog", "utc_day_start"]

OUTCOMES = frozenset({"ok", "refused", "error"})
"""The values ``outcome`` may take: the tool worked, a policy refused it, or it failed."""

_MASK = "***"

_SECONDS_PER_DAY = 86_400
_PLACING_TOOLS = ("make_call", "confirm_call")
_COSTED = ("call_ended", "transfer_ended")

# A key is secret when one of its words (split on "_", "-", "." and camelCase) is one of these.
_SECRET_WORDS = frozenset(
    {
        "token",
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "bearer",
        "cookie",
    }
)
# Keys made of secret words that are identifiers, not credentials.
_NOT_SECRET = frozenset({"idempotency_key"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_COLUMNS = "id, at, tool, arguments, outcome, rule, detail, call_id, cost_usd, client"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rule TEXT NOT NULL,
    detail TEXT NOT NULL,
    call_id TEXT NOT NULL,
    cost_usd REAL,
    client TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_call_id ON audit (call_id);
"""


def utc_day_start(now: float | None = None) -> float:
    """Unix time of 00:00 UTC on the day containing ``now`` (default: the current time)."""
    moment = time.time() if now is None else require_amount("now", now)
    # Unix time has exactly 86400 seconds per day, so UTC midnights are its multiples.
    return float(math.floor(moment / _SECONDS_PER_DAY) * _SECONDS_PER_DAY)


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log.

    ``at`` is Unix time; ``outcome`` is ``"ok"``, ``"refused"`` or ``"error"``; ``rule`` names
    the policy rule that refused (or ""); ``cost_usd`` is set on ``"call_ended"`` entries.
    """

    id: int
    at: float
    tool: str
    arguments: dict[str, Any]
    outcome: str
    rule: str
    detail: str
    call_id: str
    cost_usd: float | None
    client: str


class AuditLog:
    """Append-only audit log in SQLite; one instance per database file.

    ``path=None`` keeps the log in memory (gone when closed). A path gets its parent folders and
    the database file (mode 0600) created when missing; the file uses WAL journaling so readers
    never block the writer. ``clock`` returns the Unix time stamped on each entry.
    Opening is synchronous (do it at start-up); every other method runs in a worker thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if path is not None and not isinstance(path, str | os.PathLike):
            raise ConfigError(
                f"path must be a file path (str or Path) or None, got {type(path).__name__}"
            )
        self._clock = clock
        self.path: Path | None = None if path is None else Path(path).expanduser()
        self._db = OffLoopDatabase(
            self.path, _SCHEMA, what="the audit log", reopen="open a new AuditLog to use it again"
        )

    async def record(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        outcome: str,
        *,
        rule: str = "",
        detail: str = "",
        call_id: str = "",
        cost_usd: float | None = None,
        client: str = "",
    ) -> None:
        """Append one entry.

        ``arguments`` is stored as JSON: values JSON cannot hold are stored as their ``repr()``,
        and values under secret-looking keys (token, key, secret, password, auth) as ``"***"``,
        at any depth. ``outcome`` must be ``"ok"``, ``"refused"`` or ``"error"``.
        """
        require_str("tool", tool, allow_empty=False)
        if not isinstance(arguments, Mapping):
            raise ConfigError(
                f"arguments must be a mapping such as a dict, got {type(arguments).__name__}"
            )
        if outcome not in OUTCOMES:
            raise InputValidationError(
                f"outcome={outcome!r} is not valid: use one of {', '.join(sorted(OUTCOMES))}"
            )
        for name, value in (
            ("rule", rule),
            ("detail", detail),
            ("call_id", call_id),
            ("client", client),
        ):
            require_str(name, value)
        cost = None if cost_usd is None else require_amount("cost_usd", cost_usd)
        stored = json.dumps(_sanitized(arguments), allow_nan=False, ensure_ascii=False)
        row = (self._clock(), tool, stored, outcome, rule, detail, call_id, cost, client)
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO audit (at, tool, arguments, outcome, rule, detail, call_id, "
                "cost_usd, client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        )

    async def entries(self, *, limit: int = 100, call_id: str | None = None) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first; only ``call_id``'s when given."""
        require_int("limit", limit, minimum=1)
        query = f"SELECT {_COLUMNS} FROM audit"
        params: tuple[Any, ...] = ()
        if call_id is not None:
            require_str("call_id", call_id)
            query += " WHERE call_id = ?"
            params = (call_id,)
        query += " ORDER BY id DESC LIMIT ?"
        rows = await self._db.run(lambda conn: conn.execute(query, (*params, limit)).fetchall())
        return [_entry(row) for row in rows]

    async def calls_placed_since(self, since: float) -> int:
        """How many calls were placed at or after ``since`` (Unix time).

        A call counts once per distinct ``call_id`` among ``"make_call"`` and ``"confirm_call"``
        entries with outcome ``"ok"``; entries without a ``call_id`` placed nothing.
        """
        start = require_amount("since", since)
        placeholders = ", ".join("?" for _ in _PLACING_TOOLS)
        row = await self._db.run(
            lambda conn: conn.execute(
                "SELECT COUNT(DISTINCT call_id) FROM audit WHERE tool IN "
                f"({placeholders}) AND outcome = 'ok' AND call_id != '' AND at >= ?",
                (*_PLACING_TOOLS, start),
            ).fetchone()
        )
        return int(row[0])

    async def spend_since(self, since: float) -> float:
        """Total ``cost_usd`` of ``"call_ended"`` and ``"transfer_ended"`` entries (a call's cost,
        and the cost of a transferred leg) at or after ``since`` (Unix time)."""
        start = require_amount("since", since)
        row = await self._db.run(
            lambda conn: conn.execute(
                "SELECT COALESCE(SUM(cost_usd), 0.0) FROM audit WHERE tool IN (?, ?) AND at >= ?",
                (*_COSTED, start),
            ).fetchone()
        )
        return float(row[0])

    async def aclose(self) -> None:
        """Close the database; later calls raise :class:`PatterError`. Closing twice is fine."""
        await self._db.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _is_secret(key: str) -> bool:
    words = [word.lower() for word in _WORD.findall(key)]
    if "_".join(words) in _NOT_SECRET:
        return False
    return any(word in _SECRET_WORDS for word in words)


def _sanitized(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _MASK if _is_secret(str(k)) else _sanitized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitized(item) for item in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return repr(value)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    id_, at, tool, arguments, outcome, rule, detail, call_id, cost_usd, client = row
    return AuditEntry(
        id=id_,
        at=at,
        tool=tool,
        arguments=json.loads(arguments),
        outcome=outcome,
        rule=rule,
        detail=detail,
        call_id=call_id,
        cost_usd=cost_usd,
        client=client,
    )
