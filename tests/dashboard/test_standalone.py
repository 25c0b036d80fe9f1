"""``getpatter dashboard``: the dashboard in its own process, over a SQLite file another
process writes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN, call_events, events, one_question

from getpatter.calls.sqlite_store import SQLiteCallStore
from getpatter.calls.store import feed
from getpatter.cli import main
from getpatter.testing.sandbox import Sandbox

_URL = re.compile(r"Patter dashboard: (http://\S+)")


async def empty_store_file(path: Path) -> None:
    """Create the SQLite call store file ``path`` holding no call (opening it creates it)."""
    await SQLiteCallStore(path).aclose()


@contextlib.asynccontextmanager
async def dashboard_process(*args: str) -> AsyncIterator[str]:
    """Run ``getpatter dashboard *args`` on a free port; yield the URL it prints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "getpatter",
        "dashboard",
        "--port",
        "0",
        *args,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stderr is not None
    try:
        line = (await process.stderr.readline()).decode()
        found = _URL.search(line)
        assert found is not None, line + (await process.stderr.read()).decode()
        yield found.group(1)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        assert await process.wait() in (0, 130)


async def test_the_standalone_dashboard_shows_calls_another_process_keeps(
    tmp_path: Path,
) -> None:
    db = tmp_path / "calls.db"
    async with asyncio.timeout(90), SQLiteCallStore(db) as writer:
        async with Sandbox(one_question()) as sandbox:
            await sandbox.serve(sandbox.phone.agent("You are the receptionist."), dashboard=False)
            feed(sandbox.phone.call_events, writer)
            call = await sandbox.call_in()
            await call.ended()
            await sandbox.phone.call_events.drain()

        async with dashboard_process("--db", str(db)) as url, httpx.AsyncClient() as client:
            assert url.endswith("/dashboard")  # on 127.0.0.1, no token unless asked for
            api = url.removesuffix("/dashboard") + "/api/v1"
            # Open, but only to requests for a loopback name (no DNS rebinding).
            rebound = await client.get(f"{api}/calls", headers={"Host": "evil.example"})
            assert rebound.status_code == 400
            (summary,) = (await client.get(f"{api}/calls")).json()["calls"]
            assert summary["call_id"] == call.call_id and summary["outcome"] == "completed"
            detail = (await client.get(f"{api}/calls/{call.call_id}")).json()
            assert detail["transcript"][0]["text"] == "What are your hours?"
            assert len(detail["turns"]) == 1
            assert (await client.get(url)).status_code == 200

            # A new call written now reaches a connected browser through the poll.
            async with events(client, f"{api}/events") as stream:
                for event in call_events("CAnew", at=summary["started_at"] + 60, duration=None):
                    await writer.record(event)
                started = await stream.until("call", call_id="CAnew", active=True)
                assert started["call"]["turns"] == 1
                await stream.until("transcript", call_id="CAnew", text="What are your hours?")
                turn = await stream.until("turn", call_id="CAnew")
                assert turn["turn"]["latency"]["total_ms"] == 400.0
                ended_event = call_events("CAnew", at=summary["started_at"] + 60)[-1]
                await writer.record(ended_event)
                ended = await stream.until("call", call_id="CAnew", active=False)
                assert ended["call"]["duration_seconds"] == 30.0
            # Each line and turn was sent once.
            names = [(name, data.get("call_id")) for name, data in stream.messages]
            assert names.count(("transcript", "CAnew")) == 2
            assert names.count(("turn", "CAnew")) == 1


async def test_the_standalone_dashboard_shows_a_call_log_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    monkeypatch.setenv("PATTER_LOG_DIR", str(logs))
    async with asyncio.timeout(90):
        async with Sandbox(one_question()) as sandbox:
            await sandbox.serve(sandbox.phone.agent("You are the receptionist."), dashboard=False)
            call = await sandbox.call_in()
            await call.ended()
            await sandbox.phone.call_events.drain()
            await sandbox.phone._call_log.flush()  # type: ignore[union-attr]
        monkeypatch.delenv("PATTER_LOG_DIR")
        async with dashboard_process("--logs", str(logs)) as url, httpx.AsyncClient() as client:
            api = url.removesuffix("/dashboard") + "/api/v1"
            (summary,) = (await client.get(f"{api}/calls")).json()["calls"]
            assert summary["call_id"] == call.call_id and summary["outcome"] == "completed"
            assert summary["caller"].startswith("***")  # as the log keeps it (mask)
            detail = (await client.get(f"{api}/calls/{call.call_id}")).json()
            assert detail["transcript"][0]["text"] == "What are your hours?"


async def test_beyond_loopback_a_token_is_generated_printed_and_required(
    tmp_path: Path,
) -> None:
    db = tmp_path / "calls.db"
    await empty_store_file(db)
    async with (
        asyncio.timeout(60),
        dashboard_process("--db", str(db), "--host", "0.0.0.0") as url,
        httpx.AsyncClient() as client,
    ):
        page, _, token = url.partition("?token=")
        assert page.startswith("http://127.0.0.1:") and len(token) >= 32
        assert (await client.get(page)).status_code == 401
        assert (await client.get(page, params={"token": token})).status_code == 200


async def test_a_given_token_is_required_and_not_printed(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    await empty_store_file(db)
    async with (
        asyncio.timeout(60),
        dashboard_process("--db", str(db), "--token", TOKEN) as url,
        httpx.AsyncClient() as client,
    ):
        assert TOKEN not in url
        api = url.removesuffix("/dashboard") + "/api/v1/calls"
        assert (await client.get(api)).status_code == 401
        assert (await client.get(api, params={"token": TOKEN})).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "missing.db"], "--db missing.db: no such file"),
        (["--db", "calls.db", "--token", "CANARY-short"], "--token must be at least 16"),
        (["--db", "calls.db", "--port", "70000"], "--port must be from 0 to 65535"),
        ([], "one of the arguments --db --logs is required"),
        (["--logs", "nowhere"], "--logs nowhere: no call logs there"),
        (["--db", "calls.db", "--logs", "logs"], "not allowed with argument"),
    ],
)
def test_bad_arguments_are_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls.db").touch()
    with pytest.raises(SystemExit) as exited:
        main(["dashboard", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
