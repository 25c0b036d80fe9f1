"""Telnyx's signed JSON webhooks, delivered in order for each call, and replayed on request.

Each event is the envelope Telnyx posts: ``{"data": {"record_type": "event", "event_type",
"id", "occurred_at", "payload"}, "meta": {"attempt", "delivered_to"}}``, signed with
``telnyx-signature-ed25519`` over ``f"{timestamp}|{raw_body}"`` with ``telnyx-timestamp``. A
call's events are sent one after the other, in the order they happened (Telnyx does not
promise an order; a steady one keeps tests readable). Failed deliveries are recorded (11200
unreachable, 15003 non-2xx) and not retried.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from getpatter.testing.phone_network.call import SimulatedCall, Webhook
from getpatter.testing.phone_network.webhooks import WebhookClient, loopback_url
from getpatter.testing.telnyx_simulator.account import iso, new_uuid
from getpatter.testing.telnyx_simulator.signature import WebhookSigner

__all__ = ["EventQueue", "TelnyxWebhooks"]

_USER_AGENT = "telnyx-webhooks"


class TelnyxWebhooks:
    """Builds, signs and sends webhooks; replays one the app already received."""

    def __init__(self, signer: WebhookSigner, timeout: float) -> None:
        self._signer = signer
        self._client = WebhookClient(timeout, _USER_AGENT)
        self._replays = httpx.AsyncClient(timeout=timeout, trust_env=False)

    def event(self, event_type: str, url: str, payload: dict[str, Any]) -> Webhook:
        """The signed webhook for ``event_type`` to ``url`` (not sent yet)."""
        body = {
            "data": {
                "record_type": "event",
                "event_type": event_type,
                "id": new_uuid(),
                "occurred_at": iso(datetime.now(UTC)),
                "payload": payload,
            },
            "meta": {"attempt": 1, "delivered_to": url},
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} | self._signer.headers(raw)
        return Webhook(event_type, "POST", url, {}, None, 0.0, raw, headers)

    async def send(self, call: SimulatedCall, hook: Webhook) -> httpx.Response | None:
        """Deliver ``hook`` and record it on ``call``."""
        return await self._client.deliver(
            call, hook, request_url=hook.url, content=hook.body, failure_code=15003
        )

    async def replay(self, hook: Webhook, *, timestamp: int | None = None) -> int | None:
        """Send ``hook`` again: verbatim, or re-signed with ``timestamp``. Not recorded.

        Returns the app's HTTP status, or ``None`` if it could not be reached.
        """
        headers = dict(hook.headers)
        if timestamp is not None:
            headers |= self._signer.headers(hook.body, timestamp)
        headers["User-Agent"] = _USER_AGENT
        try:
            response = await self._replays.post(
                loopback_url(hook.url), content=hook.body, headers=headers
            )
        except httpx.HTTPError:
            return None
        return response.status_code

    async def aclose(self) -> None:
        """Close the HTTP connection pools."""
        await self._client.aclose()
        await self._replays.aclose()


class EventQueue:
    """One call's webhooks, sent in order by a task of their own."""

    def __init__(self, call: SimulatedCall, webhooks: TelnyxWebhooks) -> None:
        self._call = call
        self._webhooks = webhooks
        self._queue: asyncio.Queue[Webhook] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def put(self, hook: Webhook) -> None:
        """Send ``hook`` after the ones before it."""
        if self._task is None:
            self._task = asyncio.create_task(self._deliver())
        self._queue.put_nowait(hook)

    async def drain(self) -> None:
        """Wait until every webhook put so far was delivered (or failed), then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def abort(self) -> None:
        """Stop sending at once (the simulator is closing and the grace time is over)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _deliver(self) -> None:
        while True:
            hook = await self._queue.get()
            try:
                await self._webhooks.send(self._call, hook)
            finally:
                self._queue.task_done()
