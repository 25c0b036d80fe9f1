"""A loopback fake of Anthropic's streaming Messages endpoint."""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from getpatter.testing.fake_llm._server import (
    Answer,
    FakeLLMServer,
    Frame,
    argument_fragments,
    content_text,
    estimate_tokens,
    sse,
    word_chunks,
)
from getpatter.testing.fake_llm.records import FakeLLMRequest
from getpatter.testing.scenario import Scenario

__all__ = ["FakeAnthropicServer"]

# status -> (error type, the API's usual message)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_MAX_CACHE_BREAKPOINTS = 4
_NO_SAMPLING_VERSION = "2026-10-21"
"""From this API version on, temperature, top_p and top_k are refused."""


class FakeAnthropicServer(FakeLLMServer):
    """A local Anthropic Messages API for offline calls and tests.

    Use it as ``async with FakeAnthropicServer(scenario) as fake:`` and give the SDK
    ``base_url=fake.base_url`` (``http://127.0.0.1:<port>``). It serves ``POST /v1/messages``
    with ``stream: true`` and answers with Anthropic's events: ``message_start``, a ``text``
    block (``text_delta``\\ s one word each) or ``tool_use`` blocks (``input_json_delta``
    fragments), ``message_delta`` with ``stop_reason`` and usage, ``message_stop``. Requests
    need a key in ``x-api-key`` or ``Authorization: Bearer`` (recent SDKs send the latter):
    any key, or exactly ``api_key`` when given. They also need ``anthropic-version``;
    ``max_tokens`` is required and, from version ``2026-10-21``, ``temperature``/``top_p``/
    ``top_k`` are refused, as by the API. Errors carry Anthropic's JSON error body.

    Scripting is the same as :class:`~getpatter.testing.fake_llm.FakeOpenAIServer`'s (a
    caller turn is a user ``text`` block). Prompt caching is imitated: when the system prompt
    carries ``cache_control``, the first request reports the tools and system prompt as
    ``cache_creation_input_tokens`` and later requests with the same prefix as
    ``cache_read_input_tokens``.
    """

    path = "/v1/messages"
    api_root = ""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__(scenario, api_key=api_key, chunk_delay=chunk_delay)
        self._cached_prefixes: set[str] = set()

    def _key(self, request: Request) -> str:
        key = request.headers.get("x-api-key", "").strip()
        authorization = request.headers.get("authorization", "")
        if not key and authorization.startswith("Bearer "):
            key = authorization.removeprefix("Bearer ").strip()
        return key

    def _error(self, status: int, message: str = "") -> Response:
        kind, usual = _ERRORS.get(status, ("api_error", "Request failed."))
        body = {
            "type": "error",
            "error": {"type": kind, "message": message or usual},
            "request_id": f"req_{secrets.token_hex(12)}",
        }
        return JSONResponse(body, status_code=status)

    def _check(self, record: FakeLLMRequest) -> str:
        body = record.body
        version = record.headers.get("anthropic-version", "")
        if not version:
            return "anthropic-version: header is required"
        if version >= _NO_SAMPLING_VERSION:
            for name in ("temperature", "top_p", "top_k"):
                if name in body:
                    return f"{name}: Extra inputs are not permitted"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return "max_tokens: Field required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                return (
                    f"messages.{i}.role: Unexpected role {role!r}. The Messages API accepts a "
                    'top-level `system` parameter, not "system" as an input message role.'
                )
        if body.get("stream") is not True:
            return "This fake answers streamed requests only: send stream=true."
        system = body.get("system", "")
        if not isinstance(system, str) and not (
            isinstance(system, list)
            and all(isinstance(b, dict) and b.get("type") == "text" for b in system)
        ):
            return "system: Input should be a string or a list of text blocks"
        tools = body.get("tools", [])
        if not isinstance(tools, list) or not all(
            isinstance(t, dict) and t.get("name") and isinstance(t.get("input_schema"), dict)
            for t in tools
        ):
            return "tools: each tool needs a name and an input_schema object"
        markers = _cache_markers(body)
        if any(not isinstance(m, dict) or m.get("type") != "ephemeral" for m in markers):
            return "cache_control: Input tag found using 'type' does not match 'ephemeral'"
        if len(markers) > _MAX_CACHE_BREAKPOINTS:
            return (
                f"A maximum of {_MAX_CACHE_BREAKPOINTS} blocks with cache_control may be "
                f"provided. Found {len(markers)}."
            )
        return ""

    def _conversation(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        turns: list[tuple[str, str]] = []
        for message in body["messages"]:
            role, content = message["role"], message.get("content")
            if isinstance(content, str):
                turns.append((role, content))
                continue
            for block in content if isinstance(content, list) else ():
                kind = block.get("type") if isinstance(block, dict) else None
                if kind == "text":
                    turns.append((role, str(block.get("text", ""))))
                elif kind == "tool_result":
                    turns.append(("tool", content_text(block.get("content"))))
                elif kind == "tool_use":
                    turns.append(("assistant", ""))
        return turns

    def _frames(self, answer: Answer, body: dict[str, Any]) -> list[Frame]:
        usage = {"output_tokens": 1, **self._input_usage(body)}
        message = {
            "id": f"msg_{secrets.token_hex(12)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        frames = [Frame(sse({"type": "message_start", "message": message}, "message_start"))]
        index = 0
        if answer.text:
            frames.append(_block_start(index, {"type": "text", "text": ""}))
            frames.append(Frame(sse({"type": "ping"}, "ping")))
            frames.extend(
                Frame(_block_delta(index, {"type": "text_delta", "text": word}), text=word)
                for word in word_chunks(answer.text)
            )
            frames.append(_block_stop(index))
            index += 1
        for call in answer.tool_calls:
            block = {"type": "tool_use", "id": f"toolu_{secrets.token_hex(12)}", "name": call.name}
            frames.append(Frame(_block_start(index, {**block, "input": {}}).data, tool_call=call))
            frames.extend(
                Frame(_block_delta(index, {"type": "input_json_delta", "partial_json": piece}))
                for piece in ["", *argument_fragments(call.arguments)]
            )
            frames.append(_block_stop(index))
            index += 1
        pieces = sum(1 for frame in frames if frame.text) + sum(
            len(argument_fragments(call.arguments)) for call in answer.tool_calls
        )
        stop = "tool_use" if answer.tool_calls else "end_turn"
        delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
        frames.append(Frame(sse({**delta, "usage": {"output_tokens": pieces}}, "message_delta")))
        frames.append(Frame(sse({"type": "message_stop"}, "message_stop")))
        return frames

    def _stream_error(self, status: int) -> bytes:
        kind, usual = _ERRORS.get(status, ("api_error", "Request failed."))
        return sse({"type": "error", "error": {"type": kind, "message": usual}}, "error")

    def _input_usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Input tokens, split into cached and fresh the way the API reports them."""
        tools = _unmarked(body.get("tools", []))
        system = _unmarked(body.get("system", ""))
        fresh = estimate_tokens(_unmarked(body["messages"]))
        if not _cache_markers(body.get("system")):
            return {
                "input_tokens": fresh + estimate_tokens(tools, system),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            }
        prefix = json.dumps([tools, system], sort_keys=True)
        cached = estimate_tokens(tools, system)
        seen = prefix in self._cached_prefixes
        self._cached_prefixes.add(prefix)
        return {
            "input_tokens": fresh,
            "cache_creation_input_tokens": 0 if seen else cached,
            "cache_read_input_tokens": cached if seen else 0,
        }


def _block_start(index: int, block: dict[str, Any]) -> Frame:
    event = {"type": "content_block_start", "index": index, "content_block": block}
    return Frame(sse(event, "content_block_start"))


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    event = {"type": "content_block_delta", "index": index, "delta": delta}
    return sse(event, "content_block_delta")


def _block_stop(index: int) -> Frame:
    return Frame(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))


def _unmarked(value: Any) -> Any:
    """``value`` without its ``cache_control`` markers, so they cost no tokens."""
    if isinstance(value, dict):
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    return value


def _cache_markers(value: object) -> list[object]:
    """Every ``cache_control`` value found in ``value``."""
    if isinstance(value, dict):
        found = [value["cache_control"]] if "cache_control" in value else []
        return found + [m for v in value.values() for m in _cache_markers(v)]
    if isinstance(value, list):
        return [m for v in value for m in _cache_markers(v)]
    return []
