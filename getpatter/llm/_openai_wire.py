"""The chat-completions wire format, read with plain ``json``: stream events, errors, retries.

What :class:`getpatter.llm.openai.LLM` needs around its one streaming POST, kept apart so the
provider class reads as the request it makes. The facts (field names, the in-stream error
object, which answers the SDK retries and how long it waits) are the official ``openai``
SDK's; the tests hold both the SDK and this reader against the same fake server.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import random
import time
from collections.abc import Mapping
from typing import Any

from getpatter.errors import ConfigError, ErrorCode, InputValidationError, PatterError
from getpatter.llm.base import LLMChunk, LLMUsage
from getpatter.llm.chat_context import ToolCall
from getpatter.providers.errors import body_message, stream_error

__all__ = ["ChunkReader", "error_detail", "retry_delay", "should_retry", "wire_request"]

_MAX_RETRY_AFTER_S = 120.0
"""A server asking for a longer wait than this is not retried (the SDK's limit)."""
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 8.0
_CLIENT_OPTIONS = ("extra_headers", "extra_query", "extra_body")


def wire_request(
    request: Mapping[str, Any],
) -> tuple[dict[str, Any], Mapping[str, str] | None, Mapping[str, str] | None]:
    """``(body, headers, query)`` of the ``chat.completions.create`` arguments ``request``.

    Everything is the JSON body except the SDK's request options: ``extra_body`` is merged into
    the body, ``extra_headers`` and ``extra_query`` are sent as they are. ``timeout`` per
    request is refused (the provider's ``timeout`` bounds every request).
    """
    if "timeout" in request:
        raise ConfigError(
            "a chat-completions request cannot carry its own timeout: set LLM(timeout=...)"
        )
    if not any(option in request for option in _CLIENT_OPTIONS):
        return dict(request), None, None
    body = {key: value for key, value in request.items() if key not in _CLIENT_OPTIONS}
    body.update(request.get("extra_body") or {})
    return body, request.get("extra_headers"), request.get("extra_query")


def error_detail(status: int, body: bytes) -> str:
    """The provider's message in an error answer's ``body``: the ``message`` of its JSON error
    object, else the first line of a plain-text body, else ``Error code: <status>`` (as the
    SDK words it)."""
    fallback = f"Error code: {status}"
    text = body.decode("utf-8", "replace").strip()
    try:
        data: object = json.loads(text)
    except ValueError:
        first = text.split("\n", 1)[0].strip()
        return first[:200] if first and not first.startswith("<") else fallback
    if isinstance(data, Mapping):
        data = data.get("error", data)
    return body_message(data, fallback)


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer of ``status`` is worth another attempt: 408, 409, 429 and 5xx, unless
    the server says otherwise (``x-should-retry``) or asks for too long a wait."""
    wait = _retry_after(headers)
    if wait is not None and wait > _MAX_RETRY_AFTER_S:
        return False
    verdict = headers.get("x-should-retry")
    if verdict in ("true", "false"):
        return verdict == "true"
    return status in (408, 409, 429) or status >= 500


def retry_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds before retry number ``attempt`` (from 1): the server's ``retry-after`` when it
    gives a sensible one, else exponential backoff from 0.5 s (at most 8 s) less up to 25%."""
    wait = _retry_after(headers) if headers is not None else None
    if wait is not None and 0 < wait <= _MAX_RETRY_AFTER_S:
        return wait
    backoff = min(_FIRST_BACKOFF_S * 2.0 ** min(attempt - 1, 32), _MAX_BACKOFF_S)
    return backoff * (1 - 0.25 * random.random())


def _retry_after(headers: Mapping[str, str]) -> float | None:
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        with contextlib.suppress(ValueError):
            return _finite(float(milliseconds) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return _finite(float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _finite(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) else None


class ChunkReader:
    """Turns one stream's events (``chat.completion.chunk`` JSON) into :class:`LLMChunk`\\ s.

    Text deltas go out as they come; a tool call streams as fragments under one ``index`` and
    goes out whole once the next call starts (:meth:`finish` gives the last). The usage
    arrives on the last chunk (``stream_options.include_usage``).
    """

    __slots__ = ("_api_key", "_calls", "_provider", "usage")

    def __init__(self, provider: str, api_key: str) -> None:
        self._provider = provider
        self._api_key = api_key
        self._calls = _ToolCallAssembler(provider)
        self.usage: LLMUsage | None = None

    def read(self, data: bytes) -> list[LLMChunk]:
        """The chunks of one event's ``data``; raises on the provider's in-stream error."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise self._unreadable(data) from None
        if not isinstance(chunk, dict):
            raise self._unreadable(data)
        error = chunk.get("error")
        if error:
            detail = error if isinstance(error, str) else ""
            detail = detail or body_message(error, "An error occurred during streaming")
            raise stream_error(self._provider, detail, api_key=self._api_key)
        out: list[LLMChunk] = []
        try:
            usage = chunk.get("usage")
            if usage:
                self.usage = LLMUsage(
                    input_tokens=int(usage.get("prompt_tokens") or 0),
                    output_tokens=int(usage.get("completion_tokens") or 0),
                )
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                for part in delta.get("tool_calls") or ():
                    finished = self._calls.add(part)
                    if finished is not None:
                        out.append(LLMChunk(type="tool_call", tool_call=finished))
                content = delta.get("content")
                if content:
                    out.append(LLMChunk(type="text", text=str(content)))
        except (AttributeError, TypeError, ValueError):
            raise self._unreadable(data) from None
        return out

    def finish(self) -> list[LLMChunk]:
        """The end of the stream: the tool call still being assembled, if any."""
        last = self._calls.finish()
        return [] if last is None else [LLMChunk(type="tool_call", tool_call=last)]

    def _unreadable(self, data: bytes) -> PatterError:
        return PatterError(
            f"{self._provider} sent a stream event that is not a chat-completion chunk: "
            f"{data[:80]!r}",
            code=ErrorCode.PROVIDER_ERROR,
        )


class _ToolCallAssembler:
    """Joins the streamed fragments of tool calls; a call is whole when the next one starts.

    Fragments name their call by ``index``; one without an index (some OpenAI-compatible
    servers) continues the current call, or starts the next when it carries a new ``id``.
    """

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._index: int | None = None
        self._id = ""
        self._name = ""
        self._arguments: list[str] = []

    def add(self, part: Mapping[str, Any]) -> ToolCall | None:
        """Take one fragment; returns the previous call when this one starts a new call."""
        index = part.get("index")
        call_id = part.get("id")
        if index is None:
            if self._index is None:
                index = 0
            elif call_id and call_id != self._id:
                index = self._index + 1
            else:
                index = self._index
        finished = None
        if index != self._index:
            finished = self.finish()
            self._index = index
        if call_id:
            self._id = str(call_id)
        function = part.get("function")
        if function:
            if function.get("name"):
                self._name = str(function["name"])
            if function.get("arguments"):
                self._arguments.append(str(function["arguments"]))
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
