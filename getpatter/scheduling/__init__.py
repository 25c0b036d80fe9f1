"""Run a job later, every so often, or on a cron expression: timed outbound calls, callbacks.

``schedule_once(when, job)``, ``schedule_interval(seconds, job)`` and
``schedule_cron(expression, job, timezone=...)`` start a schedule on the running event loop
and return a :class:`ScheduleHandle` (``cancel()``, ``cancelled``, ``next_run``, ``wait()``).

Schedules live in memory: nothing persists across restarts, and a fire due while the process
is down never happens. Create your schedules at startup (from your own store of what should be
called when); a one-shot time that passed while the process was down then runs if it is within
``misfire_grace`` (60 s by default) and is skipped, with a warning, otherwise.

Cron needs the ``scheduling`` extra (``pip install 'getpatter[scheduling]'``, croniter); the
rest needs nothing. Tests pass ``clock=ManualClock(...)`` and move time themselves.
"""

from getpatter.scheduling.clock import Clock, ManualClock, SystemClock
from getpatter.scheduling.handle import ScheduleHandle
from getpatter.scheduling.schedule import (
    DEFAULT_MISFIRE_GRACE,
    schedule_cron,
    schedule_interval,
    schedule_once,
)

__all__ = [
    "DEFAULT_MISFIRE_GRACE",
    "Clock",
    "ManualClock",
    "ScheduleHandle",
    "SystemClock",
    "schedule_cron",
    "schedule_interval",
    "schedule_once",
]
