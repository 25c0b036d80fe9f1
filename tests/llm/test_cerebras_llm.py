"""What CerebrasLLM adds to the OpenAI adapter (spec LLM-6): compressed request bodies,
forwarded options, one retry before the answer starts, and a hint for unknown models."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import pytest

from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.llm.cerebras import LLM, SUGGESTED_MODELS, rate_limit_wait
from getpatter.llm.chat_context import ChatContext
from getpatter.testing.fake_llm import FakeCerebrasServer
from getpatter.testing.scenario import Reply, Scenario

KEY = "csk-CANARY-0123456789"
GREETING = "Hello there, how can I help you today?"
SCENARIO = Scenario(replies=(Reply(GREETING),))
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def context(line: str = "Hi, who is this?") -> ChatContext:
    chat = ChatContext("You are a helpful phone agent. " * 20)
    chat.add_user(line)
    return chat


async def text_of(llm: LLM, chat: ChatContext | None = None, tools: Any = ()) -> str:
    async with asyncio.timeout(10):
        chunks = [c async for c in llm.stream(chat or context(), tools)]
    assert chunks[-1].type == "done"
    return "".join(c.text for c in chunks if c.type == "text")


class Sleeps:
    """An injected ``asyncio.sleep`` that records what the retry asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCerebrasServer]:
    async with FakeCerebrasServer(SCENARIO, api_key=KEY, rate_limit_reset=0.01) as server:
        yield server


def make(fake: FakeCerebrasServer, **options: Any) -> tuple[LLM, Sleeps]:
    llm = LLM(api_key=KEY, base_url=fake.base_url, **options)
    sleeps = Sleeps()
    llm._sleep = sleeps
    return llm, sleeps


@pytest.mark.parametrize(
    ("gzip_compression", "msgpack_encoding", "content_type", "content_encoding"),
    [
        (True, True, "application/vnd.msgpack", "gzip"),
        (True, False, "application/json", "gzip"),
        (False, True, "application/vnd.msgpack", None),
    ],
)
async def test_compressed_bodies_arrive_encoded_and_decode_to_the_json_body(
    fake: FakeCerebrasServer,
    gzip_compression: bool,
    msgpack_encoding: bool,
    content_type: str,
    content_encoding: str | None,
) -> None:
    encoded, _ = make(fake, gzip_compression=gzip_compression, msgpack_encoding=msgpack_encoding)
    plain, _ = make(fake, gzip_compression=False, msgpack_encoding=False)

    assert await text_of(encoded, tools=[TOOL]) == GREETING
    assert await text_of(plain, tools=[TOOL]) == GREETING
    await encoded.close()
    await plain.close()

    sent, reference = fake.requests
    assert sent.headers["content-type"] == content_type
    assert sent.headers.get("content-encoding") == content_encoding
    assert reference.headers["content-type"] == "application/json"
    assert "content-encoding" not in reference.headers
    assert sent.body == reference.body
    assert sent.tools and sent.messages[-1] == {"role": "user", "content": "Hi, who is this?"}
    if content_encoding == "gzip":
        assert int(sent.headers["content-length"]) < int(reference.headers["content-length"])


def test_defaults_compress_and_encode() -> None:
    llm = LLM(api_key=KEY)
    assert llm.gzip_compression and llm.msgpack_encoding
    assert llm.options == {}
    assert llm.capabilities.tool_calling and not llm.capabilities.parallel_tool_calls


def test_msgpack_without_the_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "msgpack" else find_spec(name, *args),
    )

    with pytest.raises(ConfigError) as caught:
        LLM(api_key=KEY)

    assert "pip install getpatter[cerebras]" in str(caught.value)
    assert "msgpack_encoding=False" in str(caught.value)
    assert not LLM(api_key=KEY, msgpack_encoding=False).msgpack_encoding


async def test_options_are_forwarded(fake: FakeCerebrasServer) -> None:
    options: dict[str, Any] = {
        "response_format": {"type": "json_object"},
        "parallel_tool_calls": True,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "seed": 7,
        "top_p": 0.9,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "stop": ["\n\n", "END"],
    }
    llm, _ = make(fake, temperature=0.2, max_tokens=64, **options)

    await text_of(llm, tools=[TOOL])
    await llm.close()

    body = fake.requests[0].body
    assert {name: body[name] for name in options} == options
    assert (body["temperature"], body["max_completion_tokens"]) == (0.2, 64)
    assert llm.capabilities.parallel_tool_calls


async def test_no_option_is_sent_unless_given(fake: FakeCerebrasServer) -> None:
    llm, _ = make(fake, stop="END", tool_choice="none")

    await text_of(llm)
    await llm.close()

    body = fake.requests[0].body
    assert (body["stop"], body["tool_choice"]) == ("END", "none")
    for absent in ("response_format", "parallel_tool_calls", "seed", "top_p", "frequency_penalty"):
        assert absent not in body


@pytest.mark.parametrize(
    "options",
    [
        {"response_format": {"type": "xml"}},
        {"response_format": "json"},
        {"response_format": {"type": "json_schema"}},
        {"parallel_tool_calls": "yes"},
        {"tool_choice": "any"},
        {"tool_choice": {"type": "function", "function": {}}},
        {"seed": 1.5},
        {"top_p": 1.5},
        {"frequency_penalty": 3},
        {"presence_penalty": -2.5},
        {"stop": ""},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"stop": []},
        {"stop": [1]},
        {"temperature": 1.8},
        {"gzip_compression": "yes"},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LLM(api_key=KEY, **options)


async def test_rate_limit_is_retried_once_after_the_reset_hint(fake: FakeCerebrasServer) -> None:
    llm, sleeps = make(fake)
    fake.fail_next(429)

    assert await text_of(llm) == GREETING
    await llm.close()

    assert sleeps.delays == [0.01]
    assert [r.status for r in fake.requests] == [429, 200]
    assert fake.requests[0].body == fake.requests[1].body


async def test_server_error_is_retried_once_with_backoff(fake: FakeCerebrasServer) -> None:
    llm, sleeps = make(fake)
    fake.fail_next(503)

    assert await text_of(llm) == GREETING
    await llm.close()

    assert sleeps.delays == [LLM.retry_base_delay]
    assert len(fake.requests) == 2


async def test_a_second_failure_is_terminal(fake: FakeCerebrasServer) -> None:
    llm, sleeps = make(fake)
    fake.fail_next(429, times=2)

    with pytest.raises(RateLimitError) as caught:
        await text_of(llm)
    await llm.close()

    assert isinstance(caught.value, PatterError) and caught.value.code == ErrorCode.RATE_LIMIT
    assert "retry after 0.01 s" in caught.value.message
    assert sleeps.delays == [0.01] and len(fake.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_refusals_are_not_retried(fake: FakeCerebrasServer, status: int) -> None:
    llm, sleeps = make(fake)
    fake.fail_next(status)

    with pytest.raises(PatterError) as caught:
        await text_of(llm)
    await llm.close()

    assert sleeps.delays == [] and len(fake.requests) == 1
    assert isinstance(caught.value, AuthenticationError) is (status in (401, 403))


async def test_unknown_model_suggests_valid_ids(fake: FakeCerebrasServer) -> None:
    llm, _ = make(fake, model="llama3.3-70b")
    fake.fail_next(404)

    with pytest.raises(PatterError) as caught:
        await text_of(llm)
    await llm.close()

    message = caught.value.message
    assert caught.value.code == ErrorCode.PROVIDER_ERROR
    assert "HTTP 404" in message and "'llama3.3-70b'" in message and "model=" in message
    for model in ("llama3.1-8b", "qwen-3-235b-a22b-instruct-2507", "llama-3.3-70b"):
        assert model in SUGGESTED_MODELS and repr(model) in message


async def test_a_refused_connection_is_retried_once() -> None:
    async with FakeCerebrasServer(SCENARIO, api_key=KEY) as gone:
        url = gone.base_url
    llm = LLM(api_key=KEY, base_url=url)
    sleeps = Sleeps()
    llm._sleep = sleeps

    with pytest.raises(PatterConnectionError) as caught:
        await text_of(llm)
    await llm.close()

    assert caught.value.code == ErrorCode.CONNECTION
    assert sleeps.delays == [LLM.retry_base_delay]


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        (
            {
                "x-ratelimit-reset-requests-day": "33011.38",
                "x-ratelimit-remaining-requests-day": "10",
                "x-ratelimit-reset-tokens-minute": "11.5",
                "x-ratelimit-remaining-tokens-minute": "0",
            },
            11.5,
        ),
        (
            {
                "x-ratelimit-reset-requests-day": "33011.38",
                "x-ratelimit-remaining-requests-day": "0",
                "x-ratelimit-reset-tokens-minute": "11.5",
                "x-ratelimit-remaining-tokens-minute": "0",
            },
            33011.38,
        ),
        ({"x-ratelimit-reset-requests-day": "30", "x-ratelimit-reset-tokens-minute": "4"}, 4.0),
        ({"X-RateLimit-Reset-Tokens": "1m2.5s", "x-ratelimit-remaining-tokens": "0"}, 62.5),
        ({"x-ratelimit-reset-tokens": "250ms", "retry-after": "1"}, 1.0),
        ({"x-ratelimit-reset-tokens": "soon"}, None),
        ({"x-ratelimit-reset-tokens": "-1"}, None),
    ],
)
def test_rate_limit_wait_reads_the_hints(headers: dict[str, str], wait: float | None) -> None:
    assert rate_limit_wait(headers) == (None if wait is None else pytest.approx(wait))
