"""How a provider's HTTP or WebSocket failure becomes a Patter error, the same for every provider.

LLMs, speech-to-text and text-to-speech services and the speech-to-speech engines all raise
through here, so the same failure reads the same whoever hit it, and names the fix.
"""

from __future__ import annotations

from collections.abc import Mapping

from getpatter.errors import (
    AuthenticationError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)

__all__ = [
    "body_message",
    "connection_error",
    "status_error",
    "stream_error",
    "websocket_open_error",
]


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


def websocket_open_error(
    provider: str,
    exc: BaseException,
    *,
    url: str,
    timeout: float,
    api_key: str = "",
    key_hint: str = "",
    detail: str = "",
) -> PatterError:
    """The error for ``exc``, raised while opening ``provider``'s WebSocket at ``url``.

    A refused handshake (an HTTP status) maps as :func:`status_error` does, with ``detail``
    (the provider's message from the refusal's body, if any); ``TimeoutError`` is a timeout
    after ``timeout`` seconds; anything else (DNS, refused connection, a bad handshake or URI)
    is a connection error. ``url`` must not hold a secret (pass a redacted one).
    """
    from websockets.exceptions import InvalidStatus

    if isinstance(exc, InvalidStatus):
        return status_error(
            provider,
            exc.response.status_code,
            detail or f"at {url}",
            api_key=api_key,
            key_hint=key_hint,
        )
    if isinstance(exc, TimeoutError):
        return PatterConnectionError(
            f"{provider} did not answer {url} within {timeout:g} s", code=ErrorCode.TIMEOUT
        )
    return PatterConnectionError(
        f"cannot connect to {provider} at {url}: {type(exc).__name__}; check the network and "
        "base_url"
    )
