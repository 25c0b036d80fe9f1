"""The HTTP proxy the environment asks for (``HTTPS_PROXY``, ``NO_PROXY``...), read once."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

__all__ = ["env_proxy"]


def env_proxy(url: str) -> str | None:
    """The proxy URL for requests to ``url``, or ``None`` to connect directly.

    Read when a client is created, as httpx does, rather than per request: aiohttp's
    ``trust_env`` looks the proxy (and ``~/.netrc``) up in a worker thread on every request,
    two thread round trips on a sentence's critical path.
    """
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)
