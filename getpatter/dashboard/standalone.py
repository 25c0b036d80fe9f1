"""``getpatter dashboard``: the dashboard on its own, over calls another process keeps.

The serving process keeps its calls in a :class:`~getpatter.calls.sqlite_store.SQLiteCallStore`
file (``Patter(call_store=SQLiteCallStore(path))``) or writes call logs (``PATTER_LOG_DIR``);
this process serves the same page and API over that file or folder, reading it once a second
for live updates. On the loopback interface no token is
needed unless one is given (and then only requests naming a loopback host are answered, so a
web page cannot reach it by DNS rebinding); on any other interface one is generated (and
printed) when none is given, so the dashboard is never open to the network.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from getpatter.calls.store import CallStore
from getpatter.dashboard.app import Dashboard, page_url
from getpatter.dashboard.auth import generate_token, validate_token
from getpatter.errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "open_log_store", "open_sqlite_store", "serve_dashboard"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts reachable only from this machine: there the dashboard may go without a token."""

_LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
"""The ``Host`` header values (without port) a dashboard without a token answers."""


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


def open_log_store(path: str | Path) -> CallStore:
    """The calls of the call-log folder ``path`` (``PATTER_LOG_DIR``; ``auto`` for the
    platform's data folder), read back from its files. A folder that holds no ``calls``
    folder is refused: it is almost always a mistyped path."""
    from getpatter.calls.call_log import default_log_root
    from getpatter.calls.log_store import CallLogStore

    folder = default_log_root() if str(path).lower() == "auto" else Path(path).expanduser()
    if not (folder / "calls").is_dir():
        raise ConfigError(
            f"--logs {path}: no call logs there; pass the folder PATTER_LOG_DIR names (the "
            "one holding calls/YYYY/MM/DD/...), or auto for the default"
        )
    return CallLogStore(folder)


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
        app: Any = dashboard.app()
        if not dashboard.token:
            from starlette.middleware.trustedhost import TrustedHostMiddleware

            # Open on loopback only: a page elsewhere that re-points its own hostname at
            # 127.0.0.1 (DNS rebinding) still sends that hostname, and is refused.
            app = TrustedHostMiddleware(app, allowed_hosts=_LOOPBACK_NAMES, www_redirect=False)
        server = BackgroundServer(app, host=host, port=port, timeout_graceful_shutdown=2)
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
