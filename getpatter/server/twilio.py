"""Twilio's side of the embedded server: signed webhooks and the media-stream WebSocket.

Every webhook is checked against ``X-Twilio-Signature`` over the public URL Twilio called (built
from the configured public hostname, so it holds behind proxies and tunnels); a forged or
unsigned request gets 403 and starts nothing. The media stream is authenticated by a single-use
token carried in the stream URL of the TwiML Patter returned for that call: an upgrade without a
valid token is refused before the WebSocket opens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from getpatter.carriers.twilio.media import (
    Dtmf,
    MalformedFrame,
    Mark,
    Media,
    Start,
    Stop,
    clear_message,
    mark_message,
    media_message,
    parse_frame,
)
from getpatter.carriers.twilio.webhooks import (
    AmdCallback,
    RecordingCallback,
    StatusCallback,
    VoiceWebhook,
    connect_stream_twiml,
    hangup_twiml,
    parse_form,
    verify_signature,
)
from getpatter.errors import PatterError
from getpatter.server.registry import TOKEN_TTL_SECONDS, CallRegistry, FinishedCall
from getpatter.session import CallSession

__all__ = ["CALL_PARAM", "TwilioMediaOut", "TwilioRoutes"]

logger = logging.getLogger("getpatter.server")

#: The query parameter (and stream ``<Parameter>``) that names a call Patter dialed out.
CALL_PARAM = "patter_call"
MEDIA_PATH = "/ws/twilio/media"
#: Twilio's form posts are a few hundred bytes; anything far larger is not Twilio.
_MAX_FORM_BYTES = 64 * 1024


class TwilioMediaOut:
    """Sends agent audio, marks and clears to one Twilio media stream."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self.stream_sid = ""

    async def send_audio(self, frame: bytes) -> None:
        await self._ws.send_text(media_message(self.stream_sid, frame))

    async def send_mark(self, name: str) -> None:
        await self._ws.send_text(mark_message(self.stream_sid, name))

    async def send_clear(self) -> None:
        await self._ws.send_text(clear_message(self.stream_sid))


class TwilioRoutes:
    """The Twilio webhook and media routes of one server.

    ``public_host`` is the hostname Twilio calls; ``new_inbound_call(caller, callee, call_sid)``
    builds the session of a call ringing in; ``on_media_start(session)`` runs when a call's
    stream starts (to begin recording, for instance).
    """

    def __init__(
        self,
        *,
        auth_token: str,
        public_host: Callable[[], str],
        registry: CallRegistry,
        new_inbound_call: Callable[[str, str, str], CallSession],
        on_media_start: Callable[[CallSession], Awaitable[None]] | None = None,
    ) -> None:
        self._auth_token = auth_token
        self._public_host = public_host
        self._registry = registry
        self._new_inbound_call = new_inbound_call
        self._on_media_start = on_media_start
        self.rejected_webhooks = 0
        self.accepting = True
        """False while the server stops: new calls are hung up at once."""

    def routes(self) -> list[Route | WebSocketRoute]:
        """The routes to mount."""
        return [
            Route("/webhooks/twilio/voice", self.voice, methods=["POST"]),
            Route("/webhooks/twilio/status", self.status, methods=["POST"]),
            Route("/webhooks/twilio/amd", self.amd, methods=["POST"]),
            Route("/webhooks/twilio/recording", self.recording, methods=["POST"]),
            WebSocketRoute(MEDIA_PATH + "/{token}", self.media),
        ]

    def url(self, path: str, **query: str) -> str:
        """The public https URL of ``path``."""
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return f"https://{self._public_host()}{path}" + (f"?{suffix}" if suffix else "")

    # ---------------------------------------------------------------------- webhooks

    async def _verified_form(self, request: Request) -> dict[str, str] | None:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > _MAX_FORM_BYTES:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM_BYTES:
                return None
        signed: dict[str, list[str]] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            signed.setdefault(key, []).append(value)
        url = f"https://{self._public_host()}{request.url.path}"
        if request.url.query:
            url += f"?{request.url.query}"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not verify_signature(self._auth_token, url, signed, signature):
            self.rejected_webhooks += 1
            logger.warning(
                "rejected a Twilio webhook to %s: bad or missing signature", request.url.path
            )
            return None
        return {key: values[-1] for key, values in signed.items()}

    async def voice(self, request: Request) -> Response:
        params = await self._verified_form(request)
        if params is None:
            return _forbidden()
        try:
            hook = parse_form(VoiceWebhook, params)
        except PatterError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        patter_id = request.query_params.get(CALL_PARAM, "")
        session = self._registry.find(patter_id=patter_id, call_sid=hook.call_sid)
        if session is None:
            if patter_id:
                logger.warning("voice webhook for unknown outbound call %s: hanging up", patter_id)
                return _twiml(hangup_twiml())
            session = self._new_inbound_call(hook.from_, hook.to, hook.call_sid)
        elif not session.call_sid:
            self._registry.bind_sid(session, hook.call_sid)
        if not self.accepting:
            return _twiml(hangup_twiml())
        token = self._registry.mint_token(session)
        session.expect_media(TOKEN_TTL_SECONDS)
        stream_url = f"wss://{self._public_host()}{MEDIA_PATH}/{token}"
        return _twiml(connect_stream_twiml(stream_url, {CALL_PARAM: session.patter_id}))

    async def status(self, request: Request) -> Response:
        params = await self._verified_form(request)
        if params is None:
            return _forbidden()
        try:
            hook = parse_form(StatusCallback, params)
        except PatterError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        session = self._find(request, hook.call_sid)
        if session is not None:
            await session.on_status(hook.call_status, hook.call_duration)
        return Response(status_code=204)

    async def amd(self, request: Request) -> Response:
        params = await self._verified_form(request)
        if params is None:
            return _forbidden()
        try:
            hook = parse_form(AmdCallback, params)
        except PatterError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        session = self._find(request, hook.call_sid)
        if session is not None:
            session.on_amd(hook.answered_by)
        return Response(status_code=204)

    async def recording(self, request: Request) -> Response:
        params = await self._verified_form(request)
        if params is None:
            return _forbidden()
        try:
            hook = parse_form(RecordingCallback, params)
        except PatterError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        details = {
            "recording_sid": hook.recording_sid,
            "url": hook.recording_url,
            "status": hook.recording_status,
            "duration_seconds": hook.recording_duration,
        }
        # A recording is usually ready after the call ended: its small record takes it then.
        call = self._find(request, hook.call_sid) or self._find_finished(request, hook.call_sid)
        if call is not None:
            call.on_recording(details)
        return Response(status_code=204)

    def _find(self, request: Request, call_sid: str) -> CallSession | None:
        patter_id = request.query_params.get(CALL_PARAM, "")
        return self._registry.find(patter_id=patter_id, call_sid=call_sid)

    def _find_finished(self, request: Request, call_sid: str) -> FinishedCall | None:
        patter_id = request.query_params.get(CALL_PARAM, "")
        return self._registry.find_finished(patter_id=patter_id, call_sid=call_sid)

    # ---------------------------------------------------------------------- media stream

    async def media(self, websocket: WebSocket) -> None:
        session = self._registry.claim_token(websocket.path_params["token"])
        if session is None:
            self.rejected_webhooks += 1
            logger.warning("refused a media stream without a valid token")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        out = TwilioMediaOut(websocket)
        try:
            await self._relay(websocket, session, out)
        finally:
            await session.on_media_stopped()

    async def _relay(self, websocket: WebSocket, session: CallSession, out: TwilioMediaOut) -> None:
        while not session.finished:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            try:
                frame = parse_frame(raw if raw is not None else message.get("bytes") or b"")
            except MalformedFrame as exc:
                session.malformed_frames += 1
                logger.debug("skipped a malformed media frame: %s", exc.reason)
                continue
            if isinstance(frame, Media):
                await session.on_media(frame.payload)
            elif isinstance(frame, Mark):
                session.on_mark(frame.name)
            elif isinstance(frame, Dtmf):
                await session.on_dtmf(frame.digit)
            elif isinstance(frame, Start):
                if session.call_sid and frame.call_sid != session.call_sid:
                    logger.warning(
                        "media stream for %s presented a token of %s",
                        frame.call_sid,
                        session.call_sid,
                    )
                    return
                if out.stream_sid:
                    continue  # a second start on the same stream: ignore it
                out.stream_sid = frame.stream_sid
                params = {k: v for k, v in frame.custom_parameters.items() if k != CALL_PARAM}
                if session.start_media(out, params) and self._on_media_start is not None:
                    session.run_in_background(self._on_media_start(session))
            elif isinstance(frame, Stop):
                return


def _forbidden() -> Response:
    return PlainTextResponse("Forbidden: invalid Twilio signature", status_code=403)


def _twiml(body: str) -> Response:
    return Response(body, media_type="text/xml")
