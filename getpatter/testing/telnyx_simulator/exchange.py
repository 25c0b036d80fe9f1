"""The simulated Telnyx account: its applications, numbers, keys and every call."""

from __future__ import annotations

from typing import Any

from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.switchboard import Switchboard
from getpatter.testing.scenario import Callee
from getpatter.testing.telnyx_simulator.account import (
    CallControlApplication,
    PhoneNumber,
    new_call_control_id,
    new_uuid,
)
from getpatter.testing.telnyx_simulator.leg import TelnyxLeg
from getpatter.testing.telnyx_simulator.signature import WebhookSigner
from getpatter.testing.telnyx_simulator.webhooks import TelnyxWebhooks

__all__ = ["Exchange"]


class Exchange(Switchboard[TelnyxLeg]):
    """Applications, numbers, scripted callees and calls of one simulated Telnyx account."""

    def __init__(self, api_key: str, webhook_timeout: float, answer_timeout_s: float) -> None:
        super().__init__()
        self.api_key = api_key
        self.user_id = new_uuid()
        self.signer = WebhookSigner()
        self.webhooks = TelnyxWebhooks(self.signer, webhook_timeout)
        self.answer_timeout_s = answer_timeout_s
        self.applications: dict[str, CallControlApplication] = {}
        self.numbers: dict[str, PhoneNumber] = {}
        self.dials: dict[str, TelnyxLeg] = {}
        """Outbound calls by the ``command_id`` of their dial (duplicates are ignored)."""

    def number_by_id(self, number_id: str) -> PhoneNumber | None:
        """The owned number whose id is ``number_id``."""
        return next((n for n in self.numbers.values() if n.id == number_id), None)

    def dial(
        self, to: str, from_: str, application: CallControlApplication, params: dict[str, Any]
    ) -> TelnyxLeg:
        """Create an outbound call; the caller starts its leg."""
        call = SimulatedCall(
            new_call_control_id(),
            self.user_id,
            "outbound-api",
            to,
            from_,
            self.callee(to),
            "queued",
        )
        return self._leg(call, application, params)

    def ring_in(
        self,
        to: str,
        from_: str,
        callee: Callee,
        application: CallControlApplication,
        webhook_url: str | None,
    ) -> TelnyxLeg:
        """Create and start an inbound call to the app (parked until answered)."""
        call = SimulatedCall(
            new_call_control_id(), self.user_id, "inbound", to, from_, callee, "ringing"
        )
        params = {"webhook_url": webhook_url} if webhook_url else {}
        leg = self._leg(call, application, params)
        leg.start()
        return leg

    async def _close(self) -> None:
        await self.webhooks.aclose()

    def _leg(
        self, call: SimulatedCall, application: CallControlApplication, params: dict[str, Any]
    ) -> TelnyxLeg:
        return self.register(
            TelnyxLeg(
                call,
                params,
                application=application,
                webhooks=self.webhooks,
                user_id=self.user_id,
                recordings_url=f"{self.base_url}/recordings",
                callee_for=self.callee,
                transfer_talk_s=self.transfer_talk_s,
                answer_timeout_s=self.answer_timeout_s,
            )
        )
