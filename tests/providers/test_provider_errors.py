"""The provider kit's one mapping from HTTP and WebSocket failures to Patter errors."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response

from getpatter.errors import (
    AuthenticationError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.providers.errors import status_error, websocket_open_error

KEY = "sk-CANARY-provider-kit-123"


def refused(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "refused", Headers(), b""))


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (401, AuthenticationError, ErrorCode.AUTH),
        (403, AuthenticationError, ErrorCode.AUTH),
        (429, RateLimitError, ErrorCode.RATE_LIMIT),
        (503, PatterConnectionError, ErrorCode.CONNECTION),
        (400, PatterError, ErrorCode.PROVIDER_ERROR),
    ],
)
def test_a_refused_handshake_maps_like_an_http_answer(
    status: int, kind: type[PatterError], code: ErrorCode
) -> None:
    error = websocket_open_error(
        "Acme STT",
        refused(status),
        url="wss://stt.example/v1",
        timeout=5,
        api_key=KEY,
        key_hint="AcmeSTT(api_key=...) or ACME_API_KEY",
        detail=f"bad key {KEY}",
    )
    assert type(error) is kind and error.code is code
    assert f"HTTP {status}" in error.message and "Acme STT" in error.message
    assert KEY not in error.message  # the provider echoing the key is redacted
    if status in (401, 403):
        assert "ACME_API_KEY" in error.message


def test_a_timeout_and_an_unreachable_host_are_connection_errors() -> None:
    late = websocket_open_error("Acme STT", TimeoutError(), url="wss://stt.example", timeout=2.5)
    assert late.code is ErrorCode.TIMEOUT and "within 2.5 s" in late.message
    down = websocket_open_error(
        "Acme STT", ConnectionRefusedError("[Errno 111]"), url="wss://stt.example", timeout=1
    )
    assert isinstance(down, PatterConnectionError) and "base_url" in down.message
    bad = websocket_open_error("Acme STT", InvalidURI("x", "no"), url="x", timeout=1)
    assert isinstance(bad, PatterConnectionError)


def test_an_http_answer_without_details_still_says_what_failed() -> None:
    error = status_error("Acme LLM", 500, "  ", api_key="", key_hint="")
    assert error.message == "Acme LLM failed (HTTP 500: no details); try again"
