"""Telnyx as the embedded server uses it: routes, stream format and Call Control actions."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from getpatter.audio.formats import AudioFormat
from getpatter.carriers.base import CallDesk, CallSnapshot, DialRequest
from getpatter.carriers.telnyx import Carrier
from getpatter.carriers.telnyx.adapter import AmdMode, TelnyxAdapter
from getpatter.carriers.telnyx.media import streamable
from getpatter.carriers.telnyx.routes import WEBHOOK_PATH, TelnyxRoutes
from getpatter.carriers.telnyx.webhooks import client_state, transfer_state

__all__ = ["TelnyxPort"]

#: The stream format when the engine takes none Telnyx can stream: the richest one.
_FALLBACK_FORMAT: AudioFormat = "pcm16_16000"


class TelnyxPort:
    """One Telnyx Call Control application and phone number behind the embedded server."""

    name = "telnyx"
    sends_dtmf = True
    """Keys are pressed with Call Control's ``send_dtmf``."""

    def __init__(self, carrier: Carrier, phone_number: str) -> None:
        self._carrier = carrier
        self._phone_number = phone_number
        self.adapter = TelnyxAdapter(carrier)
        self._desk: CallDesk | None = None
        self._routes: TelnyxRoutes | None = None

    @property
    def public_key(self) -> str:
        """The key webhooks are checked with (``""``: unchecked, by the user's choice)."""
        return self._carrier.public_key if self._carrier.verify_webhooks else ""

    def routes(self, desk: CallDesk) -> Sequence[BaseRoute]:
        """The event webhook and the media WebSocket, reporting to ``desk``."""
        self._desk = desk
        self._routes = TelnyxRoutes(port=self, desk=desk)
        return self._routes.routes()

    def stream_format(self, engine_formats: Sequence[AudioFormat]) -> AudioFormat:
        """The engine's best format Telnyx streams (PCMU, PCMA, L16 16 kHz), else L16 16 kHz."""
        return next((f for f in engine_formats if streamable(f)), _FALLBACK_FORMAT)

    def inbound_webhook_url(self) -> str:
        """The Call Control application's webhook URL."""
        return self._require_desk()[0].public_url(WEBHOOK_PATH)

    async def configure_number(self, phone_number: str) -> None:
        """Point the Call Control application (``connection_id``) at this server.

        The number rings the application it is assigned to in the Telnyx portal.
        """
        await self.adapter.set_webhook_url(self.inbound_webhook_url())

    async def dial(self, request: DialRequest) -> str:
        """Dial; the call is streamed once answered, its events come back to the server."""
        desk, routes = self._require_desk()
        detection: AmdMode | None = None
        if request.machine_detection:
            detection = "detect_beep" if request.wait_for_greeting else "detect"
        routes.stream_when_answered(request.patter_id)
        return await self.adapter.dial(
            to=request.to,
            from_=request.from_number,
            webhook_url=desk.public_url(WEBHOOK_PATH),
            client_state=client_state(request.patter_id),
            timeout_secs=request.ring_timeout,
            machine_detection=detection,
            record=request.record,
        )

    async def transfer(self, call_id: str, number: str, *, time_limit: int | None = None) -> None:
        """Transfer the call; its media stream stops, the new leg's end is reported."""
        desk, _ = self._require_desk()
        await self.adapter.transfer(
            call_id,
            to=number,
            from_=self._phone_number,
            target_client_state=transfer_state(call_id),
            time_limit_secs=time_limit,
            webhook_url=desk.public_url(WEBHOOK_PATH),
        )

    async def hangup(self, call_id: str) -> None:
        """End the call (an ended call is left alone)."""
        await self.adapter.hangup(call_id)

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        """Press ``digits`` on the call."""
        await self.adapter.send_dtmf(call_id, digits)

    async def start_recording(self, call_id: str) -> None:
        """Record the call; ``call.recording.saved`` reports the file."""
        await self.adapter.start_recording(call_id)

    async def call_snapshot(self, call_id: str) -> CallSnapshot | None:
        """Whether Telnyx has the call live (it does not say between which numbers)."""
        alive = await self.adapter.is_alive(call_id)
        return None if alive is None else CallSnapshot(live=alive)

    async def aclose(self) -> None:
        """Close the REST client."""
        await self.adapter.aclose()

    def _require_desk(self) -> tuple[CallDesk, TelnyxRoutes]:
        if self._desk is None or self._routes is None:
            raise RuntimeError("TelnyxPort.routes() must be mounted before calls are made")
        return self._desk, self._routes
