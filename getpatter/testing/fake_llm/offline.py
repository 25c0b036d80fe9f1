"""The chat LLMs in the sandbox, each pointed at the fake of its API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from getpatter.llm.cerebras import CerebrasLLM
from getpatter.llm.groq import GroqLLM
from getpatter.llm.openai import OpenAILLM
from getpatter.testing.fake_llm.anthropic_server import FakeAnthropicServer
from getpatter.testing.fake_llm.compatible_servers import FakeCerebrasServer, FakeGroqServer
from getpatter.testing.fake_llm.gemini_server import FakeGeminiServer
from getpatter.testing.fake_llm.openai_server import FakeOpenAIServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget
from getpatter.testing.scenario import Scenario

if TYPE_CHECKING:
    from getpatter.llm.anthropic import AnthropicLLM

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
    from getpatter.llm.anthropic import AnthropicLLM

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


def _anthropic_fake(scenario: Scenario, key: str) -> FakeAnthropicServer:
    return FakeAnthropicServer(scenario, api_key=key)


def _gemini_fake(scenario: Scenario, key: str) -> FakeGeminiServer:
    return FakeGeminiServer(scenario, api_key=key)


def _optional_entries() -> tuple[OfflineProvider, ...]:
    """The entries of LLMs behind an extra, for those installed: without the ``anthropic`` or
    ``google`` extra there is no such LLM to run, and the other providers' sandbox calls (and
    ``getpatter demo`` on a plain install) must not need them."""
    entries: list[OfflineProvider] = []
    try:
        from getpatter.llm.anthropic import AnthropicLLM
    except ImportError:
        pass
    else:
        entries.append(OfflineProvider(AnthropicLLM, "anthropic", _anthropic_fake, _anthropic))
    try:
        from getpatter.llm.google import GoogleLLM
    except ImportError:
        pass
    else:
        entries.append(OfflineProvider(GoogleLLM, "gemini", _gemini_fake, _google))
    return tuple(entries)


OFFLINE = (
    OfflineProvider(
        OpenAILLM,
        "openai_chat",
        lambda scenario, key: FakeOpenAIServer(scenario, api_key=key),
        _openai,
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
    *_optional_entries(),
)
