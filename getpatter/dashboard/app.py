"""The dashboard's routes: the page, the JSON API, the exports and the live event stream.

:class:`Dashboard` serves them over a :class:`~getpatter.calls.store.CallStore` and, in a
serving process, its :class:`~getpatter.calls.stream.CallEventStream`. ``serve()`` mounts
:meth:`Dashboard.routes` beside the carrier webhooks; ``getpatter dashboard`` serves
:meth:`Dashboard.app` on its own. With a token, every one of these routes needs it (see
:mod:`getpatter.dashboard.auth`); nothing else on the server does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from getpatter._validation import require_number
from getpatter.calls.store import CallStore
from getpatter.calls.stream import CallEventStream
from getpatter.dashboard.analytics import BUCKETS, WINDOW, Analytics
from getpatter.dashboard.auth import token_matches, validate_token
from getpatter.dashboard.export import MAX_EXPORT, csv_text, export_name, json_export
from getpatter.dashboard.live import (
    POLL_SECONDS,
    LiveFeed,
    Outbox,
    StorePoller,
    StreamFeed,
    event_stream,
)
from getpatter.dashboard.page import Page, security_headers, token_needed_page
from getpatter.dashboard.query import BadQuery, CallQuery, select_calls
from getpatter.dashboard.records import call_detail, summary
from getpatter.errors import ConfigError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

__all__ = ["PAGE_PATH", "Dashboard", "page_url"]

PAGE_PATH = "/dashboard"
"""Where the page is served."""


def page_url(host: str, port: int, token: str = "") -> str:
    """The page's address on this machine for a server bound to ``host:port`` (any-address
    binds are shown as ``127.0.0.1``), with ``?token=`` when ``token`` is given."""
    local = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    url = f"http://{f'[{local}]' if ':' in local else local}:{port}{PAGE_PATH}"
    return f"{url}?token={quote(token, safe='')}" if token else url


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

Endpoint = Callable[["Request"], Awaitable["Response"]]


class Dashboard:
    """The dashboard over ``store``; ``stream`` (a serving process's events) makes it live,
    without one the store is read once a second for changes (another process writes it).

    ``token`` (``""``: none) is required by every route when set; see
    :func:`~getpatter.dashboard.auth.validate_token`.
    """

    def __init__(
        self,
        store: CallStore,
        *,
        stream: CallEventStream | None = None,
        token: str = "",
        page: Page | None = None,
        poll_interval: float = POLL_SECONDS,
    ) -> None:
        if not isinstance(store, CallStore):
            raise ConfigError(
                "store must implement getpatter.calls.store.CallStore (e.g. InMemoryCallStore() "
                f"or SQLiteCallStore(path)), got {type(store).__name__}"
            )
        if stream is not None and not isinstance(stream, CallEventStream):
            raise ConfigError(
                f"stream must be a CallEventStream (phone.call_events), got {type(stream).__name__}"
            )
        if require_number("poll_interval", poll_interval) <= 0:
            raise ConfigError(f"poll_interval must be > 0 seconds, got {poll_interval}")
        self.store = store
        self.token = validate_token("token", token)
        self._page = page or Page()
        self._analytics = Analytics(store)
        self._poller: StorePoller | None = None
        self._feed: LiveFeed
        if stream is not None:
            self._feed = StreamFeed(stream, store)
        else:
            self._feed = self._poller = StorePoller(store, interval=poll_interval)
        self._outboxes: set[Outbox] = set()
        self._closed = False

    def routes(self) -> list[BaseRoute]:
        """The dashboard's routes, each behind the token, to mount in a Starlette app."""
        from starlette.routing import Route

        guarded = self._guarded
        return [
            Route(PAGE_PATH, guarded(self._page_endpoint, page=True), methods=["GET"]),
            Route("/api/v1/calls", guarded(self._calls), methods=["GET"]),
            Route("/api/v1/calls/active", guarded(self._active), methods=["GET"]),
            Route("/api/v1/calls/{call_id}", guarded(self._call), methods=["GET"]),
            Route("/api/v1/analytics/overview", guarded(self._overview), methods=["GET"]),
            Route("/api/v1/analytics/costs", guarded(self._costs), methods=["GET"]),
            Route("/api/v1/export/csv", guarded(self._export_csv), methods=["GET"]),
            Route("/api/v1/export/json", guarded(self._export_json), methods=["GET"]),
            Route("/api/v1/events", guarded(self._events), methods=["GET"]),
        ]

    def app(self) -> Starlette:
        """A Starlette app serving only the dashboard (for ``getpatter dashboard``)."""
        from starlette.applications import Starlette

        return Starlette(routes=self.routes())

    def close(self) -> None:
        """End every open event stream and stop reading the store (the server is stopping);
        event streams opened later end at once."""
        self._closed = True
        for outbox in tuple(self._outboxes):
            outbox.close()
        if self._poller is not None:
            self._poller.close()

    # ------------------------------------------------------------------ auth

    def _guarded(self, endpoint: Endpoint, *, page: bool = False) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if token_matches(
                self.token,
                request.headers.get("authorization"),
                request.query_params.get("token"),
            ):
                return await endpoint(request)
            return _refused(page)

        guarded.__name__ = endpoint.__name__
        return guarded

    # ------------------------------------------------------------------ page

    async def _page_endpoint(self, request: Request) -> Response:
        from starlette.responses import HTMLResponse

        nonce, body = await self._page.render()
        return HTMLResponse(body, headers=security_headers(nonce))

    # ------------------------------------------------------------------ API

    async def _calls(self, request: Request) -> Response:
        try:
            query = CallQuery.parse(request.query_params)
        except BadQuery as exc:
            return _error(400, str(exc))
        calls, next_before = await select_calls(self.store, query)
        return _json({"calls": [summary(c) for c in calls], "next_before": next_before})

    async def _active(self, request: Request) -> Response:
        calls = await self.store.list(active=True, limit=WINDOW)
        return _json(
            {
                "calls": [
                    {**summary(call), "transcript": await self.store.transcript(call.call_id)}
                    for call in calls
                ]
            }
        )

    async def _call(self, request: Request) -> Response:
        call_id = request.path_params["call_id"]
        detail = await call_detail(self.store, call_id)
        if detail is None:
            return _error(404, f"no call {call_id!r} here (it may have been forgotten)")
        return _json(detail)

    async def _overview(self, request: Request) -> Response:
        return _json(await self._analytics.overview())

    async def _costs(self, request: Request) -> Response:
        bucket = request.query_params.get("bucket") or None
        if bucket is not None and bucket not in BUCKETS:
            return _error(400, "bucket must be hour or day")
        return _json(await self._analytics.costs(bucket))

    async def _export_csv(self, request: Request) -> Response:
        from starlette.responses import Response

        try:
            query = CallQuery.parse(request.query_params, default_limit=1000, max_limit=MAX_EXPORT)
        except BadQuery as exc:
            return _error(400, str(exc))
        calls, _ = await select_calls(self.store, query)
        return Response(
            csv_text(calls),
            media_type="text/csv; charset=utf-8",
            headers={**_NO_STORE, **_attachment(export_name("csv"))},
        )

    async def _export_json(self, request: Request) -> Response:
        from starlette.responses import Response

        try:
            query = CallQuery.parse(request.query_params, default_limit=1000, max_limit=MAX_EXPORT)
        except BadQuery as exc:
            return _error(400, str(exc))
        calls, _ = await select_calls(self.store, query)
        data = await json_export(self.store, calls)
        text = await asyncio.to_thread(json.dumps, data, separators=(",", ":"))
        return Response(
            text,
            media_type="application/json",
            headers={**_NO_STORE, **_attachment(export_name("json"))},
        )

    # ------------------------------------------------------------------ live

    async def _events(self, request: Request) -> Response:
        from starlette.responses import StreamingResponse

        outbox = Outbox()
        self._outboxes.add(outbox)
        if self._closed:
            outbox.close()

        async def body() -> AsyncIterator[str]:
            try:
                async for chunk in event_stream(outbox, self._feed):
                    yield chunk
            finally:
                self._outboxes.discard(outbox)

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _json(
    data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(data, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": message}, status, headers)


def _refused(page: bool) -> Response:
    from starlette.responses import HTMLResponse

    headers = {"WWW-Authenticate": "Bearer"}
    if page:
        return HTMLResponse(
            token_needed_page(), status_code=401, headers={**security_headers("none"), **headers}
        )
    return _error(
        401, "this dashboard needs its token: Authorization: Bearer <token> or ?token=", headers
    )


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
