"""``getpatter dashboard``: the dashboard on its own, over calls another process keeps.

The serving process keeps its calls in a :class:`~getpatter.calls.sqlite_store.SQLiteCallStore`
file (``Patter(call_store=SQLiteCallStore(path))``); this process serves the same page and API
over that file, reading it once a second for live updates. On the loopback interface no token is
needed unless one is given; on any other interface one is generated (and printed) when none is
given, so the dashboard is never open to the network.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from getpatter.calls.store import CallStore
from getpatter.dashboard.app import Dashboard, page_url
from getpatter.dashboard.auth import generate_token, validate_token
from getpatter.errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "open_sqlite_store", "serve_dashboard"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts reachable only from this machine: there the dashboard may go without a token."""


def open_sqlite_store(path: str | Path) -> CallStore:
    """The call store in the existing SQLite file ``path`` (a missing file is refused: it is
    almost always a mistyped path, and an empty new file would show no calls)."""
    from getpatter.calls.sqlite_store import SQLiteCallStore

    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"--db {path}: no such file; pass the SQLite file your Patter keeps its calls in "
            "(Patter(call_store=SQLiteCallStore(path)))"
        )
    return SQLiteCallStore(file)


async def serve_dashboard(
    store: CallStore,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str = "",
    out: TextIO | None = None,
) -> None:
    """Serve the dashboard over ``store`` on ``host:port`` until cancelled; print its URL to
    ``out`` (stderr). Closes ``store`` when it stops."""
    from getpatter.server.background import BackgroundServer

    dashboard: Dashboard | None = None
    server: BackgroundServer | None = None
    try:
        validate_token("--token", token)
        generated = not token and host not in LOOPBACK_HOSTS
        dashboard = Dashboard(store, token=generate_token() if generated else token)
        server = BackgroundServer(
            dashboard.app(), host=host, port=port, timeout_graceful_shutdown=2
        )
        bound = await server.start()
        url = page_url(host, bound, dashboard.token if generated else "")
        if token:
            url += " (with your --token)"
        print(f"Patter dashboard: {url}\nPress Ctrl-C to stop.", file=out or sys.stderr)
        await server.wait_stopped()
    finally:
        if dashboard is not None:
            dashboard.close()
        if server is not None:
            await server.stop(2.0)
        await store.aclose()
