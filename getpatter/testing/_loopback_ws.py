"""The loopback WebSocket server under the fake Realtime, Deepgram and ConvAI APIs."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections import deque
from typing import ClassVar, Generic, Protocol, Self, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from getpatter._validation import require_error_status, require_int, require_str
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing.scenario import Scenario


class _Record(Protocol):
    closed: bool
    dropped: bool


class Accepted(Protocol):
    """One accepted WebSocket as a fake keeps it."""

    ws: ServerConnection
    finished: asyncio.Event
    """Set once :meth:`run` has ended."""

    @property
    def record(self) -> _Record:
        """What a test reads back about the connection."""

    async def run(self) -> None:
        """Serve the connection until it ends."""


AcceptedT = TypeVar("AcceptedT", bound=Accepted)


class LoopbackWebSocketServer(ABC, Generic[AcceptedT]):
    """A fake provider API on a free ``127.0.0.1`` port, served while ``async with`` it runs.

    It checks the ``scenario`` and ``api_key`` every fake takes, queues the refusals asked for
    with :meth:`fail_next_connect` in ``_failures`` (each fake sends them in its API's error
    shape) and keeps the accepted connections in connect order. A subclass answers plain HTTP
    requests and refuses handshakes in :meth:`_process_request`, and builds each connection in
    :meth:`_accept`.
    """

    _label: ClassVar[str]
    """The fake's name in its error messages."""
    _scheme: ClassVar[str]
    """The scheme of ``base_url``: ``http`` where the client expects an HTTP API root."""
    _root: ClassVar[str] = ""
    """What ``base_url`` adds after the port."""
    _noun: ClassVar[str] = "connection"
    """What the fake calls one accepted WebSocket in its error messages."""

    def __init__(self, scenario: Scenario | None, api_key: str | None) -> None:
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ConfigError(
                f"{self._label} scenario must be a Scenario, got {type(scenario).__name__}"
            )
        if api_key is not None:
            require_str(f"{self._label} api_key", api_key, allow_empty=False)
        self._scenario = scenario if scenario is not None else Scenario()
        self._api_key = api_key
        self._failures: deque[int] = deque()
        self._connections: list[AcceptedT] = []
        self._server: Server | None = None
        self._port = 0

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._process_request, compression=None
        )
        self._port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def base_url(self) -> str:
        """The API root to point the client at: ``<scheme>://127.0.0.1:<port>[/v1]``."""
        if not self._port:
            raise ConfigError(
                f"{self._label}.base_url is known once the server runs: "
                f"read it inside 'async with {self._label}(...) as fake'"
            )
        return f"{self._scheme}://127.0.0.1:{self._port}{self._root}"

    def fail_next_connect(self, status: int = 500) -> None:
        """Refuse the next WebSocket handshake with HTTP ``status``; each call refuses one more."""
        self._failures.append(require_error_status("fail_next_connect status", status))

    @abstractmethod
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The HTTP answer to ``request``, or ``None`` to accept its WebSocket handshake."""

    @abstractmethod
    def _accept(self, ws: ServerConnection, request: Request) -> AcceptedT:
        """The connection for a new WebSocket, the ``len(self._connections)``-th."""

    def _nth(self, index: int, name: str) -> AcceptedT:
        """Connection ``index``; ``name`` spells the argument in the error messages."""
        require_int(name, index)
        try:
            return self._connections[index]
        except IndexError:
            raise InputValidationError(
                f"{name}={index} is out of range: {len(self._connections)} {self._noun}(s) so far"
            ) from None

    async def _drop(self, connection: AcceptedT) -> None:
        """Cut ``connection`` with no close frame (a network drop); wait until it has ended."""
        if not connection.record.closed:
            connection.record.dropped = True
            connection.ws.transport.abort()
        await connection.finished.wait()

    async def _serve(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None  # the handshake has set it before the handler runs
        connection = self._accept(ws, request)
        self._connections.append(connection)
        await connection.run()


def json_response(connection: ServerConnection, status: int, body: object) -> Response:
    """An HTTP response with ``body`` as JSON, typed ``application/json`` as the real APIs do."""
    response = connection.respond(status, json.dumps(body))
    # respond() has typed it text/plain: replace the header rather than add a second one.
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
