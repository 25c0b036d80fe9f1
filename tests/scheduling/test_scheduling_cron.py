"""schedule_cron: the dialect, errors that name the fix, time zones and DST, the extra."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from getpatter import ConfigError, schedule_cron
from getpatter.scheduling import ManualClock

ROME = ZoneInfo("Europe/Rome")


async def run_for(expression: str, start: datetime, span: timedelta, **options) -> list[datetime]:
    """The local times ``expression`` fires at during ``span`` after ``start``."""
    clock = ManualClock(start)
    seen: list[datetime] = []

    async def job() -> None:
        seen.append(clock.now().astimezone(ROME))

    handle = schedule_cron(expression, job, clock=clock, **{"timezone": "Europe/Rome", **options})
    await clock.advance(span)
    handle.cancel()
    return seen


def local(*fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=ROME, fold=fold)


async def test_weekdays_at_nine_in_the_given_zone_across_the_spring_change():
    seen = await run_for(
        "0 9 * * MON-FRI", datetime(2026, 3, 26, 12, tzinfo=UTC), timedelta(days=6)
    )
    assert seen == [
        local(2026, 3, 27, 9),
        local(2026, 3, 30, 9),
        local(2026, 3, 31, 9),
        local(2026, 4, 1, 9),
    ]
    # Nine o'clock in Rome is 08:00 UTC before the change and 07:00 UTC after it.
    assert [s.astimezone(UTC).hour for s in seen] == [8, 7, 7, 7]


async def test_a_time_skipped_by_the_spring_change_fires_just_after_it():
    seen = await run_for("30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=UTC), timedelta(days=2))
    assert seen == [local(2026, 3, 29, 3, 0), local(2026, 3, 30, 2, 30)]


async def test_a_fixed_hour_repeated_by_the_autumn_change_fires_once():
    seen = await run_for("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=UTC), timedelta(days=2))
    assert seen == [local(2026, 10, 25, 2, 30), local(2026, 10, 26, 2, 30)]
    assert seen[0].utcoffset() == timedelta(hours=2)  # the first pass


async def test_an_hourly_expression_fires_in_both_passes_of_the_repeated_hour():
    seen = await run_for(
        "0 * * * *", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), timedelta(hours=5)
    )
    assert seen == [
        local(2026, 10, 25, 1),
        local(2026, 10, 25, 2),
        local(2026, 10, 25, 2, fold=1),
        local(2026, 10, 25, 3),
        local(2026, 10, 25, 4),
    ]
    assert [s.astimezone(UTC).hour for s in seen] == [23, 0, 1, 2, 3]


async def test_macros_names_and_a_tzinfo_zone():
    clock = ManualClock(datetime(2026, 1, 5, 12, tzinfo=UTC))
    handle = schedule_cron("@daily", print, timezone=timezone(timedelta(hours=-5)), clock=clock)
    assert handle.next_run == datetime(2026, 1, 6, tzinfo=timezone(timedelta(hours=-5)))
    handle.cancel()
    handle = schedule_cron("0 18 L * *", print, timezone="UTC", clock=clock)
    assert handle.next_run == datetime(2026, 1, 31, 18, tzinfo=ZoneInfo("UTC"))
    handle.cancel()
    handle = schedule_cron("0 9 * * fri#1", print, timezone="UTC", clock=clock)
    assert handle.next_run == datetime(2026, 2, 6, 9, tzinfo=ZoneInfo("UTC"))
    handle.cancel()
    assert handle.next_run is None


async def test_utc_is_the_default_zone():
    clock = ManualClock(datetime(2026, 1, 5, 12, tzinfo=UTC))
    handle = schedule_cron("0 9 * * *", print, clock=clock)
    assert handle.next_run == datetime(2026, 1, 6, 9, tzinfo=UTC)
    handle.cancel()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", r"invalid cron expression '61 \* \* \* \*'.*'0 9 \* \* MON-FRI'"),
        ("* * *", "has 3 fields: use five"),
        ("*/5 * * * * *", "has 6 fields.*schedule_interval"),
        ("0 0 1 1 * 2030", "has 6 fields"),
        ("H * * * *", "invalid cron expression"),
        ("@reboot", "invalid cron expression"),
        ("0 0 30 2 *", "never fires"),
        ("", "has 0 fields"),
    ],
)
async def test_bad_expressions_are_refused_up_front(expression, message):
    with pytest.raises(ConfigError, match=message):
        schedule_cron(expression, print)


async def test_bad_zones_are_refused():
    with pytest.raises(ConfigError, match=r"unknown time zone 'Europe/Roma'.*IANA"):
        schedule_cron("0 9 * * *", print, timezone="Europe/Roma")
    with pytest.raises(ConfigError, match="IANA"):
        schedule_cron("0 9 * * *", print, timezone=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cron string"):
        schedule_cron(None, print)  # type: ignore[arg-type]


async def test_without_croniter_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "croniter", None)
    with pytest.raises(ConfigError, match=r"getpatter\[scheduling\]"):
        schedule_cron("0 9 * * *", print)


def test_import_getpatter_does_not_load_croniter():
    code = (
        "import getpatter, json, sys; getpatter.schedule_once; getpatter.ScheduleHandle; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}
    assert loaded.isdisjoint({"croniter", "dateutil", "numpy"})


async def test_a_cron_schedule_keeps_running_after_a_failure():
    clock = ManualClock(datetime(2026, 1, 5, 8, 59, tzinfo=UTC))
    runs: list[datetime] = []

    async def job() -> None:
        runs.append(clock.now())
        raise RuntimeError("boom")

    handle = schedule_cron("*/1 * * * *", job, clock=clock)
    await clock.advance(180)
    assert len(runs) == 3 and isinstance(handle.last_error, RuntimeError)
    handle.cancel()


async def test_a_late_wake_up_merges_passed_cron_fires_into_one_run_or_skips():
    clock = ManualClock(datetime(2026, 1, 5, 8, 59, tzinfo=UTC))
    seen: list[datetime] = []

    async def job() -> None:
        seen.append(clock.now())

    every_minute = schedule_cron("* * * * *", job, clock=clock)
    daily = schedule_cron("0 9 * * *", job, clock=clock)
    await clock.jump(125)  # 09:01:05: the 09:00 and 09:01 fires passed
    assert seen == [datetime(2026, 1, 5, 9, 1, 5, tzinfo=UTC)]  # the minute job, once
    assert every_minute.runs == 1 and every_minute.missed == 0 and daily.missed == 1
    assert every_minute.next_run == datetime(2026, 1, 5, 9, 2, tzinfo=ZoneInfo("UTC"))
    assert daily.next_run == datetime(2026, 1, 6, 9, tzinfo=ZoneInfo("UTC"))
    every_minute.cancel()
    daily.cancel()
