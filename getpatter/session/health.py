"""Whether the AI side of a call could speak and think: its errors and the replies it owed.

A call reports ``completed`` only when its agent was working when the call ended. The session
tells :class:`CallHealth` when a reply becomes owed (a greeting was requested, the caller
finished a turn, a key was pressed, a tool returned), when the agent answered (its audio went
to the line), when a response ended without audio on purpose, and when one failed. A reply
still owed after :data:`REPLY_TIMEOUT` seconds counts as a failure too: that is how a model
that accepted the session and then went silent is noticed. Every provider error, fatal or not,
is kept for the end report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_REPORTED_ERRORS", "REPLY_TIMEOUT", "CallHealth"]

REPLY_TIMEOUT = 15.0
"""Seconds an owed reply may take before the agent counts as not answering (tools excluded)."""

MAX_REPORTED_ERRORS = 50
"""Errors listed in an end report; ``error_count`` counts them all."""


class CallHealth:
    """The errors of one call and whether its agent is answering; see the module docstring.

    ``on_error(entry)`` runs for each error recorded, including a reply that timed out.
    """

    def __init__(self, on_error: Callable[[dict[str, Any]], None]) -> None:
        self._on_error = on_error
        self._errors: list[dict[str, Any]] = []
        self._count = 0
        self._owed = False
        self._paused = 0
        self._timer: asyncio.TimerHandle | None = None
        self.failing = ""
        """Why the agent's latest owed reply failed; "" once it answers again."""

    def error(self, source: str, message: str, *, code: str = "", fatal: bool = False) -> None:
        """Record a provider or line error (``source``: engine, stt, llm, tts, media...)."""
        self._count += 1
        entry = {"source": source, "message": message, "code": code, "fatal": fatal}
        if len(self._errors) < MAX_REPORTED_ERRORS:
            self._errors.append({**entry, "at": time.time()})
        self._on_error(entry)

    def owe(self) -> None:
        """A reply is now expected from the agent."""
        self._owed = True
        self._arm()

    def answered(self) -> None:
        """The agent's audio went to the line: whatever was owed has been answered."""
        self.failing = ""
        self._settle()

    def settled(self) -> None:
        """The engine ended a response normally without speaking (a tool call, nothing to say)."""
        self._settle()

    def failed(self, reason: str) -> None:
        """A response failed: the reply it owed will not come."""
        self.failing = reason
        self._settle()

    def pause(self) -> None:
        """A tool is running: the wait for the reply does not count meanwhile."""
        self._paused += 1
        self._disarm()

    def resume(self) -> None:
        """A tool finished."""
        self._paused = max(0, self._paused - 1)
        self._arm()

    def close(self) -> None:
        """The call ended: stop watching."""
        self._owed = False
        self._disarm()

    def summary(self) -> dict[str, Any]:
        """``errors`` (the first :data:`MAX_REPORTED_ERRORS`) and ``error_count``."""
        return {"errors": [dict(entry) for entry in self._errors], "error_count": self._count}

    def _settle(self) -> None:
        self._owed = False
        self._disarm()

    def _arm(self) -> None:
        if self._owed and not self._paused and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(REPLY_TIMEOUT, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if not self._owed:
            return
        self._owed = False
        reason = f"the AI did not answer within {REPLY_TIMEOUT:g} s"
        self.failing = reason
        self.error("engine", reason)
