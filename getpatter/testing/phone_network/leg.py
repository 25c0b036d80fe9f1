"""What every simulated call's life has in common, whichever carrier drives it.

A leg runs in its own task. Outside events (the app's REST hang-up, the callee hanging up, a
time limit, the simulator closing) only *request* a change and set the leg's halt event; the
leg's task notices at its next wait (:meth:`BaseLeg._guard` raises :class:`Halted`), stops the
media stream and finishes the call: final fields, then the carrier's last webhooks.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from getpatter.testing.phone_network.call import CallError, HangupBy, SimulatedCall
from getpatter.testing.phone_network.callee import CalleeLine, run_script
from getpatter.testing.phone_network.sound import BEEP_MS

__all__ = ["HUMAN_DETECTION_MS", "MACHINE_START_MS", "BaseLeg", "Halted"]

logger = logging.getLogger("getpatter.testing")

HUMAN_DETECTION_MS = 300
"""How long answering-machine detection takes to report a human."""
MACHINE_START_MS = 1000
"""How long detection takes to report a machine without waiting for the beep (at most the
greeting)."""

_T = TypeVar("_T")


class Halted(Exception):
    """The leg was asked to stop what it is doing (hang up, redirect, transfer)."""


class BaseLeg(ABC):
    """Drives one :class:`SimulatedCall` from its start to its last webhook."""

    carrier: ClassVar[Literal["twilio", "telnyx"]]
    """Who ends the call when the network does (``SimulatedCall.hangup_by``)."""

    def __init__(
        self, call: SimulatedCall, *, transfer_talk_s: float, time_limit_s: int | None
    ) -> None:
        self.call = call
        self.line = CalleeLine(call)
        self.created = datetime.now(UTC)
        self.answered: datetime | None = None
        self.ended: datetime | None = None
        self.task: asyncio.Task[None] | None = None
        self._transfer_talk_s = transfer_talk_s
        self._time_limit_s = time_limit_s
        self._answered_at: float | None = None
        self._greeting_end = 0.0
        self._halt = asyncio.Event()
        self._end: tuple[str, HangupBy] | None = None
        self._helpers: list[asyncio.Task[None]] = []
        self._script_started = False

    @property
    def is_live(self) -> bool:
        """True until the call has been asked to end."""
        return self._end is None

    def start(self, gate: asyncio.Event | None = None) -> None:
        """Run the call in a task; with ``gate``, only once it is set (the REST reply is out)."""
        self.task = asyncio.create_task(
            self._run(gate), name=f"{self.carrier}-simulator-{self.call.sid}"
        )

    def end(self, status: str, hangup_by: HangupBy) -> None:
        """Ask the call to end with final ``status``; later requests are ignored."""
        if self._end is not None:
            return
        self._end = (status, hangup_by)
        self.call.status = status
        self._halt.set()
        self.call._touch()

    def shut_down(self) -> None:
        """The simulator is closing: end the call as the carrier would."""
        if self.is_live:
            self.end("completed" if self._answered_at is not None else "canceled", self.carrier)

    async def cancel(self) -> None:
        """Stop the leg's task at once (the simulator is closing and the grace time is over)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    @abstractmethod
    async def _drive(self) -> None:
        """The call, from dialing (or ringing in) until it is asked to end."""

    @abstractmethod
    async def _final_webhooks(self) -> None:
        """Tell the app the call ended (status callback, ``call.hangup``, recordings...)."""

    @abstractmethod
    def _settled(self, now: float) -> None:
        """The call's final fields are set: fill in the carrier's own (recording length...)."""

    def _time_up(self) -> None:
        """The call's time limit has passed: end it."""
        self.end("completed", self.carrier)

    async def _run(self, gate: asyncio.Event | None) -> None:
        try:
            if gate is not None:
                await gate.wait()
            await self._drive()
        except asyncio.CancelledError:
            self._settle()
            self.call._done.set()
            raise
        except Exception as exc:
            logger.exception("%s simulator: call %s crashed", self.carrier, self.call.sid)
            self._error(0, f"simulator error: {exc!r}")
            self.end("completed" if self._answered_at is not None else "failed", self.carrier)
        await self._complete()

    def _mark_answered(self) -> bool:
        """Record the answer (once): status, voicemail greeting, time limit. False if done."""
        if self._answered_at is not None:
            return False
        self._answered_at = asyncio.get_running_loop().time()
        self.answered = datetime.now(UTC)
        self.call.status = "in-progress"
        if self.call.direction == "outbound-api" and self.call.callee.answer == "voicemail":
            greeting = self.line.play_voicemail_greeting(self.call.callee.machine_greeting_ms)
            self._greeting_end = greeting.end
        if self._time_limit_s is not None:
            self._spawn(self._time_limit(self._time_limit_s))
        self.call._touch()
        return True

    def _machine_detection(self, wait_for_beep: bool) -> tuple[bool, int]:
        """Whether a machine answered, and how long detection takes (ms) to say so."""
        callee = self.call.callee
        if callee.answer != "voicemail":
            return False, HUMAN_DETECTION_MS
        if wait_for_beep:
            return True, callee.machine_greeting_ms + BEEP_MS
        return True, min(MACHINE_START_MS, callee.machine_greeting_ms)

    def _callee_joined(self) -> None:
        """The first media stream started: the callee's script begins."""
        if self._script_started:
            return
        self._script_started = True
        self._spawn(
            run_script(self.line, self.call.callee, self._callee_hung_up, after=self._greeting_end)
        )

    def _callee_hung_up(self) -> None:
        self.end("completed", "callee")

    async def _time_limit(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self._time_up()

    def _settle(self) -> None:
        """Fill in the call's final fields from the end request."""
        loop = asyncio.get_running_loop()
        for helper in self._helpers:
            helper.cancel()
        status, hangup_by = self._end or ("completed", self.carrier)
        now = loop.time()
        call = self.call
        call.status, call.hangup_by = status, hangup_by
        self.ended = datetime.now(UTC)
        answered_at = self._answered_at
        call.duration_s = 0 if answered_at is None else round(now - answered_at)
        call.outcome = "transferred" if call.transferred_to is not None else status
        self._settled(now)
        call._touch()

    async def _complete(self) -> None:
        self._settle()
        for result in await asyncio.gather(*self._helpers, return_exceptions=True):
            if isinstance(result, Exception):
                logger.error(
                    "%s simulator: call %s helper failed: %r", self.carrier, self.call.sid, result
                )
        await self._final_webhooks()
        self.call._done.set()
        self.call._touch()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._helpers.append(asyncio.create_task(coroutine))

    async def _sleep(self, seconds: float) -> None:
        await self._guard(asyncio.sleep(seconds))

    async def _guard(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Await ``coroutine`` unless the leg is halted first (raises :class:`Halted`)."""
        if self._halt.is_set():
            coroutine.close()  # never started: close it, or Python warns it was never awaited
            raise Halted
        work = asyncio.ensure_future(coroutine)
        halted = asyncio.ensure_future(self._halt.wait())
        try:
            await asyncio.wait({work, halted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halted.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            raise Halted
        return work.result()

    def _check_halt(self) -> None:
        if self._halt.is_set():
            raise Halted

    def _error(self, code: int, message: str) -> None:
        at_ms = self.call._ms(asyncio.get_running_loop().time())
        self.call.errors.append(CallError(code, message, at_ms))
        self.call._touch()
