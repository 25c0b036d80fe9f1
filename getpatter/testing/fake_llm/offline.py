"""The chat LLMs in the sandbox, each pointed at the fake of its API."""

from __future__ import annotations

from typing import Any

from getpatter.llm.anthropic import AnthropicLLM
from getpatter.llm.cerebras import CerebrasLLM
from getpatter.llm.groq import GroqLLM
from getpatter.llm.openai import OpenAILLM
from getpatter.testing.fake_llm.anthropic_server import FakeAnthropicServer
from getpatter.testing.fake_llm.compatible_servers import FakeCerebrasServer, FakeGroqServer
from getpatter.testing.fake_llm.gemini_server import FakeGeminiServer
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


def _google(llm: Any, target: SandboxTarget) -> Any:
    """The same Gemini model and options, on the fake: Vertex AI with a project keeps its
    project and location and authenticates with a static token (the fake's key)."""
    from google.oauth2.credentials import Credentials

    from getpatter.llm.google import GoogleLLM

    options: dict[str, Any] = {
        "model": llm.model,
        "base_url": target.base_url,
        "temperature": llm.temperature,
        "max_output_tokens": llm.max_output_tokens,
        "thinking_budget": llm.thinking_budget,
    }
    if llm.vertexai and llm.project:
        token = Credentials(token=target.api_key)  # type: ignore[no-untyped-call]
        return GoogleLLM(
            vertexai=True, project=llm.project, location=llm.location, credentials=token, **options
        )
    return GoogleLLM(
        api_key=target.api_key, vertexai=llm.vertexai, location=llm.location, **options
    )


def _google_entries() -> tuple[OfflineProvider, ...]:
    """GoogleLLM's entry, when the ``google`` extra is installed (without it there is no
    GoogleLLM to run, and the other providers' sandbox calls must not need it)."""
    try:
        from getpatter.llm.google import GoogleLLM
    except ImportError:
        return ()
    start = lambda scenario, key: FakeGeminiServer(scenario, api_key=key)  # noqa: E731
    return (OfflineProvider(GoogleLLM, "gemini", start, _google),)


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
    *_google_entries(),
)
