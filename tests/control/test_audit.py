import asyncio
import stat
import time
from datetime import UTC, datetime

import pytest

from getpatter.control.audit import AuditLog, utc_day_start
from getpatter.errors import ConfigError, InputValidationError, PatterError


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


async def test_entries_survive_reopening_the_file(tmp_path):
    path = tmp_path / "audit.db"
    async with asyncio.timeout(10):
        log = AuditLog(path, clock=Clock(1234.5))
        await log.record(
            "make_call",
            {"to": "+15551234567", "goal": "book a table"},
            "ok",
            call_id="CA1",
            client="mcp",
        )
        await log.aclose()

        reopened = AuditLog(str(path))
        [entry] = await reopened.entries()
        await reopened.aclose()
    assert entry.at == 1234.5
    assert (entry.tool, entry.outcome, entry.call_id, entry.client) == (
        "make_call",
        "ok",
        "CA1",
        "mcp",
    )
    assert entry.arguments == {"to": "+15551234567", "goal": "book a table"}
    assert (entry.rule, entry.detail, entry.cost_usd) == ("", "", None)


async def test_refusals_keep_rule_and_detail():
    async with asyncio.timeout(10), AuditLog() as log:
        await log.record(
            "make_call", {"to": "+19005551234"}, "refused", rule="premium", detail="NANP 900"
        )
        [entry] = await log.entries()
    assert (entry.outcome, entry.rule, entry.detail) == ("refused", "premium", "NANP 900")


async def test_file_and_parent_folders_are_created_owner_only(tmp_path):
    path = tmp_path / "deep" / "er" / "audit.db"
    async with asyncio.timeout(10):
        log = AuditLog(path)
        await log.record("make_call", {}, "ok")
        mode = stat.S_IMODE(path.stat().st_mode)
        wal = path.with_name("audit.db-wal")
        wal_mode = stat.S_IMODE(wal.stat().st_mode) if wal.exists() else 0o600
        await log.aclose()
    assert mode == 0o600
    assert wal_mode == 0o600


async def test_secret_looking_keys_are_masked_at_any_depth():
    arguments = {
        "to": "+15551234567",
        "api_key": "sk-live-123",
        "authToken": "tok",
        "agent": {"llm": {"OPENAI_API_KEY": "sk-1", "model": "gpt"}, "password1": "hunter2"},
        "headers": [{"Authorization": "Bearer x"}],
        "client_secret": "s",
        "idempotency_key": "req-42",
        "author": "Sam",
    }
    async with asyncio.timeout(10), AuditLog() as log:
        await log.record("make_call", arguments, "ok")
        [entry] = await log.entries()
    assert entry.arguments == {
        "to": "+15551234567",
        "api_key": "***",
        "authToken": "***",
        "agent": {"llm": {"OPENAI_API_KEY": "***", "model": "gpt"}, "password1": "***"},
        "headers": [{"Authorization": "***"}],
        "client_secret": "***",
        "idempotency_key": "req-42",
        "author": "Sam",
    }


async def test_values_json_cannot_hold_are_stored_as_repr():
    when = datetime(2026, 1, 2, tzinfo=UTC)
    async with asyncio.timeout(10), AuditLog() as log:
        await log.record(
            "say", {"at": when, "bad": float("nan"), "ids": (1, 2), 3: "three"}, "error"
        )
        [entry] = await log.entries()
    assert entry.arguments == {"at": repr(when), "bad": "nan", "ids": [1, 2], "3": "three"}


async def test_entries_are_newest_first_limited_and_filtered_by_call_id():
    clock = Clock()
    async with asyncio.timeout(10), AuditLog(clock=clock) as log:
        for i, call_id in enumerate(["CA1", "CA2", "CA1", ""]):
            clock.now = 100.0 + i
            await log.record("say", {"n": i}, "ok", call_id=call_id)
        newest = await log.entries()
        limited = await log.entries(limit=2)
        only_ca1 = await log.entries(call_id="CA1")
    assert [e.arguments["n"] for e in newest] == [3, 2, 1, 0]
    assert [e.arguments["n"] for e in limited] == [3, 2]
    assert [e.arguments["n"] for e in only_ca1] == [2, 0]
    assert newest[0].id > newest[1].id


async def test_calls_placed_since_counts_successful_placements_in_the_window():
    clock = Clock(50.0)
    async with asyncio.timeout(10), AuditLog(clock=clock) as log:
        await log.record("make_call", {}, "ok", call_id="old")
        clock.now = 100.0
        await log.record("make_call", {}, "ok", call_id="CA1")
        await log.record("confirm_call", {}, "ok", call_id="CA2")
        await log.record("confirm_call", {}, "ok", call_id="CA2")
        await log.record("make_call", {}, "ok")
        await log.record("make_call", {}, "refused", rule="allowlist", call_id="CA3")
        await log.record("make_call", {}, "error", call_id="CA4")
        await log.record("say", {}, "ok", call_id="CA5")
        assert await log.calls_placed_since(100.0) == 2
        assert await log.calls_placed_since(0.0) == 3
        assert await log.calls_placed_since(100.5) == 0


async def test_spend_since_sums_call_ended_costs_in_the_window(tmp_path):
    clock = Clock(10.0)
    path = tmp_path / "audit.db"
    async with asyncio.timeout(10):
        async with AuditLog(path, clock=clock) as log:
            await log.record("call_ended", {}, "ok", call_id="old", cost_usd=5.0)
            clock.now = 100.0
            await log.record("call_ended", {}, "ok", call_id="CA1", cost_usd=0.25)
            await log.record("call_ended", {}, "error", call_id="CA2", cost_usd=0.5)
            await log.record("call_ended", {}, "ok", call_id="CA3")
            await log.record("make_call", {}, "ok", call_id="CA1", cost_usd=9.0)
        async with AuditLog(path) as reopened:
            assert await reopened.spend_since(100.0) == pytest.approx(0.75)
            assert await reopened.spend_since(0.0) == pytest.approx(5.75)
            assert await reopened.spend_since(200.0) == 0.0


async def test_fifty_concurrent_records_all_land(tmp_path):
    async with asyncio.timeout(10), AuditLog(tmp_path / "audit.db") as log:
        await asyncio.gather(
            *(log.record("make_call", {"n": i}, "ok", call_id=f"CA{i}") for i in range(50))
        )
        entries = await log.entries(limit=1000)
        assert await log.calls_placed_since(0.0) == 50
    assert sorted(e.arguments["n"] for e in entries) == list(range(50))


async def test_invalid_outcome_and_arguments_are_refused():
    async with asyncio.timeout(10), AuditLog() as log:
        with pytest.raises(InputValidationError, match="outcome"):
            await log.record("make_call", {}, "denied")
        with pytest.raises(ConfigError, match="arguments"):
            await log.record("make_call", ["+1555"], "ok")
        with pytest.raises(InputValidationError, match="cost_usd"):
            await log.record("call_ended", {}, "ok", cost_usd=-1.0)
        assert await log.entries() == []


async def test_closed_log_refuses_further_use_and_closing_twice_is_fine():
    async with asyncio.timeout(10):
        log = AuditLog()
        await log.aclose()
        await log.aclose()
        with pytest.raises(PatterError, match="closed"):
            await log.record("make_call", {}, "ok")


def test_unopenable_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot open the audit log"):
        AuditLog(tmp_path)


def test_utc_day_start_is_midnight_utc():
    noon = datetime(2026, 3, 14, 12, 30, tzinfo=UTC).timestamp()
    midnight = datetime(2026, 3, 14, tzinfo=UTC).timestamp()
    assert utc_day_start(noon) == midnight
    assert utc_day_start(midnight) == midnight
    assert utc_day_start(midnight - 0.001) == midnight - 86_400
    start = utc_day_start()
    assert start % 86_400 == 0
    assert 0 <= time.time() - start < 86_400 + 60
