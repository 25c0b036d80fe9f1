"""What the simulated Telnyx account holds: Call Control applications and phone numbers."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CallControlApplication",
    "PhoneNumber",
    "iso",
    "new_call_control_id",
    "new_id",
    "new_uuid",
]


def new_id() -> str:
    """A Telnyx resource id: a long decimal number, as a string."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def new_call_control_id() -> str:
    """A ``call_control_id`` in Telnyx's current ``v3:`` form.

    Not made with ``secrets.token_urlsafe``: an id is no secret, and the test suite marks every
    token that function makes as one.
    """
    return "v3:" + base64.urlsafe_b64encode(secrets.token_bytes(36)).decode("ascii")


def new_uuid() -> str:
    """A lowercase UUID, as Telnyx writes call legs, sessions and events."""
    return str(uuid.uuid4())


def iso(moment: datetime) -> str:
    """A timestamp the way Telnyx writes them: ``2025-11-23T03:30:00.076316Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class CallControlApplication:
    """A Call Control application (a ``connection_id``): where its calls' webhooks go.

    The app may reconfigure it through the REST API; the simulator keeps what it set.
    """

    id: str
    application_name: str
    webhook_event_url: str | None = None
    webhook_event_failover_url: str | None = None
    webhook_timeout_secs: int | None = None
    active: bool = True
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def resource(self) -> dict[str, Any]:
        """The JSON resource (``record_type: call_control_application``)."""
        return {
            "id": self.id,
            "record_type": "call_control_application",
            "active": self.active,
            "anchorsite_override": "Latency",
            "application_name": self.application_name,
            "call_cost_in_webhooks": False,
            "created_at": iso(self.created),
            "dtmf_type": "RFC 2833",
            "first_command_timeout": False,
            "first_command_timeout_secs": 30,
            "inbound": {"channel_limit": None, "shaken_stir_enabled": False},
            "outbound": {"channel_limit": None, "outbound_voice_profile_id": None},
            "redact_dtmf_debug_logging": False,
            "tags": [],
            "updated_at": iso(self.updated),
            "webhook_api_version": "2",
            "webhook_event_failover_url": self.webhook_event_failover_url or "",
            "webhook_event_url": self.webhook_event_url or "",
            "webhook_timeout_secs": self.webhook_timeout_secs,
        }


@dataclass
class PhoneNumber:
    """A number the simulated account owns; its ``connection_id`` routes its calls."""

    id: str
    phone_number: str
    connection_id: str | None = None
    tags: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def resource(self, connection_name: str | None) -> dict[str, Any]:
        """The JSON resource (``record_type: phone_number``)."""
        return {
            "id": self.id,
            "record_type": "phone_number",
            "phone_number": self.phone_number,
            "status": "active",
            "phone_number_type": "local",
            "tags": list(self.tags),
            "connection_id": self.connection_id,
            "connection_name": connection_name,
            "created_at": iso(self.created),
            "purchased_at": iso(self.created),
            "updated_at": iso(self.updated),
            "deletion_lock_enabled": False,
            "external_pin": None,
            "billing_group_id": None,
            "customer_reference": None,
            "emergency_enabled": False,
            "call_forwarding_enabled": True,
            "call_recording_enabled": False,
            "caller_id_name_enabled": False,
            "cnam_listing_enabled": False,
            "messaging_profile_id": None,
            "source_type": "number_order",
        }
