"""What a server remembers of calls that have ended: a small record each, and the CallSids seen.

A finished :class:`~getpatter.session.CallSession` is not kept: its engine, audio buffers, sockets
and tasks go as soon as its end is reported. Carrier callbacks that arrive later (a recording is
ready minutes after the hang-up) find a :class:`FinishedCall` instead, and replay protection asks
:class:`RecentCallSids` whether a CallSid has been seen before.
"""

from __future__ import annotations

from array import array
from typing import Any

from getpatter.observability.events import EventBus, PatterEventType

__all__ = ["FinishedCall", "RecentCallSids"]

# A CallSid is kept as this many bits of its hash: two CallSids among 100,000 share one with a
# probability of about 1e-8, and a new CallSid matches one of them with about 1e-13.
_KEY_MASK = (1 << 60) - 1
# The arrays behind the queue are compacted once this many leading slots are spent.
_COMPACT_AFTER = 4096


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
        events: EventBus,
    ) -> None:
        self.patter_id = patter_id
        self.call_sid = call_sid
        self.caller = caller
        self.callee = callee
        self.finished_at = finished_at
        """``time.monotonic()`` when the call's end was reported."""
        self.events = events

    def on_recording(self, details: dict[str, Any]) -> None:
        """The carrier finished a recording of this call after it ended: emit ``RECORDING``."""
        self.events.emit(
            PatterEventType.RECORDING,
            {
                "call_id": self.call_sid,
                "caller": self.caller,
                "callee": self.callee,
                **details,
                "call_ended": True,
            },
        )


class RecentCallSids:
    """CallSids seen within ``window`` seconds, at most ``limit`` of them (the most recent).

    Each is kept as a 60-bit hash (``hash()`` is salted per process, so hashes never leave it):
    a set of those ints answers membership, and two arrays hold the hashes and the times they
    were first seen, oldest first, so that expired ones are dropped from the front.
    """

    def __init__(self, *, window: float, limit: int) -> None:
        self.window = window
        self.limit = limit
        self._keys: set[int] = set()
        self._order = array("Q")
        self._seen_at = array("d")
        self._head = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, call_sid: str, now: float) -> None:
        """Remember ``call_sid`` as seen at ``now`` (a CallSid already kept keeps its time)."""
        key = hash(call_sid) & _KEY_MASK
        if key not in self._keys:
            self._keys.add(key)
            self._order.append(key)
            self._seen_at.append(now)
        self._forget(now)

    def seen(self, call_sid: str, now: float) -> bool:
        """True if ``call_sid`` was added within the window (and is among the ``limit`` kept)."""
        self._forget(now)
        return hash(call_sid) & _KEY_MASK in self._keys

    def _forget(self, now: float) -> None:
        head, count = self._head, len(self._order)
        cutoff = now - self.window
        while head < count and (count - head > self.limit or self._seen_at[head] < cutoff):
            self._keys.discard(self._order[head])
            head += 1
        if head >= _COMPACT_AFTER and head * 2 >= count:
            del self._order[:head]
            del self._seen_at[:head]
            head = 0
        self._head = head
