"""Opening a private SQLite database: owner-only file, WAL, a schema created if missing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from getpatter.errors import ConfigError

__all__ = ["open_private_db"]


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
