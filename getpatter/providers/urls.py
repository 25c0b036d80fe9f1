"""Where a provider lives: its API base URL (argument, environment variable, default) and the
WebSocket URL derived from it, the same way for every provider."""

from __future__ import annotations

from getpatter._env import env_fallback
from getpatter._validation import require_str
from getpatter.errors import InputValidationError

__all__ = ["base_url", "websocket_url"]

_WS_SCHEMES = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}
_HTTP_SCHEMES = ("https", "http")


def base_url(
    owner: str,
    given: str | None,
    *,
    env_var: str,
    default: str,
    schemes: tuple[str, ...] = _HTTP_SCHEMES,
) -> str:
    """``given``, else the value of ``env_var``, else ``default``: a URL of one of ``schemes``,
    without a trailing slash. Anything else is an :class:`InputValidationError` naming
    ``owner``'s ``base_url`` and ``env_var``."""
    if given is not None:
        require_str(f"{owner} base_url", given)
    url = env_fallback((given or "").strip(), env_var) or default
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes or not rest.strip("/"):
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise InputValidationError(
            f"{owner} base_url={url!r} (or {env_var}) must be a {allowed} URL of the API, such "
            f"as {default!r}"
        )
    return url.rstrip("/")


def websocket_url(owner: str, base: str, path: str, *, env_var: str, example: str) -> str:
    """The WebSocket URL of ``path`` under the API ``base``: ``https://`` becomes ``wss://``
    and ``http://`` (a local fake) ``ws://``; ``ws(s)://`` stay as they are."""
    scheme, sep, rest = base.strip().partition("://")
    ws_scheme = _WS_SCHEMES.get(scheme.lower()) if sep else None
    host_and_path = rest.rstrip("/")
    if ws_scheme is None or not host_and_path:
        raise InputValidationError(
            f"{owner} base_url={base!r} (or {env_var}) must be an http(s) or ws(s) URL of the "
            f"API, such as {example!r}"
        )
    return f"{ws_scheme}://{host_and_path}{path}"
