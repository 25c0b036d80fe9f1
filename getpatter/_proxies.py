"""The HTTP proxy the environment asks for (``HTTPS_PROXY``, ``NO_PROXY``...), read once."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

__all__ = ["env_proxy"]


def env_proxy(url: str) -> str | None:
    """The proxy URL for requests to ``url``, or ``None`` to connect directly.

    A plain read of the environment in the caller's thread. aiohttp's own ``trust_env`` looks
    the proxy (and ``~/.netrc``) up in a worker thread on every request: two thread round trips
    on a sentence's critical path. ``ElevenLabsTTS`` calls this once per pool (as httpx does);
    webhooks, whose pool serves any URL, once per request.
    """
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)
