"""AnthropicLLM through the official anthropic SDK, against the loopback Messages fake."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.llm.anthropic import LLM, AnthropicLLM
from getpatter.llm.base import LLMChunk, LLMProvider
from getpatter.llm.chat_context import ChatContext
from getpatter.testing.fake_llm import FakeAnthropicServer
from getpatter.testing.scenario import Reply, Scenario, ToolCall

KEY = "sk-ant-CANARY-0123456789"
PROMPT = "You are a helpful phone agent."
GREETING = "Hello there, how can I help you today?"
EPHEMERAL = {"type": "ephemeral"}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
HANGUP_TOOL = {"name": "end_call", "description": "Hang up.", "parameters": None}
SCENARIO = Scenario(
    replies=(
        Reply(GREETING),
        Reply(
            "It is {result} in Rome.",
            tool_call=ToolCall("get_weather", {"city": "Rome", "unit": "celsius"}),
        ),
    )
)


def conversation(*caller_lines: str) -> ChatContext:
    """A context where the caller said ``caller_lines`` and the agent answered each but the last."""
    context = ChatContext(PROMPT)
    for i, line in enumerate(caller_lines):
        if i:
            context.add_assistant("Sure.")
        context.add_user(line)
    return context


async def collect(
    llm: LLM, context: ChatContext, tools: Sequence[dict[str, Any]] = ()
) -> list[LLMChunk]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in llm.stream(context, tools)]


def texts(chunks: list[LLMChunk]) -> list[str]:
    return [c.text for c in chunks if c.type == "text"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
async def llm(fake: FakeAnthropicServer) -> AsyncIterator[LLM]:
    provider = LLM(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_provider_shape() -> None:
    llm = AnthropicLLM(api_key=KEY)
    assert AnthropicLLM is LLM
    assert isinstance(llm, LLMProvider)
    assert (llm.name, llm.model) == ("anthropic_llm", "claude-haiku-4-5-20251001")
    assert (llm.max_tokens, llm.prompt_caching) == (1024, True)


async def test_text_streams_in_pieces_then_done_with_usage(
    fake: FakeAnthropicServer, llm: LLM
) -> None:
    chunks = await collect(llm, conversation("Hi, who is this?"))

    pieces = texts(chunks)
    assert len(pieces) > 1
    assert "".join(pieces) == GREETING
    assert [c.type for c in chunks].count("done") == 1
    done = chunks[-1]
    assert done.type == "done" and done.usage is not None
    assert done.usage.input_tokens > 0
    assert done.usage.output_tokens == len(pieces)

    (request,) = fake.requests
    assert request.model == "claude-haiku-4-5-20251001"
    assert request.max_tokens == 1024
    assert request.system == [{"type": "text", "text": PROMPT, "cache_control": EPHEMERAL}]
    assert all(m["role"] in ("user", "assistant") for m in request.messages)
    assert request.messages[-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "Hi, who is this?"}],
    }
    assert "tools" not in request.body


async def test_tool_call_is_assembled_then_its_result_answered(
    fake: FakeAnthropicServer, llm: LLM
) -> None:
    context = conversation("Hi.", "What's the weather in Rome?")
    tools = [HANGUP_TOOL, WEATHER_TOOL]

    chunks = await collect(llm, context, tools)

    calls = [c.tool_call for c in chunks if c.type == "tool_call"]
    assert len(calls) == 1 and calls[0] is not None
    call = calls[0]
    assert call.name == "get_weather"
    assert call.parsed_arguments() == {"city": "Rome", "unit": "celsius"}
    assert call.id.startswith("toolu_")
    assert texts(chunks) == []

    context.add_assistant("", [call])
    context.add_tool_result(call.id, call.name, "sunny, 24 °C")
    chunks = await collect(llm, context, tools)
    assert "".join(texts(chunks)) == "It is sunny, 24 °C in Rome."

    first, second = fake.requests
    declared = [
        {
            "name": "end_call",
            "description": "Hang up.",
            "input_schema": {"type": "object", "properties": {}},
        },
        {
            "name": "get_weather",
            "description": WEATHER_TOOL["description"],
            "input_schema": WEATHER_TOOL["parameters"],
            "cache_control": EPHEMERAL,
        },
    ]
    assert first.tools == declared and second.tools == declared
    assert second.messages[-1]["content"] == [
        {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 24 °C"}
    ]


async def test_parallel_tool_calls_come_out_one_by_one(fake: FakeAnthropicServer, llm: LLM) -> None:
    fake.parallel_tool_calls(0, ToolCall("get_weather", {"city": "Rome"}), ToolCall("end_call"))

    chunks = await collect(llm, conversation("Rome, then hang up."), [WEATHER_TOOL, HANGUP_TOOL])

    calls = [c.tool_call for c in chunks if c.tool_call is not None]
    assert [(c.name, c.parsed_arguments()) for c in calls] == [
        ("get_weather", {"city": "Rome"}),
        ("end_call", {}),
    ]


async def test_without_prompt_caching_no_cache_markers_are_sent(fake: FakeAnthropicServer) -> None:
    llm = LLM(
        api_key=KEY,
        base_url=fake.base_url,
        prompt_caching=False,
        max_tokens=200,
        model="claude-sonnet-4-6",
    )
    await collect(llm, conversation("Hi."), [WEATHER_TOOL])
    await llm.close()

    (request,) = fake.requests
    assert not request.cache_control
    assert request.system == [{"type": "text", "text": PROMPT}]
    assert (request.max_tokens, request.model) == (200, "claude-sonnet-4-6")


async def test_usage_counts_cached_input_too(fake: FakeAnthropicServer) -> None:
    cached = LLM(api_key=KEY, base_url=fake.base_url)
    uncached = LLM(api_key=KEY, base_url=fake.base_url, prompt_caching=False)
    context = conversation("Hi.")

    written, read, plain = [
        (await collect(llm, context, [WEATHER_TOOL]))[-1].usage
        for llm in (cached, cached, uncached)
    ]
    await cached.close()
    await uncached.close()

    assert written is not None and read is not None and plain is not None
    assert written.input_tokens == read.input_tokens == plain.input_tokens > 0


async def test_rate_limit_raises_rate_limit_error_without_retrying(
    fake: FakeAnthropicServer, llm: LLM
) -> None:
    fake.fail_next(429)

    with pytest.raises(RateLimitError) as caught:
        await collect(llm, conversation("Hi."))

    assert caught.value.code == ErrorCode.RATE_LIMIT
    assert "retry after 1 s" in caught.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [500, 529])
async def test_server_errors_raise_connection_error(
    fake: FakeAnthropicServer, llm: LLM, status: int
) -> None:
    fake.fail_next(status)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hi."))

    assert not isinstance(caught.value, RateLimitError)
    assert f"HTTP {status}" in caught.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("status", "error"), [(529, PatterConnectionError), (429, RateLimitError)])
async def test_error_event_in_the_middle_of_the_stream(
    fake: FakeAnthropicServer, llm: LLM, status: int, error: type[Exception]
) -> None:
    fake.fail_next(status, after_events=4)
    received: list[str] = []

    with pytest.raises(error):
        async with asyncio.timeout(10):
            async for chunk in llm.stream(conversation("Hi."), ()):
                received.append(chunk.text)

    assert received and "".join(received) != GREETING


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_raise_authentication_error(
    fake: FakeAnthropicServer, status: int
) -> None:
    key = "sk-ant-CANARY-wrong-key-42"
    if status == 403:
        fake.fail_next(403)
        key = KEY
    llm = LLM(api_key=key, base_url=fake.base_url)

    with pytest.raises(AuthenticationError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert key not in str(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert fake.requests[0].status == status


async def test_stall_beyond_timeout_raises_timeout(fake: FakeAnthropicServer) -> None:
    llm = LLM(api_key=KEY, base_url=fake.base_url, timeout=0.3)
    fake.stall_next(5)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert caught.value.code == ErrorCode.TIMEOUT
    async with asyncio.timeout(5):
        await fake.requests[0].ended()
    assert fake.requests[0].disconnected


@pytest.mark.parametrize("how", ["cancel the task", "close the iterator"])
async def test_stopping_the_consumer_closes_the_http_stream(how: str) -> None:
    async with FakeAnthropicServer(SCENARIO, chunk_delay=0.05) as fake:
        llm = LLM(api_key=KEY, base_url=fake.base_url)
        first_text = asyncio.Event()

        async def consume() -> None:
            stream = llm.stream(conversation("Hi."), ())
            async for chunk in stream:
                if chunk.type == "text":
                    first_text.set()
                    if how == "close the iterator":
                        break
            await stream.aclose()  # type: ignore[attr-defined]

        async with asyncio.timeout(10):
            task = asyncio.create_task(consume())
            await first_text.wait()
            if how == "cancel the task":
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await fake.requests[0].ended()
        await llm.close()

        request = fake.requests[0]
        assert request.disconnected and not request.completed
        assert request.text_sent and request.text_sent != GREETING


async def test_one_provider_serves_concurrent_and_sequential_streams() -> None:
    async with FakeAnthropicServer(SCENARIO, chunk_delay=0.01) as fake:
        llm = LLM(api_key=KEY, base_url=fake.base_url)
        greeting = conversation("Hi.")
        weather = conversation("Hi.", "Weather in Rome?")

        first, second = await asyncio.gather(
            collect(llm, greeting), collect(llm, weather, [WEATHER_TOOL])
        )
        again = await collect(llm, greeting)
        await llm.close()
        after_close = await collect(llm, greeting)
        await llm.close()

    assert "".join(texts(first)) == GREETING
    assert texts(second) == [] and [c.type for c in second] == ["tool_call", "done"]
    assert "".join(texts(again)) == GREETING == "".join(texts(after_close))
    assert len(fake.requests) == 4


def test_missing_key_names_the_provider_the_argument_and_the_env_var(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    with pytest.raises(ValueError) as caught:
        LLM()

    assert isinstance(caught.value, ConfigError)
    for part in ("Anthropic", "api_key=", "ANTHROPIC_API_KEY"):
        assert part in str(caught.value)


async def test_key_from_the_environment(
    fake: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    llm = LLM(base_url=fake.base_url)

    await collect(llm, conversation("Hi."))
    await llm.close()

    assert fake.requests[0].api_key == KEY


@pytest.mark.parametrize(
    "options",
    [
        {"max_tokens": 0},
        {"max_tokens": "1024"},
        {"prompt_caching": "yes"},
        {"model": ""},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LLM(api_key=KEY, **options)


def test_without_the_anthropic_package_the_import_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    monkeypatch.delitem(sys.modules, "getpatter.llm.anthropic")

    with pytest.raises(ImportError, match=r'pip install "getpatter\[anthropic\]"'):
        importlib.import_module("getpatter.llm.anthropic")
