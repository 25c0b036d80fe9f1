"""Twilio's side of the embedded server: signed webhooks and the media-stream WebSocket.

Every webhook is checked against ``X-Twilio-Signature`` over the public URL Twilio called (built
from the configured public hostname, so it holds behind proxies and tunnels); a forged or
unsigned request gets 403 and starts nothing. The media stream is authenticated by a single-use
token carried in the stream URL of the TwiML Patter returned for that call: an upgrade without a
valid token is refused before the WebSocket opens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
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
    DialActionCallback,
    FormT,
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

__all__ = ["CALL_PARAM", "DIAL_ACTION_PATH", "TwilioMediaOut", "TwilioRoutes"]

logger = logging.getLogger("getpatter.server")

#: The query parameter (and stream ``<Parameter>``) that names a call Patter dialed out.
CALL_PARAM = "patter_call"
MEDIA_PATH = "/ws/twilio/media"
#: Where Twilio reports the end of a transferred leg (``<Dial action>``).
DIAL_ACTION_PATH = "/webhooks/twilio/dial"
#: Twilio's form posts are a few hundred bytes; anything far larger is not Twilio.
_MAX_FORM_BYTES = 64 * 1024
#: How long a webhook body may take to arrive: Twilio sends it at once, a client trickling it
#: byte by byte only holds a connection open.
BODY_READ_TIMEOUT = 10.0
#: The WebSocket close code for a message over the size limit (RFC 6455).
_MESSAGE_TOO_BIG = 1009


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
    stream starts (to begin recording, for instance); ``on_transfer_ended(hook)`` when the
    dialed leg of a transfer ends. ``verify_call(hook)``, when given, is asked whether a new
    inbound call is live at the carrier before a session and a media token are made for it.

    A voice webhook for a call that already has its media stream (live, or ended) is a replay:
    it is answered with ``<Hangup/>`` and starts nothing (Twilio asks the voice URL once).
    """

    def __init__(
        self,
        *,
        auth_token: str,
        public_host: Callable[[], str],
        registry: CallRegistry,
        new_inbound_call: Callable[[str, str, str], CallSession],
        on_media_start: Callable[[CallSession], Awaitable[None]] | None = None,
        on_transfer_ended: Callable[[DialActionCallback], None] | None = None,
        verify_call: Callable[[VoiceWebhook], Awaitable[bool]] | None = None,
    ) -> None:
        self._auth_token = auth_token
        self._public_host = public_host
        self._registry = registry
        self._new_inbound_call = new_inbound_call
        self._on_media_start = on_media_start
        self._on_transfer_ended = on_transfer_ended
        self._verify_call = verify_call
        self._verifying: set[str] = set()
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
            Route(DIAL_ACTION_PATH, self.dial_ended, methods=["POST"]),
            WebSocketRoute(MEDIA_PATH + "/{token}", self.media),
        ]

    def url(self, path: str, **query: str) -> str:
        """The public https URL of ``path``."""
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return f"https://{self._public_host()}{path}" + (f"?{suffix}" if suffix else "")

    # ---------------------------------------------------------------------- webhooks

    async def _verified_form(self, request: Request) -> dict[str, str] | Response:
        """The form of a genuine Twilio webhook, or the response refusing the request."""
        declared = request.headers.get("content-length", "0")
        if not (declared.isascii() and declared.isdigit()) or int(declared) > _MAX_FORM_BYTES:
            return _forbidden()
        body = b""
        try:
            async with asyncio.timeout(BODY_READ_TIMEOUT):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > _MAX_FORM_BYTES:
                        return _forbidden()
        except TimeoutError:
            logger.warning(
                "webhook to %s: the body did not arrive within %g s",
                request.url.path,
                BODY_READ_TIMEOUT,
            )
            return PlainTextResponse("Request Timeout", status_code=408)
        except ClientDisconnect:
            logger.warning(
                "webhook to %s: the client left before sending its body", request.url.path
            )
            return PlainTextResponse("Client disconnected", status_code=400)
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
            return _forbidden()
        return {key: values[-1] for key, values in signed.items()}

    async def _form(self, request: Request, model: type[FormT]) -> FormT | Response:
        """The webhook's form as ``model``, or the response refusing it (403, 408, 400)."""
        params = await self._verified_form(request)
        if isinstance(params, Response):
            return params
        try:
            return parse_form(model, params)
        except PatterError as exc:
            return PlainTextResponse(str(exc), status_code=400)

    async def voice(self, request: Request) -> Response:
        hook = await self._form(request, VoiceWebhook)
        if isinstance(hook, Response):
            return hook
        if not self.accepting:
            return _twiml(hangup_twiml())
        patter_id = request.query_params.get(CALL_PARAM, "")
        session = self._registry.find(patter_id=patter_id, call_sid=hook.call_sid)
        if session is not None and session.media_offered:
            return self._replayed(hook.call_sid, "is in progress")
        if session is None:
            if patter_id:
                logger.warning("voice webhook for unknown outbound call %s: hanging up", patter_id)
                return _twiml(hangup_twiml())
            if self._registry.has_seen(hook.call_sid):
                return self._replayed(hook.call_sid, "has ended")
            if hook.call_sid in self._verifying:
                return self._replayed(hook.call_sid, "is being checked")
            if self._verify_call is not None:
                self._verifying.add(hook.call_sid)
                try:
                    live = await self._verify_call(hook)
                finally:
                    self._verifying.discard(hook.call_sid)
                if not live:
                    self.rejected_webhooks += 1
                    return _twiml(hangup_twiml())
            session = self._new_inbound_call(hook.from_, hook.to, hook.call_sid)
        elif not session.call_sid:
            self._registry.bind_sid(session, hook.call_sid)
        token = self._registry.mint_token(session)
        session.expect_media(TOKEN_TTL_SECONDS)
        stream_url = f"wss://{self._public_host()}{MEDIA_PATH}/{token}"
        return _twiml(connect_stream_twiml(stream_url, {CALL_PARAM: session.patter_id}))

    def _replayed(self, call_sid: str, state: str) -> Response:
        """A genuine voice webhook for a call that already has its media stream: a replay."""
        self.rejected_webhooks += 1
        logger.warning(
            "voice webhook for call %s, which %s, sent again: ignored (a replayed request?)",
            call_sid,
            state,
        )
        return _twiml(hangup_twiml())

    async def status(self, request: Request) -> Response:
        hook = await self._form(request, StatusCallback)
        if isinstance(hook, Response):
            return hook
        session = self._find(request, hook.call_sid)
        if session is not None:
            await session.on_status(hook.call_status, hook.call_duration)
        return Response(status_code=204)

    async def amd(self, request: Request) -> Response:
        hook = await self._form(request, AmdCallback)
        if isinstance(hook, Response):
            return hook
        session = self._find(request, hook.call_sid)
        if session is not None:
            session.on_amd(hook.answered_by)
        return Response(status_code=204)

    async def recording(self, request: Request) -> Response:
        hook = await self._form(request, RecordingCallback)
        if isinstance(hook, Response):
            return hook
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

    async def dial_ended(self, request: Request) -> Response:
        """The transferred leg of a call ended: report it, and end what is left of the call."""
        hook = await self._form(request, DialActionCallback)
        if isinstance(hook, Response):
            return hook
        if self._on_transfer_ended is not None:
            self._on_transfer_ended(hook)
        return _twiml(hangup_twiml())

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
                if message.get("code") == _MESSAGE_TOO_BIG:
                    # The server had to close the stream: the frame is lost, and so is the call.
                    session.malformed_frames += 1
                    await session.media_failed(
                        "a media message was over the size limit, so the media stream was closed"
                    )
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
