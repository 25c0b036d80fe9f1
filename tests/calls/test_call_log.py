"""The call log writer (spec LG): layout, atomic metadata, rows, redaction, retention, env."""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from getpatter.calls import call_log as call_log_module
from getpatter.calls.call_log import CallLogger, default_log_root, log_from_env
from getpatter.calls.events import (
    BargeIn,
    CallEnded,
    CallError,
    CallEvent,
    CallStarted,
    CallStatusChanged,
    CallTransferred,
    GuardrailBlocked,
    KeyPressed,
    ToolFinished,
    ToolStarted,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.log_store import CallLogStore
from getpatter.calls.phone_redaction import PhoneRedaction, redact_number
from getpatter.calls.report import CallReport
from getpatter.calls.stream import CallEventStream
from getpatter.dtmf import DtmfEvent
from getpatter.errors import ConfigError
from getpatter.observability.metrics import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
)

CALLER = "+15550001111"
CALLEE = "+15550009999"
TRANSFER_TO = "+15550007777"
# 23:59:59.5 UTC: the call's folder is that UTC day, whatever the machine's time zone. Loggers
# of such calls have sweep_chance=0: a retention sweep would rightly delete them.
START = datetime(2026, 3, 1, 23, 59, 59, 500000, tzinfo=UTC).timestamp()
ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")
LG6_KEYS = {
    "schema_version",
    "call_id",
    "trace_id",
    "started_at",
    "ended_at",
    "duration_ms",
    "status",
    "caller",
    "callee",
    "telephony_provider",
    "provider_mode",
    "agent",
    "turns",
    "cost",
    "latency",
    "error",
}


def a_turn(index: int, total_ms: float) -> TurnMetrics:
    return TurnMetrics(
        turn_index=index,
        user_text="Call me back at +15550004321",
        agent_text="Sure.",
        latency=LatencyBreakdown(stt_ms=80.0, llm_ttft_ms=200.0, tts_ms=90.0, total_ms=total_ms),
        timestamp=START + index,
    )


def a_call(call_id: str = "CA1", start: float = START) -> list[CallEvent]:
    """A whole call: ringing, start, lines, two turns, tools, barge-in, key, error, end."""
    who: dict[str, Any] = {"call_id": call_id, "caller": CALLER, "callee": CALLEE}
    turns = (a_turn(0, 400.0), a_turn(1, 600.0))
    metrics = CallMetrics.from_turns(
        call_id=call_id, duration_seconds=12.5, turns=turns, cost=CostBreakdown(llm=0.02, tts=0.01)
    )
    report = CallReport(
        **who,
        direction="inbound",
        started_at=start + 0.5,
        ended_at=start + 13,
        duration_seconds=12.5,
        outcome="transferred",
        ended_by="agent",
        errors=({"source": "tts", "message": "hiccup", "code": "tts", "fatal": False},),
        error_count=1,
        transcript=({"role": "user", "text": "Call me back at +15550004321"},),
        metrics=metrics,
    )
    return [
        CallStatusChanged(**who, status="ringing", at=start),
        CallStarted(
            **who,
            direction="inbound",
            provider_mode="pipeline",
            agent="pipeline, deepgram -> on_message -> elevenlabs / rachel",
            telephony_provider="twilio",
            at=start + 0.5,
        ),
        TranscriptFinal(**who, role="assistant", text="Hello.", history=(), at=start + 1),
        TranscriptFinal(**who, role="user", text=turns[0].user_text, history=(), at=start + 2),
        ToolStarted(**who, name="book", transport="handler", at=start + 2.5),
        ToolFinished(**who, name="book", at=start + 2.6),
        TranscriptFinal(**who, role="assistant", text="Sure.", history=(), at=start + 3),
        TurnCompleted(**who, turn=turns[0], cost_so_far=CostBreakdown(llm=0.01), at=start + 3.1),
        BargeIn(**who, item_id="item_1", played_ms=300, bargein_ms=120.0, at=start + 4),
        KeyPressed(**who, digit="5", event=DtmfEvent(digit="5"), at=start + 5),
        GuardrailBlocked(**who, guardrail="no_prices", heard_ms=200, at=start + 6),
        CallError(**who, error="TTS hiccup", code="tts", source="tts", fatal=False, at=start + 7),
        TurnCompleted(**who, turn=turns[1], cost_so_far=CostBreakdown(llm=0.02), at=start + 8),
        TranscriptFinal(**who, role="assistant", text="Sure.", history=(), at=start + 8.1),
        CallTransferred(**who, to=TRANSFER_TO, at=start + 12),
        CallEnded(**who, report=report, at=start + 13),
    ]


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def write(log: CallLogger, events: list[CallEvent]) -> None:
    for event in events:
        log.record(event)
    await log.flush()


async def test_a_call_is_written_to_its_utc_day_folder_with_the_lg_files(tmp_path: Path) -> None:
    log = CallLogger(tmp_path, sweep_chance=0.0)
    await write(log, a_call())
    folder = tmp_path / "calls" / "2026" / "03" / "01" / "CA1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "events.jsonl",
        "metadata.json",
        "transcript.jsonl",
    ]
    assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o600}

    meta = json.loads((folder / "metadata.json").read_text())
    assert set(meta) == LG6_KEYS
    assert ISO.match(meta["started_at"]) and ISO.match(meta["ended_at"])
    assert meta["started_at"] == "2026-03-02T00:00:00.000Z"
    assert meta == {
        **meta,
        "schema_version": "1.0",
        "call_id": "CA1",
        "trace_id": None,
        "duration_ms": 12500,
        "status": "transferred",
        "caller": "***1111",
        "callee": "***9999",
        "telephony_provider": "twilio",
        "provider_mode": "pipeline",
        "agent": {"provider": "pipeline", "voice": "rachel"},
        "turns": 2,
        "error": "TTS hiccup",
    }
    assert meta["cost"] == {"total": 0.03, "stt": 0.0, "tts": 0.01, "llm": 0.02, "telephony": 0.0}
    assert meta["latency"] == {"p50_ms": 500.0, "p95_ms": 590.0, "p99_ms": 598.0}

    transcript = rows(folder / "transcript.jsonl")
    assert [(r["role"], r["text"]) for r in transcript] == [
        ("assistant", "Hello."),
        ("user", "Call me back at +15550004321"),  # never redacted (LG-8)
        ("assistant", "Sure."),
        ("assistant", "Sure."),
    ]
    assert all(ISO.match(r["ts"]) and set(r) >= {"latency", "cost", "heard"} for r in transcript)
    assert [r["latency"] and r["latency"]["total_ms"] for r in transcript] == [
        None,
        None,
        400.0,
        600.0,
    ]
    assert transcript[2]["latency"]["llm_ttft_ms"] == 200.0
    assert transcript[2]["cost"]["llm"] == 0.01 and transcript[3]["cost"]["llm"] == 0.01

    events = rows(folder / "events.jsonl")
    assert [r["type"] for r in events] == [
        "status",
        "call_started",
        "tool_call",
        "tool_result",
        "turn",
        "barge_in",
        "dtmf",
        "guardrail",
        "error",
        "turn",
        "transfer",
        "call_ended",
    ]
    by_type = {r["type"]: r for r in events}
    assert by_type["tool_call"] == {
        "ts": "2026-03-02T00:00:02.000Z",
        "type": "tool_call",
        "name": "book",
        "transport": "handler",
    }
    assert by_type["barge_in"]["played_ms"] == 300 and by_type["dtmf"]["digit"] == "5"
    assert by_type["error"] == {**by_type["error"], "code": "tts", "fatal": False}
    assert by_type["transfer"]["to"] == "***7777"
    assert by_type["turn"]["turn"]["cost_so_far"]["llm"] == 0.02
    report = by_type["call_ended"]["report"]
    assert (report["caller"], report["callee"], report["outcome"]) == (
        "***1111",
        "***9999",
        "transferred",
    )
    assert "transcript" not in report and "history" not in report
    assert report["metrics"]["cost"]["total"] == 0.03 and "turns" not in report["metrics"]
    await log.aclose()


async def test_metadata_is_replaced_whole_at_first_sight_start_and_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(source: Any, target: Any) -> None:
        replaced.append((Path(source).name, Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(call_log_module.os, "replace", spy)
    log = CallLogger(tmp_path, sweep_chance=0.0)
    events = a_call()
    folder = tmp_path / "calls" / "2026" / "03" / "01" / "CA1"
    statuses = []
    for part in (events[:1], events[1:2], events[2:]):
        await write(log, part)
        statuses.append(json.loads((folder / "metadata.json").read_text())["status"])
    assert statuses == ["ringing", "in-progress", "transferred"]
    assert replaced == [(".metadata.json.tmp", "metadata.json")] * 3
    assert not (folder / ".metadata.json.tmp").exists()
    await log.aclose()


@pytest.mark.parametrize("mode", ["mask", "full", "hash_only"])
async def test_numbers_are_written_as_the_redaction_mode_says_but_never_in_the_transcript(
    tmp_path: Path, mode: PhoneRedaction
) -> None:
    caller, to = redact_number(CALLER, mode), redact_number(TRANSFER_TO, mode)
    log = CallLogger(tmp_path, redact_phone=mode, sweep_chance=0.0)
    await write(log, a_call())
    folder = tmp_path / "calls" / "2026" / "03" / "01" / "CA1"
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["caller"] == caller
    events = {r["type"]: r for r in rows(folder / "events.jsonl")}
    assert events["transfer"]["to"] == to
    assert events["call_ended"]["report"]["caller"] == caller
    assert "+15550004321" in (folder / "transcript.jsonl").read_text()
    if mode != "full":
        written = "".join(p.read_text() for p in folder.iterdir() if p.name != "transcript.jsonl")
        assert CALLER not in written and TRANSFER_TO not in written
    await log.aclose()


def make_day(root: Path, day: str) -> Path:
    folder = root / "calls" / day / "CAold"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text("{}")
    return folder.parent


async def test_the_retention_sweep_deletes_day_folders_older_than_the_retention_only(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()
    for day in ("2026/10/01", "2026/11/06", "2026/11/07", "2026/12/07", "2025/12/31"):
        make_day(tmp_path, day)
    (tmp_path / "calls" / "2026" / "notes").mkdir()
    (tmp_path / "calls" / "README.txt").write_text("mine")

    assert await CallLogger(tmp_path, retention_days=0).sweep(now) == []
    deleted = await CallLogger(tmp_path, retention_days=30).sweep(now)
    assert sorted(p.relative_to(tmp_path / "calls").as_posix() for p in deleted) == [
        "2025/12/31",
        "2026/10/01",
        "2026/11/06",
    ]
    left = sorted(
        p.relative_to(tmp_path / "calls").as_posix() for p in (tmp_path / "calls").rglob("*")
    )
    assert left == [
        "2026",
        "2026/11",
        "2026/11/07",
        "2026/11/07/CAold",
        "2026/11/07/CAold/metadata.json",
        "2026/12",
        "2026/12/07",
        "2026/12/07/CAold",
        "2026/12/07/CAold/metadata.json",
        "2026/notes",
        "README.txt",
    ]


async def test_a_call_start_runs_the_sweep_by_chance(tmp_path: Path) -> None:
    old = make_day(tmp_path, "2020/01/01")
    never = CallLogger(tmp_path, sweep_chance=0.0)
    await write(never, a_call(start=datetime.now(UTC).timestamp()))
    assert old.exists()
    always = CallLogger(tmp_path, sweep_chance=1.0)
    await write(always, a_call("CA2", start=datetime.now(UTC).timestamp()))
    assert not old.exists()
    await never.aclose()
    await always.aclose()


async def test_a_failing_disk_is_a_warning_per_call_and_never_an_exception(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("in the way")
    log = CallLogger(not_a_folder, sweep_chance=0.0)
    with caplog.at_level(logging.WARNING, logger="getpatter.calls.log"):
        await write(log, a_call())
    warnings = [r.getMessage() for r in caplog.records if r.name == "getpatter.calls.log"]
    assert len(warnings) == 2
    assert "call log of CA1 could not be written" in warnings[0]
    assert "writes failed in all" in warnings[1]
    await log.aclose()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
async def test_a_read_only_folder_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.chmod(tmp_path, 0o500)
    log = CallLogger(tmp_path, sweep_chance=0.0)
    try:
        with caplog.at_level(logging.WARNING, logger="getpatter.calls.log"):
            await write(log, a_call())
    finally:
        os.chmod(tmp_path, 0o700)
    assert any("PermissionError" in r.getMessage() for r in caplog.records)
    await log.aclose()


async def test_a_closed_logger_ignores_events(tmp_path: Path) -> None:
    log = CallLogger(tmp_path, sweep_chance=0.0)
    await log.aclose()
    await log.aclose()
    assert not log.enabled
    log.record(a_call()[0])
    assert not (tmp_path / "calls").exists()


def test_unset_env_gives_a_disabled_logger_that_does_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = CallLogger.from_env({"PATTER_LOG_REDACT_PHONE": "nonsense"})
    assert not log.enabled and log.root is None
    log.record(a_call()[0])
    assert log._worker is None  # no writer thread was started
    assert CallLogger.from_env({"PATTER_LOG_DIR": "  "}).enabled is False
    monkeypatch.delenv("PATTER_LOG_DIR", raising=False)
    assert log_from_env(CallEventStream()) is None


def test_env_vars_configure_the_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = CallLogger.from_env(
        {
            "PATTER_LOG_DIR": str(tmp_path),
            "PATTER_LOG_REDACT_PHONE": "hash_only",
            "PATTER_LOG_RETENTION_DAYS": "7",
        }
    )
    assert (log.enabled, log.root, log.redact_phone, log.retention_days) == (
        True,
        tmp_path,
        "hash_only",
        7,
    )
    defaults = CallLogger.from_env({"PATTER_LOG_DIR": str(tmp_path)})
    assert (defaults.redact_phone, defaults.retention_days) == ("mask", 30)
    monkeypatch.setattr(call_log_module.sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    xdg = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert default_log_root(xdg) == tmp_path / "xdg" / "patter"
    assert default_log_root({}) == tmp_path / "home" / ".local" / "share" / "patter"
    auto = CallLogger.from_env({"PATTER_LOG_DIR": "auto", **xdg})
    assert auto.root == tmp_path / "xdg" / "patter"
    monkeypatch.setattr(call_log_module.sys, "platform", "darwin")
    assert default_log_root({}) == tmp_path / "home" / "Library" / "Application Support" / "patter"
    monkeypatch.setattr(call_log_module.sys, "platform", "win32")
    local = {"LOCALAPPDATA": str(tmp_path / "local")}
    assert default_log_root(local) == tmp_path / "local" / "patter"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PATTER_LOG_RETENTION_DAYS", "-1", "PATTER_LOG_RETENTION_DAYS must be a whole number"),
        ("PATTER_LOG_RETENTION_DAYS", "thirty", "PATTER_LOG_RETENTION_DAYS must be a whole"),
        ("PATTER_LOG_REDACT_PHONE", "partial", "PATTER_LOG_REDACT_PHONE must be one of"),
    ],
)
def test_env_values_that_mean_nothing_are_refused(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        CallLogger.from_env({"PATTER_LOG_DIR": str(tmp_path), name: value})


def test_explicit_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="redact_phone must be one of"):
        CallLogger("/tmp/x", redact_phone="partial")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="retention_days"):
        CallLogger("/tmp/x", retention_days=-1)
    with pytest.raises(ConfigError, match="sweep_chance"):
        CallLogger("/tmp/x", sweep_chance=2.0)


async def test_a_log_store_on_the_env_folder_is_not_written_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATTER_LOG_DIR", str(tmp_path))
    store = CallLogStore(tmp_path)
    assert log_from_env(CallEventStream(), store) is None
    other = log_from_env(CallEventStream(), CallLogStore(tmp_path / "other"))
    assert other is not None and other.root == tmp_path
    await store.aclose()


def test_metadata_keeps_the_providers_without_a_price() -> None:
    from getpatter.calls.log_format import metadata
    from getpatter.calls.store import StoredCall

    call = StoredCall(call_id="CA1", cost={"total": 0.01, "llm": 0.01, "unpriced": ["groq_llm"]})
    cost = metadata(call, [], voice=None, redact="mask")["cost"]
    assert cost["unpriced"] == ["groq_llm"] and cost["total"] == 0.01
    plain = StoredCall(call_id="CA2", cost={"total": 0.01})
    assert "unpriced" not in metadata(plain, [], voice=None, redact="mask")["cost"]
