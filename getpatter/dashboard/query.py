"""The filters of ``/api/v1/calls`` and the exports, read from a query string, and the listing
they select from a :class:`~getpatter.calls.store.CallStore`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from getpatter.calls.store import CallStore, StoredCall

__all__ = ["MAX_LIMIT", "BadQuery", "CallQuery", "select_calls"]

MAX_LIMIT = 500
"""The most calls one page lists."""

_MAX_SEARCH = 200
_PAGES_SCANNED = 20
"""With a ``direction`` filter, how many store pages one request reads at most."""


class BadQuery(ValueError):
    """A query parameter has a value the API does not accept; the message says which."""


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Which calls to list: newest first, up to ``limit``, started before ``before``, matching
    ``search`` (id, numbers, transcript), ``active`` (None: either) and ``direction``
    (``""``: either)."""

    limit: int = 50
    before: float | None = None
    search: str = ""
    active: bool | None = None
    direction: str = ""

    @classmethod
    def parse(
        cls, params: Mapping[str, str], *, default_limit: int = 50, max_limit: int = MAX_LIMIT
    ) -> CallQuery:
        """Read ``limit`` (1 to ``max_limit``), ``before``, ``search``, ``status`` and
        ``direction``; unknown parameters are ignored. Raises :class:`BadQuery`."""
        limit = default_limit
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise BadQuery(f"limit must be a whole number from 1 to {max_limit}") from None
            if not 1 <= limit <= max_limit:
                raise BadQuery(f"limit must be from 1 to {max_limit}, got {limit}")
        before: float | None = None
        if params.get("before"):
            try:
                before = float(params["before"])
            except ValueError:
                before = math.nan
            if not math.isfinite(before):
                raise BadQuery("before must be a number: the next_before of the previous page")
        search = params.get("search", "").strip()
        if len(search) > _MAX_SEARCH:
            raise BadQuery(f"search must be at most {_MAX_SEARCH} characters")
        status = params.get("status", "")
        if status not in ("", "active", "ended"):
            raise BadQuery("status must be active or ended")
        direction = params.get("direction", "")
        if direction not in ("", "inbound", "outbound"):
            raise BadQuery("direction must be inbound or outbound")
        active = None if not status else status == "active"
        return cls(limit, before, search, active, direction)


async def select_calls(store: CallStore, query: CallQuery) -> tuple[list[StoredCall], float | None]:
    """The calls ``query`` selects, newest first, and the ``before`` of the next page (``None``
    when this page was the last)."""
    found: list[StoredCall] = []
    before = query.before
    for _ in range(_PAGES_SCANNED):
        page = await store.list(
            active=query.active, limit=query.limit, before=before, search=query.search
        )
        for call in page:
            if not query.direction or call.direction == query.direction:
                found.append(call)
                if len(found) == query.limit:
                    return found, call.started_at
        if len(page) < query.limit:
            return found, None
        before = page[-1].started_at
    # Many calls of the other direction: hand back a cursor to go on from where this stopped.
    return found, before
