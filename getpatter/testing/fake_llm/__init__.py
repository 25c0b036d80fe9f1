"""Loopback fakes of the OpenAI chat-completions and Anthropic Messages streaming APIs.

:class:`FakeOpenAIServer` (with its Groq and Cerebras dialects, :class:`FakeGroqServer` and
:class:`FakeCerebrasServer`) and :class:`FakeAnthropicServer` speak the real HTTP + server-sent
events protocols, so the official SDKs (and Patter's LLM providers) run against them
unchanged. Both play the model's half of a :class:`~getpatter.testing.scenario.Scenario`,
record every request as a :class:`FakeLLMRequest`, and inject faults (error statuses, errors
mid-stream, stalls).
"""

from getpatter.testing.fake_llm.anthropic_server import FakeAnthropicServer
from getpatter.testing.fake_llm.compatible_servers import FakeCerebrasServer, FakeGroqServer
from getpatter.testing.fake_llm.openai_server import FakeOpenAIServer
from getpatter.testing.fake_llm.records import FakeLLMRequest

__all__ = [
    "FakeAnthropicServer",
    "FakeCerebrasServer",
    "FakeGroqServer",
    "FakeLLMRequest",
    "FakeOpenAIServer",
]
