"""A running schedule: one asyncio task that sleeps until each fire and starts the job's runs.

The contract (also in ``docs/decisions.md``):

- Jobs run on the event loop the schedule was made on. A coroutine function is awaited there;
  a plain callable runs in a worker thread (``asyncio.to_thread``), so blocking code never
  stalls calls; if it returns an awaitable (``lambda: phone.call(...)``), that is awaited on
  the loop.
- A failing run is logged (logger ``getpatter.scheduling``, with its traceback), recorded on
  :attr:`ScheduleHandle.last_error` and given to ``on_error``; the schedule goes on. Nothing a
  job raises (``Exception``) reaches the loop.
- Overlap: a fire that comes while the previous run is still going is skipped and logged
  (``overlap="skip"``, the default); ``overlap="allow"`` starts another run beside it.
- Misfires: a fire the loop could not start on time (the machine slept, the loop was
  blocked, or a one-shot time that had already passed when the schedule was made) runs if it
  is at most ``misfire_grace`` late and is skipped and logged otherwise. Fires that passed
  during one delay are merged: at most one run catches up, for the latest of them.
- Nothing persists: schedules live in memory, on one event loop, and end with it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from getpatter._callables import call_maybe_async, takes_two
from getpatter.scheduling.clock import Clock
from getpatter.scheduling.trigger import Trigger

__all__ = ["ErrorHook", "Job", "Overlap", "ScheduleHandle"]

logger = logging.getLogger("getpatter.scheduling")

Job = Callable[[], Any]
"""A schedule's job: called with no arguments (use ``functools.partial`` or a lambda)."""
ErrorHook = Callable[..., Any]
"""``on_error(error)`` or ``on_error(error, handle)``, sync or async."""
Overlap = Literal["skip", "allow"]

_CURRENT_RUN: ContextVar[asyncio.Task[None] | None] = ContextVar(
    "getpatter_schedule_run", default=None
)
"""The run a job's code executes in (a sync job's thread inherits it), for :meth:`cancel`."""


class ScheduleHandle:
    """A schedule made by ``schedule_once``, ``schedule_interval`` or ``schedule_cron``.

    The schedule runs whether or not the handle is kept; :meth:`cancel` stops it. Read
    :attr:`next_run` for the next fire, :attr:`runs`, :attr:`missed` and :attr:`skipped` for
    what happened, :attr:`last_result` and :attr:`last_error` for the latest finished run, and
    ``await handle.wait()`` to wait for a schedule to end.
    """

    def __init__(
        self,
        job: Job,
        trigger: Trigger,
        *,
        first: datetime | None,
        name: str,
        clock: Clock,
        misfire_grace: timedelta | None,
        overlap: Overlap,
        on_error: ErrorHook | None,
    ) -> None:
        self.name = name
        """The schedule's name in logs (the job's name unless ``name=`` was given)."""
        self.runs = 0
        """How many runs of the job have started."""
        self.missed = 0
        """How many fires were skipped for being more than ``misfire_grace`` late (fires that
        passed during one delay count once)."""
        self.skipped = 0
        """How many fires were skipped because the previous run was still going."""
        self.last_result: Any = None
        """What the latest run that finished returned (None until one has)."""
        self.last_error: Exception | None = None
        """The exception of the latest finished run, or None if it succeeded."""
        self._job = job
        self._is_async = _is_coroutine_function(job)
        self._trigger = trigger
        self._clock = clock
        self._grace = misfire_grace
        self._overlap = overlap
        self._on_error = on_error
        self._next = first
        self._cancelled = False
        self._running: set[asyncio.Task[None]] = set()
        self._finished = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._driver = self._loop.create_task(self._drive(), name=f"getpatter.schedule:{name}")
        self._driver.add_done_callback(self._after_driver)
        _ALIVE.add(self)

    def __repr__(self) -> str:
        state = "cancelled" if self._cancelled else "done" if self.done else "active"
        return f"<ScheduleHandle {self.name!r} {state} next_run={self.next_run}>"

    @property
    def next_run(self) -> datetime | None:
        """When the job fires next (an aware datetime), or None if it will not fire again.

        Shown in the cron's zone for ``schedule_cron``, in the zone of the given datetime or
        UTC otherwise.
        """
        if self._cancelled or self._next is None:
            return None
        return self._next.astimezone(self._trigger.zone)

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` stopped the schedule."""
        return self._cancelled

    @property
    def running(self) -> bool:
        """True while a run of the job is going."""
        return bool(self._running)

    @property
    def done(self) -> bool:
        """True when nothing more will run: no fire left and no run going."""
        return self._finished.is_set()

    def cancel(self) -> bool:
        """Stop the schedule: no more fires, and the job's running runs are cancelled.

        Returns False if it had already ended. A run cancelled mid-way gets
        ``asyncio.CancelledError`` at its next ``await``; a sync job's thread cannot be
        interrupted: it finishes, and its result is dropped. Called from inside the job (sync
        or async), it stops later fires and lets the current run finish. It may be called from
        any thread.
        """
        if self._cancelled or self.done:
            return False
        self._cancelled = True
        keep = _CURRENT_RUN.get()
        if threading.get_ident() == self._loop_thread:
            self._stop_tasks(keep)
        else:
            self._loop.call_soon_threadsafe(self._stop_tasks, keep)
        return True

    def _stop_tasks(self, keep: asyncio.Task[None] | None) -> None:
        self._driver.cancel()
        for task in self._running:
            if task is not keep:
                task.cancel()
        logger.info("schedule %r: cancelled", self.name)

    async def wait(self) -> Any:
        """Wait until the schedule has ended; return :attr:`last_result`.

        A one-shot schedule ends after its run (or when it is skipped or cancelled); a repeating
        one only when it is cancelled or its cron has no more fires. A failed run does not
        raise here: read :attr:`last_error`. Cancelling the wait leaves the schedule alone.
        """
        await self._finished.wait()
        return self.last_result

    async def _drive(self) -> None:
        while (fire := self._next) is not None:
            await self._clock.sleep_until(fire)
            now = self._clock.now().astimezone(UTC)
            if now < fire:  # a clock that woke early, or was set back: sleep again
                continue
            due = max(fire, self._trigger.latest_until(now) or fire)
            self._next = self._trigger.next_after(now)
            late = now - due
            if self._grace is not None and late > self._grace:
                self.missed += 1
                logger.warning(
                    "schedule %r: skipped the fire due at %s, %.0f s late (more than "
                    "misfire_grace=%.0f s); next run: %s",
                    self.name,
                    due.isoformat(),
                    late.total_seconds(),
                    self._grace.total_seconds(),
                    _show(self.next_run),
                )
            elif self._running and self._overlap == "skip":
                self.skipped += 1
                logger.warning(
                    "schedule %r: skipped the fire due at %s, the previous run is still "
                    "going (overlap='skip'); next run: %s",
                    self.name,
                    due.isoformat(),
                    _show(self.next_run),
                )
            else:
                self._start_run(due)

    def _start_run(self, due: datetime) -> None:
        if self._cancelled:
            return
        self.runs += 1
        task = asyncio.get_running_loop().create_task(
            self._run(due), name=f"getpatter.schedule:{self.name}:run"
        )
        self._running.add(task)
        task.add_done_callback(self._after_run)

    async def _run(self, due: datetime) -> None:
        _CURRENT_RUN.set(asyncio.current_task())
        try:
            result = await self._call_job()
        except asyncio.CancelledError:
            logger.info("schedule %r: the run due at %s was cancelled", self.name, due.isoformat())
            raise
        except Exception as exc:
            self.last_error = exc
            logger.error(
                "schedule %r: the run due at %s failed: %s",
                self.name,
                due.isoformat(),
                exc,
                exc_info=exc,
            )
            await self._report(exc)
        else:
            self.last_result = result
            self.last_error = None

    async def _call_job(self) -> Any:
        if self._is_async:
            return await self._job()
        worker = asyncio.ensure_future(asyncio.to_thread(self._job))
        try:
            result = await asyncio.shield(worker)
        except asyncio.CancelledError:
            # The thread cannot be stopped; an awaitable it returns later is closed unawaited.
            worker.add_done_callback(_close_unawaited)
            raise
        if inspect.isawaitable(result):
            return await result
        return result

    async def _report(self, exc: Exception) -> None:
        hook = self._on_error
        if hook is None:
            return
        try:
            if takes_two(hook):
                await call_maybe_async(hook, exc, self)
            else:
                await call_maybe_async(hook, exc)
        except Exception:
            logger.exception("schedule %r: on_error failed", self.name)

    def _after_run(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._finish_if_idle()

    def _after_driver(self, task: asyncio.Task[None]) -> None:
        self._next = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("schedule %r: stopped by an error", self.name, exc_info=exc)
        self._finish_if_idle()

    def _finish_if_idle(self) -> None:
        if self._driver.done() and not self._running:
            self._finished.set()
            _ALIVE.discard(self)


_ALIVE: set[ScheduleHandle] = set()
"""Schedules not yet ended: the loop holds tasks weakly, so a dropped handle still runs."""


def _is_coroutine_function(job: Job) -> bool:
    if inspect.iscoroutinefunction(job):
        return True
    call = getattr(type(job), "__call__", None)  # noqa: B004 - an object with async __call__
    return not inspect.isfunction(job) and inspect.iscoroutinefunction(call)


def _close_unawaited(worker: asyncio.Future[Any]) -> None:
    if worker.cancelled() or worker.exception() is not None:
        return
    result = worker.result()
    if inspect.iscoroutine(result):
        result.close()
    elif isinstance(result, asyncio.Future):
        result.cancel()


def _show(when: datetime | None) -> str:
    return "none" if when is None else when.isoformat()
