"""A loopback fake of OpenAI's streaming chat-completions endpoint."""

from __future__ import annotations

import secrets
import time
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

__all__ = ["FakeOpenAIServer"]

# status -> (error type, error code, the API's usual message)
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Access denied."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 1s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_ROLES = ("system", "developer", "user", "assistant", "tool")


class FakeOpenAIServer(FakeLLMServer):
    """A local OpenAI chat-completions API for offline calls and tests.

    Use it as ``async with FakeOpenAIServer(scenario) as fake:`` and give the SDK
    ``base_url=fake.base_url`` (``http://127.0.0.1:<port>/v1``). It serves
    ``POST /v1/chat/completions`` with ``stream: true`` and answers in server-sent events shaped
    like OpenAI's: a first ``role`` chunk, ``content`` deltas one word each, tool calls as an
    ``index``/``id``/``function.name`` chunk followed by ``arguments`` fragments, a chunk with
    ``finish_reason``, the usage chunk (``choices: []``, when ``stream_options.include_usage``)
    and ``data: [DONE]``. Requests need ``Authorization: Bearer <key>`` (any key, or exactly
    ``api_key`` when given); otherwise HTTP 401 with OpenAI's JSON error body.

    Scripting: a request answers caller turn *n*, where *n* + 1 is the number of ``user``
    messages it carries, so every conversation plays ``scenario`` from its start and a retried
    request gets the same answer. Turn *n* gets ``scenario.replies[n]``: its ``tool_call``
    first when it has one, then, once the request carries the tool's result, its ``text`` with
    ``{result}`` replaced by the output. Past the last reply the answer is empty. Usage counts
    are stand-ins: a prompt token per 4 characters of the messages and tools, a completion
    token per streamed piece. ``chunk_delay`` paces the events; faults: :meth:`fail_next`,
    :meth:`stall_next`. Every request is kept in :attr:`requests`.
    """

    path = "/v1/chat/completions"
    api_root = "/v1"

    def _key(self, request: Request) -> str:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return ""
        return authorization.removeprefix("Bearer ").strip()

    def _error(self, status: int, message: str = "") -> Response:
        kind, code, usual = _ERRORS.get(status, ("server_error", None, "Request failed."))
        error = {"message": message or usual, "type": kind, "param": None, "code": code}
        return JSONResponse({"error": error}, status_code=status)

    def _check(self, record: FakeLLMRequest) -> str:
        body = record.body
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "You must provide a model parameter."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "Invalid 'messages': expected a non-empty array."
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                return f"Invalid 'messages[{i}].role'."
            if message["role"] == "tool" and not message.get("tool_call_id"):
                return f"Missing required parameter: 'messages[{i}].tool_call_id'."
        if body.get("stream") is not True:
            return "This fake answers streamed requests only: send stream=true."
        tools = body.get("tools", [])
        if not isinstance(tools, list):
            return "Invalid 'tools': expected an array."
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" or not isinstance(function, dict):
                return f"Invalid 'tools[{i}]': expected {{'type': 'function', 'function': ...}}."
            if not isinstance(function.get("name"), str) or not function["name"]:
                return f"Missing required parameter: 'tools[{i}].function.name'."
        return ""

    def _conversation(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        turns = []
        for message in body["messages"]:
            role = message["role"]
            if role in ("user", "assistant", "tool"):
                turns.append((role, content_text(message.get("content"))))
        return turns

    def _frames(self, answer: Answer, body: dict[str, Any]) -> list[Frame]:
        head = {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return sse({**head, "choices": [choice], **({"usage": None} if with_usage else {})})

        first = {"role": "assistant", "content": None if answer.tool_calls else ""}
        frames = [Frame(chunk({**first, "refusal": None}))]
        for index, call in enumerate(answer.tool_calls):
            opening = {
                "index": index,
                "id": f"call_{secrets.token_hex(12)}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            frames.append(Frame(chunk({"tool_calls": [opening]}), tool_call=call))
            frames.extend(
                Frame(chunk({"tool_calls": [self._argument_delta(index, piece)]}))
                for piece in argument_fragments(call.arguments)
            )
        frames.extend(
            Frame(chunk({"content": word}), text=word) for word in word_chunks(answer.text)
        )
        pieces = len(frames) - 1
        frames.append(Frame(chunk({}, "tool_calls" if answer.tool_calls else "stop")))
        if with_usage:
            prompt = estimate_tokens(body["messages"], body.get("tools", []))
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": pieces,
                "total_tokens": prompt + pieces,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
            last = {**head, "choices": [], "usage": usage, **self._usage_extras(usage)}
            frames.append(Frame(sse(last)))
        frames.append(Frame(sse("[DONE]")))
        return frames

    def _argument_delta(self, index: int, piece: str) -> dict[str, Any]:
        """The tool-call delta carrying one fragment of call ``index``'s arguments."""
        return {"index": index, "function": {"arguments": piece}}

    def _usage_extras(self, usage: dict[str, Any]) -> dict[str, Any]:
        """Provider-specific fields of the chunk carrying the usage (none for OpenAI)."""
        return {}

    def _stream_error(self, status: int) -> bytes:
        kind, code, usual = _ERRORS.get(status, ("server_error", None, "Request failed."))
        return sse({"error": {"message": usual, "type": kind, "param": None, "code": code}})
