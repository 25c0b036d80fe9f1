"""A :class:`~getpatter.calls.store.CallStore` that keeps phone numbers redacted.

Wraps another store: every event's numbers (the caller, the callee, the end report's, a
transfer's destination) pass through :func:`~getpatter.calls.phone_redaction.redact_number`
before the wrapped store sees them, so what is kept at rest, and read back, is only what the
mode allows. Transcripts are kept as said (as the call logs keep them, spec LG-8).
"""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from getpatter.calls.events import CallEnded, CallEvent, CallTransferred
from getpatter.calls.phone_redaction import (
    DEFAULT_PHONE_REDACTION,
    PhoneRedaction,
    redact_number,
    require_phone_redaction,
)
from getpatter.calls.store import RECORDED_KINDS, CallStore, StoredCall
from getpatter.errors import ConfigError

__all__ = ["RedactedCallStore", "redact_event"]


def redact_event(event: CallEvent, mode: PhoneRedaction) -> CallEvent:
    """``event`` with its phone numbers as ``mode`` keeps them (the same event for ``full``)."""
    if mode == "full":
        return event
    changes: dict[str, Any] = {
        "caller": redact_number(event.caller, mode),
        "callee": redact_number(event.callee, mode),
    }
    if isinstance(event, CallEnded):
        report = event.report
        changes["report"] = dataclasses.replace(
            report,
            caller=redact_number(report.caller, mode),
            callee=redact_number(report.callee, mode),
        )
    elif isinstance(event, CallTransferred):
        changes["to"] = redact_number(event.to, mode)
    return dataclasses.replace(event, **changes)


class RedactedCallStore:
    """``store``, fed events whose numbers are redacted per ``mode`` (``mask`` by default)."""

    def __init__(self, store: CallStore, mode: PhoneRedaction = DEFAULT_PHONE_REDACTION) -> None:
        if not isinstance(store, CallStore):
            raise ConfigError(f"store must be a CallStore, got {type(store).__name__}")
        self.store = store
        self.mode = require_phone_redaction("mode", mode)

    @property
    def recorded_kinds(self) -> tuple[type[CallEvent], ...]:
        """The kinds :func:`~getpatter.calls.store.feed` gives the wrapped store."""
        kinds: tuple[type[CallEvent], ...] = getattr(self.store, "recorded_kinds", RECORDED_KINDS)
        return kinds

    async def record(self, event: CallEvent) -> None:
        """Redact ``event``'s numbers, then record it in the wrapped store."""
        await self.store.record(redact_event(event, self.mode))

    async def get(self, call_id: str) -> StoredCall | None:
        """The call's summary (numbers redacted)."""
        return await self.store.get(call_id)

    async def list(
        self,
        *,
        active: bool | None = None,
        limit: int = 50,
        before: float | None = None,
        search: str = "",
    ) -> builtins.list[StoredCall]:
        """As the wrapped store lists them (a search by number matches the redacted form)."""
        return await self.store.list(active=active, limit=limit, before=before, search=search)

    async def transcript(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's transcript lines, as said."""
        return await self.store.transcript(call_id)

    async def turns(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """The call's turn metrics."""
        return await self.store.turns(call_id)

    async def report(self, call_id: str) -> dict[str, Any] | None:
        """The call's end report (numbers redacted)."""
        return await self.store.report(call_id)

    async def aclose(self) -> None:
        """Close the wrapped store."""
        await self.store.aclose()
