"""The chat LLMs in the sandbox, each pointed at the fake of its API."""

from __future__ import annotations

from getpatter.llm.anthropic import AnthropicLLM
from getpatter.llm.cerebras import CerebrasLLM
from getpatter.llm.groq import GroqLLM
from getpatter.llm.openai import OpenAILLM
from getpatter.testing.fake_llm.anthropic_server import FakeAnthropicServer
from getpatter.testing.fake_llm.compatible_servers import FakeCerebrasServer, FakeGroqServer
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


def _groq(llm: GroqLLM, target: SandboxTarget) -> GroqLLM:
    return GroqLLM(
        api_key=target.api_key,
        base_url=target.base_url,
        model=llm.model,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        timeout=llm.timeout,
    )


def _cerebras(llm: CerebrasLLM, target: SandboxTarget) -> CerebrasLLM:
    # The fake decodes gzip and msgpack bodies, so the call sends them as the real one would.
    return CerebrasLLM(
        api_key=target.api_key,
        base_url=target.base_url,
        model=llm.model,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        timeout=llm.timeout,
        gzip_compression=llm.gzip_compression,
        msgpack_encoding=llm.msgpack_encoding,
        **llm.options,
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
    OfflineProvider(
        GroqLLM,
        "groq",
        lambda scenario, key: FakeGroqServer(scenario, api_key=key),
        _groq,
    ),
    OfflineProvider(
        CerebrasLLM,
        "cerebras",
        lambda scenario, key: FakeCerebrasServer(scenario, api_key=key),
        _cerebras,
    ),
)
