"""An LLM that falls back to the next one when a provider fails before answering (spec LLM-8).

``FallbackLLMProvider([OpenAILLM(), AnthropicLLM()])`` streams each reply from the first provider
that works. A provider that fails before its first chunk (refused key, rate limit, 5xx, network,
or no first chunk within ``first_chunk_timeout``) is skipped for this reply and, for
``cooldown`` seconds, tried last on the next ones, so calls do not keep paying for a provider
that is down. A failure after the first chunk cannot be hidden, since the caller may already
be hearing it: it raises :class:`PartialStreamError`. When every provider failed,
:class:`AllProvidersFailedError` says how each one did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from getpatter.errors import PatterError
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMProvider, LLMUsage
from getpatter.providers.fallback import (
    AllProvidersFailedError,
    FallbackOrder,
    PartialStreamError,
    check_providers,
    check_timeout,
    first_item,
)

if TYPE_CHECKING:
    from getpatter.llm.chat_context import ChatContext

__all__ = ["AllProvidersFailedError", "FallbackLLMProvider", "PartialStreamError"]


class FallbackLLMProvider:
    """Streams from the first of ``providers`` that works; see the module docstring.

    ``first_chunk_timeout`` (seconds, ``None`` for none) bounds the wait for a provider's first
    chunk before the next one is tried. Tools are offered only if every provider calls tools.
    """

    def __init__(
        self,
        providers: Sequence[LLMProvider],
        *,
        first_chunk_timeout: float | None = 5.0,
        cooldown: float = 30.0,
    ) -> None:
        providers = check_providers(
            "FallbackLLMProvider",
            providers,
            LLMProvider,
            "LLMs",
            "FallbackLLMProvider([OpenAILLM(), AnthropicLLM()])",
        )
        self.providers: tuple[LLMProvider, ...] = providers
        self.first_chunk_timeout = check_timeout("first_chunk_timeout", first_chunk_timeout)
        self._order = FallbackOrder(len(providers), cooldown)
        self.cooldown = self._order.cooldown
        self.capabilities = LLMCapabilities(
            tool_calling=all(p.capabilities.tool_calling for p in providers),
            parallel_tool_calls=all(p.capabilities.parallel_tool_calls for p in providers),
        )

    @property
    def name(self) -> str:
        """The first provider's price key; each reply's usage names the provider that gave it."""
        return self.providers[0].name

    @property
    def model(self) -> str:
        """The first provider's model."""
        return self.providers[0].model

    def stream(
        self, context: ChatContext, tools: Sequence[dict[str, Any]] = ()
    ) -> AsyncIterator[LLMChunk]:
        """Stream the reply from the first provider that answers; see the module docstring."""
        return self._stream(context, tools)

    async def _stream(
        self, context: ChatContext, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[LLMChunk]:
        errors: list[tuple[str, PatterError]] = []
        for index in self._order.order():
            provider = self.providers[index]
            chunks = provider.stream(context, tools)
            started = False
            try:
                first = await first_item(chunks, self.first_chunk_timeout, "first_chunk_timeout")
                started = True
                self._order.succeeded(index)
                yield self._own(first, provider)
                async for chunk in chunks:
                    yield self._own(chunk, provider)
                return
            except PatterError as exc:
                if started:
                    raise PartialStreamError(
                        f"{provider.name} failed mid-answer: {exc.message}"
                    ) from exc
                self._order.failed(index)
                errors.append((provider.name, exc))
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()
        raise AllProvidersFailedError(errors)

    @staticmethod
    def _own(chunk: LLMChunk, provider: LLMProvider) -> LLMChunk:
        """``chunk``; a ``done`` one's usage names ``provider`` (its tokens are priced as its)."""
        if chunk.type != "done":
            return chunk
        usage = chunk.usage or LLMUsage()
        return dataclasses.replace(chunk, usage=dataclasses.replace(usage, provider=provider.name))
