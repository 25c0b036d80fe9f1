"""``schedule_once``, ``schedule_interval`` and ``schedule_cron``: check the arguments, start a
:class:`ScheduleHandle` on the running event loop."""

from __future__ import annotations

import asyncio
import inspect
import math
from datetime import UTC, datetime, timedelta, tzinfo

from getpatter.errors import ConfigError
from getpatter.scheduling.clock import Clock, SystemClock
from getpatter.scheduling.cron import CronTrigger, resolve_zone
from getpatter.scheduling.handle import ErrorHook, Job, Overlap, ScheduleHandle
from getpatter.scheduling.trigger import IntervalTrigger, OnceTrigger, Trigger

__all__ = ["DEFAULT_MISFIRE_GRACE", "schedule_cron", "schedule_interval", "schedule_once"]

DEFAULT_MISFIRE_GRACE = 60.0
"""Seconds a fire may be late and still run (a scheduled call an hour late is not placed)."""

_MIN_GRACE = timedelta(seconds=1)
_SYSTEM_CLOCK = SystemClock()


def schedule_once(
    when: datetime | timedelta | float,
    job: Job,
    *,
    name: str | None = None,
    misfire_grace: float | timedelta | None = DEFAULT_MISFIRE_GRACE,
    on_error: ErrorHook | None = None,
    clock: Clock | None = None,
) -> ScheduleHandle:
    """Run ``job`` once, at ``when``: an aware datetime, or a delay (seconds or a timedelta).

    Call it from async code: the job runs on the running event loop. ``job`` takes no
    arguments: a coroutine function is awaited on the loop; a plain callable runs in a worker
    thread, and an awaitable it returns is awaited on the loop, so
    ``schedule_once(60, lambda: phone.call("+15550001234"))`` places a call in a minute, under
    the same safety policy as any ``phone.call``.

    A naive datetime is refused: give it a zone (``datetime(..., tzinfo=ZoneInfo("Europe/Rome"))``).
    A time that has already passed counts as a late fire: it runs at once if it is at most
    ``misfire_grace`` seconds late (None: however late) and is skipped and logged otherwise.

    A failing job is logged and given to ``on_error(error)`` or ``on_error(error, handle)``;
    ``await handle.wait()`` returns the job's result (None if it failed, was skipped or was
    cancelled). ``clock`` replaces the wall clock (tests pass a ``ManualClock``).
    """
    job = _checked_job(job)
    timer = _checked_clock(clock)
    trigger = OnceTrigger(_instant("when", when, timer.now()))
    return _start(job, trigger, trigger.when, name, timer, misfire_grace, "skip", on_error)


def schedule_interval(
    seconds: float | timedelta,
    job: Job,
    *,
    start: datetime | timedelta | float | None = None,
    name: str | None = None,
    misfire_grace: float | timedelta | None = DEFAULT_MISFIRE_GRACE,
    overlap: Overlap = "skip",
    on_error: ErrorHook | None = None,
    clock: Clock | None = None,
) -> ScheduleHandle:
    """Run ``job`` every ``seconds`` (a number > 0 or a timedelta) until cancelled.

    The first run is at ``start`` (an aware datetime or a delay; default: one interval from
    now), then at fixed steps from it: a slow run does not shift later fires. Intervals are
    real time, so daylight saving time does not move them (use :func:`schedule_cron` for
    wall-clock times like "every day at nine").

    A fire that comes while the previous run is still going is skipped and logged
    (``overlap="skip"``) or started beside it (``overlap="allow"``). ``job``, ``name``,
    ``misfire_grace``, ``on_error`` and ``clock`` are as in :func:`schedule_once`.
    """
    job = _checked_job(job)
    timer = _checked_clock(clock)
    every = _duration("seconds", seconds)
    if every <= timedelta(0):
        raise ConfigError(f"seconds must be more than 0, got {seconds!r}")
    now = timer.now().astimezone(UTC)
    trigger = IntervalTrigger(
        now + every if start is None else _instant("start", start, now), every
    )
    return _start(job, trigger, trigger.start, name, timer, misfire_grace, overlap, on_error)


def schedule_cron(
    expression: str,
    job: Job,
    *,
    timezone: str | tzinfo = "UTC",
    name: str | None = None,
    misfire_grace: float | timedelta | None = DEFAULT_MISFIRE_GRACE,
    overlap: Overlap = "skip",
    on_error: ErrorHook | None = None,
    clock: Clock | None = None,
) -> ScheduleHandle:
    """Run ``job`` on a five-field cron ``expression``, read in ``timezone``, until cancelled.

    ``expression`` is ``minute hour day-of-month month day-of-week`` (e.g. ``"0 9 * * MON-FRI"``,
    9:00 on weekdays) or a macro like ``"@daily"``; it is checked here, and a mistake is a
    ``ConfigError``. ``timezone`` is an IANA name (``"Europe/Rome"``) or a tzinfo; the default
    is UTC, so pass the zone of the people you call. Daylight saving time is handled: a time
    skipped when clocks go forward fires just after the change, and a fixed-hour time
    repeated when they go back fires once. Needs croniter: ``pip install 'getpatter[scheduling]'``.

    ``overlap`` is as in :func:`schedule_interval`; ``job``, ``name``, ``misfire_grace``,
    ``on_error`` and ``clock`` as in :func:`schedule_once`.
    """
    job = _checked_job(job)
    timer = _checked_clock(clock)
    now = timer.now().astimezone(UTC)
    trigger = CronTrigger(expression, resolve_zone(timezone), now)
    first = trigger.next_after(now)
    return _start(job, trigger, first, name, timer, misfire_grace, overlap, on_error)


def _start(
    job: Job,
    trigger: Trigger,
    first: datetime,
    name: str | None,
    clock: Clock,
    misfire_grace: float | timedelta | None,
    overlap: Overlap,
    on_error: ErrorHook | None,
) -> ScheduleHandle:
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"name must be a non-empty str, got {name!r}")
    grace = None if misfire_grace is None else _duration("misfire_grace", misfire_grace)
    if grace is not None and grace < _MIN_GRACE:
        raise ConfigError(
            "misfire_grace must be at least 1 second (timers wake a little late) or None "
            f"(run however late), got {misfire_grace!r}"
        )
    if overlap not in ("skip", "allow"):
        raise ConfigError(f"overlap must be 'skip' or 'allow', got {overlap!r}")
    if on_error is not None and not callable(on_error):
        raise ConfigError(
            "on_error must be a function (sync or async) taking the error (and the handle), "
            f"got {type(on_error).__name__}"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigError(
            "schedules run on the running event loop: call schedule_* from async code, e.g. "
            "inside 'async def main()' run by asyncio.run(main()), before 'await phone.serve(...)'"
        ) from None
    return ScheduleHandle(
        job,
        trigger,
        first=first,
        name=name or _job_name(job),
        clock=clock,
        misfire_grace=grace,
        overlap=overlap,
        on_error=on_error,
    )


def _checked_job(job: object) -> Job:
    if inspect.isawaitable(job):
        if inspect.iscoroutine(job):
            job.close()
        raise ConfigError(
            "job must be a function, not the result of calling one: pass e.g. "
            "'lambda: phone.call(\"+15550001234\")' or 'functools.partial(phone.call, ...)'"
        )
    if not callable(job):
        raise ConfigError(f"job must be a function (sync or async), got {type(job).__name__}")
    try:
        inspect.signature(job).bind()
    except TypeError:
        raise ConfigError(
            f"job {_job_name(job)} is called with no arguments: bind them with "
            "functools.partial(job, ...) or a lambda"
        ) from None
    except ValueError:  # a builtin without a signature: it is called as it is
        pass
    return job


def _checked_clock(clock: object) -> Clock:
    if clock is None:
        return _SYSTEM_CLOCK
    if not isinstance(clock, Clock):
        raise ConfigError(
            "clock must have now() and async sleep_until(deadline), like "
            f"getpatter.scheduling.ManualClock, got {type(clock).__name__}"
        )
    return clock


def _instant(param: str, value: object, now: datetime) -> datetime:
    """An aware datetime, or ``now`` plus a delay (a number of seconds >= 0 or a timedelta)."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ConfigError(
                f"{param}={value!r} has no time zone, so the instant it means is unknown: "
                "give it one, e.g. datetime(2026, 12, 24, 9, 0, tzinfo=ZoneInfo('Europe/Rome')), "
                "or pass a delay in seconds"
            )
        return value
    delay = _duration(param, value)
    if delay < timedelta(0):
        raise ConfigError(
            f"{param} must be a delay >= 0 seconds or an aware datetime, got {value!r}"
        )
    try:
        return now.astimezone(UTC) + delay
    except OverflowError:
        raise ConfigError(f"{param}={value!r} is too far in the future") from None


def _duration(param: str, value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{param} must be a number of seconds or a timedelta, got {type(value).__name__}"
        )
    if not math.isfinite(value):
        raise ConfigError(f"{param} must be a finite number of seconds, got {value!r}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ConfigError(f"{param}={value!r} seconds is too long") from None


def _job_name(job: object) -> str:
    name = getattr(job, "__qualname__", None) or getattr(job, "__name__", None)
    if name is None:
        func = getattr(job, "func", None)  # functools.partial
        name = getattr(func, "__qualname__", None)
    return str(name or type(job).__name__)
