"""Resource-updated notifications for ``patter://calls`` and ``patter://calls/{call_id}``.

Clients learn that a call changed (a new line of transcript, a status) in either protocol era:

* 2026-07-28: each change is published on the server's :class:`SubscriptionBus`, which feeds
  the ``subscriptions/listen`` streams clients open.
* 2025-11-25 and earlier (the handshake era): ``MCPServer`` does not serve
  ``resources/subscribe``, so :meth:`CallUpdates.install` registers handlers for it on the
  low-level server (which then advertises ``resources.subscribe``) and each change is sent to
  the connections that subscribed to its URI.

Bursts of changes are coalesced: one drain task publishes each changed call once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from getpatter.control.record import CallRecord

__all__ = ["CALLS_URI", "CallUpdates", "call_uri"]

logger = logging.getLogger("getpatter_mcp")

CALLS_URI = "patter://calls"
"""The list of calls; updated whenever any call changes."""

_CALL_PREFIX = CALLS_URI + "/"


def call_uri(call_id: str) -> str:
    """The resource of one call: its envelope, transcript included."""
    return _CALL_PREFIX + call_id


class CallUpdates:
    """Tells subscribed clients, in both protocol eras, which calls changed.

    Pass :attr:`bus` to ``MCPServer(subscriptions=...)``, call :meth:`install` on the server, and
    register :meth:`call_changed` with ``CallService.subscribe``.
    """

    def __init__(self, bus: SubscriptionBus | None = None) -> None:
        self.bus: SubscriptionBus = bus if bus is not None else InMemorySubscriptionBus()
        """Feeds the ``subscriptions/listen`` streams (2026-07-28)."""
        self._subscribers: weakref.WeakKeyDictionary[Connection, set[str]] = (
            weakref.WeakKeyDictionary()
        )
        self._changed: dict[str, None] = {}
        self._drain: asyncio.Task[None] | None = None

    def install(self, server: MCPServer[Any]) -> None:
        """Serve ``resources/subscribe`` and ``resources/unsubscribe`` (handshake era)."""
        # MCPServer has no public hook for these methods; the low-level server does.
        lowlevel = server._lowlevel_server
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        lowlevel.add_request_handler(
            "resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe
        )

    def call_changed(self, record: CallRecord) -> None:
        """Queue notifications for ``record``'s resource and the call list (sync, on the loop)."""
        self._changed[record.call_id] = None
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(
                self._publish_changes(), name="patter-mcp-updates"
            )

    async def aclose(self) -> None:
        """Stop publishing (changes still queued are dropped)."""
        self._changed.clear()
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
            self._drain = None

    async def _publish_changes(self) -> None:
        while self._changed:
            call_id = next(iter(self._changed))
            del self._changed[call_id]
            for uri in (call_uri(call_id), CALLS_URI):
                try:
                    await self._publish(uri)
                except Exception:
                    logger.exception("could not publish an update of %s", uri)

    async def _publish(self, uri: str) -> None:
        await self.bus.publish(ResourceUpdated(uri=uri))
        for connection, uris in list(self._subscribers.items()):
            if uri in uris:
                await connection.send_resource_updated(uri)

    async def _subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        uri = _patter_uri(params.uri)
        self._subscribers.setdefault(_connection(ctx), set()).add(uri)
        return EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        uris = self._subscribers.get(_connection(ctx))
        if uris is not None:
            uris.discard(str(params.uri))
        return EmptyResult()


def _connection(ctx: ServerRequestContext[Any, Any]) -> Connection:
    # The session object is built per request; the connection under it is what a later
    # unsubscribe (and every notification) must find again. The SDK exposes it only privately.
    connection: Connection = ctx.session._connection
    return connection


def _patter_uri(uri: object) -> str:
    text = str(uri)
    if text != CALLS_URI and not (text.startswith(_CALL_PREFIX) and len(text) > len(_CALL_PREFIX)):
        raise MCPError(
            INVALID_PARAMS,
            f"cannot subscribe to {text!r}: subscribe to {CALLS_URI} or {CALLS_URI}/{{call_id}}",
        )
    return text
