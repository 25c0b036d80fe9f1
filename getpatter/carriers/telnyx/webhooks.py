"""Telnyx webhooks: Ed25519 signature checks, the event envelope, and Telnyx's words in Patter's.

Telnyx POSTs JSON events (``{"data": {"event_type", "id", "occurred_at", "payload"}}``) signed
with Ed25519: ``telnyx-signature-ed25519`` is the signature of ``"{telnyx-timestamp}|{raw
body}"``. The check is the official SDK's (``telnyx.lib.webhook_verification``, with PyNaCl),
which also refuses a timestamp more than 300 s away from now.

Patter names its calls in ``client_state`` (echoed by Telnyx on every later webhook of the call,
and of a transferred leg): :func:`client_state` writes it, :attr:`TelnyxEvent.patter_id` reads it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from getpatter.carriers.base import MachineResult

__all__ = [
    "TelnyxEvent",
    "WebhookRejected",
    "call_state",
    "client_state",
    "machine_result",
    "parse_event",
    "seconds_between",
    "transfer_state",
    "verify_signature",
]

_CALL_PREFIX = "patter:"
_TRANSFER_PREFIX = "patter-transfer:"

#: ``hangup_cause`` in Patter's words (a connected call's session reports ``completed``).
_HANGUP_STATES = {
    "normal_clearing": "completed",
    "time_limit": "completed",
    "user_busy": "busy",
    "call_rejected": "busy",
    "timeout": "no-answer",
    "no_answer": "no-answer",
    "originator_cancel": "canceled",
}
_HUMAN = frozenset({"human", "human_residence", "human_business"})


class WebhookRejected(Exception):
    """A request that is not a genuine, well-formed Telnyx webhook; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_signature(body: bytes, headers: Mapping[str, str], public_key: str) -> None:
    """Raise :class:`WebhookRejected` unless ``body`` is signed by ``public_key`` (recently)."""
    from telnyx.lib.webhook_verification import (
        WebhookVerificationError,
        verify_webhook_signature,
    )

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("the body is not UTF-8") from None
    try:
        verify_webhook_signature(text, dict(headers), public_key)
    except WebhookVerificationError as exc:
        raise WebhookRejected(exc.message) from None


@dataclass(frozen=True)
class TelnyxEvent:
    """One webhook event: its id, type, time and payload (Telnyx's field names)."""

    id: str
    event_type: str
    occurred_at: datetime | None
    payload: dict[str, Any]

    @property
    def call_control_id(self) -> str:
        """The call the event is about (``""`` when the payload has none)."""
        value = self.payload.get("call_control_id")
        return value if isinstance(value, str) else ""

    def text(self, name: str) -> str:
        """A string field of the payload, ``""`` when absent or not a string."""
        value = self.payload.get(name)
        return value if isinstance(value, str) else ""

    @property
    def patter_id(self) -> str:
        """The Patter call id in ``client_state`` (``""`` for other calls and legs)."""
        kind, value = _state(self.payload)
        return value if kind == "call" else ""

    @property
    def transferred_call_id(self) -> str:
        """For an event of a transferred leg: the ``call_control_id`` of the call that was
        transferred (its ``client_state`` names it)."""
        kind, value = _state(self.payload)
        return value if kind == "transfer" else ""

    @property
    def is_transfer_leg(self) -> bool:
        """True for an event of the leg a Patter call was transferred to."""
        return _state(self.payload)[0] == "transfer"

    def seconds(self) -> int | None:
        """Seconds from the payload's ``start_time`` to the event (a hang-up's duration)."""
        return seconds_between(self.payload.get("start_time"), self.occurred_at)


def parse_event(body: bytes) -> TelnyxEvent:
    """The event of a webhook body; :class:`WebhookRejected` when it is not one."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("the body is not JSON") from None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        raise WebhookRejected("no 'data' object")
    event_id, event_type, payload = data.get("id"), data.get("event_type"), data.get("payload")
    if not isinstance(event_id, str) or not event_id:
        raise WebhookRejected("no event 'id'")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookRejected("no 'event_type'")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise WebhookRejected("'payload' is not an object")
    return TelnyxEvent(event_id, event_type, _timestamp(data.get("occurred_at")), payload)


def client_state(patter_id: str) -> str:
    """The ``client_state`` naming Patter call ``patter_id``."""
    return base64.b64encode(f"{_CALL_PREFIX}{patter_id}".encode()).decode("ascii")


def transfer_state(call_id: str) -> str:
    """The ``client_state`` of the leg the call ``call_id`` is transferred to."""
    return base64.b64encode(f"{_TRANSFER_PREFIX}{call_id}".encode()).decode("ascii")


def seconds_between(started: object, ended: object) -> int | None:
    """Whole seconds between two Telnyx timestamps (ISO 8601 text or datetimes)."""
    start = started if isinstance(started, datetime) else _timestamp(started)
    end = ended if isinstance(ended, datetime) else _timestamp(ended)
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def call_state(hangup_cause: str) -> str:
    """The :data:`~getpatter.carriers.base.CallState` a ``call.hangup`` with this cause ends in."""
    return _HANGUP_STATES.get(hangup_cause, "failed")


def machine_result(result: str) -> MachineResult:
    """A Telnyx machine-detection ``result`` (standard or premium) in Patter's words."""
    if result in _HUMAN:
        return "human"
    if result == "machine":
        return "machine"
    if result in ("fax_detected", "fax"):
        return "fax"
    return "unknown"


def _state(payload: dict[str, Any]) -> tuple[Literal["call", "transfer", ""], str]:
    raw = payload.get("client_state")
    if not isinstance(raw, str) or not raw:
        return "", ""
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "", ""
    if text.startswith(_TRANSFER_PREFIX):
        return "transfer", text[len(_TRANSFER_PREFIX) :]
    if text.startswith(_CALL_PREFIX):
        return "call", text[len(_CALL_PREFIX) :]
    return "", ""


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
