"""The server's calls: live ones by Patter id and carrier call id, their media tokens, a small
record of each finished one, and the CallSids seen lately (for replay protection)."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable

from getpatter.calls.stream import CallEventStream
from getpatter.server.call_records import FinishedCall, RecentCallSids
from getpatter.session import CallSession

__all__ = ["CallRegistry", "FinishedCall"]

#: How long a media-stream token stays valid after the TwiML that carries it was sent.
TOKEN_TTL_SECONDS = 120.0
#: How long a finished call's record is kept, so that late callbacks (recordings) still find it.
FINISHED_KEPT_SECONDS = 600.0
#: How long, and how many, CallSids are remembered for :meth:`CallRegistry.has_seen`.
SEEN_KEPT_SECONDS = 24 * 3600.0
SEEN_KEPT_MAX = 100_000


class CallRegistry:
    """Calls known to one server.

    A live call is its :class:`CallSession`. When its end has been reported the session is
    dropped and a :class:`FinishedCall` takes its place for ``finished_kept`` seconds
    (:data:`FINISHED_KEPT_SECONDS` by default), for callbacks that come late. ``events`` is
    the server's stream, where those records report (a recording ready after the call ended); ``clock`` is
    ``time.monotonic`` (tests pass their own).
    """

    def __init__(
        self,
        events: CallEventStream | None = None,
        *,
        finished_kept: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events if events is not None else CallEventStream()
        self._finished_kept = FINISHED_KEPT_SECONDS if finished_kept is None else finished_kept
        self._clock = clock
        self._live_by_id: dict[str, CallSession] = {}
        self._live_by_sid: dict[str, CallSession] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        """Media token -> (Patter id of its call, expiry): a token never holds a session."""
        self._finished: deque[FinishedCall] = deque()
        self._finished_by_id: dict[str, FinishedCall] = {}
        self._finished_by_sid: dict[str, FinishedCall] = {}
        self._seen = RecentCallSids(window=SEEN_KEPT_SECONDS, limit=SEEN_KEPT_MAX)

    # ------------------------------------------------------------------ live calls

    def add(self, session: CallSession) -> None:
        """Track ``session`` (and its carrier id, if known) until its end is reported."""
        now = self._clock()
        self._forget_old(now)
        self._live_by_id[session.patter_id] = session
        if session.call_sid:
            self._live_by_sid[session.call_sid] = session
            self._seen.add(session.call_sid, now)
        session.on_finished = self._retire

    def bind_sid(self, session: CallSession, call_sid: str) -> None:
        """The carrier gave ``session`` its call id (possibly after the call ended)."""
        session.bind(call_sid)
        self._seen.add(call_sid, self._clock())
        if self._live_by_id.get(session.patter_id) is session:
            self._live_by_sid[call_sid] = session
            return
        record = self._finished_by_id.get(session.patter_id)
        if record is not None and not record.call_sid:
            record.call_sid = call_sid
            self._finished_by_sid[call_sid] = record

    def find(self, *, patter_id: str = "", call_sid: str = "") -> CallSession | None:
        """The live call with this Patter id or carrier call id, if any."""
        session = self._live_by_id.get(patter_id) if patter_id else None
        if session is None and call_sid:
            session = self._live_by_sid.get(call_sid)
        if session is None or session.finished:
            return None
        return session

    def remove(self, session: CallSession) -> None:
        """Forget ``session`` without a record (a call that could not be placed)."""
        session.on_finished = None
        if self._live_by_id.get(session.patter_id) is session:
            del self._live_by_id[session.patter_id]
        if session.call_sid and self._live_by_sid.get(session.call_sid) is session:
            del self._live_by_sid[session.call_sid]

    def active(self) -> list[CallSession]:
        """Calls not yet finished."""
        return [s for s in self._live_by_id.values() if not s.finished]

    # ------------------------------------------------------------------ finished calls

    def find_finished(self, *, patter_id: str = "", call_sid: str = "") -> FinishedCall | None:
        """The record of the finished call with this Patter id or carrier call id, if kept."""
        self._forget_old(self._clock())
        record = self._finished_by_id.get(patter_id) if patter_id else None
        if record is None and call_sid:
            record = self._finished_by_sid.get(call_sid)
        return record

    def finished_calls(self) -> int:
        """How many finished calls have a record."""
        return len(self._finished)

    def has_seen(self, call_sid: str) -> bool:
        """True if this server has had a call with ``call_sid``, live or finished, lately.

        "Lately" is the last :data:`SEEN_KEPT_SECONDS` (24 h), and at most the
        :data:`SEEN_KEPT_MAX` (100,000) most recent CallSids.
        """
        return bool(call_sid) and self._seen.seen(call_sid, self._clock())

    def _retire(self, session: CallSession) -> None:
        """``session`` reported its end: keep a record in its place."""
        self.remove(session)
        now = self._clock()
        record = FinishedCall(
            patter_id=session.patter_id,
            call_sid=session.call_sid,
            caller=session.caller,
            callee=session.callee,
            finished_at=now,
            events=self._events,
        )
        self._finished.append(record)
        self._finished_by_id[record.patter_id] = record
        if record.call_sid:
            self._finished_by_sid[record.call_sid] = record
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        for token, (_, expires) in list(self._tokens.items()):
            if expires < now:
                del self._tokens[token]
        cutoff = now - self._finished_kept
        finished = self._finished
        while finished and finished[0].finished_at < cutoff:
            record = finished.popleft()
            if self._finished_by_id.get(record.patter_id) is record:
                del self._finished_by_id[record.patter_id]
            if record.call_sid and self._finished_by_sid.get(record.call_sid) is record:
                del self._finished_by_sid[record.call_sid]

    # ------------------------------------------------------------------ media tokens

    def mint_token(self, session: CallSession) -> str:
        """A single-use secret that lets one media stream attach to ``session``."""
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (session.patter_id, self._clock() + TOKEN_TTL_SECONDS)
        return token

    def claim_token(self, token: str) -> CallSession | None:
        """The live call ``token`` was minted for, once; ``None`` if unknown, used or expired."""
        entry = self._tokens.pop(token, None)
        if entry is None:
            return None
        patter_id, expires = entry
        if self._clock() > expires:
            return None
        return self.find(patter_id=patter_id)
