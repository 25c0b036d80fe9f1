"""schedule_interval: fixed-rate fires, overlap, errors that do not stop it, late wake-ups."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from getpatter import ConfigError, schedule_interval
from getpatter.scheduling import ManualClock

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def test_fires_every_interval_from_one_interval_after_now(clock):
    seen: list[datetime] = []

    async def job() -> None:
        seen.append(clock.now())

    handle = schedule_interval(10, job, clock=clock)
    assert handle.next_run == at(10)[0]
    await clock.advance(35)
    assert seen == at(10, 20, 30) and handle.runs == 3
    assert handle.next_run == at(40)[0]
    handle.cancel()
    await clock.advance(60)
    assert seen == at(10, 20, 30) and handle.done


async def test_start_sets_the_first_fire_and_slow_runs_do_not_shift_later_ones(clock):
    seen: list[datetime] = []

    async def slow_job() -> None:
        seen.append(clock.now())
        await clock.sleep_until(clock.now() + timedelta(seconds=4))

    handle = schedule_interval(timedelta(seconds=10), slow_job, start=2, clock=clock)
    await clock.advance(30)
    assert seen == at(2, 12, 22)
    handle.cancel()
    await asyncio.wait_for(handle.wait(), 30)


async def test_an_overlapping_fire_is_skipped_and_logged_by_default(clock, caplog):
    release = asyncio.Event()
    starts: list[datetime] = []

    async def long_job() -> None:
        starts.append(clock.now())
        await release.wait()

    with caplog.at_level(logging.WARNING, logger="getpatter.scheduling"):
        handle = schedule_interval(10, long_job, name="dialer", clock=clock)
        await clock.advance(25)
    assert starts == at(10) and handle.skipped == 1 and handle.running
    assert any("still going" in r.getMessage() for r in caplog.records)
    release.set()
    await clock.advance(10)
    assert starts == at(10, 30)
    handle.cancel()
    await asyncio.wait_for(handle.wait(), 30)


async def test_overlap_allow_runs_beside_the_previous_run(clock):
    release = asyncio.Event()
    starts: list[datetime] = []

    async def long_job() -> None:
        starts.append(clock.now())
        await release.wait()

    handle = schedule_interval(10, long_job, overlap="allow", clock=clock)
    await clock.advance(25)
    assert starts == at(10, 20) and handle.skipped == 0
    handle.cancel()  # cancels both runs
    await asyncio.wait_for(handle.wait(), 30)
    assert not handle.running


async def test_a_failing_run_does_not_stop_the_schedule(clock):
    calls: list[datetime] = []
    errors: list[Exception] = []

    async def flaky() -> str:
        calls.append(clock.now())
        if len(calls) == 1:
            raise ConnectionError("carrier down")
        return "ok"

    handle = schedule_interval(10, flaky, on_error=errors.append, clock=clock)
    await clock.advance(10)
    assert isinstance(handle.last_error, ConnectionError) and len(errors) == 1
    await clock.advance(10)
    assert calls == at(10, 20) and handle.last_error is None and handle.last_result == "ok"
    handle.cancel()


async def test_a_late_wake_up_runs_once_for_the_fires_it_merged(clock):
    seen: list[datetime] = []

    async def job() -> None:
        seen.append(clock.now())

    handle = schedule_interval(10, job, clock=clock)
    await clock.jump(45)  # fires at 10, 20, 30 and 40 passed; 40 is 5 s late: within the grace
    assert seen == at(45) and handle.runs == 1 and handle.missed == 0
    assert handle.next_run == at(50)[0]
    await clock.advance(5)
    assert seen == at(45, 50)
    handle.cancel()


async def test_a_wake_up_later_than_the_grace_skips_and_resumes_on_the_next_slot(clock):
    seen: list[datetime] = []

    async def job() -> None:
        seen.append(clock.now())

    handle = schedule_interval(100, job, misfire_grace=30, clock=clock)
    await clock.jump(150)  # the fire at 100 is 50 s late
    assert seen == [] and handle.missed == 1 and handle.next_run == at(200)[0]
    await clock.advance(50)
    assert seen == at(200)
    handle.cancel()


async def test_cancel_from_inside_the_job_lets_the_run_finish(clock):
    finished: list[int] = []
    handle_box: list = []

    async def job() -> str:
        handle_box[0].cancel()
        await asyncio.sleep(0)
        finished.append(1)
        return "last"

    handle_box.append(schedule_interval(10, job, clock=clock))
    await clock.advance(10)
    handle = handle_box[0]
    assert await asyncio.wait_for(handle.wait(), 30) == "last"
    await clock.advance(30)
    assert finished == [1] and handle.runs == 1 and handle.cancelled


async def test_bad_intervals_and_options_are_refused(clock):
    for bad in (0, -5, timedelta(0), float("nan")):
        with pytest.raises(ConfigError, match="seconds"):
            schedule_interval(bad, print, clock=clock)
    with pytest.raises(ConfigError, match="overlap"):
        schedule_interval(1, print, overlap="queue", clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no time zone"):
        schedule_interval(1, print, start=datetime(2026, 1, 5), clock=clock)


async def test_a_sync_job_may_cancel_its_own_schedule_from_its_thread(clock):
    handle_box: list = []

    def job() -> str:  # runs in a worker thread
        assert handle_box[0].cancel() is True
        return "stopped"

    handle_box.append(schedule_interval(10, job, clock=clock))
    await clock.advance(10)
    handle = handle_box[0]
    assert await asyncio.wait_for(handle.wait(), 30) == "stopped"
    await clock.advance(30)
    assert handle.runs == 1 and handle.cancelled and handle.cancel() is False


async def test_intervals_are_real_time_across_a_daylight_saving_change():
    rome = ZoneInfo("Europe/Rome")
    clock = ManualClock(datetime(2026, 3, 28, 11, 0, tzinfo=rome))
    seen: list[datetime] = []

    async def job() -> None:
        seen.append(clock.now())

    start = datetime(2026, 3, 28, 12, 0, tzinfo=rome)
    handle = schedule_interval(timedelta(hours=24), job, start=start, clock=clock)
    assert handle.next_run == start and handle.next_run.tzinfo is rome
    await clock.advance(timedelta(hours=26))
    # 24 real hours after noon on Saturday is 13:00 on Sunday, when clocks went forward.
    assert [s.astimezone(rome).hour for s in seen] == [12, 13]
    assert seen[1] - seen[0] == timedelta(hours=24)
    handle.cancel()
