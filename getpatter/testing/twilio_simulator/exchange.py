"""The simulated phone network: the account's numbers, who answers where, and every call."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.switchboard import Switchboard
from getpatter.testing.scenario import Callee
from getpatter.testing.twilio_simulator.leg import CallLeg, LegConfig
from getpatter.testing.twilio_simulator.webhooks import WebhookSender

__all__ = ["Exchange", "PhoneNumber", "new_sid"]


@dataclass
class PhoneNumber:
    """A number the simulated account owns (an IncomingPhoneNumber resource).

    The app may reconfigure it through the REST API; the simulator keeps what it set.
    """

    sid: str
    phone_number: str
    voice_url: str | None = None
    voice_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    friendly_name: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


class Exchange(Switchboard[CallLeg]):
    """Numbers, scripted callees and calls of one simulated account."""

    def __init__(self, account_sid: str, auth_token: str, webhook_timeout: float) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.webhooks = WebhookSender(auth_token, webhook_timeout)
        self.numbers: dict[str, PhoneNumber] = {}

    def add_number(self, number: PhoneNumber) -> PhoneNumber:
        """Own ``number`` (replacing any earlier entry for the same phone number)."""
        self.numbers[number.phone_number] = number
        return number

    def number_by_sid(self, sid: str) -> PhoneNumber | None:
        """The owned number whose sid is ``sid``."""
        return next((n for n in self.numbers.values() if n.sid == sid), None)

    def dial(self, to: str, from_: str, config: LegConfig) -> CallLeg:
        """Create an outbound call (``queued``); the caller starts its leg."""
        call = SimulatedCall(
            new_sid("CA"), self.account_sid, "outbound-api", to, from_, self.callee(to), "queued"
        )
        return self._leg(call, config)

    def ring_in(self, to: str, from_: str, callee: Callee, config: LegConfig) -> CallLeg:
        """Create and start an inbound call to the app (``ringing``)."""
        call = SimulatedCall(
            new_sid("CA"), self.account_sid, "inbound", to, from_, callee, "ringing"
        )
        leg = self._leg(call, config)
        leg.start()
        return leg

    async def _close(self) -> None:
        await self.webhooks.aclose()

    def _leg(self, call: SimulatedCall, config: LegConfig) -> CallLeg:
        return self.register(
            CallLeg(
                call,
                config,
                auth_token=self.auth_token,
                webhooks=self.webhooks,
                recordings_url=f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings",
                transfer_talk_s=self.transfer_talk_s,
            )
        )


def new_sid(prefix: str) -> str:
    """A Twilio-style sid: a two-letter prefix and 32 hex digits."""
    return prefix + secrets.token_hex(16)
