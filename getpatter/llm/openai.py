"""OpenAI chat completions as a pipeline LLM: streamed text and tool calls (spec LLM-1).

The adapter drives the official ``openai`` SDK (``AsyncOpenAI.chat.completions.create`` with
``stream=True``). Text deltas go out as they arrive; a tool call streams as argument fragments
under one ``index`` and goes out whole, once the next call starts or the stream ends. The last
chunk of the stream carries the usage (``stream_options={"include_usage": True}``).

OpenAI-compatible APIs (Groq, Cerebras, a local server) work through ``base_url``; subclasses
for them set :attr:`LLM.default_base_url` and the key's environment variable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from getpatter._env import env_secret
from getpatter._loop_bound import LoopBoundClient
from getpatter._validation import require_int, require_number, require_str
from getpatter.errors import ConfigError, ErrorCode, InputValidationError, PatterError
from getpatter.llm._tools import tool_specs
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMUsage
from getpatter.llm.chat_context import ChatContext, ToolCall
from getpatter.providers.errors import (
    body_message,
    connection_error,
    status_error,
    stream_error,
)
from getpatter.providers.transport import TIMEOUT_ERRORS, TRANSPORT_ERRORS

__all__ = ["LLM", "OpenAILLM"]


class LLM:
    """A chat-completions model (default ``gpt-4o-mini``) for pipeline mode.

    ``api_key`` falls back to ``OPENAI_API_KEY``; a missing key raises :class:`ConfigError`.
    ``base_url`` points at another endpoint (default: the SDK's, which honours
    ``OPENAI_BASE_URL``). ``temperature`` and ``max_tokens`` (sent as
    ``max_completion_tokens``) are left to the model when ``None``.

    ``timeout`` bounds the connection and every wait for the next piece of the stream.
    ``max_retries`` is 0: the pipeline decides what a failure means (a fallback provider, a
    spoken apology) instead of the SDK silently retrying while the caller waits.

    One instance serves every call, sequentially and concurrently: it shares one HTTP client
    (created on first use, closed by :meth:`close`); each :meth:`stream` keeps its own state.
    """

    name: ClassVar[str] = "openai_llm"
    """The provider's key in the price table."""
    provider: ClassVar[str] = "OpenAI"
    """The provider's name in error messages."""
    api_key_env: ClassVar[str] = "OPENAI_API_KEY"
    """The environment variable read when no ``api_key`` is given."""
    default_base_url: ClassVar[str | None] = None
    """The endpoint when ``base_url`` is not given; ``None`` lets the SDK choose."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
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
        if base_url is not None and not require_str("base_url", base_url).startswith(
            ("http://", "https://")
        ):
            raise InputValidationError(
                f"base_url={base_url!r} must be an http(s) URL such as 'https://api.openai.com/v1'"
            )
        self.base_url = base_url if base_url is not None else self.default_base_url
        self.temperature = None if temperature is None else _temperature(temperature, 2.0)
        self.max_tokens = (
            None if max_tokens is None else require_int("max_tokens", max_tokens, minimum=1)
        )
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

        Yields ``text`` chunks, one ``tool_call`` chunk per complete call, then ``done`` with
        the usage. Raises :class:`~getpatter.errors.RateLimitError` (HTTP 429),
        :class:`~getpatter.errors.AuthenticationError` (401/403),
        :class:`~getpatter.errors.PatterConnectionError` (5xx, network, timeout) or
        :class:`~getpatter.errors.PatterError`. Closing the iterator early, or cancelling the
        task reading it, closes the HTTP stream.
        """
        request = self._request(context, tools)
        try:
            response = await self._open(request)
        except openai.APIError as exc:
            raise self._error(exc) from exc
        calls = _ToolCallAssembler(self.provider)
        usage: LLMUsage | None = None
        try:
            async for chunk in response:
                if chunk.usage is not None:
                    usage = LLMUsage(
                        input_tokens=chunk.usage.prompt_tokens,
                        output_tokens=chunk.usage.completion_tokens,
                    )
                for choice in chunk.choices:
                    for part in choice.delta.tool_calls or ():
                        finished = calls.add(part)
                        if finished is not None:
                            yield LLMChunk(type="tool_call", tool_call=finished)
                    if choice.delta.content:
                        yield LLMChunk(type="text", text=choice.delta.content)
        except openai.APIError as exc:
            raise self._error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            timed_out = isinstance(exc, TIMEOUT_ERRORS)
            raise connection_error(
                self.provider, timed_out=timed_out, timeout=self.timeout
            ) from exc
        finally:
            await response.close()
        last = calls.finish()
        if last is not None:
            yield LLMChunk(type="tool_call", tool_call=last)
        yield LLMChunk(type="done", usage=usage)

    async def close(self) -> None:
        """Close the shared HTTP client; a later :meth:`stream` opens a new one."""
        await self._client.close()

    def _request(self, context: ChatContext, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The ``chat.completions.create`` arguments for one turn."""
        if not isinstance(context, ChatContext):
            raise ConfigError(f"context must be a ChatContext, got {type(context).__name__}")
        request: dict[str, Any] = {
            "model": self.model,
            "messages": context.to_openai(),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        specs = tool_specs(tools)
        if specs:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": spec.name,
                        "description": spec.description,
                        "parameters": spec.parameters,
                    },
                }
                for spec in specs
            ]
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            request["max_completion_tokens"] = self.max_tokens
        request.update(self._request_extras())
        return request

    # Hooks for OpenAI-compatible subclasses (Groq, Cerebras); the defaults change nothing.

    def _request_extras(self) -> dict[str, Any]:
        """Fields added to every request body (a subclass's provider-specific options)."""
        return {}

    def _client_options(self) -> dict[str, Any]:
        """Extra keyword arguments for ``openai.AsyncOpenAI`` (e.g. an ``http_client``)."""
        return {}

    async def _open(self, request: dict[str, Any]) -> openai.AsyncStream[ChatCompletionChunk]:
        """Send ``request`` and return the open stream; raises the SDK's errors unmapped."""
        stream: openai.AsyncStream[ChatCompletionChunk]
        stream = await self._client.get().chat.completions.create(**request)
        return stream

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            **self._client_options(),
        )

    def _error(self, exc: openai.APIError) -> PatterError:
        if isinstance(exc, openai.APIStatusError):
            return status_error(
                self.provider,
                exc.status_code,
                body_message(exc.body, exc.message),
                api_key=self._api_key,
                key_hint=f"api_key= or {self.api_key_env}",
                retry_after=exc.response.headers.get("retry-after"),
            )
        if isinstance(exc, openai.APIConnectionError):
            return connection_error(
                self.provider,
                timed_out=isinstance(exc, openai.APITimeoutError),
                timeout=self.timeout,
            )
        return stream_error(
            self.provider, body_message(exc.body, exc.message), api_key=self._api_key
        )


OpenAILLM = LLM
"""Flat alias of :class:`LLM`."""


class _ToolCallAssembler:
    """Joins the streamed fragments of tool calls; a call is whole when the next one starts."""

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._index: int | None = None
        self._id = ""
        self._name = ""
        self._arguments: list[str] = []

    def add(self, part: ChoiceDeltaToolCall) -> ToolCall | None:
        """Take one fragment; returns the previous call when this one starts a new call."""
        finished = None
        if part.index != self._index:
            finished = self.finish()
            self._index = part.index
        if part.id:
            self._id = part.id
        if part.function is not None:
            if part.function.name:
                self._name = part.function.name
            if part.function.arguments:
                self._arguments.append(part.function.arguments)
        return finished

    def finish(self) -> ToolCall | None:
        """The call being assembled, if any, and forget it."""
        if self._index is None:
            return None
        index, call_id, name = self._index, self._id, self._name
        arguments = "".join(self._arguments)
        self._index, self._id, self._name, self._arguments = None, "", "", []
        if not name:
            raise PatterError(
                f"{self._provider} sent tool call #{index} without a function name",
                code=ErrorCode.PROVIDER_ERROR,
            )
        try:
            return ToolCall(id=call_id or f"call_{index}", name=name, arguments=arguments)
        except InputValidationError as exc:
            raise PatterError(
                f"{self._provider} sent invalid arguments for tool {name!r}: {exc.message}",
                code=ErrorCode.PROVIDER_ERROR,
            ) from exc


def _temperature(value: object, maximum: float) -> float:
    temperature = require_number("temperature", value, minimum=0)
    if temperature > maximum:
        raise ConfigError(f"temperature must be between 0 and {maximum:g}, got {value!r}")
    return temperature
