"""Loopback fakes of the OpenAI chat-completions, Anthropic Messages and Gemini streaming APIs.

:class:`FakeOpenAIServer` (with its Groq and Cerebras dialects, :class:`FakeGroqServer` and
:class:`FakeCerebrasServer`), :class:`FakeAnthropicServer` and :class:`FakeGeminiServer` speak
the real HTTP + server-sent events protocols, so the official SDKs (and Patter's LLM providers)
run against them unchanged. Each plays the model's half of a
:class:`~getpatter.testing.scenario.Scenario`, records every request as a
:class:`FakeLLMRequest`, and injects faults (error statuses, errors mid-stream, stalls).
"""

from getpatter.testing.fake_llm.anthropic_server import FakeAnthropicServer
from getpatter.testing.fake_llm.compatible_servers import FakeCerebrasServer, FakeGroqServer
from getpatter.testing.fake_llm.gemini_server import FakeGeminiServer
from getpatter.testing.fake_llm.openai_server import FakeOpenAIServer
from getpatter.testing.fake_llm.records import FakeLLMRequest

__all__ = [
    "FakeAnthropicServer",
    "FakeCerebrasServer",
    "FakeGeminiServer",
    "FakeGroqServer",
    "FakeLLMRequest",
    "FakeOpenAIServer",
]
