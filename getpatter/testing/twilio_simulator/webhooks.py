"""Signed webhook requests from the Twilio simulator to the app (form-encoded, HMAC-SHA1).

The loopback rule (sign ``https://127.0.0.1:PORT/...``, connect over plain ``http://``) lives
in :mod:`getpatter.testing.phone_network.webhooks`.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import httpx

from getpatter.testing.phone_network.call import SimulatedCall, Webhook
from getpatter.testing.phone_network.webhooks import LOOPBACK_HOSTS, WebhookClient, loopback_url
from getpatter.testing.twilio_simulator.signature import twilio_signature

__all__ = ["LOOPBACK_HOSTS", "WebhookSender", "loopback_url", "twilio_headers"]

_USER_AGENT = "TwilioProxy/1.1"


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
        self._client = WebhookClient(timeout, _USER_AGENT)

    async def send(
        self, call: SimulatedCall, kind: str, url: str, params: dict[str, str], method: str = "POST"
    ) -> httpx.Response | None:
        """Request ``url`` like Twilio does; ``None`` (and a recorded error) if unreachable.

        POST sends ``params`` form-encoded in the body; GET appends them to the query string,
        and the signature then covers the URL alone. A voice URL answering non-2xx is error
        11200, any other callback 15003.
        """
        if method == "GET":
            signed_url = url + ("&" if "?" in url else "?") + urlencode(params)
            headers = twilio_headers(self._auth_token, signed_url)
            body = None
        else:
            signed_url = url
            headers = twilio_headers(self._auth_token, url, params)
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            body = urlencode(params).encode()
        record = Webhook(kind, method, url, params, None, 0.0, headers=headers)
        return await self._client.deliver(
            call,
            record,
            request_url=signed_url,
            content=body,
            failure_code=11200 if kind == "voice" else 15003,
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
