"""Running the ``getpatter-mcp`` command as a real process, for the tests of this folder.

Every server runs in sandbox mode (no TWILIO_* or TELNYX_* variables) at 15 ms of speech per
character, so a call takes about six seconds. Test modules import these helpers
(``from conftest import ...``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import StdioServerParameters

SANDBOX_ENV = {"PATTER_SANDBOX_MS_PER_CHAR": "15"}


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a sandboxed server: this one minus carrier and AI credentials."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "TELNYX_", "PATTER_", "OPENAI_", "ELEVENLABS_"))
        and k != "PYTEST_CURRENT_TEST"
    }
    return {**env, **SANDBOX_ENV, **extra}


def stop(process: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    """Stop ``process`` the polite way (SIGTERM), then for sure; return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def stdio_params(**extra: str) -> StdioServerParameters:
    """How ``mcp.Client`` starts a sandboxed stdio server with the settings ``extra``."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "getpatter_mcp", "--log-level", "warning"],
        env={"PATH": os.environ.get("PATH", ""), **SANDBOX_ENV, **extra},
    )


@dataclass
class HttpServer:
    url: str
    token: str
    port: int


@contextmanager
def serve_http(
    token: str, log: Path, env: dict[str, str], *, command: Sequence[str] = ("-m", "getpatter_mcp")
) -> Iterator[HttpServer]:
    """A streamable HTTP server process with ``env``, stderr in ``log``; stopped on exit.

    ``command`` is what follows the Python executable (arguments may be added to it). Fails when
    the server does not come up within 30 s, prints ``token``, or does not exit cleanly (status
    0) when stopped.
    """
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, *command, "--http", "--port", "0", f"--token={token}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            found = re.search(r"streamable HTTP at (http://\S+)", log.read_text())
            url = found.group(1) if found else ""
            time.sleep(0.05)
        assert url, log.read_text()
        assert token not in log.read_text()  # a token the user chose is never printed
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        yield HttpServer(url=url, token=token, port=port)
    finally:
        status = stop(process)
    assert status == 0, log.read_text()


def http_client(token: str) -> httpx2.AsyncClient:
    """The HTTP client ``mcp``'s streamable HTTP transport should use: it sends ``token``."""
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0, read=60.0)
    )


async def person_answers(url: str, decision: str) -> int:
    """The person opens the page in their browser and presses a button; the POST's status."""
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as browser:
        page = await browser.get(url)
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token, page.text
        sent = await browser.post(url, data={"form_token": token.group(1), "decision": decision})
        return sent.status_code
