"""The fake Deepgram server: handshake checks, one connection per stream, fault injection."""

from __future__ import annotations

import http
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from getpatter._validation import require_number, require_str
from getpatter.errors import InputValidationError
from getpatter.testing._loopback_ws import LoopbackWebSocketServer, json_response
from getpatter.testing.fake_deepgram._connection import Connection
from getpatter.testing.fake_deepgram._protocol import BadRequest, error_body, read_settings
from getpatter.testing.fake_deepgram.records import FakeDeepgramSession
from getpatter.testing.scenario import Scenario

__all__ = ["FakeDeepgramServer"]

_PATH = "/v1/listen"


class FakeDeepgramServer(LoopbackWebSocketServer[Connection]):
    """A local Deepgram streaming API (``/v1/listen``) for offline calls and tests.

    Use it as ``async with FakeDeepgramServer(scenario) as fake:`` and point the client at
    ``fake.base_url`` (like ``DEEPGRAM_BASE_URL``). Handshakes need ``Authorization: Token
    <key>`` (any key, or exactly ``api_key`` when given) and a raw ``encoding`` with its
    ``sample_rate``. Every connection plays its own copy of ``scenario`` from the start.
    A connection that receives nothing for ``idle_timeout`` seconds is closed with code 1011
    and a ``NET-0001`` reason, as Deepgram does after about 10 s.
    """

    _label = "FakeDeepgramServer"
    _scheme = "ws"

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        idle_timeout: float = 10.0,
    ) -> None:
        super().__init__(scenario, api_key)
        if require_number("FakeDeepgramServer idle_timeout", idle_timeout) <= 0:
            raise InputValidationError(
                f"FakeDeepgramServer idle_timeout must be > 0 seconds, got {idle_timeout!r}"
            )
        self._idle_timeout = float(idle_timeout)

    @property
    def sessions(self) -> list[FakeDeepgramSession]:
        """One record per accepted connection, in connect order."""
        return [connection.record for connection in self._connections]

    async def drop(self, index: int = -1) -> None:
        """Cut connection ``index`` abruptly, with no close frame (a network drop)."""
        await self._drop(self._nth(index, "drop index"))

    async def send_error(self, index: int = -1, description: str = "Internal server error") -> None:
        """Make connection ``index`` send an ``Error`` message, then close it (code 1011)."""
        require_str("send_error description", description, allow_empty=False)
        connection = self._nth(index, "send_error index")
        if not connection.record.closed:
            await connection.fail(description)
        await connection.finished.wait()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
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

    def _accept(self, ws: ServerConnection, request: Request) -> Connection:
        pairs = parse_qsl(urlsplit(request.path).query)
        query = dict(pairs)
        record = FakeDeepgramSession(
            index=len(self._connections),
            path=request.path,
            query=query,
            keyterms=[value for name, value in pairs if name == "keyterm"],
        )
        settings = read_settings(query)
        return Connection(ws, record, settings, self._scenario, self._idle_timeout)


def _http_error(connection: ServerConnection, status: int, message: str) -> Response:
    """An HTTP error response with the JSON body Deepgram sends."""
    return json_response(connection, status, error_body(status, message))
