"""Who may see the dashboard: one token, as a bearer header or a ``token`` query parameter.

With an empty token every dashboard route is open (spec DB-5). With one, each request must carry
it (DB-6); the comparison is constant-time (:func:`hmac.compare_digest`) so response timing says
nothing about how much of a guess was right. Only dashboard routes are guarded: carrier webhooks
and ``/health`` never see this module.
"""

from __future__ import annotations

import hmac
import secrets
import string

from getpatter._redaction import register_secret
from getpatter.errors import ConfigError

__all__ = ["MIN_TOKEN_CHARS", "generate_token", "token_matches", "validate_token"]

MIN_TOKEN_CHARS = 16
"""The shortest ``dashboard_token`` accepted: anything shorter is guessable over the network."""

_ALLOWED = frozenset(string.ascii_letters + string.digits + string.punctuation)


def validate_token(param: str, value: object) -> str:
    """``value`` if it is a usable dashboard token (``""``: none); else a :class:`ConfigError`.

    A token is at least :data:`MIN_TOKEN_CHARS` visible ASCII characters (it travels in an HTTP
    header and a URL). A valid token is registered with the log redaction, so it never appears in
    a log.
    """
    if not isinstance(value, str):
        raise ConfigError(f"{param} must be a str, got {type(value).__name__}")
    if not value:
        return value
    if not set(value) <= _ALLOWED:
        raise ConfigError(
            f"{param} must be visible ASCII characters with no spaces (it is sent in a header "
            "and a URL): generate one with python -c 'import secrets; "
            "print(secrets.token_urlsafe())'"
        )
    if len(value) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{param} must be at least {MIN_TOKEN_CHARS} characters, got {len(value)}: generate "
            "one with python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    return register_secret(value)


def generate_token() -> str:
    """A new random token (32 bytes, URL-safe), registered with the log redaction."""
    return register_secret(secrets.token_urlsafe(32))


def token_matches(expected: str, authorization: str | None, query_token: str | None) -> bool:
    """Whether a request carries ``expected`` (always True when ``expected`` is empty).

    ``authorization`` is the ``Authorization`` header (``Bearer <token>``), ``query_token`` the
    ``token`` query parameter; either may carry it.
    """
    if not expected:
        return True
    wanted = expected.encode()
    offered: list[str] = []
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            offered.append(credentials.strip())
    if query_token is not None:
        offered.append(query_token)
    # Both are compared when both are given, so timing does not tell which one was tried.
    results = [
        hmac.compare_digest(candidate.encode("utf-8", "replace"), wanted) for candidate in offered
    ]
    return any(results)
