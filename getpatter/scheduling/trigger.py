"""When a schedule fires: once, at a fixed interval, or (in ``cron.py``) on a cron expression.

A trigger answers two questions about instants: the first fire strictly after a time, and the
latest fire at or before a time (what a late wake-up runs, when earlier missed fires are merged
into it). Triggers keep and return UTC datetimes: arithmetic on datetimes that share a zone is
wall-clock arithmetic in Python, which daylight saving time would bend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

__all__ = ["IntervalTrigger", "OnceTrigger", "Trigger"]


class Trigger(Protocol):
    """The fire times of a schedule."""

    zone: tzinfo
    """The zone :attr:`ScheduleHandle.next_run` is shown in."""

    def next_after(self, instant: datetime) -> datetime | None:
        """The first fire strictly after ``instant``, or None when there is no more."""
        ...

    def latest_until(self, instant: datetime) -> datetime | None:
        """The latest fire at or before ``instant``, or None when none is."""
        ...


class OnceTrigger:
    """A single fire at ``when`` (an aware datetime; its zone is the display zone)."""

    def __init__(self, when: datetime) -> None:
        self.when = when.astimezone(UTC)
        self.zone: tzinfo = when.tzinfo or UTC

    def next_after(self, instant: datetime) -> datetime | None:
        """``when`` if it is after ``instant``."""
        return self.when if self.when > instant else None

    def latest_until(self, instant: datetime) -> datetime | None:
        """``when`` if it is not after ``instant``."""
        return self.when if self.when <= instant else None


class IntervalTrigger:
    """Fires at ``start``, ``start + every``, ``start + 2 * every``... (fixed rate, no drift).

    The slots are instants, so an interval ignores daylight saving time: every 24 hours is not
    every day at nine once the clocks change (use a cron schedule for wall-clock times).
    """

    def __init__(self, start: datetime, every: timedelta) -> None:
        self.start = start.astimezone(UTC)
        self.every = every
        self.zone: tzinfo = start.tzinfo or UTC

    def next_after(self, instant: datetime) -> datetime:
        """The first slot strictly after ``instant``."""
        instant = instant.astimezone(UTC)
        if instant < self.start:
            return self.start
        return self.start + ((instant - self.start) // self.every + 1) * self.every

    def latest_until(self, instant: datetime) -> datetime | None:
        """The last slot at or before ``instant``."""
        instant = instant.astimezone(UTC)
        if instant < self.start:
            return None
        return self.start + ((instant - self.start) // self.every) * self.every
