"""How an LLM provider's HTTP failure becomes a Patter error, the same way for every provider."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import httpx

from getpatter.errors import (
    AuthenticationError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    failures: list[type[Exception]] = [httpx.TransportError]
    timeouts: list[type[Exception]] = [httpx.TimeoutException]
    with contextlib.suppress(ImportError):  # newer SDKs stream through httpx2
        import httpx2

        failures.append(httpx2.TransportError)
        timeouts.append(httpx2.TimeoutException)
    return tuple(failures), tuple(timeouts)


TRANSPORT_ERRORS, TIMEOUT_ERRORS = _transport_errors()
"""What httpx and httpx2, the HTTP libraries under the SDKs, raise when a connection fails or
times out. Some SDK streams let these through unwrapped, mid-stream."""


def status_error(
    provider: str,
    status: int,
    detail: str,
    *,
    api_key: str,
    key_hint: str,
    retry_after: str | None = None,
) -> PatterError:
    """The error for an HTTP ``status`` answer of ``provider``.

    401/403 → :class:`AuthenticationError` (``key_hint`` says where the key came from), 429 →
    :class:`RateLimitError`, 5xx → :class:`PatterConnectionError`, other statuses →
    :class:`PatterError` with ``ErrorCode.PROVIDER_ERROR`` (a request the provider refused,
    such as an unknown model). ``detail``, the provider's own message, never shows ``api_key``.
    """
    said = _redact(detail, api_key)
    if status in (401, 403):
        return AuthenticationError(
            f"{provider} refused the credentials (HTTP {status}: {said}); check {key_hint}"
        )
    if status == 429:
        wait = f"; it asks to retry after {retry_after} s" if retry_after else ""
        return RateLimitError(f"{provider} is rate limiting requests (HTTP 429: {said}){wait}")
    if status >= 500:
        return PatterConnectionError(f"{provider} failed (HTTP {status}: {said}); try again")
    return PatterError(
        f"{provider} refused the request (HTTP {status}: {said})", code=ErrorCode.PROVIDER_ERROR
    )


def connection_error(provider: str, *, timed_out: bool, timeout: float) -> PatterConnectionError:
    """The error when ``provider`` could not be reached, or did not answer within ``timeout``."""
    if timed_out:
        return PatterConnectionError(
            f"{provider} did not answer within timeout={timeout:g} s", code=ErrorCode.TIMEOUT
        )
    return PatterConnectionError(
        f"cannot reach {provider}: check the network and base_url, then try again"
    )


def stream_error(provider: str, detail: str, *, api_key: str) -> PatterConnectionError:
    """The error when ``provider`` reports a failure in the middle of a streamed answer."""
    return PatterConnectionError(
        f"{provider} stopped the answer with an error: {_redact(detail, api_key)}"
    )


def body_message(body: object, fallback: str) -> str:
    """The provider's own error message in a decoded error ``body``, else ``fallback``.

    Finds ``message`` at the top (OpenAI's SDKs hand over the inner ``error`` object) or
    under ``error`` (Anthropic's ``{"type": "error", "error": {...}}``).
    """
    while isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
        body = body.get("error")
    return fallback


def _redact(text: str, api_key: str) -> str:
    text = text.strip() or "no details"
    # Keys are long; a short one would only blank out ordinary words.
    return text.replace(api_key, "***") if len(api_key) >= 8 else text
