"""What the pipeline needs from a language model: one streaming call per turn, with tools.

Every adapter turns its provider's stream into :class:`LLMChunk`\\ s (spec LLM-1): ``text``
deltas, complete ``tool_call``\\ s, and one ``done`` with the usage. The conversation comes in as
a :class:`~getpatter.llm.chat_context.ChatContext`, which renders itself in each
provider's shape; tools are declared once, as ``name``/``description``/``parameters`` dicts.
A provider object serves every call of an agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from getpatter.llm.chat_context import ChatContext, ToolCall

__all__ = ["LLMCapabilities", "LLMChunk", "LLMProvider", "LLMUsage"]


@dataclass(frozen=True)
class LLMUsage:
    """Tokens one response used, for cost."""

    input_tokens: int = 0
    output_tokens: int = 0
    provider: str = ""
    """The price key of the provider that answered, when it is not the LLM's own ``name``
    (a :class:`~getpatter.llm.fallback.FallbackLLMProvider` that switched)."""


@dataclass(frozen=True)
class LLMChunk:
    """One piece of a streamed response (spec LLM-1).

    ``type="text"`` carries ``text``; ``type="tool_call"`` a complete ``tool_call`` (its
    arguments fully streamed); ``type="done"`` ends the response, with ``usage`` when known.
    """

    type: Literal["text", "tool_call", "done"]
    text: str = ""
    tool_call: ToolCall | None = None
    usage: LLMUsage | None = None


@dataclass(frozen=True)
class LLMCapabilities:
    """``tool_calling``: the model can call tools. ``parallel_tool_calls``: several per turn."""

    tool_calling: bool = True
    parallel_tool_calls: bool = True


@runtime_checkable
class LLMProvider(Protocol):
    """A chat model; see the module docstring."""

    @property
    def name(self) -> str:
        """The provider's key in the price table (``"openai_llm"``, ``"anthropic_llm"``)."""
        ...

    @property
    def model(self) -> str:
        """The model every request uses."""
        ...

    @property
    def capabilities(self) -> LLMCapabilities:
        """What the model can do."""
        ...

    def stream(
        self, context: ChatContext, tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[LLMChunk]:
        """Stream the next assistant message for ``context``.

        Raises :class:`~getpatter.errors.RateLimitError` (HTTP 429),
        :class:`~getpatter.errors.AuthenticationError` or another
        :class:`~getpatter.errors.PatterError` when the provider fails; cancelling the iteration
        stops the request.
        """
        ...
