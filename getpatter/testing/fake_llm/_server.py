"""What both fake LLM servers share: scripting, fault injection, paced SSE answers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from getpatter._validation import require_amount, require_int, require_str
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing._loopback_http import LoopbackHTTPFake
from getpatter.testing.fake_llm.records import FakeLLMRequest
from getpatter.testing.scenario import Scenario, ToolCall

_WORDS = re.compile(r"\s*\S+|\s+$")
_ARGUMENT_PIECE = 6
"""Characters of tool-call JSON per streamed fragment."""


def word_chunks(text: str) -> list[str]:
    """``text`` cut before each word, as models stream it (``"Hi there"`` → ``"Hi", " there"``)."""
    return _WORDS.findall(text)


def argument_fragments(arguments: dict[str, Any]) -> list[str]:
    """The JSON of ``arguments`` in small pieces, as models stream tool arguments."""
    text = json.dumps(arguments)
    return [text[i : i + _ARGUMENT_PIECE] for i in range(0, len(text), _ARGUMENT_PIECE)]


def content_text(content: object) -> str:
    """A message's or tool result's text: a str, or the ``text`` of its ``text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def estimate_tokens(*parts: object) -> int:
    """A stand-in token count: a token per 4 characters of the parts' JSON, at least 1."""
    return max(1, sum(len(json.dumps(part)) for part in parts) // 4)


@dataclass(frozen=True)
class Answer:
    """What the fake model says to one request: ``text``, or ``tool_calls`` to make first."""

    turn: int
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Frame:
    """One SSE event to write; ``text``/``tool_call`` mark the events that carry a token."""

    data: bytes
    text: str = ""
    tool_call: ToolCall | None = None


@dataclass(frozen=True)
class _Fault:
    status: int
    after_events: int
    drop: bool = False


class FakeLLMServer(LoopbackHTTPFake):
    """Base of the fake LLM servers; subclasses speak one provider's wire format."""

    path: ClassVar[str]
    """The endpoint served, e.g. ``/v1/chat/completions``."""
    api_root: ClassVar[str]
    """What ``base_url`` adds after ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        name = type(self).__name__
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ConfigError(f"{name} scenario must be a Scenario, got {type(scenario).__name__}")
        if api_key is not None:
            require_str(f"{name} api_key", api_key, allow_empty=False)
        self.scenario = scenario if scenario is not None else Scenario()
        self.chunk_delay = require_amount(f"{name} chunk_delay", chunk_delay)
        self._api_key = api_key
        self._faults: deque[_Fault] = deque()
        self._stalls: deque[float] = deque()
        self._parallel: dict[int, tuple[ToolCall, ...]] = {}
        self.requests: list[FakeLLMRequest] = []
        """Every request received, in arrival order."""

    def _app(self) -> Starlette:
        routes = [Route(self.path, self._handle, methods=["POST"]), *self._extra_routes()]
        return Starlette(routes=routes)

    @property
    def base_url(self) -> str:
        """The API root to hand the SDK (``base_url=``), known once the server runs."""
        return f"{self._origin('base_url')}{self.api_root}"

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``: the ``base_url`` for SDKs whose paths carry the API
        prefix themselves (``groq``, ``cerebras-cloud-sdk``)."""
        return self._origin("root_url")

    def fail_next(self, status: int = 500, *, times: int = 1, after_events: int = 0) -> None:
        """Fail the next ``times`` requests with HTTP ``status`` (429 adds the provider's
        rate-limit headers, ``retry-after: 1`` by default).

        With ``after_events`` the answer starts normally and, after that many SSE events,
        ends with the provider's in-stream error event instead (a failure mid-answer).
        """
        require_int("fail_next status", status, minimum=400, maximum=599)
        require_int("fail_next times", times, minimum=1)
        require_int("fail_next after_events", after_events, minimum=0)
        self._faults.extend(_Fault(status, after_events) for _ in range(times))

    def drop_next(self, *, after_events: int = 0) -> None:
        """Cut the connection of the next answer after ``after_events`` SSE events, without
        ending the HTTP body (a dropped stream: the client sees the body stop short)."""
        require_int("drop_next after_events", after_events, minimum=0)
        self._faults.append(_Fault(0, after_events, drop=True))

    def stall_next(self, seconds: float) -> None:
        """Hold the next answer ``seconds`` after its headers, before its first event."""
        if require_amount("stall_next seconds", seconds) <= 0:
            raise InputValidationError(f"stall_next seconds must be > 0, got {seconds!r}")
        self._stalls.append(float(seconds))

    def parallel_tool_calls(self, turn: int, *calls: ToolCall) -> None:
        """Answer caller turn ``turn`` with all of ``calls`` at once, before the reply text.

        Replaces ``scenario.replies[turn].tool_call`` for that turn; the follow-up request
        (with every result) gets the reply text, ``{result}`` standing for the outputs joined
        by newlines.
        """
        require_int("parallel_tool_calls turn", turn, minimum=0)
        if not calls or not all(isinstance(call, ToolCall) for call in calls):
            raise ConfigError("parallel_tool_calls needs one or more scenario ToolCall objects")
        self._parallel[turn] = calls

    # The provider's wire format.

    @abstractmethod
    def _key(self, request: Request) -> str:
        """The API key the client presented ("" when none)."""

    @abstractmethod
    def _error(self, status: int, message: str = "") -> Response:
        """The provider's JSON error response (``message`` "" → the provider's usual one)."""

    @abstractmethod
    def _check(self, record: FakeLLMRequest) -> str:
        """Why the provider would refuse the request with HTTP 400 ("" when it is fine)."""

    @abstractmethod
    def _conversation(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        """The request's turns in order: ``("user", text)``, ``("tool", output)``, ..."""

    @abstractmethod
    def _frames(self, answer: Answer, body: dict[str, Any]) -> list[Frame]:
        """The SSE events of the whole answer."""

    @abstractmethod
    def _stream_error(self, status: int) -> bytes:
        """The provider's in-stream error event for a failure of kind ``status``."""

    async def _read_body(self, request: Request) -> object:
        """The decoded request body (raises ValueError when it cannot be decoded)."""
        return await request.json()

    def _rate_limit_headers(self) -> dict[str, str]:
        """The headers of a 429 answer."""
        return {"retry-after": "1"}

    def _extra_routes(self) -> list[Route]:
        """Endpoints served besides :attr:`path`."""
        return []

    # Shared request handling.

    async def _handle(self, request: Request) -> Response:
        try:
            body = await self._read_body(request)
        except ValueError:
            body = None
        record = FakeLLMRequest(
            index=len(self.requests),
            path=request.url.path,
            body=body if isinstance(body, dict) else {},
            api_key=self._key(request),
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        self.requests.append(record)
        fault = self._faults.popleft() if self._faults else None
        refusal = self._refusal(record, body, fault)
        if refusal is not None:
            record.status = refusal.status_code
            record.failed = True
            record.ended_at = time.monotonic()
            record._ended.set()
            return refusal
        answer = self._answer(self._conversation(record.body))
        record.turn = answer.turn
        frames = self._frames(answer, record.body)
        error = None
        if fault is not None:
            frames = frames[: fault.after_events]
            error = None if fault.drop else self._stream_error(fault.status)
            record.failed = True
        stall = self._stalls.popleft() if self._stalls else 0.0
        drop = fault is not None and fault.drop
        return _EventStream(
            frames, record, delay=self.chunk_delay, stall=stall, error=error, drop=drop
        )

    def _refusal(
        self, record: FakeLLMRequest, body: object, fault: _Fault | None
    ) -> Response | None:
        """The error response answering this request, if it gets one."""
        if not record.api_key or (self._api_key is not None and record.api_key != self._api_key):
            return self._error(401)
        if not isinstance(body, dict):
            return self._error(400, "The request body must be a JSON object.")
        problem = self._check(record)
        if problem:
            return self._error(400, problem)
        if fault is not None and not fault.drop and fault.after_events == 0:
            response = self._error(fault.status)
            if fault.status == 429:
                response.headers.update(self._rate_limit_headers())
            return response
        return None

    def _answer(self, conversation: list[tuple[str, str]]) -> Answer:
        users = [i for i, (role, _) in enumerate(conversation) if role == "user"]
        turn = len(users) - 1
        if not 0 <= turn < len(self.scenario.replies):
            return Answer(turn)
        reply = self.scenario.replies[turn]
        results = [text for role, text in conversation[users[-1] + 1 :] if role == "tool"]
        calls = self._parallel.get(turn) or ((reply.tool_call,) if reply.tool_call else ())
        if calls and not results:
            return Answer(turn, tool_calls=calls)
        return Answer(turn, text=reply.text.replace("{result}", "\n".join(results)))


class _EventStream(Response):
    """An ``text/event-stream`` answer written event by event, noticing a client that leaves."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: Iterable[Frame],
        record: FakeLLMRequest,
        *,
        delay: float,
        stall: float,
        error: bytes | None,
        drop: bool = False,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache"})
        self._frames = list(frames)
        self._record = record
        self._delay = delay
        self._stall = stall
        self._error_event = error
        self._drop = drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = self._record
        left = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            left.set()

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if self._stall and await _left_within(left, self._stall):
                return
            for i, frame in enumerate(self._frames):
                if i and self._delay and await _left_within(left, self._delay):
                    return
                if left.is_set():
                    return
                await send({"type": "http.response.body", "body": frame.data, "more_body": True})
                if (frame.text or frame.tool_call) and record.first_token_at is None:
                    record.first_token_at = time.monotonic()
                record.text_sent += frame.text
                if frame.tool_call is not None:
                    record.tool_calls_sent.append(frame.tool_call)
            if self._drop:
                return  # the server closes the connection: the body ends short
            if self._error_event is not None:
                await send(
                    {"type": "http.response.body", "body": self._error_event, "more_body": True}
                )
            record.completed = self._error_event is None
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            record.disconnected = left.is_set() and not record.completed
            record.ended_at = time.monotonic()
            record._ended.set()


async def _left_within(left: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``; True as soon as the client leaves."""
    try:
        await asyncio.wait_for(left.wait(), seconds)
    except TimeoutError:
        return False
    return True


def sse(data: object, event: str | None = None) -> bytes:
    """One server-sent event carrying ``data`` as JSON (or verbatim when it is a str)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()
