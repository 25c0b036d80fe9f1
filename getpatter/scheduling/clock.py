"""The time a schedule reads and sleeps on: the system's wall clock, or one that tests move.

A schedule asks its clock two things: what time it is (an aware datetime) and to wake it at a
given time. :class:`SystemClock` is the real one. :class:`ManualClock` moves only when told,
so that tests of schedules (yours and ours) run without waiting and always the same way.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from getpatter.errors import ConfigError

__all__ = ["MAX_SLEEP_SECONDS", "Clock", "ManualClock", "SystemClock"]

MAX_SLEEP_SECONDS = 60.0
"""The longest :class:`SystemClock` sleeps before reading the wall clock again.

Event-loop timers run on a monotonic clock, which stops while the machine is suspended and does
not follow changes to the system time. Waking at least once a minute means a schedule notices a
suspend or a clock change within a minute; its misfire rule then decides what runs."""

_SETTLE_STEPS = 50
"""Loop iterations :class:`ManualClock` gives woken tasks before it moves on."""


@runtime_checkable
class Clock(Protocol):
    """What a schedule needs from time (pass one as ``clock=`` to the ``schedule_*`` functions)."""

    def now(self) -> datetime:
        """The current time, as an aware datetime."""
        ...

    async def sleep_until(self, deadline: datetime) -> None:
        """Return once :meth:`now` has reached ``deadline`` (at once if it already has)."""
        ...


class SystemClock:
    """The wall clock (UTC), slept on in steps of at most :data:`MAX_SLEEP_SECONDS`."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime) -> None:
        """Sleep (without blocking the event loop) until the wall clock reaches ``deadline``."""
        while True:
            remaining = (deadline - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, MAX_SLEEP_SECONDS))


class ManualClock:
    """A clock that moves only when a test moves it: schedules under it run without waiting.

    ``start`` is the time it shows first (an aware datetime, shown in UTC; default: the real
    time when it is made). :meth:`advance` lets time flow: every sleeper wakes exactly at its deadline, in
    order, and what it starts gets to run before time moves on. :meth:`jump` moves time all at
    once, as a suspended machine or a blocked event loop would: sleepers wake late.

    Before moving time and after waking sleepers, both give the event loop a fixed number of iterations, enough for a
    job that does not wait on I/O to finish; a job that does (or a sync job, which runs in a
    thread) is waited for with ``await handle.wait()`` or an event of its own.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime.now(UTC)
        if not isinstance(start, datetime) or start.utcoffset() is None:
            raise ConfigError(
                "ManualClock(start=...) needs an aware datetime, e.g. "
                "datetime(2026, 1, 5, 9, 0, tzinfo=UTC)"
            )
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        """The time this clock shows (in UTC)."""
        return self._now

    @property
    def sleepers(self) -> int:
        """How many sleepers are waiting for a later time."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest time a sleeper waits for, or None."""
        waiting = [deadline for deadline, _, future in self._sleepers if not future.done()]
        return min(waiting, default=None)

    async def sleep_until(self, deadline: datetime) -> None:
        """Wait until the clock is moved to ``deadline`` or past it."""
        deadline = deadline.astimezone(UTC)
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    async def advance(self, seconds: float | timedelta) -> None:
        """Let ``seconds`` pass, waking each sleeper at its own deadline, in order."""
        target = self._now + _delta(seconds)
        await _settle()  # tasks started just before get to go to sleep first
        while self._sleepers and self._sleepers[0][0] <= target:
            self._now = max(self._now, self._sleepers[0][0])
            self._wake_due()
            await _settle()
        self._now = target
        await _settle()

    async def jump(self, seconds: float | timedelta) -> None:
        """Move time ``seconds`` forward at once; sleepers whose deadline passed wake late."""
        delta = _delta(seconds)
        await _settle()
        self._now += delta
        self._wake_due()
        await _settle()

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


def _delta(seconds: float | timedelta) -> timedelta:
    delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    if delta < timedelta(0):
        raise ConfigError(f"a clock moves forward only: got {seconds!r}")
    return delta


async def _settle() -> None:
    for _ in range(_SETTLE_STEPS):
        await asyncio.sleep(0)
