"""Cron expressions, read by ``croniter`` (the ``scheduling`` extra) in an IANA time zone.

The dialect is classic five-field cron: ``minute hour day-of-month month day-of-week``, with
``*``, lists (``1,15``), ranges (``MON-FRI``), steps (``*/15``), month and day names, the
macros ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly``, ``@yearly``
(``@annually``), and croniter's ``L`` (last day of the month) and ``#`` (``FRI#1``, the first
Friday). When both day fields are restricted a day matching either one fires, as in Vixie
cron. Six- and seven-field forms (seconds, years) are refused: for less than a minute use
``schedule_interval``.

Daylight saving time is handled by the parser on zone-aware datetimes: a wall time that does
not exist on the night clocks go forward fires at the first instant after the gap (02:30 fires
at 03:00); on the night they go back, an expression with a fixed hour fires once, in the first
pass of the repeated hour (as Vixie cron does), while one whose hour is ``*`` fires in both
passes, since those are different hours.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from getpatter.errors import ConfigError

__all__ = ["CronTrigger", "resolve_zone"]

_INSTALL = "pip install 'getpatter[scheduling]'"
_FIELDS = "minute hour day-of-month month day-of-week, e.g. '0 9 * * MON-FRI' (9:00 on weekdays)"
_TICK = timedelta(microseconds=1)


def resolve_zone(timezone: object) -> tzinfo:
    """``timezone`` as a tzinfo: an IANA name (``"Europe/Rome"``) or a tzinfo instance."""
    if isinstance(timezone, tzinfo):
        return timezone
    if not isinstance(timezone, str) or not timezone:
        raise ConfigError(
            f"timezone must be an IANA zone name like 'Europe/Rome' or 'UTC', got {timezone!r}"
        )
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {timezone!r}: use an IANA name like 'Europe/Rome', "
            "'America/New_York' or 'UTC' (on a system without a zone database, "
            f"{_INSTALL} installs tzdata)"
        ) from None


class CronTrigger:
    """The fires of a five-field cron ``expression`` read in ``zone``.

    Refuses, with a :class:`ConfigError` naming the fix, an expression croniter cannot read,
    a form that is not five fields, and one that never fires.
    """

    def __init__(self, expression: str, zone: tzinfo, now: datetime) -> None:
        croniter = _croniter()
        if not isinstance(expression, str):
            raise ConfigError(f"expression must be a cron string ({_FIELDS})")
        text = " ".join(expression.split())
        if not text.startswith("@") and len(text.split(" ")) != 5:
            raise ConfigError(
                f"cron expression {expression!r} has {len(text.split())} fields: use five, "
                f"{_FIELDS}; for less than a minute use schedule_interval"
            )
        try:
            parsed = croniter(text, now.astimezone(zone))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"invalid cron expression {expression!r} ({exc}): use {_FIELDS}"
            ) from None
        self.expression = text
        self.zone: tzinfo = zone
        self._fixed_hour = parsed.expanded[1] != ["*"]
        try:
            self.next_after(now)
        except ValueError:
            raise ConfigError(
                f"cron expression {expression!r} never fires (no such date): check the day "
                "and month fields"
            ) from None

    def next_after(self, instant: datetime) -> datetime:
        """The first fire strictly after ``instant``."""
        parsed = _croniter()(self.expression, instant.astimezone(self.zone))
        while True:
            fire = _instant(parsed.get_next(datetime), self.zone)
            if not self._second_pass(fire):
                return fire

    def latest_until(self, instant: datetime) -> datetime | None:
        """The latest fire at or before ``instant``."""
        parsed = _croniter()(self.expression, (instant + _TICK).astimezone(self.zone))
        while True:
            try:
                fire = _instant(parsed.get_prev(datetime), self.zone)
            except ValueError:
                return None
            if not self._second_pass(fire):
                return fire

    def _second_pass(self, fire: datetime) -> bool:
        """True for a fixed-hour fire in the repeated hour of a fall-back night."""
        if not self._fixed_hour:
            return False
        local = fire.astimezone(self.zone)
        return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def _instant(value: datetime, zone: tzinfo) -> datetime:
    """croniter's result as a UTC instant (a naive one is a wall time in ``zone``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _croniter() -> Any:
    try:
        module = importlib.import_module("croniter")
    except ImportError:
        raise ConfigError(
            f"schedule_cron needs croniter, from the scheduling extra: {_INSTALL}"
        ) from None
    return module.croniter
