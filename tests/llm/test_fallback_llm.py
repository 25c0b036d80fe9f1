"""FallbackLLMProvider: the real OpenAI and Anthropic clients against their loopback fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from getpatter import AllProvidersFailedError, FallbackLLMProvider, PartialStreamError
from getpatter.errors import ConfigError, ErrorCode, RateLimitError
from getpatter.llm.anthropic import AnthropicLLM
from getpatter.llm.base import LLMChunk
from getpatter.llm.chat_context import ChatContext
from getpatter.llm.openai import OpenAILLM
from getpatter.testing.fake_llm import FakeAnthropicServer, FakeOpenAIServer
from getpatter.testing.scenario import Reply, Scenario

OPENAI_KEY = "sk-CANARY-fallback-openai"
ANTHROPIC_KEY = "sk-ant-CANARY-fallback"
SCENARIO = Scenario(replies=(Reply("We open at nine on Saturdays."),) * 4)


def question() -> ChatContext:
    context = ChatContext("You are the receptionist.")
    context.add_user("When do you open on Saturday?")
    return context


async def answer(llm: FallbackLLMProvider) -> list[LLMChunk]:
    async with asyncio.timeout(20):
        return [chunk async for chunk in llm.stream(question())]


@pytest.fixture
async def pair() -> AsyncIterator[
    tuple[FakeOpenAIServer, FakeAnthropicServer, FallbackLLMProvider]
]:
    async with (
        FakeOpenAIServer(SCENARIO, api_key=OPENAI_KEY) as openai_fake,
        FakeAnthropicServer(SCENARIO, api_key=ANTHROPIC_KEY) as anthropic_fake,
    ):
        primary = OpenAILLM(api_key=OPENAI_KEY, base_url=openai_fake.base_url)
        backup = AnthropicLLM(api_key=ANTHROPIC_KEY, base_url=anthropic_fake.base_url)
        yield openai_fake, anthropic_fake, FallbackLLMProvider([primary, backup], cooldown=60)
        await primary.close()
        await backup.close()


async def test_a_provider_failing_before_its_answer_hands_the_reply_to_the_next(pair) -> None:
    openai_fake, anthropic_fake, llm = pair
    openai_fake.fail_next(429)
    chunks = await answer(llm)
    assert "".join(c.text for c in chunks if c.type == "text") == "We open at nine on Saturdays."
    done = chunks[-1]
    assert done.type == "done" and done.usage is not None
    assert done.usage.provider == "anthropic_llm"  # priced as the provider that answered
    assert len(openai_fake.requests) == 1 and len(anthropic_fake.requests) == 1
    # While it cools down the failed provider is tried last: the next reply skips it.
    await answer(llm)
    assert len(openai_fake.requests) == 1 and len(anthropic_fake.requests) == 2


async def test_a_failure_after_the_first_chunk_is_a_partial_stream_error(pair) -> None:
    openai_fake, anthropic_fake, llm = pair
    openai_fake.fail_next(500, after_events=2)
    heard: list[str] = []
    with pytest.raises(PartialStreamError, match="openai_llm failed mid-answer"):
        async with asyncio.timeout(20):
            async for chunk in llm.stream(question()):
                heard.append(chunk.text)
    assert heard and not anthropic_fake.requests  # no second answer after the first began


async def test_when_every_provider_fails_each_failure_is_reported(pair) -> None:
    openai_fake, anthropic_fake, llm = pair
    openai_fake.fail_next(429)
    anthropic_fake.fail_next(401)
    with pytest.raises(AllProvidersFailedError) as raised:
        await answer(llm)
    assert [name for name, _ in raised.value.errors] == ["openai_llm", "anthropic_llm"]
    assert isinstance(raised.value.errors[0][1], RateLimitError)
    assert raised.value.errors[1][1].code is ErrorCode.AUTH
    assert OPENAI_KEY not in raised.value.message and ANTHROPIC_KEY not in raised.value.message


async def test_a_provider_silent_past_the_first_chunk_timeout_is_skipped() -> None:
    async with (
        FakeOpenAIServer(SCENARIO, api_key=OPENAI_KEY) as openai_fake,
        FakeAnthropicServer(SCENARIO, api_key=ANTHROPIC_KEY) as anthropic_fake,
    ):
        openai_fake.stall_next(10)
        primary = OpenAILLM(api_key=OPENAI_KEY, base_url=openai_fake.base_url)
        backup = AnthropicLLM(api_key=ANTHROPIC_KEY, base_url=anthropic_fake.base_url)
        llm = FallbackLLMProvider([primary, backup], first_chunk_timeout=2.0)
        chunks = await answer(llm)
        assert chunks[-1].usage is not None and chunks[-1].usage.provider == "anthropic_llm"
        await primary.close()
        await backup.close()


def test_it_needs_two_or_more_llms_and_sane_limits() -> None:
    one = OpenAILLM(api_key=OPENAI_KEY)
    with pytest.raises(ConfigError, match="two or more LLMs"):
        FallbackLLMProvider([one])
    with pytest.raises(ConfigError, match=r"providers\[1\] must be one of the LLMs"):
        FallbackLLMProvider([one, "gpt-4o"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="first_chunk_timeout must be more than 0"):
        FallbackLLMProvider([one, one], first_chunk_timeout=0)
    llm = FallbackLLMProvider([one, AnthropicLLM(api_key=ANTHROPIC_KEY)])
    assert (llm.name, llm.model, llm.capabilities.tool_calling) == ("openai_llm", one.model, True)
