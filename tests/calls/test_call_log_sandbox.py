"""Real sandbox calls with ``PATTER_LOG_DIR`` set: the log folder, then read back after a restart."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import getpatter
from getpatter.calls.call_log import CallLogger
from getpatter.calls.log_store import CallLogStore
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

GREETING = "Hello, Bright Smile Dental."


def scenario() -> Scenario:
    return Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=2500))),
        replies=(Reply("We are open nine to five."),),
    )


async def logged_call(sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    await sandbox.serve(sandbox.phone.agent("You are the receptionist.", first_message=GREETING))
    call = await sandbox.call_in()
    report = await call.ended()
    await sandbox.phone.call_events.drain()
    call_log: CallLogger | None = getattr(sandbox.phone, "_call_log", None)
    if call_log is not None:
        await call_log.flush()
    return call.call_id, report


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_sandbox_call_is_logged_and_read_back_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATTER_LOG_DIR", str(tmp_path))
    monkeypatch.delenv("PATTER_LOG_REDACT_PHONE", raising=False)
    async with Sandbox(scenario()) as sandbox:
        call_id, report = await logged_call(sandbox)
        caller = sandbox.scenario.callee.number

    (folder,) = (tmp_path / "calls").glob(f"*/*/*/{call_id}")
    day = datetime.strptime("/".join(folder.parts[-4:-1]), "%Y/%m/%d").replace(tzinfo=UTC)
    assert 0 <= report["started_at"] - day.timestamp() < 86400 + 60  # its UTC day
    meta = json.loads((folder / "metadata.json").read_text())
    metrics = report["metrics"]
    assert meta == {
        **meta,
        "call_id": call_id,
        "status": "completed",
        "caller": "***" + caller[-4:],
        "callee": "***9999",
        "telephony_provider": "twilio",
        "provider_mode": "openai_realtime",
        "agent": {"provider": "openai_realtime", "voice": "alloy"},
        "turns": 1,
        "duration_ms": round(report["duration_seconds"] * 1000),
        "error": None,
    }
    assert meta["cost"]["total"] == metrics.cost.total
    assert meta["latency"]["p50_ms"] == metrics.latency_p50.total_ms
    assert [(r["role"], r["text"]) for r in rows(folder / "transcript.jsonl")] == [
        (line["role"], line["text"]) for line in report["transcript"]
    ]
    types = [r["type"] for r in rows(folder / "events.jsonl")]
    assert types[0] == "call_started" and types[-1] == "call_ended" and "turn" in types
    assert caller not in (folder / "metadata.json").read_text()
    assert caller not in (folder / "events.jsonl").read_text()

    # A new process, say the standalone dashboard, reads the folder.
    async with CallLogStore(tmp_path) as store:
        (listed,) = await store.list()
        assert (listed.call_id, listed.outcome, listed.ended_by) == (call_id, "completed", "caller")
        assert (listed.caller, listed.direction, listed.turns) == (meta["caller"], "inbound", 1)
        assert listed.cost["total"] == metrics.cost.total
        assert await store.get(call_id) == listed
        assert [line["text"] for line in await store.transcript(call_id)] == [
            line["text"] for line in report["transcript"]
        ]
        (turn,) = await store.turns(call_id)
        assert turn["user_text"] == "What are your hours?" and "llm_ttft_ms" in turn["latency"]
        kept = await store.report(call_id)
        assert kept is not None
        assert (kept["outcome"], kept["error_count"], kept["caller"]) == (
            "completed",
            0,
            meta["caller"],
        )
        assert kept["metrics"]["cost"]["total"] == metrics.cost.total
        assert [t["agent_text"] for t in kept["metrics"]["turns"]] == ["We are open nine to five."]
        assert [c.call_id for c in await store.list(search="nine to five")] == [call_id]


async def test_a_log_folder_that_cannot_be_written_leaves_the_call_alone_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    in_the_way = tmp_path / "not-a-folder"
    in_the_way.write_text("a file where the log folder should be")
    monkeypatch.setenv("PATTER_LOG_DIR", str(in_the_way))
    with caplog.at_level(logging.WARNING, logger="getpatter.calls.log"):
        async with Sandbox(scenario()) as sandbox:
            call_id, report = await logged_call(sandbox)
    assert (report["outcome"], report["ended_by"], report["error_count"]) == (
        "completed",
        "caller",
        0,
    )
    assert report["transcript"][-1]["text"] == "We are open nine to five."
    warnings = [r.getMessage() for r in caplog.records if r.name == "getpatter.calls.log"]
    assert warnings and f"call log of {call_id} could not be written" in warnings[0]


async def test_without_patter_log_dir_a_call_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATTER_LOG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    async with Sandbox(scenario()) as sandbox:
        await logged_call(sandbox)
        assert getattr(sandbox.phone, "_call_log", None) is None
    assert os.listdir(tmp_path) == []


def test_without_patter_log_dir_no_call_log_module_is_imported() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, getpatter; getpatter.Patter(); "
            "print(sorted(m for m in sys.modules if 'call_log' in m or 'log_store' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(getpatter.__file__).parents[1],  # this checkout's getpatter
        env={k: v for k, v in os.environ.items() if k != "PATTER_LOG_DIR"},
    ).stdout
    assert loaded.strip() == "[]"
