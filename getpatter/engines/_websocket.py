"""What the WebSocket engines share: one connection per call, iterated once, closed safely."""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from getpatter.engines.base import EngineEvent

__all__ = ["WebSocketEngine"]


class WebSocketEngine(abc.ABC):
    """A call's engine connection over one WebSocket; subclasses connect and read it.

    A subclass sets ``self._ws`` once connected and implements :meth:`_stream`. Commands sent
    after the connection closed are dropped: :meth:`events` reports the closure.
    """

    _provider: ClassVar[str] = "the engine"
    """How logs name the far end, e.g. ``"OpenAI Realtime"``."""
    _log: ClassVar[logging.Logger]
    """The engine module's logger (one of the loggers Patter keeps secrets out of)."""

    def __init__(self) -> None:
        self._ws: ClientConnection | None = None
        self._closing = False
        self._events_started = False

    def events(self) -> AsyncIterator[EngineEvent]:
        """The call's events, ending with exactly one ``EngineClosed``. Iterate once."""
        ws = self._connection()
        if self._events_started:
            raise RuntimeError(f"{type(self).__name__}.events() can be iterated only once per call")
        self._events_started = True
        return self._stream(ws)

    async def close(self) -> None:
        """Close the WebSocket. Safe to call more than once."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    @abc.abstractmethod
    def _stream(self, ws: ClientConnection) -> AsyncIterator[EngineEvent]:
        """Read the connection: the call's events, ending with one ``EngineClosed``."""

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError(
                f"{type(self).__name__} is not connected: await connect(config) first"
            )
        return self._ws

    async def _send(self, *messages: dict[str, Any]) -> None:
        ws = self._connection()
        try:
            for message in messages:
                await ws.send(json.dumps(message))
        except ConnectionClosed:
            self._log.debug("command dropped: the %s connection is closed", self._provider)
