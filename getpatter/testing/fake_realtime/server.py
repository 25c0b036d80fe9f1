"""The fake Realtime server: handshake checks, one connection per call, fault injection."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from getpatter._validation import require_callable, require_number
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing._loopback_ws import LoopbackWebSocketServer, json_response
from getpatter.testing.fake_realtime._connection import Connection
from getpatter.testing.fake_realtime.records import FakeRealtimeSession
from getpatter.testing.scenario import Scenario

__all__ = ["FakeRealtimeServer"]

_PATH = "/v1/realtime"


class FakeRealtimeServer(LoopbackWebSocketServer[Connection]):
    """A local OpenAI Realtime API for offline calls and tests.

    Use it as ``async with FakeRealtimeServer(scenario) as fake:`` and point the client at
    ``fake.base_url`` (like ``OPENAI_BASE_URL``). Handshakes need ``Authorization: Bearer <key>``
    (any key, or exactly ``api_key`` when given) and a ``model`` query parameter.

    Every connection plays its own copy of ``scenario`` from the start. ``scenario_for``, given
    instead, picks each connection's scenario from its :class:`FakeRealtimeSession` (``index``,
    ``model``, ``path`` with the query string). ``speedup`` is how many times faster than real
    time reply audio is sent.
    """

    _label = "FakeRealtimeServer"
    _scheme = "http"
    _root = "/v1"

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        scenario_for: Callable[[FakeRealtimeSession], Scenario] | None = None,
        speedup: float = 4.0,
    ) -> None:
        super().__init__(scenario, api_key)
        if scenario_for is not None:
            require_callable("FakeRealtimeServer scenario_for", scenario_for)
            if scenario is not None:
                raise ConfigError(
                    "FakeRealtimeServer takes scenario or scenario_for, not both: "
                    "return the scenario from scenario_for instead"
                )
        if require_number("FakeRealtimeServer speedup", speedup) <= 0:
            raise InputValidationError(f"FakeRealtimeServer speedup must be > 0, got {speedup!r}")
        self._scenario_for = scenario_for
        self._speedup = float(speedup)
        self._silent_next = 0
        self._session_delays: deque[float] = deque()

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/v1/realtime``: add ``?model=...`` to connect."""
        return "ws" + self.base_url.removeprefix("http") + "/realtime"

    @property
    def sessions(self) -> list[FakeRealtimeSession]:
        """One record per accepted connection, in connect order."""
        return [connection.record for connection in self._connections]

    def silence_next(self) -> None:
        """The next connection confirms its session, then never answers or reports anything
        (a model that accepted the call and went silent); each call silences one more."""
        self._silent_next += 1

    def delay_next_session(self, seconds: float) -> None:
        """The next connection confirms its ``session.update`` only after ``seconds`` (a slow
        set-up); each call delays one more."""
        if require_number("delay_next_session seconds", seconds) <= 0:
            raise InputValidationError(f"delay_next_session seconds must be > 0, got {seconds!r}")
        self._session_delays.append(float(seconds))

    async def drop(self, session_index: int = -1) -> None:
        """Cut connection ``session_index`` abruptly, with no close frame (a network drop)."""
        await self._drop(self._nth(session_index, "drop session_index"))

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._failures:
            return _http_error(
                connection,
                self._failures.popleft(),
                "server_error",
                "The server had an error while processing your request.",
            )
        url = urlsplit(request.path)
        if url.path.rstrip("/") != _PATH:
            return _http_error(connection, 404, "not_found", f"Invalid URL: {url.path}")
        authorization = request.headers.get("Authorization", "")
        key = authorization.removeprefix("Bearer ").strip()
        if not authorization.startswith("Bearer ") or not key:
            return _http_error(connection, 401, "missing_api_key", "You didn't provide an API key.")
        if self._api_key is not None and key != self._api_key:
            return _http_error(connection, 401, "invalid_api_key", "Incorrect API key provided.")
        if not parse_qs(url.query).get("model", [""])[0]:
            return _http_error(
                connection,
                400,
                "missing_required_parameter",
                "Missing required parameter: 'model'.",
            )
        return None

    def _accept(self, ws: ServerConnection, request: Request) -> Connection:
        record = FakeRealtimeSession(
            index=len(self._connections),
            model=parse_qs(urlsplit(request.path).query)["model"][0],
            path=request.path,
            beta="realtime=v1" in request.headers.get("OpenAI-Beta", ""),
        )
        if self._scenario_for is not None:
            scenario = self._scenario_for(record)
            if not isinstance(scenario, Scenario):
                raise ConfigError(
                    f"scenario_for must return a Scenario, got {type(scenario).__name__}"
                )
            record.scenario = scenario
        else:
            record.scenario = self._scenario
        silent = self._silent_next > 0
        self._silent_next -= silent
        delay = self._session_delays.popleft() if self._session_delays else 0.0
        return Connection(ws, record, self._speedup, silent=silent, session_delay=delay)


def _http_error(connection: ServerConnection, status: int, code: str, message: str) -> Response:
    """An HTTP error response with the JSON body the real API sends."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return json_response(connection, status, body)
