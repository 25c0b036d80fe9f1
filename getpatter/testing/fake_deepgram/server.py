"""The fake Deepgram server: handshake checks, one connection per stream, fault injection."""

from __future__ import annotations

import http
import json
from collections import deque
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from getpatter._validation import require_int, require_number, require_str
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing.fake_deepgram._connection import Connection
from getpatter.testing.fake_deepgram._protocol import BadRequest, error_body, read_settings
from getpatter.testing.fake_deepgram.records import FakeDeepgramSession
from getpatter.testing.scenario import Scenario

__all__ = ["FakeDeepgramServer"]

_PATH = "/v1/listen"


class FakeDeepgramServer:
    """A local Deepgram streaming API (``/v1/listen``) for offline calls and tests.

    Use it as ``async with FakeDeepgramServer(scenario) as fake:`` and point the client at
    ``fake.base_url`` (like ``DEEPGRAM_BASE_URL``). Handshakes need ``Authorization: Token
    <key>`` (any key, or exactly ``api_key`` when given) and a raw ``encoding`` with its
    ``sample_rate``. Every connection plays its own copy of ``scenario`` from the start.
    A connection that receives nothing for ``idle_timeout`` seconds is closed with code 1011
    and a ``NET-0001`` reason, as Deepgram does after about 10 s.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        idle_timeout: float = 10.0,
    ) -> None:
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ConfigError(
                f"FakeDeepgramServer scenario must be a Scenario, got {type(scenario).__name__}"
            )
        if api_key is not None:
            require_str("FakeDeepgramServer api_key", api_key, allow_empty=False)
        if require_number("FakeDeepgramServer idle_timeout", idle_timeout) <= 0:
            raise InputValidationError(
                f"FakeDeepgramServer idle_timeout must be > 0 seconds, got {idle_timeout!r}"
            )
        self._scenario = scenario if scenario is not None else Scenario()
        self._api_key = api_key
        self._idle_timeout = float(idle_timeout)
        self._failures: deque[int] = deque()
        self._connections: list[Connection] = []
        self._server: Server | None = None
        self._port = 0

    async def __aenter__(self) -> FakeDeepgramServer:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check_handshake, compression=None
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
        """``ws://127.0.0.1:<port>``: the API root, as ``DEEPGRAM_BASE_URL`` expects it."""
        if not self._port:
            raise ConfigError(
                "FakeDeepgramServer.base_url is known once the server runs: "
                "read it inside 'async with FakeDeepgramServer(...) as fake'"
            )
        return f"ws://127.0.0.1:{self._port}"

    @property
    def sessions(self) -> list[FakeDeepgramSession]:
        """One record per accepted connection, in connect order."""
        return [connection.record for connection in self._connections]

    def fail_next_connect(self, status: int = 500) -> None:
        """Refuse the next handshake with HTTP ``status``; each call refuses one more."""
        require_int("fail_next_connect status", status, minimum=400, maximum=599)
        try:
            http.HTTPStatus(status)
        except ValueError:
            raise InputValidationError(
                f"fail_next_connect status={status} is not a known HTTP status: use e.g. 500"
            ) from None
        self._failures.append(status)

    async def drop(self, index: int = -1) -> None:
        """Cut connection ``index`` abruptly, with no close frame (a network drop)."""
        connection = self._connection(index, "drop")
        if not connection.record.closed:
            connection.record.dropped = True
            connection.ws.transport.abort()
        await connection.finished.wait()

    async def send_error(self, index: int = -1, description: str = "Internal server error") -> None:
        """Make connection ``index`` send an ``Error`` message, then close it (code 1011)."""
        require_str("send_error description", description, allow_empty=False)
        connection = self._connection(index, "send_error")
        if not connection.record.closed:
            await connection.fail(description)
        await connection.finished.wait()

    def _connection(self, index: int, action: str) -> Connection:
        require_int(f"{action} index", index)
        try:
            return self._connections[index]
        except IndexError:
            raise InputValidationError(
                f"{action} index={index} is out of range: "
                f"{len(self._connections)} connection(s) so far"
            ) from None

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._failures:
            status = self._failures.popleft()
            return _http_error(connection, status, http.HTTPStatus(status).phrase)
        url = urlsplit(request.path)
        if url.path.rstrip("/") != _PATH:
            return _http_error(connection, 404, f"Unknown path {url.path}.")
        authorization = request.headers.get("Authorization", "")
        key = authorization.removeprefix("Token ").strip()
        if not authorization.startswith("Token ") or not key:
            return _http_error(connection, 401, "Invalid credentials.")
        if self._api_key is not None and key != self._api_key:
            return _http_error(connection, 401, "Invalid credentials.")
        try:
            read_settings(dict(parse_qsl(url.query)))
        except BadRequest as refused:
            return _http_error(connection, 400, str(refused))
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None  # the handshake has set it before the handler runs
        query = dict(parse_qsl(urlsplit(request.path).query))
        record = FakeDeepgramSession(index=len(self._connections), path=request.path, query=query)
        settings = read_settings(query)
        connection = Connection(ws, record, settings, self._scenario, self._idle_timeout)
        self._connections.append(connection)
        await connection.run()


def _http_error(connection: ServerConnection, status: int, message: str) -> Response:
    """An HTTP error response with the JSON body Deepgram sends."""
    response = connection.respond(status, json.dumps(error_body(status, message)))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
