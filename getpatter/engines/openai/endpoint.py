"""Where the OpenAI Realtime API lives: the API base URL and the WebSocket URL derived from it."""

from __future__ import annotations

from urllib.parse import quote

from getpatter.providers.urls import websocket_url

__all__ = ["DEFAULT_BASE_URL", "realtime_url"]

#: The public OpenAI API, used when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set.
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def realtime_url(base_url: str, model: str) -> str:
    """The Realtime WebSocket URL for ``model`` under the API base ``base_url``.

    ``https://api.openai.com/v1`` becomes ``wss://api.openai.com/v1/realtime?model=<model>``;
    an ``http://`` base (a local fake) becomes ``ws://``.
    """
    url = websocket_url(
        "OpenAIRealtime", base_url, "/realtime", env_var="OPENAI_BASE_URL", example=DEFAULT_BASE_URL
    )
    return f"{url}?model={quote(model, safe='')}"
