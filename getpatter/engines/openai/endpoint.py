"""Where the OpenAI Realtime API lives: the API base URL and the WebSocket URL derived from it."""

from __future__ import annotations

from urllib.parse import quote

from getpatter.errors import InputValidationError

__all__ = ["DEFAULT_BASE_URL", "realtime_url"]

#: The public OpenAI API, used when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"

_WS_SCHEMES = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}


def realtime_url(base_url: str, model: str) -> str:
    """The Realtime WebSocket URL for ``model`` under the API base ``base_url``.

    ``https://api.openai.com/v1`` becomes ``wss://api.openai.com/v1/realtime?model=<model>``;
    an ``http://`` base (a local fake) becomes ``ws://``.
    """
    scheme, sep, rest = base_url.strip().partition("://")
    ws_scheme = _WS_SCHEMES.get(scheme.lower()) if sep else None
    host_and_path = rest.rstrip("/")
    if ws_scheme is None or not host_and_path:
        raise InputValidationError(
            f"OpenAIRealtime base_url={base_url!r} (or OPENAI_BASE_URL) must be an http(s) URL "
            f"of the API, such as {DEFAULT_BASE_URL!r}"
        )
    return f"{ws_scheme}://{host_and_path}/realtime?model={quote(model, safe='')}"
