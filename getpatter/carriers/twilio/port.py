"""Twilio as the embedded server uses it: routes, stream format and REST actions in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from starlette.routing import BaseRoute

from getpatter.audio.formats import AudioFormat
from getpatter.carriers.base import CallDesk, CallSnapshot, DialRequest
from getpatter.carriers.twilio import Carrier
from getpatter.carriers.twilio.adapter import TwilioAdapter
from getpatter.carriers.twilio.routes import (
    AMD_PATH,
    CALL_PARAM,
    DIAL_ACTION_PATH,
    RECORDING_PATH,
    STATUS_PATH,
    VOICE_PATH,
    TwilioRoutes,
)
from getpatter.carriers.twilio.webhooks import dial_twiml
from getpatter.errors import ErrorCode, PatterError

__all__ = ["TwilioPort"]

#: Twilio call statuses of a call that can still take a media stream.
_LIVE_STATUSES = frozenset({"queued", "ringing", "in-progress"})


class TwilioPort:
    """One Twilio account and phone number behind the embedded server (μ-law 8 kHz only)."""

    name = "twilio"
    sends_dtmf = False
    """Media Streams cannot press keys: the session plays DTMF tones into the audio."""

    def __init__(self, carrier: Carrier, phone_number: str) -> None:
        self._carrier = carrier
        self._phone_number = phone_number
        self._adapter = TwilioAdapter(carrier)
        self._desk: CallDesk | None = None

    @property
    def adapter(self) -> TwilioAdapter:
        """The REST client."""
        return self._adapter

    def routes(self, desk: CallDesk) -> Sequence[BaseRoute]:
        """Twilio's webhooks and media WebSocket, reporting to ``desk``."""
        self._desk = desk
        return TwilioRoutes(auth_token=self._carrier.auth_token, desk=desk).routes()

    def stream_format(self, engine_formats: Sequence[AudioFormat]) -> AudioFormat:
        """Twilio streams μ-law 8 kHz only."""
        return "ulaw_8000"

    def inbound_webhook_url(self) -> str:
        """The number's voice URL."""
        return self._require_desk().public_url(VOICE_PATH)

    async def configure_number(self, phone_number: str) -> None:
        """Set the number's voice URL (IncomingPhoneNumber update, by POST)."""
        await self._adapter.configure_number(phone_number, self.inbound_webhook_url())

    async def dial(self, request: DialRequest) -> str:
        """Create the call; its TwiML, statuses, AMD and recording come back to the server."""
        desk = self._require_desk()
        query = {CALL_PARAM: request.patter_id}
        detection: Literal["Enable", "DetectMessageEnd"] | None = None
        if request.machine_detection:
            detection = "DetectMessageEnd" if request.wait_for_greeting else "Enable"
        return await self._adapter.create_call(
            to=request.to,
            from_=request.from_number,
            url=desk.public_url(VOICE_PATH, **query),
            status_callback=desk.public_url(STATUS_PATH, **query),
            timeout=request.ring_timeout,
            machine_detection=detection,
            amd_callback=desk.public_url(AMD_PATH, **query) if detection else None,
            record=request.record,
            recording_callback=desk.public_url(RECORDING_PATH, **query) if request.record else None,
        )

    async def transfer(self, call_id: str, number: str, *, time_limit: int | None = None) -> None:
        """Redirect the live call to a ``<Dial>``; its end is reported to the dial action."""
        desk = self._require_desk()
        twiml = dial_twiml(
            number,
            caller_id=self._phone_number,
            time_limit=time_limit,
            action=desk.public_url(DIAL_ACTION_PATH),
        )
        await self._adapter.redirect(call_id, twiml)

    async def hangup(self, call_id: str) -> None:
        """End the call (an ended call is left alone)."""
        await self._adapter.hangup(call_id)

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        """Refused: Twilio has no REST request that presses keys on a streaming call, so a
        session plays DTMF tones into the call's audio instead (:attr:`sends_dtmf`)."""
        raise PatterError(
            "Twilio presses keys in band only: send the DTMF tones in the call's audio",
            code=ErrorCode.CONFIG,
        )

    async def start_recording(self, call_id: str) -> None:
        """Start a recording through the Recordings API."""
        await self._adapter.start_recording(
            call_id, self._require_desk().public_url(RECORDING_PATH)
        )

    async def call_snapshot(self, call_id: str) -> CallSnapshot | None:
        """The call as Twilio has it (status, to, from)."""
        state = await self._adapter.call_state(call_id)
        if state is None:
            return None
        status, to, from_ = state
        return CallSnapshot(live=status in _LIVE_STATUSES, to=to, from_=from_)

    async def aclose(self) -> None:
        """Close the REST client."""
        await self._adapter.aclose()

    def _require_desk(self) -> CallDesk:
        if self._desk is None:
            raise RuntimeError("TwilioPort.routes() must be mounted before calls are made")
        return self._desk
