"""Loopback fakes of Groq's and Cerebras' OpenAI-compatible chat-completions endpoints.

Both are :class:`~getpatter.testing.fake_llm.FakeOpenAIServer` dialects: the same scripted
SSE answers, tool calls and faults, with each vendor's path, error bodies and rate-limit
headers, and for Cerebras its compressed request bodies (msgpack and/or gzip).
"""

from __future__ import annotations

import gzip
import json
import math
import secrets
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from getpatter._validation import require_amount
from getpatter.testing.fake_llm._server import sse
from getpatter.testing.fake_llm.openai_server import FakeOpenAIServer
from getpatter.testing.scenario import Scenario

__all__ = ["FakeCerebrasServer", "FakeGroqServer"]

MSGPACK_CONTENT_TYPE = "application/vnd.msgpack"

# status -> (error type, error code, the API's usual message), as Groq's API answers.
_GROQ_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Invalid API Key"),
    403: ("permission_error", "permission_denied", "Forbidden"),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "tokens",
        "rate_limit_exceeded",
        "Rate limit reached for model on tokens per minute (TPM). Please try again in 1s.",
    ),
    500: ("internal_server_error", None, "Internal Server Error"),
    503: ("internal_server_error", None, "Service Unavailable"),
}

# status -> (error type, param, error code, the API's usual message), as Cerebras' API answers.
_CEREBRAS_ERRORS: dict[int, tuple[str, str | None, str | None, str]] = {
    400: ("invalid_request_error", None, None, "Invalid request."),
    401: ("invalid_request_error", "api_key", "wrong_api_key", "Wrong API Key"),
    403: ("permission_denied_error", None, None, "Access denied."),
    404: (
        "not_found_error",
        "model",
        "model_not_found",
        "Model does not exist or you do not have access to it.",
    ),
    429: (
        "too_many_tokens_error",
        "quota",
        "token_quota_exceeded",
        "Tokens per minute limit exceeded - too many tokens processed.",
    ),
    500: ("internal_server_error", None, None, "Internal server error."),
    503: ("service_unavailable_error", None, None, "Service unavailable."),
}


class FakeGroqServer(FakeOpenAIServer):
    """A local Groq API (OpenAI-compatible) for offline calls and tests.

    Like :class:`FakeOpenAIServer`, under Groq's prefix: ``POST /openai/v1/chat/completions``
    (``base_url`` ends with ``/openai/v1``; the ``groq`` SDK takes :attr:`root_url`). Errors
    carry Groq's ``{"error": {"message", "type", "code"}}``; a 429 carries ``retry-after`` and
    ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (resets as Go durations such as
    ``7.66s``), the tokens window exhausted and resetting in ``rate_limit_reset`` seconds.
    The usage chunk also carries ``x_groq`` (request id and usage).
    """

    path = "/openai/v1/chat/completions"
    api_root = "/openai/v1"

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        rate_limit_reset: float = 1.0,
    ) -> None:
        super().__init__(scenario, api_key=api_key, chunk_delay=chunk_delay)
        self.rate_limit_reset = require_amount("FakeGroqServer rate_limit_reset", rate_limit_reset)

    def _error(self, status: int, message: str = "") -> Response:
        kind, code, usual = _GROQ_ERRORS.get(
            status, ("internal_server_error", None, "Request failed.")
        )
        error: dict[str, Any] = {"message": message or usual, "type": kind}
        if code is not None:
            error["code"] = code
        return JSONResponse({"error": error}, status_code=status)

    def _rate_limit_headers(self) -> dict[str, str]:
        reset = self.rate_limit_reset
        return {
            "retry-after": str(max(1, math.ceil(reset))),
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-remaining-requests": "14399",
            "x-ratelimit-reset-requests": "6s",
            "x-ratelimit-limit-tokens": "12000",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": f"{reset:.3f}s",
        }

    def _usage_extras(self, usage: dict[str, Any]) -> dict[str, Any]:
        return {"x_groq": {"id": f"req_{secrets.token_hex(13)}", "usage": usage}}


class FakeCerebrasServer(FakeOpenAIServer):
    """A local Cerebras Inference API (OpenAI-compatible) for offline calls and tests.

    Like :class:`FakeOpenAIServer` (``POST /v1/chat/completions``; the
    ``cerebras-cloud-sdk`` takes :attr:`root_url`, and its connection warm-up
    ``GET /v1/tcp_warming`` is answered too), plus Cerebras' payload optimisation: a body
    sent as ``Content-Type: application/vnd.msgpack`` and/or ``Content-Encoding: gzip`` is
    decoded before it is checked and recorded (:attr:`FakeLLMRequest.headers` keep how it
    came). Errors carry Cerebras' top-level ``{"message", "type", "param", "code"}``; a 429
    carries ``x-ratelimit-{limit,remaining,reset}-{requests-day,tokens-minute}`` (resets in
    seconds), the tokens-minute window exhausted and resetting in ``rate_limit_reset``
    seconds. The usage chunk also carries ``time_info``; every tool-call delta carries
    ``type: "function"`` and an error mid-stream is ``{"error": {...}, "status_code": ...}``,
    as the SDK's chunk types require.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        rate_limit_reset: float = 1.0,
    ) -> None:
        super().__init__(scenario, api_key=api_key, chunk_delay=chunk_delay)
        self.rate_limit_reset = require_amount(
            "FakeCerebrasServer rate_limit_reset", rate_limit_reset
        )

    async def _read_body(self, request: Request) -> object:
        raw = await request.body()
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError("the body is not valid gzip") from exc
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == MSGPACK_CONTENT_TYPE:
            import msgpack  # type: ignore[import-untyped]

            try:
                return msgpack.unpackb(raw, raw=False)
            except (ValueError, msgpack.UnpackException) as exc:
                raise ValueError("the body is not valid msgpack") from exc
        return json.loads(raw)

    def _error(self, status: int, message: str = "") -> Response:
        kind, param, code, usual = _CEREBRAS_ERRORS.get(
            status, ("internal_server_error", None, None, "Request failed.")
        )
        body = {"message": message or usual, "type": kind, "param": param, "code": code}
        return JSONResponse(body, status_code=status)

    def _stream_error(self, status: int) -> bytes:
        kind, param, code, usual = _CEREBRAS_ERRORS.get(
            status, ("internal_server_error", None, None, "Request failed.")
        )
        error = {"message": usual, "type": kind, "param": param, "code": code}
        return sse({"error": error, "status_code": status})

    def _argument_delta(self, index: int, piece: str) -> dict[str, Any]:
        # The cerebras-cloud-sdk requires ``type`` on every tool-call delta.
        return {"index": index, "type": "function", "function": {"arguments": piece}}

    def _rate_limit_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests-day": "14400",
            "x-ratelimit-remaining-requests-day": "14399",
            "x-ratelimit-reset-requests-day": "33011.382867097855",
            "x-ratelimit-limit-tokens-minute": "60000",
            "x-ratelimit-remaining-tokens-minute": "0",
            "x-ratelimit-reset-tokens-minute": repr(float(self.rate_limit_reset)),
        }

    def _usage_extras(self, usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "time_info": {
                "queue_time": 0.0001,
                "prompt_time": 0.001,
                "completion_time": 0.002,
                "total_time": 0.0031,
            }
        }

    def _extra_routes(self) -> list[Route]:
        async def warm(request: Request) -> Response:
            return PlainTextResponse("")

        return [Route("/v1/tcp_warming", warm, methods=["GET"])]
