"""ManualClock moves only when told; SystemClock sleeps on the wall clock (one real short run)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from getpatter import ConfigError, schedule_once
from getpatter.scheduling import Clock, ManualClock, SystemClock

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


async def test_advance_wakes_each_sleeper_at_its_own_deadline_in_order():
    clock = ManualClock(T0)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(label: str, seconds: float) -> None:
        await clock.sleep_until(T0 + timedelta(seconds=seconds))
        woke.append((label, clock.now()))

    tasks = [asyncio.create_task(sleeper("b", 20)), asyncio.create_task(sleeper("a", 10))]
    await clock.advance(15)
    assert woke == [("a", T0 + timedelta(seconds=10))]
    assert clock.now() == T0 + timedelta(seconds=15) and clock.sleepers == 1
    assert clock.next_deadline == T0 + timedelta(seconds=20)
    await clock.advance(5)
    assert woke[1] == ("b", T0 + timedelta(seconds=20))
    await asyncio.gather(*tasks)


async def test_jump_wakes_sleepers_late_like_a_suspended_machine():
    clock = ManualClock(T0)
    woke: list[datetime] = []

    async def sleeper() -> None:
        await clock.sleep_until(T0 + timedelta(seconds=10))
        woke.append(clock.now())

    task = asyncio.create_task(sleeper())
    await clock.jump(timedelta(hours=1))
    assert woke == [T0 + timedelta(hours=1)]
    await task


async def test_a_past_deadline_returns_at_once():
    await asyncio.wait_for(SystemClock().sleep_until(datetime(2000, 1, 1, tzinfo=UTC)), 5)
    await ManualClock(T0).sleep_until(T0)


def test_manual_clock_refuses_naive_times_and_going_back():
    with pytest.raises(ConfigError, match="aware datetime"):
        ManualClock(datetime(2026, 1, 5, 8, 0))
    with pytest.raises(ConfigError, match="forward"):
        asyncio.run(ManualClock(T0).advance(-1))


def test_both_clocks_are_clocks():
    assert isinstance(SystemClock(), Clock) and isinstance(ManualClock(T0), Clock)
    assert SystemClock().now().utcoffset() == timedelta(0)


async def test_a_real_short_schedule_on_the_system_clock():
    """The one test on real time: a job 50 ms away runs, on the wall clock, once."""
    started = datetime.now(UTC)

    async def job() -> datetime:
        return datetime.now(UTC)

    handle = schedule_once(0.05, job)
    ran_at = await asyncio.wait_for(handle.wait(), 30)
    assert ran_at >= started + timedelta(seconds=0.05)
    assert handle.runs == 1 and handle.done and handle.next_run is None


async def test_the_system_clock_rereads_the_wall_clock_at_least_every_minute(monkeypatch):
    """A long sleep is cut in steps, so a suspend or a clock change is seen within a minute."""
    wall = [T0]
    slept: list[float] = []

    class Wall(SystemClock):
        def now(self) -> datetime:
            return wall[0]

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        # The machine sleeps 40 minutes during the second step.
        wall[0] += timedelta(seconds=seconds if len(slept) != 2 else 2400)

    monkeypatch.setattr("getpatter.scheduling.clock.asyncio.sleep", fake_sleep)
    await Wall().sleep_until(T0 + timedelta(hours=1))
    assert slept[:2] == [60.0, 60.0] and max(slept) == 60.0
    assert wall[0] == T0 + timedelta(hours=1) and len(slept) == 21  # not 60 steps
