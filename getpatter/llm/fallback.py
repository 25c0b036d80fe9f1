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

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from getpatter._validation import require_amount
from getpatter.errors import ConfigError, ErrorCode, PatterConnectionError, PatterError
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMProvider, LLMUsage

if TYPE_CHECKING:
    from getpatter.llm.chat_context import ChatContext

__all__ = ["AllProvidersFailedError", "FallbackLLMProvider", "PartialStreamError"]


class AllProvidersFailedError(PatterError):
    """Every provider of a :class:`FallbackLLMProvider` failed before answering.

    ``errors`` holds ``(provider name, error)`` in the order they were tried.
    """

    default_code = ErrorCode.PROVIDER_ERROR

    def __init__(self, errors: Sequence[tuple[str, PatterError]]) -> None:
        self.errors = tuple(errors)
        said = "; ".join(f"{name}: {error.message}" for name, error in self.errors)
        super().__init__(f"every LLM failed ({said})")


class PartialStreamError(PatterConnectionError):
    """A provider failed after its answer had started: what was streamed stands, the rest is
    lost (falling back then would repeat or contradict what the caller heard)."""


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
        providers = tuple(providers) if isinstance(providers, list | tuple) else ()
        if len(providers) < 2:
            raise ConfigError(
                "FallbackLLMProvider needs a list of two or more LLMs, e.g. "
                "FallbackLLMProvider([OpenAILLM(), AnthropicLLM()])"
            )
        for index, provider in enumerate(providers):
            if not isinstance(provider, LLMProvider):
                raise ConfigError(
                    f"FallbackLLMProvider providers[{index}] must be an LLM such as OpenAILLM(), "
                    f"got {type(provider).__name__}"
                )
        if first_chunk_timeout is not None and not (
            require_amount("first_chunk_timeout", first_chunk_timeout) > 0
        ):
            raise ConfigError("first_chunk_timeout must be more than 0 s, or None for no limit")
        require_amount("cooldown", cooldown)
        self.providers = providers
        self.first_chunk_timeout = first_chunk_timeout
        self.cooldown = cooldown
        self.capabilities = LLMCapabilities(
            tool_calling=all(p.capabilities.tool_calling for p in providers),
            parallel_tool_calls=all(p.capabilities.parallel_tool_calls for p in providers),
        )
        self._failed_at: dict[int, float] = {}

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
        for index in self._order():
            provider = self.providers[index]
            chunks = provider.stream(context, tools)
            started = False
            try:
                first = await self._first_chunk(chunks)
                started = True
                self._failed_at.pop(index, None)
                yield self._own(first, provider)
                async for chunk in chunks:
                    yield self._own(chunk, provider)
                return
            except PatterError as exc:
                if started:
                    raise PartialStreamError(
                        f"{provider.name} failed mid-answer: {exc.message}"
                    ) from exc
                self._failed_at[index] = time.monotonic()
                errors.append((provider.name, exc))
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()
        raise AllProvidersFailedError(errors)

    async def _first_chunk(self, chunks: AsyncIterator[LLMChunk]) -> LLMChunk:
        try:
            if self.first_chunk_timeout is None:
                return await anext(chunks)
            async with asyncio.timeout(self.first_chunk_timeout):
                return await anext(chunks)
        except StopAsyncIteration:
            raise PatterError(
                "ended its answer without a chunk", code=ErrorCode.PROVIDER_ERROR
            ) from None
        except TimeoutError:
            raise PatterConnectionError(
                f"sent nothing within first_chunk_timeout={self.first_chunk_timeout:g} s",
                code=ErrorCode.TIMEOUT,
            ) from None

    def _order(self) -> list[int]:
        """Providers in their order, those that failed within ``cooldown`` moved last."""
        now = time.monotonic()
        cooling = {i for i, at in self._failed_at.items() if now - at < self.cooldown}
        indexes = range(len(self.providers))
        return [i for i in indexes if i not in cooling] + [i for i in indexes if i in cooling]

    @staticmethod
    def _own(chunk: LLMChunk, provider: LLMProvider) -> LLMChunk:
        """``chunk``; a ``done`` one's usage names ``provider`` (its tokens are priced as its)."""
        if chunk.type != "done":
            return chunk
        usage = chunk.usage or LLMUsage()
        return dataclasses.replace(chunk, usage=dataclasses.replace(usage, provider=provider.name))
