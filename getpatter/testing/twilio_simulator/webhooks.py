"""Signed webhook requests from the simulator to the app, with the loopback rule.

Twilio only calls public ``https://`` URLs. An app under test is configured with a public
host such as ``127.0.0.1:8000`` and builds ``https://`` and ``wss://`` URLs from it. The
simulator signs the URL string exactly as given (``https://...``), like Twilio, but connects
with plain ``http://``/``ws://`` when the host is ``127.0.0.1``, ``localhost`` or ``::1``:
it plays Twilio and the TLS-terminating proxy that would sit in front of the app.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from getpatter.testing.twilio_simulator.call import CallError, SimulatedCall, Webhook
from getpatter.testing.twilio_simulator.signature import twilio_signature

__all__ = ["LOOPBACK_HOSTS", "WebhookSender", "loopback_url", "twilio_headers"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_PLAIN_SCHEMES = {"https": "http", "wss": "ws"}
_USER_AGENT = "TwilioProxy/1.1"


def loopback_url(url: str) -> str:
    """The URL actually connected to for ``url``: TLS schemes become plain on loopback hosts."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return url
    return urlunsplit(parts._replace(scheme=_PLAIN_SCHEMES.get(parts.scheme, parts.scheme)))


def twilio_headers(
    auth_token: str, url: str, params: dict[str, str] | None = None
) -> dict[str, str]:
    """The headers Twilio adds to its requests for ``url``: the signature and an idempotency key."""
    return {
        "X-Twilio-Signature": twilio_signature(auth_token, url, params),
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }


class WebhookSender:
    """Sends signed form requests to the app and records each one on its call."""

    def __init__(self, auth_token: str, timeout: float) -> None:
        self._auth_token = auth_token
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)

    async def send(
        self, call: SimulatedCall, kind: str, url: str, params: dict[str, str], method: str = "POST"
    ) -> httpx.Response | None:
        """Request ``url`` like Twilio does; ``None`` (and a recorded error) if unreachable.

        POST sends ``params`` form-encoded in the body; GET appends them to the query string,
        and the signature then covers the URL alone.
        """
        loop = asyncio.get_running_loop()
        if method == "GET":
            signed_url = url + ("&" if "?" in url else "?") + urlencode(params)
            headers = twilio_headers(self._auth_token, signed_url)
            body = None
        else:
            signed_url = url
            headers = twilio_headers(self._auth_token, url, params)
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            body = urlencode(params).encode()
        headers["User-Agent"] = _USER_AGENT
        try:
            response = await self._http.request(
                method, loopback_url(signed_url), content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            at_ms = call._ms(loop.time())
            call.webhooks.append(Webhook(kind, method, url, params, None, at_ms))
            call.errors.append(
                CallError(11200, f"{kind} webhook {url} unreachable: {exc!r}", at_ms)
            )
            call._touch()
            return None
        at_ms = call._ms(loop.time())
        call.webhooks.append(Webhook(kind, method, url, params, response.status_code, at_ms))
        if not response.is_success:
            code = 11200 if kind == "voice" else 15003
            call.errors.append(
                CallError(code, f"{kind} webhook {url} answered HTTP {response.status_code}", at_ms)
            )
        call._touch()
        return response

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()
