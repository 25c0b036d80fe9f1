"""Requests from a simulated carrier to the app, with the loopback rule, recorded on the call.

Carriers only call public ``https://`` URLs. An app under test is configured with a public
host such as ``127.0.0.1:8000`` and builds ``https://`` and ``wss://`` URLs from it. A
simulator signs the URL string exactly as given (``https://...``), like the carrier, but
connects with plain ``http://``/``ws://`` when the host is ``127.0.0.1``, ``localhost`` or
``::1``: it plays the carrier and the TLS-terminating proxy that would sit in front of the app.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import httpx

from getpatter.testing.phone_network.call import CallError, SimulatedCall, Webhook

__all__ = ["LOOPBACK_HOSTS", "WebhookClient", "loopback_url"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_PLAIN_SCHEMES = {"https": "http", "wss": "ws"}

UNREACHABLE = 11200
"""Error code recorded when the app cannot be reached."""


def loopback_url(url: str) -> str:
    """The URL actually connected to for ``url``: TLS schemes become plain on loopback hosts."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return url
    return urlunsplit(parts._replace(scheme=_PLAIN_SCHEMES.get(parts.scheme, parts.scheme)))


class WebhookClient:
    """Sends already-signed requests to the app and records each one on its call."""

    def __init__(self, timeout: float, user_agent: str) -> None:
        self._user_agent = user_agent
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)

    async def deliver(
        self,
        call: SimulatedCall,
        record: Webhook,
        *,
        request_url: str,
        content: bytes | None,
        failure_code: int,
    ) -> httpx.Response | None:
        """Send ``record`` (its method, headers and body) to ``request_url``; record the result.

        ``record.url`` is the URL as configured, ``request_url`` the one signed and requested
        (a GET's query added). An unreachable app is error 11200 and ``None``; a non-2xx answer
        is error ``failure_code``.
        """
        loop = asyncio.get_running_loop()
        headers = record.headers | {"User-Agent": self._user_agent}
        kind, url = record.kind, record.url
        try:
            response = await self._http.request(
                record.method, loopback_url(request_url), content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            at_ms = call._ms(loop.time())
            call.webhooks.append(replace(record, status_code=None, at_ms=at_ms))
            call.errors.append(
                CallError(UNREACHABLE, f"{kind} webhook {url} unreachable: {exc!r}", at_ms)
            )
            call._touch()
            return None
        at_ms = call._ms(loop.time())
        call.webhooks.append(replace(record, status_code=response.status_code, at_ms=at_ms))
        if not response.is_success:
            call.errors.append(
                CallError(
                    failure_code,
                    f"{kind} webhook {url} answered HTTP {response.status_code}",
                    at_ms,
                )
            )
        call._touch()
        return response

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()
