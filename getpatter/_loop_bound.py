"""One SDK or HTTP client per provider, remade when the event loop changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["LoopBoundClient"]


class _Closable(Protocol):
    async def close(self) -> Any: ...


_C = TypeVar("_C", bound=_Closable)


class LoopBoundClient(Generic[_C]):
    """Holds the provider's SDK client, created lazily by ``factory``.

    Pooled connections belong to the loop that opened them: a provider reused under a new event
    loop (one ``asyncio.run`` per test, say) gets a client of its own. Each client is closed
    when its loop shuts down (``asyncio.run`` cancels the small task that waits for that), so a
    provider nobody closed leaves no open sockets and no "unclosed session" warnings behind.
    """

    def __init__(self, factory: Callable[[], _C]) -> None:
        self._factory = factory
        self._client: _C | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: asyncio.Task[None] | None = None

    def get(self) -> _C:
        """The client for the running loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            client = self._factory()
            self._client, self._loop = client, loop
            self._closer = loop.create_task(_close_at_shutdown(client), name="patter-pool-closer")
        return self._client

    async def close(self) -> None:
        """Close the client; a later :meth:`get` makes a new one."""
        client, closer = self._client, self._closer
        self._client, self._loop, self._closer = None, None, None
        if client is None:
            return
        if closer is None or closer.done():
            await client.close()
        elif closer.get_loop() is asyncio.get_running_loop():
            closer.cancel()  # the closer closes the client on its way out
            await asyncio.gather(closer, return_exceptions=True)
        # Otherwise the client belongs to another loop, which closes it when it shuts down.


async def _close_at_shutdown(client: _Closable) -> None:
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        with contextlib.suppress(Exception):
            await client.close()
