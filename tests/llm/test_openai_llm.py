"""OpenAILLM through the official openai SDK, against the loopback chat-completions fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.llm.base import LLMChunk, LLMProvider
from getpatter.llm.chat_context import ChatContext
from getpatter.llm.openai import LLM, OpenAILLM
from getpatter.testing.fake_llm import FakeOpenAIServer
from getpatter.testing.scenario import Reply, Scenario, ToolCall

KEY = "sk-CANARY-0123456789"
PROMPT = "You are a helpful phone agent."
GREETING = "Hello there, how can I help you today?"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
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
async def fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
async def llm(fake: FakeOpenAIServer) -> AsyncIterator[LLM]:
    provider = LLM(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_provider_shape() -> None:
    llm = OpenAILLM(api_key=KEY)
    assert OpenAILLM is LLM
    assert isinstance(llm, LLMProvider)
    assert (llm.name, llm.model) == ("openai_llm", "gpt-4o-mini")
    assert llm.capabilities.tool_calling


async def test_text_streams_in_pieces_then_done_with_usage(
    fake: FakeOpenAIServer, llm: LLM
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
    assert request.model == "gpt-4o-mini"
    assert request.messages[0] == {"role": "system", "content": PROMPT}
    assert request.messages[-1] == {"role": "user", "content": "Hi, who is this?"}
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    for absent in ("tools", "temperature", "max_tokens", "max_completion_tokens"):
        assert absent not in request.body
    assert request.completed


async def test_tool_call_is_assembled_then_its_result_answered(
    fake: FakeOpenAIServer, llm: LLM
) -> None:
    context = conversation("Hi.", "What's the weather in Rome?")

    chunks = await collect(llm, context, [WEATHER_TOOL])

    calls = [c.tool_call for c in chunks if c.type == "tool_call"]
    assert len(calls) == 1 and calls[0] is not None
    call = calls[0]
    assert call.name == "get_weather"
    assert call.parsed_arguments() == {"city": "Rome", "unit": "celsius"}
    assert call.id.startswith("call_")
    assert texts(chunks) == []
    assert chunks[-1].type == "done"

    context.add_assistant("", [call])
    context.add_tool_result(call.id, call.name, "sunny, 24 °C")
    chunks = await collect(llm, context, [WEATHER_TOOL])
    assert "".join(texts(chunks)) == "It is sunny, 24 °C in Rome."

    first, second = fake.requests
    declared = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER_TOOL["description"],
                "parameters": WEATHER_TOOL["parameters"],
            },
        }
    ]
    assert first.tools == declared and second.tools == declared
    assert second.messages[-2]["tool_calls"][0]["id"] == call.id
    assert second.messages[-1] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "sunny, 24 °C",
    }


async def test_parallel_tool_calls_come_out_one_by_one(fake: FakeOpenAIServer, llm: LLM) -> None:
    fake.parallel_tool_calls(
        0, ToolCall("get_weather", {"city": "Rome"}), ToolCall("get_weather", {"city": "Oslo"})
    )

    chunks = await collect(llm, conversation("Weather in Rome and Oslo?"), [WEATHER_TOOL])

    calls = [c.tool_call for c in chunks if c.tool_call is not None]
    assert [c.parsed_arguments() for c in calls] == [{"city": "Rome"}, {"city": "Oslo"}]
    assert len({c.id for c in calls}) == 2


async def test_options_are_sent(fake: FakeOpenAIServer) -> None:
    llm = LLM(
        api_key=KEY, base_url=fake.base_url, model="gpt-4.1-mini", temperature=0.3, max_tokens=50
    )
    await collect(llm, conversation("Hi."))
    await llm.close()

    (request,) = fake.requests
    assert request.model == "gpt-4.1-mini"
    assert request.body["temperature"] == 0.3
    assert request.body["max_completion_tokens"] == 50


async def test_rate_limit_raises_rate_limit_error_without_retrying(
    fake: FakeOpenAIServer, llm: LLM
) -> None:
    fake.fail_next(429)

    with pytest.raises(RateLimitError) as caught:
        await collect(llm, conversation("Hi."))

    assert caught.value.code == ErrorCode.RATE_LIMIT
    assert "retry after 1 s" in caught.value.message
    assert len(fake.requests) == 1
    assert "".join(texts(await collect(llm, conversation("Hi.")))) == GREETING


async def test_server_error_raises_connection_error(fake: FakeOpenAIServer, llm: LLM) -> None:
    fake.fail_next(500)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hi."))

    assert not isinstance(caught.value, RateLimitError)
    assert "HTTP 500" in caught.value.message
    assert len(fake.requests) == 1


async def test_error_in_the_middle_of_the_stream(fake: FakeOpenAIServer, llm: LLM) -> None:
    fake.fail_next(500, after_events=3)
    received: list[str] = []

    with pytest.raises(PatterConnectionError):
        async with asyncio.timeout(10):
            async for chunk in llm.stream(conversation("Hi."), ()):
                received.append(chunk.text)

    assert received and "".join(received) != GREETING


async def test_wrong_key_raises_authentication_error_without_the_key(
    fake: FakeOpenAIServer,
) -> None:
    llm = LLM(api_key="sk-CANARY-wrong-key-42", base_url=fake.base_url)

    with pytest.raises(AuthenticationError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert "sk-CANARY-wrong-key-42" not in str(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value)
    assert fake.requests[0].status == 401


async def test_stall_beyond_timeout_raises_timeout(fake: FakeOpenAIServer) -> None:
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
    async with FakeOpenAIServer(SCENARIO, chunk_delay=0.05) as fake:
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
    async with FakeOpenAIServer(SCENARIO, chunk_delay=0.01) as fake:
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
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(ValueError) as caught:
        LLM()

    assert isinstance(caught.value, ConfigError)
    for part in ("OpenAI", "api_key=", "OPENAI_API_KEY"):
        assert part in str(caught.value)


async def test_key_from_the_environment(
    fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    llm = LLM(base_url=fake.base_url)

    await collect(llm, conversation("Hi."))
    await llm.close()

    assert fake.requests[0].api_key == KEY


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"model": ""}, ConfigError),
        ({"temperature": "warm"}, ConfigError),
        ({"temperature": 2.5}, ConfigError),
        ({"max_tokens": 0}, ConfigError),
        ({"timeout": 0}, InputValidationError),
        ({"max_retries": -1}, ConfigError),
        ({"base_url": "api.openai.com"}, InputValidationError),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        LLM(api_key=KEY, **options)


async def test_bad_context_or_tools_are_refused(llm: LLM) -> None:
    with pytest.raises(ConfigError, match="ChatContext"):
        await collect(llm, "Hi.")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        await collect(llm, conversation("Hi."), [{"description": "no name"}])
