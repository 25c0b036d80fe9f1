"""Telnyx's routes on the embedded server: the signed event webhook and the media WebSocket.

Every event is checked against its Ed25519 signature (unless the carrier was explicitly told not
to) and its id is remembered for a day: a request that fails the check gets 403, and a replay of
an event already handled is answered 200 and does nothing. Events then become what the server
understands: a call to answer and stream, a state, a machine-detection result, a key press, a
recording, the end of a transferred leg.

The media stream is authenticated by a single-use token in its URL (the last path segment); the
segment before it names the codec Patter asked Telnyx to stream in.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from getpatter._recent import RecentKeys
from getpatter.audio.formats import AudioFormat
from getpatter.carriers._bodies import read_body
from getpatter.carriers.base import CallDesk, TransferEnded
from getpatter.carriers.telnyx.adapter import StreamSettings
from getpatter.carriers.telnyx.media import TelnyxCodec, stream_codec
from getpatter.carriers.telnyx.webhooks import (
    TelnyxEvent,
    WebhookRejected,
    call_state,
    client_state,
    machine_result,
    parse_event,
    seconds_between,
    verify_signature,
)
from getpatter.errors import PatterError

if TYPE_CHECKING:
    from getpatter.carriers.telnyx.port import TelnyxPort
    from getpatter.session import CallSession

__all__ = ["MEDIA_PATH", "WEBHOOK_PATH", "KeyPresses", "TelnyxRoutes"]

logger = logging.getLogger("getpatter.server")

WEBHOOK_PATH = "/webhooks/telnyx/voice"
MEDIA_PATH = "/ws/telnyx/media"
#: Telnyx events are a few kilobytes; anything far larger is not Telnyx.
_MAX_BODY_BYTES = 256 * 1024
#: Event ids are kept this long, and this many at most, to refuse replays.
_SEEN_EVENTS_S = 24 * 3600.0
_SEEN_EVENTS_MAX = 200_000
#: The codec segment of a media URL -> the format the call is streamed in.
_MEDIA_FORMATS: dict[str, AudioFormat] = {
    "pcmu": "ulaw_8000",
    "pcma": "alaw_8000",
    "l16": "pcm16_16000",
}
_SEGMENTS = {fmt: segment for segment, fmt in _MEDIA_FORMATS.items()}


class KeyPresses:
    """Telnyx reports each key press twice (a media ``dtmf`` frame and a ``call.dtmf.received``
    webhook): the first report of a press counts, its twin from the other source is dropped."""

    WINDOW_S = 2.0

    def __init__(self) -> None:
        self._pending: dict[str, deque[tuple[str, str, float]]] = {}

    def accept(self, call_id: str, digit: str, source: str) -> bool:
        """True if this report is a new press; False if it is the twin of one just counted."""
        now = time.monotonic()
        pending = self._pending.setdefault(call_id, deque())
        while pending and now - pending[0][2] > self.WINDOW_S:
            pending.popleft()
        for index, (other, pressed, _) in enumerate(pending):
            if other != source and pressed == digit:
                del pending[index]
                return False
        pending.append((source, digit, now))
        return True

    def forget(self, call_id: str) -> None:
        """The call ended."""
        self._pending.pop(call_id, None)


class TelnyxRoutes:
    """The Telnyx routes of one server, reporting to a :class:`CallDesk`."""

    def __init__(self, *, port: TelnyxPort, desk: CallDesk) -> None:
        self._port = port
        self._desk = desk
        self._seen = RecentKeys(window=_SEEN_EVENTS_S, limit=_SEEN_EVENTS_MAX)
        self._keys = KeyPresses()
        self._stream_when_answered: set[str] = set()
        """Calls to stream once Telnyx says they are answered: outbound calls by Patter id,
        inbound calls streamed at 16 kHz by call id."""

    def routes(self) -> list[BaseRoute]:
        """The routes to mount."""
        return [
            Route(WEBHOOK_PATH, self.webhook, methods=["POST"]),
            WebSocketRoute(MEDIA_PATH + "/{codec}/{token}", self.media),
        ]

    # ---------------------------------------------------------------------- webhooks

    async def webhook(self, request: Request) -> Response:
        """One Telnyx event."""
        forbidden = PlainTextResponse("Forbidden: invalid Telnyx signature", status_code=403)
        body = await read_body(request, _MAX_BODY_BYTES, forbidden)
        if isinstance(body, Response):
            return body
        public_key = self._port.public_key
        try:
            if public_key:
                verify_signature(body, request.headers, public_key)
        except WebhookRejected as exc:
            self._desk.note_rejected(f"Telnyx signature: {exc.reason}", path=request.url.path)
            return forbidden
        try:
            event = parse_event(body)
        except WebhookRejected as exc:
            return PlainTextResponse(f"not a Telnyx event: {exc.reason}", status_code=400)
        now = time.monotonic()
        if self._seen.seen(event.id, now):
            self._desk.note_rejected(f"Telnyx event {event.id} came again (a replay?)")
            return Response(status_code=200)
        self._seen.add(event.id, now)
        await self._handle(event)
        return Response(status_code=200)

    async def _handle(self, event: TelnyxEvent) -> None:
        kind = event.event_type
        call_id = event.call_control_id
        if not call_id:
            return
        if event.is_transfer_leg:
            if kind == "call.hangup":
                self._transfer_ended(event)
            return
        patter_id = event.patter_id
        if kind == "call.initiated":
            await self._initiated(event)
        elif kind == "call.answered":
            await self._desk.call_state(call_id, "in-progress", patter_id=patter_id)
            for key in (call_id, patter_id):
                if key and key in self._stream_when_answered:
                    self._stream_when_answered.discard(key)
                    await self._stream(event)
                    break
        elif kind == "call.hangup":
            self._keys.forget(call_id)
            self._stream_when_answered.discard(call_id)
            await self._desk.call_state(
                call_id,
                call_state(event.text("hangup_cause")),
                duration=event.seconds(),
                patter_id=patter_id,
            )
        elif kind in ("call.machine.detection.ended", "call.machine.premium.detection.ended"):
            result = machine_result(event.text("result"))
            self._desk.machine_detected(call_id, result, greeting_ended=False, patter_id=patter_id)
        elif kind in ("call.machine.greeting.ended", "call.machine.premium.greeting.ended"):
            self._desk.machine_detected(
                call_id, "machine", greeting_ended=True, patter_id=patter_id
            )
        elif kind == "call.dtmf.received":
            digit = event.text("digit")
            if digit and self._keys.accept(call_id, digit, "webhook"):
                await self._desk.key_pressed(call_id, digit, patter_id=patter_id)
        elif kind == "call.recording.saved":
            self._desk.recording_ready(call_id, _recording(event), patter_id=patter_id)
        elif kind == "streaming.failed":
            logger.warning(
                "call %s: Telnyx could not stream it (%s)",
                call_id,
                event.text("failure_reason") or "no reason given",
            )

    async def _initiated(self, event: TelnyxEvent) -> None:
        call_id = event.call_control_id
        if event.text("direction") != "incoming":
            await self._desk.call_state(call_id, "initiated", patter_id=event.patter_id)
            return
        session = await self._desk.incoming(call_id, event.text("from"), event.text("to"))
        if session is None:
            if not self._desk.accepting:  # a new call while the server stops: turn it away
                try:
                    await self._port.hangup(call_id)
                except PatterError as exc:
                    logger.warning("call %s: could not turn it away: %s", call_id, exc)
            return
        fmt = self._port.stream_format(session.engine_formats)
        stream = None
        if stream_codec(fmt)[1] == 8000:
            stream = self._settings(session, fmt)
        else:
            # ``answer`` takes no sampling rate: a 16 kHz stream is started once answered.
            self._stream_when_answered.add(call_id)
        session.run_in_background(self._answer(session, call_id, stream))

    async def _answer(
        self, session: CallSession, call_id: str, stream: StreamSettings | None
    ) -> None:
        try:
            await self._port.adapter.answer(
                call_id, client_state=client_state(session.patter_id), stream=stream
            )
        except PatterError as exc:
            logger.error("call %s: could not answer it: %s", call_id, exc)
            await session.finish(outcome="failed", ended_by="carrier", error=str(exc))

    async def _stream(self, event: TelnyxEvent) -> None:
        call_id = event.call_control_id
        direction = event.text("direction")
        caller, callee = event.text("from"), event.text("to")
        session = await self._desk.incoming(
            call_id,
            caller if direction == "incoming" else callee,
            callee if direction == "incoming" else caller,
            patter_id=event.patter_id,
        )
        if session is None:
            return
        stream = self._settings(session, self._port.stream_format(session.engine_formats))
        session.run_in_background(self._start_streaming(session, call_id, stream))

    async def _start_streaming(
        self, session: CallSession, call_id: str, stream: StreamSettings
    ) -> None:
        try:
            await self._port.adapter.start_streaming(call_id, stream)
        except PatterError as exc:
            logger.error("call %s: could not start its media stream: %s", call_id, exc)
            await session.finish(outcome="failed", ended_by="carrier", error=str(exc))

    def _settings(self, session: CallSession, fmt: AudioFormat) -> StreamSettings:
        codec, rate = stream_codec(fmt)
        url = self._desk.media_url(f"{MEDIA_PATH}/{_SEGMENTS[fmt]}", session)
        return StreamSettings(url, codec, rate)

    def stream_when_answered(self, patter_id: str) -> None:
        """The outbound call ``patter_id`` was dialed: stream it once it is answered."""
        self._stream_when_answered.add(patter_id)

    def _transfer_ended(self, event: TelnyxEvent) -> None:
        self._desk.transfer_ended(
            TransferEnded(
                call_id=event.transferred_call_id,
                status=call_state(event.text("hangup_cause")),
                dial_call_id=event.call_control_id,
                duration_seconds=event.seconds() or 0,
            )
        )

    # ---------------------------------------------------------------------- media stream

    async def media(self, websocket: WebSocket) -> None:
        """One call's media WebSocket."""
        fmt = _MEDIA_FORMATS.get(websocket.path_params.get("codec", ""))
        if fmt is None:
            self._desk.note_rejected("a media stream for an unknown codec")
            await websocket.close(code=1008)
            return
        await self._desk.relay_media(websocket, TelnyxCodec(fmt, self._keys))


def _recording(event: TelnyxEvent) -> dict[str, object]:
    urls = event.payload.get("recording_urls")
    urls = urls if isinstance(urls, dict) else {}
    return {
        "recording_sid": event.text("recording_id") or event.id,
        "url": urls.get("wav") or urls.get("mp3") or "",
        "status": "completed",
        "duration_seconds": seconds_between(
            event.payload.get("recording_started_at"), event.payload.get("recording_ended_at")
        ),
    }
