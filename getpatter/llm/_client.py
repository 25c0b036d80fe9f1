"""One SDK client per provider, remade when the event loop changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["LoopBoundClient"]


class _Closable(Protocol):
    async def close(self) -> Any: ...


_C = TypeVar("_C", bound=_Closable)


class LoopBoundClient(Generic[_C]):
    """Holds the provider's SDK client, created lazily by ``factory``.

    Pooled connections belong to the loop that opened them: a provider reused under a new event
    loop (one ``asyncio.run`` per test, say) gets a client of its own.
    """

    def __init__(self, factory: Callable[[], _C]) -> None:
        self._factory = factory
        self._client: _C | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> _C:
        """The client for the running loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._factory(), loop
        return self._client

    async def close(self) -> None:
        """Close the client; a later :meth:`get` makes a new one."""
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()
