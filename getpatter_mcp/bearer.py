"""A bearer-token gate for the MCP server's HTTP transport.

The server is a tool that can place phone calls, so its HTTP endpoint always demands a shared
secret: ``Authorization: Bearer <token>``. :class:`BearerTokenGate` wraps any ASGI app; requests
without the token get ``401`` with a ``WWW-Authenticate`` challenge and never reach the app.
The comparison is constant-time. Lifespan events pass through untouched.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from getpatter._redaction import register_secret
from getpatter._validation import require_str
from getpatter.errors import ConfigError

__all__ = ["MIN_TOKEN_CHARS", "BearerTokenGate", "require_token"]

MIN_TOKEN_CHARS = 16
"""Shorter tokens are refused: they could be guessed."""

_REALM = "getpatter-mcp"


class BearerTokenGate:
    """ASGI middleware: only requests carrying ``Authorization: Bearer <token>`` reach ``app``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = register_secret(require_token(token)).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        presented = _bearer(scope)
        if presented is not None and hmac.compare_digest(presented, self._expected):
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _unauthorized(send, invalid=presented is not None)


def require_token(token: object) -> str:
    """Return ``token`` if it can guard the server: a str of at least :data:`MIN_TOKEN_CHARS`."""
    text = require_str("the MCP bearer token", token, allow_empty=False)
    if len(text) < MIN_TOKEN_CHARS or text != text.strip() or not text.isprintable():
        raise ConfigError(
            f"the MCP bearer token (--token or PATTER_MCP_TOKEN) must be at least "
            f"{MIN_TOKEN_CHARS} printable characters with no surrounding spaces: generate one "
            "with python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return text


def _bearer(scope: Scope) -> bytes | None:
    """The token of the ``Authorization: Bearer`` header, or None without one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, credentials = bytes(value).partition(b" ")
            if scheme.lower() == b"bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


async def _unauthorized(send: Send, *, invalid: bool) -> None:
    challenge = f'Bearer realm="{_REALM}"'
    if invalid:
        challenge += ', error="invalid_token"'
    body: dict[str, Any] = {
        "error": "invalid_token" if invalid else "unauthorized",
        "error_description": (
            "the bearer token is wrong"
            if invalid
            else "send the server's token as 'Authorization: Bearer <token>'"
        ),
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
