"""A private SQLite database used off the event loop: owner-only file, WAL, one connection.

:class:`OffLoopDatabase` runs each piece of work in a worker thread (``asyncio.to_thread``), one at
a time on its one connection, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from getpatter.errors import ConfigError, PatterError

__all__ = ["OffLoopDatabase", "open_private_db"]

_T = TypeVar("_T")


class OffLoopDatabase:
    """One private SQLite connection (``path`` ``None``: in memory) used from worker threads.

    ``what`` names the database in errors ("the audit log"); ``reopen`` says how to get a new one
    once this one is closed.
    """

    def __init__(self, path: Path | None, schema: str, *, what: str, reopen: str) -> None:
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = open_private_db(path, schema, what=what)
        self._closed = f"{what} is closed: {reopen}"

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work(connection)`` in a worker thread, alone on the connection; its result."""
        return await asyncio.to_thread(self._locked, work)

    async def aclose(self) -> None:
        """Close the connection; later :meth:`run` calls raise :class:`PatterError`."""
        await asyncio.to_thread(self._close)

    def _locked(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            if self._conn is None:
                raise PatterError(self._closed)
            return work(self._conn)

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def open_private_db(path: Path | None, schema: str, *, what: str) -> sqlite3.Connection:
    """A connection to ``path`` (``None``: in memory) with ``schema`` applied.

    The file is created readable by its owner only, even for an instant; WAL and a busy timeout
    let readers and the one writer share it. The connection may be used from worker threads
    (callers serialise access with a lock). A path that cannot be opened raises
    :class:`ConfigError` naming ``what`` it is (e.g. "the audit log").
    """
    if path is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        conn.executescript(schema)
        return conn
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise _unopenable(path, exc, what) from exc
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(schema)
    except sqlite3.Error as exc:
        conn.close()
        raise _unopenable(path, exc, what) from exc
    return conn


def _unopenable(path: Path, exc: Exception, what: str) -> ConfigError:
    return ConfigError(
        f"cannot open {what} at {str(path)!r} ({exc}): pass a writable SQLite file path, "
        f"or None to keep {what} in memory"
    )
