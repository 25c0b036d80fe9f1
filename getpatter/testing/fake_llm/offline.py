"""The chat LLMs in the sandbox, each pointed at the fake of its API."""

from __future__ import annotations

from getpatter.llm.anthropic import AnthropicLLM
from getpatter.llm.openai import OpenAILLM
from getpatter.testing.fake_llm.anthropic_server import FakeAnthropicServer
from getpatter.testing.fake_llm.openai_server import FakeOpenAIServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget

__all__ = ["OFFLINE"]


def _openai(llm: OpenAILLM, target: SandboxTarget) -> OpenAILLM:
    return OpenAILLM(
        api_key=target.api_key,
        base_url=target.base_url,
        model=llm.model,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
    )


def _anthropic(llm: AnthropicLLM, target: SandboxTarget) -> AnthropicLLM:
    return AnthropicLLM(
        api_key=target.api_key,
        base_url=target.base_url,
        model=llm.model,
        max_tokens=llm.max_tokens,
        prompt_caching=llm.prompt_caching,
    )


OFFLINE = (
    OfflineProvider(
        OpenAILLM,
        "openai_chat",
        lambda scenario, key: FakeOpenAIServer(scenario, api_key=key),
        _openai,
    ),
    OfflineProvider(
        AnthropicLLM,
        "anthropic",
        lambda scenario, key: FakeAnthropicServer(scenario, api_key=key),
        _anthropic,
    ),
)
