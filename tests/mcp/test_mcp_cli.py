"""The ``getpatter-mcp`` command, run as a real process: stdio and streamable HTTP, both eras.

Servers run in the sandbox (see conftest.py). ``legacy`` is the 2025-11-25 handshake era,
``auto`` negotiates 2026-07-28. Processes are always stopped in ``finally`` blocks.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HttpServer, http_client, serve_http, server_env, stdio_params, stop
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ANSWERS = "+15550101234"  # a sandbox number that answers, talks and hangs up
TOOLS = {"make_call", "get_call", "wait_for_call", "hangup_call", "plan_call", "confirm_call"}


async def place_call(client: Client) -> tuple[dict[str, Any], list[tuple[float, str | None]]]:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    result = await client.call_tool(
        "make_call",
        {"to": ANSWERS, "goal": "Confirm Friday's delivery", "client_ref": secrets.token_hex(8)},
        progress_callback=on_progress,
    )
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content, progress


def assert_sandbox_call_completed(call: dict[str, Any], progress: list[Any]) -> None:
    assert call["mode"] == "sandbox"
    assert call["status"] == "completed"
    roles = [line["role"] for line in call["transcript"]]
    assert "agent" in roles and "user" in roles
    assert progress, "no progress notification arrived while the call ran"


# ------------------------------------------------------------------ the command line


def test_help_describes_sandbox_mode_and_the_settings() -> None:
    script = Path(sys.executable).with_name("getpatter-mcp")
    done = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        # The installed script, running the code under test wherever it is checked out.
        env={**server_env(), "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 0, done.stderr
    assert "SANDBOX mode" in done.stdout
    for words in (
        "--http",
        "--token",
        "PATTER_ALLOWED_PREFIXES",
        "claude_desktop_config.json",
        "TWILIO_AUTH_TOKEN",
        "TELNYX_API_KEY",
        "TELNYX_PHONE_NUMBER",
        "PATTER_TUNNEL=cloudflare",
        "[telnyx]",
    ):
        assert words in done.stdout


def test_a_partial_carrier_setup_exits_with_the_missing_variable_named() -> None:
    env = server_env(TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef")
    done = subprocess.run(
        [sys.executable, "-m", "getpatter_mcp"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "TWILIO_AUTH_TOKEN" in done.stderr
    assert done.stdout == ""


def test_settings_of_two_carriers_exit_naming_both() -> None:
    env = server_env(
        TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
        TELNYX_API_KEY="KEY-telnyx-CANARY-key-value",
    )
    done = subprocess.run(
        [sys.executable, "-m", "getpatter_mcp"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "two carriers" in done.stderr and "TELNYX_API_KEY" in done.stderr
    assert "CANARY" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ELEVENLABS_AGENT_ID": "agent_mcp_calls"}, "PATTER_ENGINE=elevenlabs_convai"),
        ({"PATTER_ENGINE": "convai"}, "PATTER_ENGINE='convai'"),
        (
            {
                "PATTER_ENGINE": "elevenlabs_convai",
                "TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
                "TWILIO_AUTH_TOKEN": "twilio-CANARY-token-value",
                "TWILIO_PHONE_NUMBER": "+15550001234",
                "PATTER_WEBHOOK_URL": "agent.example.com",
                "ELEVENLABS_API_KEY": "xi-CANARY-key-value",
            },
            "ELEVENLABS_AGENT_ID is not set",
        ),
    ],
)
def test_engine_settings_that_cannot_work_exit_naming_the_fix(
    env: dict[str, str], named: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "getpatter_mcp"],
        capture_output=True,
        text=True,
        timeout=30,
        env=server_env(**env),
        check=False,
    )
    assert done.returncode == 2
    assert named in done.stderr
    assert "CANARY" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("way_in", "said"),
    [
        ({"PATTER_WEBHOOK_URL": "agent.example.com"}, "Telnyx reaches this machine at agent."),
        ({"PATTER_TUNNEL": "cloudflare"}, "through a Cloudflare quick tunnel opened for this run"),
    ],
)
def test_live_mode_is_announced_with_its_carrier_and_way_in(
    way_in: dict[str, str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from getpatter_mcp.cli import _announce_mode
    from getpatter_mcp.config import load_config

    telnyx = {
        "TELNYX_API_KEY": "KEY-telnyx-CANARY-key-value",
        "TELNYX_CONNECTION_ID": "1494404757140276705",
        "TELNYX_PHONE_NUMBER": "+15550004321",
        "TELNYX_PUBLIC_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "OPENAI_API_KEY": "sk-openai-CANARY-key-value",
    }
    _announce_mode(load_config({**telnyx, **way_in}))
    err = capsys.readouterr().err
    assert "live mode: real calls from +15550004321 through Telnyx" in err
    assert said in err
    assert "CANARY" not in err


def test_a_short_http_token_is_refused_before_serving() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "getpatter_mcp", "--http", "--port", "0", "--token", "short"],
        capture_output=True,
        text=True,
        timeout=30,
        env=server_env(),
        check=False,
    )
    assert done.returncode == 2
    assert "at least 16" in done.stderr


@pytest.mark.parametrize(
    "options", [["--port", "9000"], ["--token", "0123456789abcdef"], ["--allowed-host", "a:1"]]
)
def test_http_options_without_http_are_a_usage_error(
    options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from getpatter_mcp.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(options)
    assert exit_.value.code == 2
    assert "only apply to the HTTP transport: add --http" in capsys.readouterr().err


# ------------------------------------------------------------------ stdio


@pytest.mark.parametrize("era", ["legacy", "auto"])
async def test_stdio_lists_the_tools(era: str) -> None:
    async with asyncio.timeout(30), Client(stdio_params(), mode=era) as client:
        tools = await client.list_tools()
    assert {tool.name for tool in tools.tools} >= TOOLS


async def test_stdio_places_a_sandbox_call_with_progress() -> None:
    async with asyncio.timeout(45), Client(stdio_params(), mode="legacy") as client:
        call, progress = await place_call(client)
    assert_sandbox_call_completed(call, progress)


def test_stdio_stdout_carries_only_protocol_and_stdin_eof_stops_the_server() -> None:
    # The call service prints its webhook banner on start: it must land on stderr.
    process = subprocess.Popen(
        [sys.executable, "-m", "getpatter_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(),
    )
    try:
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        }
        # Then EOF: the server answers, then stops.
        out, err = process.communicate(json.dumps(request).encode() + b"\n", timeout=30)
    finally:
        stop(process)
    lines = out.decode().splitlines()
    assert lines, err.decode()
    replies = [json.loads(line) for line in lines]  # every line is JSON-RPC
    assert replies[0]["id"] == 1 and replies[0]["result"]["serverInfo"]["name"] == "patter"
    assert b"sandbox mode" in err
    assert process.returncode == 0


def test_sigterm_stops_a_stdio_server_whose_stdin_stays_open() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "getpatter_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=server_env(),
    )
    try:
        assert process.stderr is not None
        wait_for_line(process.stderr, "serving MCP over stdio", timeout=30)
        process.send_signal(signal.SIGTERM)
        status = process.wait(15)  # stdin is still open
        rest = process.stderr.read().decode()
    finally:
        stop(process)
    assert status == 0
    assert "stopping: hanging up calls in progress" in rest


def wait_for_line(stream: Any, needle: str, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = stream.readline().decode()
        if not line:
            break
        seen += line
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not printed; stderr so far:\n{seen}")


# ------------------------------------------------------------------ streamable HTTP


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    log = tmp_path_factory.mktemp("http") / "stderr.txt"
    # A token may begin with "-" (token_urlsafe makes such tokens): it must still be accepted.
    with serve_http("-" + secrets.token_urlsafe(24), log, server_env()) as server:
        yield server


@pytest.mark.parametrize("era", ["legacy", "auto"])
async def test_http_lists_tools_and_places_a_sandbox_call(
    http_server: HttpServer, era: str
) -> None:
    async with (
        asyncio.timeout(45),
        http_client(http_server.token) as authorized,
        Client(streamable_http_client(http_server.url, http_client=authorized), mode=era) as client,
    ):
        tools = await client.list_tools()
        assert {tool.name for tool in tools.tools} >= TOOLS
        call, progress = await place_call(client)
    assert_sandbox_call_completed(call, progress)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-CANARY-token-of-enough-length", "Basic x-CANARY"]
)
def test_http_refuses_requests_without_the_token(
    http_server: HttpServer, authorization: str | None
) -> None:
    headers = dict(MCP_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    reply = httpx.post(http_server.url, json=INITIALIZE, headers=headers, timeout=10)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_http_accepts_the_token(http_server: HttpServer) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {http_server.token}"}
    reply = httpx.post(http_server.url, json=INITIALIZE, headers=headers, timeout=10)
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("Host", "attacker.example", 421),
        ("Host", "127.0.0.1:1", 421),
        ("Origin", "https://attacker.example", 403),
    ],
)
def test_http_refuses_foreign_hosts_and_origins(
    http_server: HttpServer, header: str, value: str, status: int
) -> None:
    # DNS rebinding: a web page cannot reach the server under another name, even with the token.
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {http_server.token}", header: value}
    reply = httpx.post(http_server.url, json=INITIALIZE, headers=headers, timeout=10)
    assert reply.status_code == status


def test_http_accepts_localhost_as_a_host_name(http_server: HttpServer) -> None:
    headers = {
        **MCP_HEADERS,
        "Authorization": f"Bearer {http_server.token}",
        "Host": f"localhost:{http_server.port}",
    }
    reply = httpx.post(http_server.url, json=INITIALIZE, headers=headers, timeout=10)
    assert reply.status_code == 200


def test_the_http_port_accepts_connections_as_soon_as_it_is_announced() -> None:
    """The URL is printed before the app's startup runs: a client connecting then waits in the
    backlog instead of being refused (which made HTTP clients fail on a busy machine)."""
    import socket

    from getpatter_mcp.cli import _bind

    listener = _bind("127.0.0.1", 0)
    try:
        with socket.create_connection(listener.getsockname(), timeout=5):
            pass
    finally:
        listener.close()
