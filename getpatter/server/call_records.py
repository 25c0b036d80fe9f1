"""What a server remembers of calls that have ended: a small record each, and the CallSids seen.

A finished :class:`~getpatter.session.CallSession` is not kept: its engine, audio buffers, sockets
and tasks go as soon as its end is reported. Carrier callbacks that arrive later (a recording is
ready minutes after the hang-up) find a :class:`FinishedCall` instead, and replay protection asks
:class:`RecentCallSids` whether a CallSid has been seen before.
"""

from __future__ import annotations

from typing import Any

from getpatter._recent import RecentKeys as RecentCallSids
from getpatter.calls.events import RecordingReady
from getpatter.calls.stream import CallEventStream

__all__ = ["FinishedCall", "RecentCallSids"]


class FinishedCall:
    """A call whose end has been reported: its ids, for callbacks that come after it."""

    __slots__ = ("call_sid", "callee", "caller", "events", "finished_at", "patter_id")

    def __init__(
        self,
        *,
        patter_id: str,
        call_sid: str,
        caller: str,
        callee: str,
        finished_at: float,
        events: CallEventStream,
    ) -> None:
        self.patter_id = patter_id
        self.call_sid = call_sid
        self.caller = caller
        self.callee = callee
        self.finished_at = finished_at
        """``time.monotonic()`` when the call's end was reported."""
        self.events = events

    def on_recording(self, details: dict[str, Any]) -> None:
        """The carrier finished a recording of this call after it ended: publish it."""
        self.events.publish(
            RecordingReady(
                call_id=self.call_sid,
                caller=self.caller,
                callee=self.callee,
                details=dict(details),
                call_ended=True,
            )
        )
