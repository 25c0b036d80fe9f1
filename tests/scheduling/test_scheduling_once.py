"""schedule_once: when it runs, what it refuses, cancellation, errors, late fires."""

import asyncio
import functools
import gc
import logging
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from getpatter import ConfigError, ScheduleHandle, schedule_once
from getpatter.scheduling import ManualClock

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def test_runs_once_at_its_time_and_wait_returns_the_result(clock):
    seen: list[datetime] = []

    async def job() -> str:
        seen.append(clock.now())
        return "CA-1"

    handle = schedule_once(60, job, clock=clock)
    assert isinstance(handle, ScheduleHandle)
    assert handle.next_run == T0 + timedelta(seconds=60) and not handle.done
    await clock.advance(59.9)
    assert seen == []
    await clock.advance(0.1)
    assert seen == [T0 + timedelta(seconds=60)]
    assert await handle.wait() == "CA-1"
    assert handle.done and handle.runs == 1 and handle.next_run is None
    assert handle.last_result == "CA-1" and handle.last_error is None
    assert not handle.cancelled and handle.cancel() is False


async def test_an_aware_datetime_in_any_zone_and_next_run_keeps_its_zone(clock):
    rome = ZoneInfo("Europe/Rome")
    when = datetime(2026, 1, 5, 10, 0, tzinfo=rome)  # 09:00 UTC
    handle = schedule_once(when, lambda: "done", clock=clock)
    assert handle.next_run == when and handle.next_run.tzinfo is rome
    await clock.advance(timedelta(minutes=59))
    assert handle.runs == 0
    await clock.advance(timedelta(minutes=1))
    assert await asyncio.wait_for(handle.wait(), 30) == "done"


async def test_naive_datetimes_and_bad_delays_are_refused(clock):
    with pytest.raises(ConfigError, match=r"no time zone.*tzinfo=ZoneInfo"):
        schedule_once(datetime(2026, 1, 5, 9, 0), print, clock=clock)
    for bad in (-1, float("nan"), float("inf"), True, "60"):
        with pytest.raises(ConfigError, match="when"):
            schedule_once(bad, print, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="too"):
        schedule_once(1e30, print, clock=clock)


async def test_a_coroutine_instead_of_a_function_is_refused_and_closed(clock):
    async def place_call() -> None:
        raise AssertionError("never run")

    coroutine = place_call()
    with pytest.raises(ConfigError, match="not the result of calling one"):
        schedule_once(1, coroutine, clock=clock)  # type: ignore[arg-type]
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning


async def test_jobs_are_called_with_no_arguments(clock):
    def needs(number: str) -> None:
        raise AssertionError(number)

    with pytest.raises(ConfigError, match=r"functools\.partial"):
        schedule_once(1, needs, clock=clock)
    with pytest.raises(ConfigError, match="function"):
        schedule_once(1, "print", clock=clock)  # type: ignore[arg-type]
    handle = schedule_once(0, functools.partial(str, "+15550001234"), clock=clock)
    assert await asyncio.wait_for(handle.wait(), 30) == "+15550001234"


def test_outside_an_event_loop_the_fix_is_named():
    with pytest.raises(ConfigError, match=r"async code.*asyncio.run"):
        schedule_once(1, print)


async def test_other_options_are_checked(clock):
    with pytest.raises(ConfigError, match="misfire_grace"):
        schedule_once(1, print, misfire_grace=-1, clock=clock)
    with pytest.raises(ConfigError, match="at least 1 second"):
        schedule_once(1, print, misfire_grace=0.5, clock=clock)
    with pytest.raises(ConfigError, match="on_error"):
        schedule_once(1, print, on_error="log", clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        schedule_once(1, print, name="", clock=clock)
    with pytest.raises(ConfigError, match="clock"):
        schedule_once(1, print, clock=object())  # type: ignore[arg-type]


async def test_a_sync_job_runs_off_the_loop_and_an_awaitable_it_returns_is_awaited(clock):
    loop_thread = threading.get_ident()
    threads: list[int] = []

    async def place_call(number: str) -> str:
        threads.append(threading.get_ident())
        return f"called {number}"

    def job():  # what `lambda: phone.call(...)` is
        threads.append(threading.get_ident())
        return place_call("+15550001234")

    handle = schedule_once(0, job, clock=clock)
    assert await asyncio.wait_for(handle.wait(), 30) == "called +15550001234"
    assert threads[0] != loop_thread and threads[1] == loop_thread


async def test_cancel_before_the_fire(clock):
    ran: list[int] = []
    handle = schedule_once(10, lambda: ran.append(1), clock=clock)
    assert handle.cancel() is True and handle.cancelled and handle.next_run is None
    assert handle.cancel() is False
    await clock.advance(60)
    assert await asyncio.wait_for(handle.wait(), 30) is None
    assert ran == [] and handle.runs == 0 and handle.done


async def test_cancel_while_the_job_runs_cancels_it(clock):
    started = asyncio.Event()
    finished: list[str] = []

    async def job() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            finished.append("cancelled")
            raise
        return "never"

    handle = schedule_once(1, job, clock=clock)
    await clock.advance(1)
    await asyncio.wait_for(started.wait(), 30)
    assert handle.running and not handle.done
    assert handle.cancel() is True
    assert await asyncio.wait_for(handle.wait(), 30) is None
    assert finished == ["cancelled"] and not handle.running and handle.last_error is None


async def test_a_failing_job_is_logged_and_given_to_on_error(clock, caplog):
    errors: list[tuple[Exception, ScheduleHandle]] = []

    async def job() -> None:
        raise RuntimeError("carrier said no")

    handle = schedule_once(0, job, on_error=lambda e, h: errors.append((e, h)), clock=clock)
    with caplog.at_level(logging.ERROR, logger="getpatter.scheduling"):
        assert await asyncio.wait_for(handle.wait(), 30) is None
    assert isinstance(handle.last_error, RuntimeError) and errors == [(handle.last_error, handle)]
    record = next(r for r in caplog.records if r.name == "getpatter.scheduling")
    assert "carrier said no" in record.getMessage() and record.exc_info is not None


async def test_on_error_may_take_only_the_error_be_async_or_fail_itself(clock, caplog):
    seen: list[str] = []

    async def on_error(error: Exception) -> None:
        seen.append(str(error))

    def boom() -> None:
        raise ValueError("bad number")

    def broken_hook(error: Exception) -> None:
        raise KeyError("hook")

    first = schedule_once(0, boom, on_error=on_error, clock=clock)
    await asyncio.wait_for(first.wait(), 30)
    assert seen == ["bad number"]
    with caplog.at_level(logging.ERROR, logger="getpatter.scheduling"):
        second = schedule_once(0, boom, on_error=broken_hook, clock=clock)
        await asyncio.wait_for(second.wait(), 30)
    assert any("on_error failed" in r.getMessage() for r in caplog.records)
    # The loop is unharmed: another schedule still runs.
    third = schedule_once(0, lambda: "ok", clock=clock)
    assert await asyncio.wait_for(third.wait(), 30) == "ok"


async def test_a_past_time_within_the_grace_runs_at_once(clock):
    handle = schedule_once(T0 - timedelta(seconds=30), lambda: "late but fine", clock=clock)
    assert await asyncio.wait_for(handle.wait(), 30) == "late but fine"
    assert handle.runs == 1 and handle.missed == 0


async def test_a_fire_later_than_the_grace_is_skipped_and_logged(clock, caplog):
    ran: list[int] = []
    with caplog.at_level(logging.WARNING, logger="getpatter.scheduling"):
        handle = schedule_once(10, lambda: ran.append(1), name="reminder", clock=clock)
        await clock.jump(timedelta(minutes=5))  # the loop could not run for five minutes
        await asyncio.wait_for(handle.wait(), 30)
    assert ran == [] and handle.runs == 0 and handle.missed == 1
    message = next(r.getMessage() for r in caplog.records if r.name == "getpatter.scheduling")
    assert "'reminder'" in message and "290 s late" in message and "misfire_grace=60" in message


async def test_misfire_grace_none_runs_however_late(clock):
    handle = schedule_once(T0 - timedelta(days=2), lambda: "ran", misfire_grace=None, clock=clock)
    assert await asyncio.wait_for(handle.wait(), 30) == "ran"


async def test_a_dropped_handle_still_runs(clock):
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    schedule_once(5, job, clock=clock)
    gc.collect()
    await clock.advance(5)
    await asyncio.wait_for(ran.wait(), 30)


async def test_an_object_with_an_async_call_is_awaited_on_the_loop(clock):
    loop_thread = threading.get_ident()

    class Dialer:
        async def __call__(self) -> int:
            return threading.get_ident()

    handle = schedule_once(0, Dialer(), clock=clock)
    assert await asyncio.wait_for(handle.wait(), 30) == loop_thread
    assert handle.name == "Dialer"


async def test_a_clock_that_wakes_early_does_not_run_the_job_early(clock):
    class EarlyOnce(ManualClock):
        early = True

        async def sleep_until(self, deadline: datetime) -> None:
            if self.early:
                self.early = False
                return
            await super().sleep_until(deadline)

    early = EarlyOnce(T0)
    handle = schedule_once(10, lambda: "on time", clock=early)
    await early.advance(5)
    assert handle.runs == 0
    await early.advance(5)
    assert await asyncio.wait_for(handle.wait(), 30) == "on time"
