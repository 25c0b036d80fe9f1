"""A stand-in ``cloudflared`` on PATH, for tests of what starts a Cloudflare quick tunnel.

The real binary is not installed here (and would reach the internet). The script prints a
``trycloudflare.com`` URL on stderr the way ``cloudflared tunnel --url ...`` does, then waits
until :class:`~getpatter.tunnels.CloudflareTunnel` stops it. Nothing reaches the server through
that URL: tests check what Patter does with the hostname.
"""

from __future__ import annotations

import os
import random
import socket
import stat
from pathlib import Path

import pytest

HOSTNAME = "brave-otter-42.trycloudflare.com"
"""The hostname the fake tunnel reports."""

_SCRIPT = f"""#!/bin/sh
echo "INF Requesting new quick Tunnel on trycloudflare.com..." >&2
echo "INF |  https://{HOSTNAME}  |" >&2
exec sleep 60
"""


def install(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Put the fake ``cloudflared`` in ``directory``, first on PATH; return its hostname."""
    binary = directory / "cloudflared"
    binary.write_text(_SCRIPT)
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return HOSTNAME


def free_port() -> int:
    """A port to serve on, below the ephemeral range (see ``getpatter.testing.sandbox``)."""
    for _ in range(100):
        port = random.randint(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")
