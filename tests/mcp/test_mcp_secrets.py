"""``getpatter-mcp --log-level debug``: a whole confirmed call, and no key or token on stderr.

The server runs through ``tests/log_canary.py``, which marks the tokens it generates (the
confirmation token, media-stream tokens, the simulator's auth token) and the sandbox's fake keys
with the canary. At DEBUG websockets prints every handshake header of the sandbox's calls.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from conftest import SANDBOX_ENV, http_client, person_answers, serve_http, server_env
from log_canary import MARKER
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

CANARY_SERVER = str(Path(__file__).parents[1] / "log_canary.py")
CONFIRMING = {"PATTER_REQUIRE_CONFIRMATION": "yes"}
ANSWERS = "+15550101234"  # a sandbox number that answers, talks and hangs up


async def plan_and_confirm_a_call(client: Client) -> dict[str, Any]:
    planned = await client.call_tool("plan_call", {"to": ANSWERS, "goal": "Confirm Friday"})
    assert not planned.is_error, planned.content
    receipt = planned.structured_content
    assert receipt is not None
    assert await person_answers(receipt["confirm_url"], "confirm") == 200
    confirmed = await client.call_tool("confirm_call", {"token": receipt["token"]})
    assert not confirmed.is_error, confirmed.content
    assert confirmed.structured_content is not None
    return confirmed.structured_content


def assert_debug_log_without_secrets(log: str) -> None:
    leaks = [line for line in log.splitlines() if MARKER in line]
    assert leaks == []
    assert " DEBUG websockets.client: > Authorization: Bearer <redacted>" in log, log[-3000:]
    assert " DEBUG websockets.client: > GET /ws/twilio/media/<redacted> HTTP/1.1" in log


async def test_stdio_at_debug_writes_no_secret_to_stderr(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), **SANDBOX_ENV, **CONFIRMING}
    if "PYTHONPATH" in os.environ:  # run the code under test, wherever it is checked out
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    params = StdioServerParameters(
        command=sys.executable, args=[CANARY_SERVER, "--log-level", "debug"], env=env
    )
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errlog:
        async with (
            asyncio.timeout(60),
            Client(stdio_client(params, errlog=errlog), mode="legacy") as client,
        ):
            call = await plan_and_confirm_a_call(client)
    assert call["status"] == "completed"
    assert_debug_log_without_secrets(stderr.read_text())


async def test_http_at_debug_writes_no_secret_to_stderr(tmp_path: Path) -> None:
    log = tmp_path / "stderr.txt"
    token = f"{MARKER}-http-bearer-token"
    command = (CANARY_SERVER, "--log-level", "debug")
    with serve_http(token, log, server_env(**CONFIRMING), command=command) as server:
        async with (
            asyncio.timeout(60),
            http_client(server.token) as authorized,
            Client(streamable_http_client(server.url, http_client=authorized)) as client,
        ):
            call = await plan_and_confirm_a_call(client)
    assert call["status"] == "completed"
    assert_debug_log_without_secrets(log.read_text())
