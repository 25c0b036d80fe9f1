"""Anthropic Messages as a pipeline LLM: streamed text and tool calls (spec LLM-1, LLM-5).

The adapter drives the official ``anthropic`` SDK (``AsyncAnthropic.messages.create`` with
``stream=True``) and reads its raw events: ``text_delta``\\ s go out as text; a ``tool_use``
block collects its ``input_json_delta`` fragments and goes out whole at its
``content_block_stop``; ``message_start`` and ``message_delta`` carry the usage.

Needs the ``anthropic`` extra: ``pip install "getpatter[anthropic]"``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

try:
    import anthropic
    from anthropic.types import (
        InputJSONDelta,
        RawContentBlockDeltaEvent,
        RawContentBlockStartEvent,
        RawContentBlockStopEvent,
        RawMessageDeltaEvent,
        RawMessageStartEvent,
        TextBlock,
        TextDelta,
        ToolUseBlock,
    )
except ImportError as exc:
    raise ImportError(
        'AnthropicLLM needs the anthropic package: pip install "getpatter[anthropic]"'
    ) from exc

from getpatter._env import env_secret
from getpatter._loop_bound import LoopBoundClient
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.errors import ConfigError, ErrorCode, InputValidationError, PatterError
from getpatter.llm._tools import tool_specs
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMUsage
from getpatter.llm.chat_context import ChatContext, ToolCall
from getpatter.providers.errors import (
    body_message,
    connection_error,
    status_error,
)
from getpatter.providers.transport import TIMEOUT_ERRORS, TRANSPORT_ERRORS

__all__ = ["LLM", "AnthropicLLM"]

_EPHEMERAL = {"type": "ephemeral"}
# Anthropic counts cached input apart; together they are the whole input.
_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

# The HTTP status each error type stands for, for errors reported inside a 200 stream.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class LLM:
    """A Claude model (default ``claude-haiku-4-5-20251001``) for pipeline mode.

    ``api_key`` falls back to ``ANTHROPIC_API_KEY``; a missing key raises
    :class:`ConfigError`. Every request sends ``max_tokens`` (the API requires it). With
    ``prompt_caching`` the system prompt and the last tool carry
    ``cache_control: {"type": "ephemeral"}``, so later turns of a call reuse the cached prefix;
    ``False`` sends no cache markers. ``base_url`` points at another endpoint (default: the
    SDK's, which honours ``ANTHROPIC_BASE_URL``). There is no ``temperature``: the current API
    version (``2026-10-21``, sent by the ``anthropic`` SDK 2.x) refuses sampling parameters.

    ``timeout`` bounds the connection and every wait for the next piece of the stream.
    ``max_retries`` is 0: the pipeline decides what a failure means instead of the SDK
    silently retrying while the caller waits.

    One instance serves every call, sequentially and concurrently: it shares one HTTP client
    (created on first use, closed by :meth:`close`); each :meth:`stream` keeps its own state.
    Usage reports ``input_tokens`` as every input token, cached or not.
    """

    name: ClassVar[str] = "anthropic_llm"
    """The provider's key in the price table."""
    provider: ClassVar[str] = "Anthropic"
    """The provider's name in error messages."""
    api_key_env: ClassVar[str] = "ANTHROPIC_API_KEY"
    """The environment variable read when no ``api_key`` is given."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "claude-haiku-4-5-20251001",
        max_tokens: int = 1024,
        prompt_caching: bool = True,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
    ) -> None:
        key = env_secret(require_str("api_key", api_key or ""), self.api_key_env)
        if not key:
            raise ConfigError(
                f"{self.provider} LLM needs an API key: pass api_key=... or set {self.api_key_env}"
            )
        self._api_key = key
        self.model = require_str("model", model, allow_empty=False)
        self.max_tokens = require_int("max_tokens", max_tokens, minimum=1)
        self.prompt_caching = require_bool("prompt_caching", prompt_caching)
        if base_url is not None and not require_str("base_url", base_url).startswith(
            ("http://", "https://")
        ):
            raise InputValidationError(
                f"base_url={base_url!r} must be an http(s) URL such as 'https://api.anthropic.com'"
            )
        self.base_url = base_url
        self.timeout = require_number("timeout", timeout)
        if self.timeout <= 0:
            raise InputValidationError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.max_retries = require_int("max_retries", max_retries, minimum=0, maximum=10)
        self.capabilities = LLMCapabilities()
        self._client = LoopBoundClient(self._new_client)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    async def stream(
        self, context: ChatContext, tools: Sequence[Mapping[str, Any]] = ()
    ) -> AsyncIterator[LLMChunk]:
        """Stream the next assistant message for ``context``, offering ``tools``.

        Yields ``text`` chunks, one ``tool_call`` chunk per complete ``tool_use`` block, then
        ``done`` with the usage. Raises :class:`~getpatter.errors.RateLimitError` (HTTP 429),
        :class:`~getpatter.errors.AuthenticationError` (401/403),
        :class:`~getpatter.errors.PatterConnectionError` (5xx, overloaded, network, timeout) or
        :class:`~getpatter.errors.PatterError`. Closing the iterator early, or cancelling the
        task reading it, closes the HTTP stream.
        """
        request = self._request(context, tools)
        try:
            response = await self._client.get().messages.create(**request)
        except anthropic.APIError as exc:
            raise self._error(exc) from exc
        message = _MessageState(self.provider)
        try:
            async for event in response:
                for chunk in message.read(event):
                    yield chunk
        except anthropic.APIError as exc:
            raise self._error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            timed_out = isinstance(exc, TIMEOUT_ERRORS)
            raise connection_error(
                self.provider, timed_out=timed_out, timeout=self.timeout
            ) from exc
        finally:
            await response.close()
        yield LLMChunk(type="done", usage=message.usage())

    async def close(self) -> None:
        """Close the shared HTTP client; a later :meth:`stream` opens a new one."""
        await self._client.close()

    def _request(self, context: ChatContext, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The ``messages.create`` arguments for one turn."""
        if not isinstance(context, ChatContext):
            raise ConfigError(f"context must be a ChatContext, got {type(context).__name__}")
        system, messages = context.to_anthropic()
        cache = {"cache_control": _EPHEMERAL} if self.prompt_caching else {}
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
            "stream": True,
        }
        if system:
            request["system"] = [{"type": "text", "text": system, **cache}]
        declared = [
            {"name": spec.name, "description": spec.description, "input_schema": spec.parameters}
            for spec in tool_specs(tools)
        ]
        if declared:
            declared[-1].update(cache)
            request["tools"] = declared
        return request

    def _new_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def _error(self, exc: anthropic.APIError) -> PatterError:
        if isinstance(exc, anthropic.APIConnectionError):
            return connection_error(
                self.provider,
                timed_out=isinstance(exc, anthropic.APITimeoutError),
                timeout=self.timeout,
            )
        status = 500
        retry_after = None
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            retry_after = exc.response.headers.get("retry-after")
        if status < 400:
            # An ``event: error`` inside a stream that had started with HTTP 200.
            kind = exc.body.get("error", {}).get("type") if isinstance(exc.body, dict) else None
            status = _ERROR_STATUS.get(kind or "", 500)
            retry_after = None
        return status_error(
            self.provider,
            status,
            body_message(exc.body, exc.message),
            api_key=self._api_key,
            key_hint=f"api_key= or {self.api_key_env}",
            retry_after=retry_after,
        )


AnthropicLLM = LLM
"""Flat alias of :class:`LLM`."""


@dataclass
class _ToolUse:
    id: str
    name: str
    input: dict[str, object]
    fragments: list[str] = field(default_factory=list)


class _MessageState:
    """One streamed message: open ``tool_use`` blocks and the usage so far."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._tools: dict[int, _ToolUse] = {}
        self._usage: dict[str, int] = {}
        """The latest figure the stream reported for each of ``_INPUT_FIELDS`` and output."""

    def read(self, event: object) -> list[LLMChunk]:
        """The chunks one stream event produces (often none)."""
        if isinstance(event, RawContentBlockDeltaEvent):
            if isinstance(event.delta, TextDelta) and event.delta.text:
                return [LLMChunk(type="text", text=event.delta.text)]
            if isinstance(event.delta, InputJSONDelta) and event.index in self._tools:
                self._tools[event.index].fragments.append(event.delta.partial_json)
        elif isinstance(event, RawContentBlockStartEvent):
            block = event.content_block
            if isinstance(block, ToolUseBlock):
                self._tools[event.index] = _ToolUse(block.id, block.name, dict(block.input))
            elif isinstance(block, TextBlock) and block.text:
                return [LLMChunk(type="text", text=block.text)]
        elif isinstance(event, RawContentBlockStopEvent):
            tool = self._tools.pop(event.index, None)
            if tool is not None:
                return [LLMChunk(type="tool_call", tool_call=self._tool_call(tool))]
        elif isinstance(event, RawMessageStartEvent | RawMessageDeltaEvent):
            usage = event.message.usage if isinstance(event, RawMessageStartEvent) else event.usage
            for key in (*_INPUT_FIELDS, "output_tokens"):
                value = getattr(usage, key, None)
                if isinstance(value, int):
                    self._usage[key] = value
        return []

    def usage(self) -> LLMUsage | None:
        """Tokens used, once the stream reported them."""
        if not self._usage:
            return None
        return LLMUsage(
            input_tokens=sum(self._usage.get(key, 0) for key in _INPUT_FIELDS),
            output_tokens=self._usage.get("output_tokens", 0),
        )

    def _tool_call(self, tool: _ToolUse) -> ToolCall:
        arguments = "".join(tool.fragments) or json.dumps(tool.input)
        try:
            return ToolCall(id=tool.id, name=tool.name, arguments=arguments)
        except InputValidationError as exc:
            raise PatterError(
                f"{self._provider} sent invalid input for tool {tool.name!r}: {exc.message}",
                code=ErrorCode.PROVIDER_ERROR,
            ) from exc
