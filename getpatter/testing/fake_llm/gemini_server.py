"""A loopback fake of the Gemini API's streaming ``streamGenerateContent`` endpoint."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from contextvars import ContextVar
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from getpatter.testing.fake_llm._server import (
    Answer,
    FakeLLMServer,
    Frame,
    estimate_tokens,
    sse,
    word_chunks,
)
from getpatter.testing.fake_llm.records import FakeLLMRequest
from getpatter.testing.scenario import Scenario, ToolCall

__all__ = ["FakeGeminiServer"]

# status -> (google.rpc status, the API's usual message)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in the docs."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please "
    "use API Key or other form of API consumer identity to call this API."
)
_GEMINI_PATH = re.compile(r"^/(?:v1|v1beta)/models/(?P<model>[^/:]+)$")
_VERTEX_PATH = re.compile(
    r"^/(?:v1|v1beta1)/(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/(?P<model>[^/:]+)$"
)
_PART_DATA = ("text", "functionCall", "functionResponse", "inlineData", "fileData")
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
_THOUGHT_TOKENS = 8
"""Thinking tokens reported for ``gemini-2.5*`` models unless ``thinkingBudget`` is 0."""
_RETRY_DELAY_S = 1

_resource: ContextVar[str] = ContextVar("_resource", default="")
"""The ``.../models/<model>`` part of the URL of the request being answered."""


class FakeGeminiServer(FakeLLMServer):
    """A local Gemini API (and Vertex AI ``generateContent``) for offline calls and tests.

    Use it as ``async with FakeGeminiServer(scenario) as fake:`` and give the ``google-genai``
    SDK ``http_options={"base_url": fake.base_url}`` (``http://127.0.0.1:<port>``). It serves
    ``POST /{v1,v1beta}/models/{model}:streamGenerateContent?alt=sse`` (Gemini API) and
    ``POST /{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:
    streamGenerateContent?alt=sse`` (Vertex AI), and answers with ``data:`` events of
    ``GenerateContentResponse`` JSON: ``candidates[0].content.parts`` with one word of ``text``
    each, or one ``functionCall`` (``name``, ``args``) each, the first carrying a
    ``thoughtSignature``; the last event has ``finishReason: "STOP"``; every event carries
    ``usageMetadata`` (``promptTokenCount``, ``candidatesTokenCount`` so far and, for
    ``gemini-2.5*`` models unless ``thinkingBudget`` is 0, ``thoughtsTokenCount``).

    Keys: ``x-goog-api-key`` (or ``?key=``) for the Gemini API, ``Authorization: Bearer``
    for Vertex AI: any key, or exactly ``api_key`` when given. A missing key is answered 403
    ``PERMISSION_DENIED``; a wrong API key, like the real API, 400 ``INVALID_ARGUMENT`` with
    reason ``API_KEY_INVALID``; a wrong bearer token 401 ``UNAUTHENTICATED``. Errors carry
    Google's body, ``{"error": {"code", "message", "status", "details"}}``; a 429 carries no
    ``retry-after`` header but a ``RetryInfo`` detail with ``retryDelay`` (as the API does).

    Requests are checked as the API does: ``contents`` with ``user``/``model`` roles and one
    kind of data per part; a ``user`` turn after ``functionCall``\\ s answers each with a
    ``functionResponse``; function declarations have a valid ``name`` and at most one of
    ``parameters``/``parametersJsonSchema``; a ``thoughtSignature`` sent back must be one this
    server gave out. Scripting is the same as
    :class:`~getpatter.testing.fake_llm.FakeOpenAIServer`'s (a caller turn is a ``user`` text
    part; a ``functionResponse`` is a tool result, its ``response.output`` the text). Faults:
    :meth:`fail_next` (status, or an ``{"error": ...}`` event mid-stream), :meth:`drop_next`,
    :meth:`stall_next`.
    """

    path = "/{resource:path}:streamGenerateContent"
    api_root = ""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__(scenario, api_key=api_key, chunk_delay=chunk_delay)
        self._signatures: set[bytes] = set()

    async def _handle(self, request: Request) -> Response:
        path = request.url.path.removesuffix(":streamGenerateContent")
        if not (_GEMINI_PATH.match(path) or _VERTEX_PATH.match(path)):
            return self._error(404, f"Method not found: {request.url.path}")
        if request.query_params.get("alt") != "sse":
            return self._error(400, "This fake answers streamGenerateContent with alt=sse only.")
        _resource.set(path)
        return await super()._handle(request)

    def _key(self, request: Request) -> str:
        key = request.headers.get("x-goog-api-key", "").strip()
        key = key or request.query_params.get("key", "").strip()
        authorization = request.headers.get("authorization", "")
        if not key and authorization.startswith("Bearer "):
            key = authorization.removeprefix("Bearer ").strip()
        return key

    def _refusal(self, record: FakeLLMRequest, body: object, fault: Any) -> Response | None:
        if not record.api_key:
            return self._error(403, _NO_KEY)
        if self._api_key is not None and record.api_key != self._api_key:
            if record.headers.get("authorization", "").startswith("Bearer "):
                return self._error(401)
            return _error_response(
                400,
                "API key not valid. Please pass a valid API key.",
                [_error_info("API_KEY_INVALID")],
            )
        response = super()._refusal(record, body, fault)
        if response is not None and "retry-after" in response.headers:
            del response.headers["retry-after"]  # Google says it in RetryInfo instead
        return response

    def _error(self, status: int, message: str = "") -> Response:
        details: list[dict[str, Any]] = []
        if status == 429:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{_RETRY_DELAY_S}s",
                },
            ]
        return _error_response(status, message, details)

    def _check(self, record: FakeLLMRequest) -> str:
        body = record.body
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        pending_calls = 0
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or content.get("role", "user") not in (
                "user",
                "model",
            ):
                return "Please use a valid role: user, model."
            problem = self._check_parts(f"contents[{i}]", content.get("parts"))
            if problem:
                return problem
            parts = content["parts"]
            responses = sum(1 for p in parts if _get(p, "functionResponse") is not None)
            if pending_calls and responses != pending_calls:
                return (
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            pending_calls = sum(1 for p in parts if _get(p, "functionCall") is not None)
        system = _get(body, "systemInstruction")
        if system is not None and (
            not isinstance(system, dict)
            or self._check_parts("systemInstruction", system.get("parts"))
        ):
            return "* GenerateContentRequest.system_instruction: must hold text parts"
        return self._check_tools(body.get("tools", []))

    def _check_parts(self, where: str, parts: object) -> str:
        if not isinstance(parts, list) or not parts:
            return f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
        for j, part in enumerate(parts):
            kinds = [k for k in _PART_DATA if _get(part, k) is not None]
            if len(kinds) != 1:
                return f"* GenerateContentRequest.{where}.parts[{j}].data: required oneof field 'data' must have one initialized field"
            signature = _get(part, "thoughtSignature")
            if signature is not None and _decoded(signature) not in self._signatures:
                return "Corrupted thought signature."
            call = _get(part, "functionCall")
            if call is not None and not (isinstance(call, dict) and call.get("name")):
                return f"* GenerateContentRequest.{where}.parts[{j}].function_call.name: Name cannot be empty."
        return ""

    def _check_tools(self, tools: object) -> str:
        if not isinstance(tools, list):
            return "* GenerateContentRequest.tools: expected a list"
        for i, tool in enumerate(tools):
            declarations = (
                _get(tool, "functionDeclarations", []) if isinstance(tool, dict) else None
            )
            if not isinstance(declarations, list):
                return f"* GenerateContentRequest.tools[{i}].function_declarations: expected a list"
            for j, declaration in enumerate(declarations):
                where = f"tools[{i}].function_declarations[{j}]"
                name = declaration.get("name") if isinstance(declaration, dict) else None
                if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                    return f"* GenerateContentRequest.{where}.name: Invalid function name."
                if _get(declaration, "parameters") and _get(declaration, "parametersJsonSchema"):
                    return (
                        f"* GenerateContentRequest.{where}: parameters and "
                        "parameters_json_schema are mutually exclusive"
                    )
        return ""

    def _conversation(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        turns: list[tuple[str, str]] = []
        for content in body["contents"]:
            role = "assistant" if content.get("role") == "model" else "user"
            for part in content["parts"]:
                if "text" in part and not part.get("thought"):
                    turns.append((role, str(part["text"])))
                elif _get(part, "functionCall") is not None:
                    turns.append(("assistant", ""))
                elif _get(part, "functionResponse") is not None:
                    turns.append(("tool", _response_text(_get(part, "functionResponse"))))
        return turns

    def _frames(self, answer: Answer, body: dict[str, Any]) -> list[Frame]:
        model = _resource.get().rsplit("/", 1)[-1]
        response_id = secrets.token_urlsafe(16)
        prompt = estimate_tokens(
            body["contents"], _get(body, "systemInstruction", ""), body.get("tools", [])
        )
        config = _get(body, "generationConfig") or {}
        budget = _get(_get(config, "thinkingConfig") or {}, "thinkingBudget")
        thoughts = _THOUGHT_TOKENS if model.startswith("gemini-2.5") and budget != 0 else 0
        parts: list[tuple[dict[str, Any], str, ToolCall | None]] = [
            ({"text": word}, word, None) for word in word_chunks(answer.text)
        ]
        for i, scripted in enumerate(answer.tool_calls):
            call_part: dict[str, Any] = {
                "functionCall": {"name": scripted.name, "args": scripted.arguments}
            }
            if i == 0:
                signature = secrets.token_bytes(24)
                self._signatures.add(signature)
                call_part["thoughtSignature"] = base64.b64encode(signature).decode()
            parts.append((call_part, "", scripted))
        frames = []
        for n, (part, text, call) in enumerate(parts, start=1):
            last = n == len(parts)
            candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
            if last:
                candidate["finishReason"] = "STOP"
            usage = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": n,
                "totalTokenCount": prompt + n + (thoughts if last else 0),
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
            }
            if last and thoughts:
                usage["thoughtsTokenCount"] = thoughts
            event = {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
            frames.append(Frame(sse(event), text=text, tool_call=call))
        if not frames:  # nothing to say: one empty, finished candidate
            event = {
                "candidates": [
                    {
                        "content": {"parts": [{"text": ""}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
                "modelVersion": model,
                "responseId": response_id,
            }
            frames.append(Frame(sse(event)))
        return frames

    def _stream_error(self, status: int) -> bytes:
        kind, usual = _ERRORS.get(status, ("UNKNOWN", "Request failed."))
        return sse({"error": {"code": status, "message": usual, "status": kind}})


def _get(message: object, field: str, default: Any = None) -> Any:
    """``message[field]``, under its lowerCamelCase or its snake_case name (proto3 JSON takes
    both, and the SDK sends some fields, such as ``parameters_json_schema``, in snake_case)."""
    if not isinstance(message, dict):
        return default
    if field in message:
        return message[field]
    return message.get(re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower(), default)


def _error_response(status: int, message: str, details: list[dict[str, Any]]) -> JSONResponse:
    kind, usual = _ERRORS.get(status, ("UNKNOWN", "Request failed."))
    error: dict[str, Any] = {"code": status, "message": message or usual, "status": kind}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }


def _decoded(signature: object) -> bytes:
    """A base64 ``thoughtSignature`` (standard or URL-safe alphabet) as bytes."""
    if not isinstance(signature, str):
        return b""
    padded = signature + "=" * (-len(signature) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _response_text(function_response: object) -> str:
    """A ``functionResponse``'s output: ``response.output`` (or ``error``), else its JSON."""
    response = function_response.get("response") if isinstance(function_response, dict) else None
    if isinstance(response, dict):
        for key in ("output", "error"):
            if isinstance(response.get(key), str):
                return str(response[key])
    return json.dumps(response)
