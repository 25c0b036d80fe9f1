"""The fake ConvAI server: agents, signed URLs, handshake checks, fault injection."""

from __future__ import annotations

import http
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from getpatter._validation import require_int, require_number, require_str
from getpatter.errors import InputValidationError
from getpatter.testing._fake_audio import new_id
from getpatter.testing._loopback_ws import LoopbackWebSocketServer, json_response
from getpatter.testing.fake_convai._conversation import Conversation
from getpatter.testing.fake_convai.records import AUDIO_FORMATS, FakeAgent, FakeConversation
from getpatter.testing.scenario import Scenario

__all__ = ["FakeConvAIServer"]

_WS_PATH = "/v1/convai/conversation"
_SIGNED_URL_PATH = "/v1/convai/conversation/get-signed-url"


class FakeConvAIServer(LoopbackWebSocketServer[Conversation]):
    """A local ElevenLabs Conversational AI API for offline calls and tests.

    Use it as ``async with FakeConvAIServer(scenario, api_key=...) as fake:``, register agents
    with :meth:`add_agent` and point the client at ``fake.base_url`` (the SDK's ``base_url``).
    Every conversation plays its own copy of ``scenario`` from the start. ``speedup`` is how many
    times faster than real time reply audio is sent; ``silence_ms`` is how long the caller must
    be quiet to end a turn.
    """

    _label = "FakeConvAIServer"
    _scheme = "http"
    _noun = "conversation"

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        speedup: float = 4.0,
        silence_ms: int = 500,
    ) -> None:
        super().__init__(scenario, api_key)
        if require_number("FakeConvAIServer speedup", speedup) <= 0:
            raise InputValidationError(f"FakeConvAIServer speedup must be > 0, got {speedup!r}")
        require_int("FakeConvAIServer silence_ms", silence_ms, minimum=20, maximum=10_000)
        self._speedup = float(speedup)
        self._silence_ms = silence_ms
        self._agents: dict[str, FakeAgent] = {}
        self._signatures: dict[str, str] = {}
        self._silent_next = 0

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/v1/convai/conversation``: add ``?agent_id=...``."""
        return "ws" + self.base_url.removeprefix("http") + _WS_PATH

    @property
    def conversations(self) -> list[FakeConversation]:
        """One record per accepted WebSocket, in connect order."""
        return [conversation.record for conversation in self._connections]

    def add_agent(
        self,
        agent_id: str,
        *,
        private: bool = False,
        audio_format: str = "ulaw_8000",
        input_audio_format: str | None = None,
        first_message: str = "",
        prompt: str = "",
        language: str = "en",
        voice_id: str = "",
        allow_overrides: tuple[str, ...] | frozenset[str] = (),
    ) -> FakeAgent:
        """Register an agent; a ``private`` one is reached only through a signed URL.

        ``audio_format`` is its output format and, unless ``input_audio_format`` says otherwise,
        its input format. ``allow_overrides`` lists the dotted override paths it accepts.
        """
        require_str("add_agent agent_id", agent_id, allow_empty=False)
        input_format = audio_format if input_audio_format is None else input_audio_format
        for name, value in (("audio_format", audio_format), ("input_audio_format", input_format)):
            if value not in AUDIO_FORMATS:
                raise InputValidationError(
                    f"add_agent {name}={value!r} must be one of {list(AUDIO_FORMATS)}"
                )
        agent = FakeAgent(
            agent_id,
            private=private,
            audio_format=audio_format,
            input_audio_format=input_format,
            first_message=first_message,
            prompt=prompt,
            language=language,
            voice_id=voice_id,
            allow_overrides=frozenset(allow_overrides),
        )
        self._agents[agent_id] = agent
        return agent

    def silence_next(self) -> None:
        """The next conversation is confirmed, then the agent never speaks or answers again
        (an agent that accepted the call and went silent); each call silences one more."""
        self._silent_next += 1

    async def drop(self, index: int = -1) -> None:
        """Cut conversation ``index`` abruptly, with no close frame (a network drop)."""
        await self._drop(self._nth(index, "drop index"))

    async def end(self, index: int = -1) -> None:
        """End conversation ``index`` as ElevenLabs does when its agent ends the call: a
        normal close (code 1000)."""
        conversation = self._nth(index, "end index")
        await conversation.ws.close(1000, "conversation ended")
        await conversation.finished.wait()

    async def ping(self, index: int = -1) -> int:
        """Send a ``ping`` on conversation ``index`` and wait for the ``pong``; returns its
        ``event_id``. Bound the wait with ``asyncio.timeout``: a client may never answer."""
        return await self._nth(index, "ping index").ping()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        agent_id = query.get("agent_id", [""])[0]
        if url.path.rstrip("/") == _SIGNED_URL_PATH:
            return self._signed_url(connection, request, agent_id)
        if self._failures:
            status = self._failures.popleft()
            return _error(connection, status, "server_error", http.HTTPStatus(status).phrase)
        if url.path.rstrip("/") != _WS_PATH:
            return _error(connection, 404, "not_found", "Not Found")
        agent = self._agents.get(agent_id)
        if agent is None:
            return _error(connection, 404, "agent_not_found", f"Agent {agent_id!r} not found.")
        signature = query.get("conversation_signature", [""])[0]
        if signature:
            if self._signatures.pop(signature, None) != agent_id:
                return _error(connection, 403, "invalid_signature", "Invalid signature.")
        elif agent.private:
            return _error(
                connection, 403, "authorization_required", "This agent requires a signed URL."
            )
        return None

    def _signed_url(
        self, connection: ServerConnection, request: Request, agent_id: str
    ) -> Response:
        key = request.headers.get("xi-api-key", "")
        if not key or (self._api_key is not None and key != self._api_key):
            return _error(connection, 401, "invalid_api_key", "Invalid API key")
        if agent_id not in self._agents:
            return _error(connection, 404, "agent_not_found", f"Agent {agent_id!r} not found.")
        signature = secrets.token_urlsafe(24)
        self._signatures[signature] = agent_id
        query = urlencode({"agent_id": agent_id, "conversation_signature": signature})
        return json_response(connection, 200, {"signed_url": f"{self.url}?{query}"})

    def _accept(self, ws: ServerConnection, request: Request) -> Conversation:
        query = parse_qs(urlsplit(request.path).query)
        agent = self._agents[query["agent_id"][0]]
        record = FakeConversation(
            index=len(self._connections),
            agent_id=agent.agent_id,
            conversation_id=new_id("conv"),
            path=request.path,
            signed="conversation_signature" in query,
            scenario=self._scenario,
        )
        silent = self._silent_next > 0
        self._silent_next -= silent
        return Conversation(
            ws, record, agent, speedup=self._speedup, silence_ms=self._silence_ms, silent=silent
        )


def _error(connection: ServerConnection, status: int, code: str, message: str) -> Response:
    """An HTTP error with the ``detail`` body ElevenLabs' API uses."""
    return json_response(connection, status, {"detail": {"status": code, "message": message}})
