"""Twilio's routes on the embedded server: signed webhooks and the media-stream WebSocket.

Every webhook is checked against ``X-Twilio-Signature`` over the public URL Twilio called (built
from the configured public hostname, so it holds behind proxies and tunnels); a forged or
unsigned request gets 403 and starts nothing. The media stream is authenticated by a single-use
token carried in the stream URL of the TwiML Patter returned for that call: an upgrade without a
valid token is refused before the WebSocket opens.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from getpatter.carriers._bodies import read_body
from getpatter.carriers.base import CallDesk, MachineResult, TransferEnded
from getpatter.carriers.twilio.media import TwilioCodec
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

__all__ = [
    "AMD_PATH",
    "CALL_PARAM",
    "DIAL_ACTION_PATH",
    "MEDIA_PATH",
    "RECORDING_PATH",
    "STATUS_PATH",
    "VOICE_PATH",
    "TwilioRoutes",
    "machine_result",
]

#: The query parameter (and stream ``<Parameter>``) that names a call Patter dialed out.
CALL_PARAM = "patter_call"
VOICE_PATH = "/webhooks/twilio/voice"
STATUS_PATH = "/webhooks/twilio/status"
AMD_PATH = "/webhooks/twilio/amd"
RECORDING_PATH = "/webhooks/twilio/recording"
#: Where Twilio reports the end of a transferred leg (``<Dial action>``).
DIAL_ACTION_PATH = "/webhooks/twilio/dial"
MEDIA_PATH = "/ws/twilio/media"
#: Twilio's form posts are a few hundred bytes; anything far larger is not Twilio.
_MAX_FORM_BYTES = 64 * 1024
_HIDDEN_PARAMS = frozenset({CALL_PARAM})
#: Twilio's ``CallStatus`` in Patter's words (``queued`` is Patter's ``initiated``).
_STATES = {"queued": "initiated", "initiated": "initiated"}


def machine_result(answered_by: str) -> tuple[MachineResult, bool]:
    """Twilio's ``AnsweredBy`` as (result, whether a machine's greeting has ended)."""
    if answered_by == "human":
        return "human", False
    if answered_by == "fax":
        return "fax", False
    if answered_by.startswith("machine_end"):
        return "machine", True
    if answered_by.startswith("machine"):
        return "machine", False
    return "unknown", False


class TwilioRoutes:
    """The Twilio webhook and media routes of one server, reporting to a :class:`CallDesk`.

    A voice webhook for a call that already has its media stream (live, or ended) is a replay:
    it is answered with ``<Hangup/>`` and starts nothing (Twilio asks the voice URL once).
    """

    def __init__(self, *, auth_token: str, desk: CallDesk) -> None:
        self._auth_token = auth_token
        self._desk = desk

    def routes(self) -> list[BaseRoute]:
        """The routes to mount."""
        return [
            Route(VOICE_PATH, self.voice, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["POST"]),
            Route(AMD_PATH, self.amd, methods=["POST"]),
            Route(RECORDING_PATH, self.recording, methods=["POST"]),
            Route(DIAL_ACTION_PATH, self.dial_ended, methods=["POST"]),
            WebSocketRoute(MEDIA_PATH + "/{token}", self.media),
        ]

    # ---------------------------------------------------------------------- webhooks

    async def _verified_form(self, request: Request) -> dict[str, str] | Response:
        """The form of a genuine Twilio webhook, or the response refusing the request."""
        body = await read_body(request, _MAX_FORM_BYTES, _forbidden())
        if isinstance(body, Response):
            return body
        signed: dict[str, list[str]] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            signed.setdefault(key, []).append(value)
        url = self._desk.public_url(request.url.path)
        if request.url.query:
            url += f"?{request.url.query}"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not verify_signature(self._auth_token, url, signed, signature):
            self._desk.note_rejected("bad or missing Twilio signature", path=request.url.path)
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
        """A call asks what to do: stream it to Patter, or hang up."""
        hook = await self._form(request, VoiceWebhook)
        if isinstance(hook, Response):
            return hook
        session = await self._desk.incoming(
            hook.call_sid, hook.from_, hook.to, patter_id=request.query_params.get(CALL_PARAM, "")
        )
        if session is None:
            return _twiml(hangup_twiml())
        stream_url = self._desk.media_url(MEDIA_PATH, session)
        return _twiml(connect_stream_twiml(stream_url, {CALL_PARAM: session.patter_id}))

    async def status(self, request: Request) -> Response:
        """A status callback (``CallStatus``)."""
        hook = await self._form(request, StatusCallback)
        if isinstance(hook, Response):
            return hook
        await self._desk.call_state(
            hook.call_sid,
            _STATES.get(hook.call_status, hook.call_status),
            duration=hook.call_duration,
            patter_id=request.query_params.get(CALL_PARAM, ""),
        )
        return Response(status_code=204)

    async def amd(self, request: Request) -> Response:
        """An asynchronous answering-machine detection result."""
        hook = await self._form(request, AmdCallback)
        if isinstance(hook, Response):
            return hook
        result, greeting_ended = machine_result(hook.answered_by)
        self._desk.machine_detected(
            hook.call_sid,
            result,
            greeting_ended=greeting_ended,
            patter_id=request.query_params.get(CALL_PARAM, ""),
        )
        return Response(status_code=204)

    async def recording(self, request: Request) -> Response:
        """A recording is ready."""
        hook = await self._form(request, RecordingCallback)
        if isinstance(hook, Response):
            return hook
        details: dict[str, object] = {
            "recording_sid": hook.recording_sid,
            "url": hook.recording_url,
            "status": hook.recording_status,
            "duration_seconds": hook.recording_duration,
        }
        self._desk.recording_ready(
            hook.call_sid, details, patter_id=request.query_params.get(CALL_PARAM, "")
        )
        return Response(status_code=204)

    async def dial_ended(self, request: Request) -> Response:
        """The transferred leg of a call ended: report it, and end what is left of the call."""
        hook = await self._form(request, DialActionCallback)
        if isinstance(hook, Response):
            return hook
        self._desk.transfer_ended(
            TransferEnded(
                call_id=hook.call_sid,
                status=hook.dial_call_status,
                dial_call_id=hook.dial_call_sid or "",
                duration_seconds=hook.dial_call_duration or 0,
            )
        )
        return _twiml(hangup_twiml())

    # ---------------------------------------------------------------------- media stream

    async def media(self, websocket: WebSocket) -> None:
        """One call's ``<Connect><Stream>`` WebSocket."""
        await self._desk.relay_media(websocket, TwilioCodec(_HIDDEN_PARAMS))


def _forbidden() -> Response:
    return PlainTextResponse("Forbidden: invalid Twilio signature", status_code=403)


def _twiml(body: str) -> Response:
    return Response(body, media_type="text/xml")
