"""OpenAILLM's own streaming client, held against the official openai SDK and the fake server.

``OpenAILLM`` reads chat-completion streams with plain ``json`` over aiohttp (see
getpatter/llm/openai.py for why). These tests keep it honest: the SDK itself reads the fake's
streams (text, tool calls, usage, an in-stream error) and our client must read the same; the
SDK's request options (``extra_body``/``extra_headers``), retries, ``OPENAI_BASE_URL`` and the
event-stream framing are checked on their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from getpatter.errors import ErrorCode, PatterConnectionError, PatterError
from getpatter.llm import openai as openai_llm
from getpatter.llm._openai_wire import ChunkReader, error_detail, retry_delay, should_retry
from getpatter.llm.base import LLMChunk
from getpatter.llm.chat_context import ChatContext
from getpatter.llm.openai import LLM
from getpatter.providers.sse import SSEDecoder
from getpatter.testing.fake_llm import FakeOpenAIServer
from getpatter.testing.scenario import Reply, Scenario, ToolCall

KEY = "sk-CANARY-wire-0123456789"
GREETING = "Good morning, this is the front desk."
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
SCENARIO = Scenario(
    replies=(
        Reply(GREETING),
        Reply("It is {result} in Rome.", tool_call=ToolCall("get_weather", {"city": "Rome"})),
    )
)


def conversation(*caller_lines: str) -> ChatContext:
    context = ChatContext("You answer the phone.")
    for i, line in enumerate(caller_lines):
        if i:
            context.add_assistant("Sure.")
        context.add_user(line)
    return context


async def collect(llm: LLM, context: ChatContext, tools: Any = ()) -> list[LLMChunk]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in llm.stream(context, tools)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(SCENARIO, api_key=KEY) as server:
        yield server


async def sdk_read(fake: FakeOpenAIServer, request: dict[str, Any]) -> dict[str, Any]:
    """What the official SDK reads from the fake for ``request``: text, tool calls, usage."""
    client = openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0)
    text, calls, usage = [], {}, None
    try:
        async with asyncio.timeout(10):
            stream = await client.chat.completions.create(**request)
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    text.append(choice.delta.content or "")
                    for part in choice.delta.tool_calls or ():
                        call = calls.setdefault(part.index, {"id": "", "name": "", "args": ""})
                        call["id"] = part.id or call["id"]
                        if part.function is not None:
                            call["name"] = part.function.name or call["name"]
                            call["args"] += part.function.arguments or ""
    finally:
        await client.close()
    return {
        "text": "".join(text),
        "calls": [(c["id"], c["name"], json.loads(c["args"])) for c in calls.values()],
        "usage": usage,
    }


def patter_read(chunks: list[LLMChunk]) -> dict[str, Any]:
    done = chunks[-1]
    assert done.type == "done" and done.usage is not None
    return {
        "text": "".join(c.text for c in chunks if c.type == "text"),
        "calls": [
            (c.tool_call.id, c.tool_call.name, c.tool_call.parsed_arguments())
            for c in chunks
            if c.tool_call is not None
        ],
        "usage": (done.usage.input_tokens, done.usage.output_tokens),
    }


async def test_the_sdk_and_our_client_read_the_same_from_the_fake(fake: FakeOpenAIServer) -> None:
    llm = LLM(api_key=KEY, base_url=fake.base_url)
    greeting = conversation("Hello?")
    weather = conversation("Hello?", "Weather in Rome?")
    fake.parallel_tool_calls(
        1, ToolCall("get_weather", {"city": "Rome"}), ToolCall("get_weather", {"city": "Oslo"})
    )
    try:
        for context, tools in ((greeting, ()), (weather, [WEATHER_TOOL])):
            ours = patter_read(await collect(llm, context, tools))
            theirs = await sdk_read(fake, llm._request(context, tools))
            # The fake makes new ids per request: compare the rest, and ids' shape.
            assert [c[1:] for c in ours["calls"]] == [c[1:] for c in theirs["calls"]]
            assert all(c[0].startswith("call_") for c in ours["calls"] + theirs["calls"])
            assert (ours["text"], ours["usage"]) == (theirs["text"], theirs["usage"])
    finally:
        await llm.close()
    assert patter_read(await collect(llm, greeting))["text"] == GREETING
    await llm.close()
    first, second, third, fourth, _ = fake.requests
    assert first.body == second.body and third.body == fourth.body  # the same request on the wire


async def test_the_sdk_and_our_client_both_fail_on_an_in_stream_error(
    fake: FakeOpenAIServer,
) -> None:
    llm = LLM(api_key=KEY, base_url=fake.base_url)
    request = llm._request(conversation("Hello?"), ())
    fake.fail_next(500, after_events=2)
    with pytest.raises(openai.APIError) as sdk_error:
        await sdk_read(fake, request)
    fake.fail_next(500, after_events=2)
    with pytest.raises(PatterConnectionError) as ours:
        await collect(llm, conversation("Hello?"))
    await llm.close()

    assert sdk_error.value.message in ours.value.message
    assert ours.value.message.startswith("OpenAI stopped the answer with an error: ")


async def test_subclass_request_options_reach_the_wire(fake: FakeOpenAIServer) -> None:
    class Compatible(LLM):
        provider = "Compatible"

        def _request(self, context: ChatContext, tools: Any) -> dict[str, Any]:
            request = super()._request(context, tools)
            request["extra_body"] = {"service_tier": "flex"}
            request["extra_headers"] = {"X-Trace": "t-1"}
            return request

        def _headers(self) -> dict[str, str]:
            return {**super()._headers(), "X-Client": "patter-test"}

        def _encode(self, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
            compact = json.dumps(body, separators=(",", ":")).encode()
            return compact, {"Content-Type": "application/json; charset=utf-8"}

    llm = Compatible(api_key=KEY, base_url=fake.base_url)
    chunks = await collect(llm, conversation("Hello?"))
    await llm.close()

    assert "".join(c.text for c in chunks) == GREETING
    (request,) = fake.requests
    assert request.body["service_tier"] == "flex"
    assert "extra_body" not in request.body and "extra_headers" not in request.body
    assert request.headers["x-trace"] == "t-1" and request.headers["x-client"] == "patter-test"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert int(request.headers["content-length"]) == len(
        json.dumps(request.body, separators=(",", ":"))
    )


async def test_a_request_timeout_option_is_refused(fake: FakeOpenAIServer) -> None:
    class WithTimeout(LLM):
        def _request(self, context: ChatContext, tools: Any) -> dict[str, Any]:
            return {**super()._request(context, tools), "timeout": 5}

    llm = WithTimeout(api_key=KEY, base_url=fake.base_url)
    with pytest.raises(PatterError, match=r"LLM\(timeout=...\)"):
        await collect(llm, conversation("Hello?"))
    assert fake.requests == []


async def test_base_url_and_organization_from_the_environment(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url + "/")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-patter")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-patter")
    llm = LLM(api_key=KEY)
    assert llm.base_url is None

    chunks = await collect(llm, conversation("Hello?"))
    await llm.close()

    assert "".join(c.text for c in chunks) == GREETING
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["openai-organization"] == "org-patter"
    assert request.headers["openai-project"] == "proj-patter"


async def test_an_explicit_base_url_wins_over_the_environment(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    llm = LLM(api_key=KEY, base_url=fake.base_url)
    await collect(llm, conversation("Hello?"))
    await llm.close()
    assert len(fake.requests) == 1


async def test_max_retries_retries_failures_before_the_answer(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    def no_wait(attempt: int, headers: Any = None) -> float:
        waits.append(retry_delay(attempt, headers))
        return 0.0

    monkeypatch.setattr(openai_llm, "retry_delay", no_wait)
    llm = LLM(api_key=KEY, base_url=fake.base_url, max_retries=2)
    fake.fail_next(503)
    fake.fail_next(429)
    chunks = await collect(llm, conversation("Hello?"))
    assert "".join(c.text for c in chunks) == GREETING
    assert [r.status for r in fake.requests] == [503, 429, 200]
    assert 0.375 <= waits[0] <= 0.5 and waits[1] == 1.0  # backoff, then the 429's retry-after

    fake.fail_next(500, times=3)
    with pytest.raises(PatterConnectionError, match="HTTP 500"):
        await collect(llm, conversation("Hello?"))
    assert len(fake.requests) == 6
    fake.fail_next(400)
    with pytest.raises(PatterError) as refused:
        await collect(llm, conversation("Hello?"))
    assert refused.value.code == ErrorCode.PROVIDER_ERROR and len(fake.requests) == 7
    await llm.close()


async def test_an_unreachable_server_is_a_connection_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeOpenAIServer(SCENARIO) as fake:
        base_url = fake.base_url
    llm = LLM(api_key=KEY, base_url=base_url)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hello?"))
    await llm.close()

    assert caught.value.code != ErrorCode.TIMEOUT
    assert "cannot reach OpenAI" in caught.value.message
    assert KEY not in caplog.text and KEY not in str(caught.value)


def test_event_stream_framing() -> None:
    decoder = SSEDecoder()
    lines = [
        b": keep-alive\n",
        b"event: message\r\n",
        b'data: {"a":\n',
        b"data:1}\n",
        b"id: 7\n",
        b"\n",
        b"\n",
        b"data: [DONE]",
    ]
    events = [event for line in lines if (event := decoder.line(line)) is not None]
    assert events == [("message", b'{"a":\n1}')]
    assert decoder.close() == ("", b"[DONE]")
    assert decoder.close() is None


def test_chunks_that_are_not_chat_completion_chunks_are_provider_errors() -> None:
    for data in (b"not json", b"[1, 2]", b'{"choices": [{"delta": "text"}]}'):
        with pytest.raises(PatterError) as caught:
            ChunkReader("OpenAI", KEY).read(data)
        assert caught.value.code == ErrorCode.PROVIDER_ERROR
    reader = ChunkReader("OpenAI", KEY)
    assert reader.read(b'{"choices": [], "usage": null}') == []
    with pytest.raises(PatterConnectionError, match="overloaded"):
        reader.read(b'{"error": {"message": "overloaded", "type": "server_error"}}')


def test_tool_call_fragments_without_an_index() -> None:
    reader = ChunkReader("Local", KEY)
    parts = [
        {"id": "call_a", "function": {"name": "get_weather", "arguments": '{"city":'}},
        {"function": {"arguments": '"Rome"}'}},
        {"id": "call_b", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
    ]
    chunks = []
    for part in parts:
        event = {"choices": [{"index": 0, "delta": {"tool_calls": [part]}}]}
        chunks += reader.read(json.dumps(event).encode())
    chunks += reader.finish()
    calls = [c.tool_call for c in chunks if c.tool_call is not None]
    assert [(c.id, c.parsed_arguments()) for c in calls] == [
        ("call_a", {"city": "Rome"}),
        ("call_b", {"city": "Oslo"}),
    ]


def test_error_details_and_retry_policy() -> None:
    assert error_detail(500, b'{"error": {"message": "boom"}}') == "boom"
    assert error_detail(502, b"<html>Bad gateway</html>") == "Error code: 502"
    assert error_detail(503, b"upstream unavailable\nmore") == "upstream unavailable"
    assert error_detail(500, b'{"error": {}}') == "Error code: 500"
    assert should_retry(429, {}) and should_retry(503, {}) and should_retry(408, {})
    assert not should_retry(400, {}) and not should_retry(401, {})
    assert not should_retry(503, {"x-should-retry": "false"})
    assert should_retry(400, {"x-should-retry": "true"})
    assert not should_retry(429, {"retry-after": "600"})
    assert retry_delay(1, {"retry-after-ms": "250"}) == 0.25
    assert 6.0 <= retry_delay(10) <= 8.0


class _RawServer:
    """A bare HTTP/1.1 server answering every request with ``body`` (chunks, then ``end``)."""

    def __init__(self, chunks: list[bytes], end: bytes) -> None:
        self._chunks, self._end = chunks, end
        self.connections = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                size = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(size)
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                    + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in self._chunks)
                    + self._end
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def _event(content: str) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"


async def test_a_body_left_open_after_done_ends_the_answer_on_a_fresh_connection() -> None:
    raw = _RawServer([_event("Hi."), b"data: [DONE]\n\n"], end=b"")
    async with raw as server_url:
        llm = LLM(api_key=KEY, base_url=server_url)
        for _ in range(2):
            chunks = await collect(llm, conversation("Hello?"))
            assert [c.text for c in chunks if c.type == "text"] == ["Hi."]
            assert chunks[-1].type == "done"
        await llm.close()
    assert raw.requests == 2 and raw.connections == 2


async def test_a_stream_without_done_ends_at_the_body_end_and_keeps_the_connection() -> None:
    raw = _RawServer([_event("Hi"), _event(" th"), b'data: {"choices": []}'], end=b"0\r\n\r\n")
    async with raw as server_url:
        llm = LLM(api_key=KEY, base_url=server_url)
        for _ in range(3):
            chunks = await collect(llm, conversation("Hello?"))
            assert "".join(c.text for c in chunks) == "Hi th"
        await llm.close()
    assert raw.requests == 3 and raw.connections == 1
