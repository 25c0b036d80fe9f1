"""The server's calls in progress, by Patter id and by carrier call id, and their media tokens."""

from __future__ import annotations

import secrets
import time

from getpatter.session import CallSession

__all__ = ["CallRegistry"]

#: How long a media-stream token stays valid after the TwiML that carries it was sent.
TOKEN_TTL_SECONDS = 120.0
#: How long a finished call is kept, so that late callbacks (recordings) still find it.
FINISHED_KEPT_SECONDS = 600.0


class CallRegistry:
    """Calls known to one server. Finished calls stay until :meth:`remove` (late callbacks)."""

    def __init__(self) -> None:
        self._by_id: dict[str, CallSession] = {}
        self._by_sid: dict[str, CallSession] = {}
        self._tokens: dict[str, tuple[CallSession, float]] = {}

    def add(self, session: CallSession) -> None:
        """Track ``session`` (and its carrier id, if known); forget calls long finished."""
        self._forget_old()
        self._by_id[session.patter_id] = session
        if session.call_sid:
            self._by_sid[session.call_sid] = session

    def bind_sid(self, session: CallSession, call_sid: str) -> None:
        """The carrier gave ``session`` its call id."""
        session.call_sid = call_sid
        self._by_sid[call_sid] = session

    def find(
        self, *, patter_id: str = "", call_sid: str = "", include_finished: bool = False
    ) -> CallSession | None:
        """The call with this Patter id or carrier call id, if any (live ones only by default)."""
        session = self._by_id.get(patter_id) if patter_id else None
        if session is None and call_sid:
            session = self._by_sid.get(call_sid)
        if session is None or (session.finished and not include_finished):
            return None
        return session

    def remove(self, session: CallSession) -> None:
        """Forget ``session`` and its tokens."""
        self._by_id.pop(session.patter_id, None)
        if session.call_sid:
            self._by_sid.pop(session.call_sid, None)
        for token, (owner, _) in list(self._tokens.items()):
            if owner is session:
                del self._tokens[token]

    def _forget_old(self) -> None:
        now = time.monotonic()
        for token, (_, expires) in list(self._tokens.items()):
            if expires < now:
                del self._tokens[token]
        cutoff = now - FINISHED_KEPT_SECONDS
        for session in list(self._by_id.values()):
            if session.finished_at is not None and session.finished_at < cutoff:
                self.remove(session)

    def active(self) -> list[CallSession]:
        """Calls not yet finished."""
        return [s for s in self._by_id.values() if not s.finished]

    def mint_token(self, session: CallSession) -> str:
        """A single-use secret that lets one media stream attach to ``session``."""
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (session, time.monotonic() + TOKEN_TTL_SECONDS)
        return token

    def claim_token(self, token: str) -> CallSession | None:
        """The call ``token`` was minted for, once; ``None`` if unknown, used or expired."""
        entry = self._tokens.pop(token, None)
        if entry is None:
            return None
        session, expires = entry
        if time.monotonic() > expires or session.finished:
            return None
        return session
