"""The subset of Twilio's REST API (``/2010-04-01``) that a voice SDK uses, over an exchange.

Requests are form-encoded and authenticated with HTTP Basic (account sid and auth token);
responses are JSON shaped like Twilio's resources, and errors carry Twilio's ``code``. Code
20001 (for malformed values Twilio has no specific code for here) is an approximation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from getpatter.testing.twilio_simulator.exchange import Exchange, PhoneNumber
from getpatter.testing.twilio_simulator.leg import (
    API_VERSION,
    CallLeg,
    LegConfig,
    Recording,
    rfc2822,
)

__all__ = ["build_app"]

_Form = dict[str, list[str]]
_Handler = Callable[[Request], Awaitable[Response]]
_MACHINE_DETECTION = ("Enable", "DetectMessageEnd")
_STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


def build_app(exchange: Exchange) -> Starlette:
    """A Starlette app serving the REST API of ``exchange``'s account."""
    api = _RestApi(exchange)
    account = "/2010-04-01/Accounts/{account_sid}"
    routes = [
        Route(f"{account}/Calls.json", api.guarded(api.create_call), methods=["POST"]),
        Route(f"{account}/Calls/{{call_sid}}.json", api.guarded(api.fetch_call), methods=["GET"]),
        Route(f"{account}/Calls/{{call_sid}}.json", api.guarded(api.update_call), methods=["POST"]),
        Route(
            f"{account}/Calls/{{call_sid}}/Recordings.json",
            api.guarded(api.create_recording),
            methods=["POST"],
        ),
        Route(
            f"{account}/IncomingPhoneNumbers.json",
            api.guarded(api.list_numbers),
            methods=["GET"],
        ),
        Route(
            f"{account}/IncomingPhoneNumbers/{{number_sid}}.json",
            api.guarded(api.fetch_number),
            methods=["GET"],
        ),
        Route(
            f"{account}/IncomingPhoneNumbers/{{number_sid}}.json",
            api.guarded(api.update_number),
            methods=["POST"],
        ),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


def _twilio_error(status: int, code: int, message: str, **extra: Any) -> JSONResponse:
    """An error response in Twilio's format."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    } | extra
    return JSONResponse(body, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _not_found(request)
    return _twilio_error(status, 20000 + status, str(getattr(exc, "detail", exc)))


def _not_found(request: Request) -> JSONResponse:
    return _twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")


class _RestApi:
    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def guarded(self, handler: _Handler) -> _Handler:
        """Check Basic auth and the account in the path before ``handler`` runs."""

        async def endpoint(request: Request) -> Response:
            if not self._authenticated(request):
                response = _twilio_error(
                    401,
                    20003,
                    "Authenticate",
                    detail="Your AccountSid or AuthToken was incorrect.",
                )
                response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                return response
            if request.path_params["account_sid"] != self._exchange.account_sid:
                return _not_found(request)
            return await handler(request)

        return endpoint

    def _authenticated(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self._exchange.account_sid}:{self._exchange.auth_token}"
        return hmac.compare_digest(f"{user}:{password}".encode(), expected.encode())

    async def create_call(self, request: Request) -> Response:
        form = await _form(request)
        to, from_ = _one(form, "To"), _one(form, "From")
        if not to:
            return _twilio_error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if self._exchange.numbers and from_ not in self._exchange.numbers:
            return _twilio_error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your account.",
            )
        url, twiml = _one(form, "Url"), _one(form, "Twiml")
        if not url and not twiml:
            return _twilio_error(400, 21205, "Url, Twiml or ApplicationSid is required.")
        machine_detection = _one(form, "MachineDetection")
        if machine_detection is not None and machine_detection not in _MACHINE_DETECTION:
            return _twilio_error(
                400, 21234, f"MachineDetection must be one of {', '.join(_MACHINE_DETECTION)}"
            )
        status_events = _events(form, "StatusCallbackEvent")
        if not status_events <= _STATUS_EVENTS:
            return _twilio_error(400, 21626, "Invalid 'StatusCallbackEvent'")
        try:
            timeout_s = int(_one(form, "Timeout") or 60)
            time_limit = _one(form, "TimeLimit")
            time_limit_s = int(time_limit) if time_limit else None
        except ValueError:
            return _twilio_error(400, 20001, "Timeout and TimeLimit must be integers (seconds)")
        config = LegConfig(
            url=url or None,
            method=_method(form, "Method"),
            twiml=None if url else twiml,
            status_callback=_one(form, "StatusCallback") or None,
            status_callback_method=_method(form, "StatusCallbackMethod"),
            status_events=status_events,
            timeout_s=min(max(timeout_s, 1), 600),
            time_limit_s=time_limit_s,
            machine_detection=machine_detection,
            async_amd=_one(form, "AsyncAmd") == "true",
            amd_callback=_one(form, "AsyncAmdStatusCallback") or None,
            amd_callback_method=_method(form, "AsyncAmdStatusCallbackMethod"),
            record=_one(form, "Record") == "true",
            recording_callback=_one(form, "RecordingStatusCallback") or None,
            recording_callback_method=_method(form, "RecordingStatusCallbackMethod"),
            recording_events=_events(form, "RecordingStatusCallbackEvent")
            or frozenset({"completed"}),
        )
        leg = self._exchange.dial(to, from_, config)
        sent = asyncio.Event()
        leg.start(gate=sent)
        return JSONResponse(self._call(leg), status_code=201, background=BackgroundTask(sent.set))

    async def fetch_call(self, request: Request) -> Response:
        leg = self._exchange.legs.get(request.path_params["call_sid"])
        if leg is None:
            return _not_found(request)
        return JSONResponse(self._call(leg))

    async def update_call(self, request: Request) -> Response:
        leg = self._exchange.legs.get(request.path_params["call_sid"])
        if leg is None:
            return _not_found(request)
        form = await _form(request)
        status, url, twiml = _one(form, "Status"), _one(form, "Url"), _one(form, "Twiml")
        if status is not None:
            if status not in ("completed", "canceled"):
                return _twilio_error(
                    400, 20001, f"Status must be completed or canceled, got {status!r}"
                )
            leg.hang_up(status)
        elif url or twiml:
            if url and twiml:
                return _twilio_error(400, 20001, "Url and Twiml are mutually exclusive")
            if leg.call.status != "in-progress" or not leg.is_live:
                return _twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
            leg.redirect(twiml=twiml, url=url or None, method=_method(form, "Method"))
        return JSONResponse(self._call(leg))

    async def create_recording(self, request: Request) -> Response:
        leg = self._exchange.legs.get(request.path_params["call_sid"])
        if leg is None:
            return _not_found(request)
        if leg.call.status != "in-progress" or not leg.is_live:
            return _twilio_error(400, 21220, "Requested resource is not eligible for recording")
        if leg.recording is not None:
            return _twilio_error(400, 21220, "The call is already being recorded")
        form = await _form(request)
        recording = leg.start_recording(
            "StartCallRecordingAPI",
            _one(form, "RecordingStatusCallback") or None,
            _method(form, "RecordingStatusCallbackMethod"),
            _events(form, "RecordingStatusCallbackEvent") or frozenset({"completed"}),
            2 if _one(form, "RecordingChannels") == "dual" else 1,
        )
        return JSONResponse(self._recording(recording), status_code=201)

    async def list_numbers(self, request: Request) -> Response:
        wanted = request.query_params.get("PhoneNumber")
        numbers = [
            self._number(number)
            for number in self._exchange.numbers.values()
            if wanted is None or number.phone_number == wanted
        ]
        uri = f"/2010-04-01/Accounts/{self._exchange.account_sid}/IncomingPhoneNumbers.json"
        return JSONResponse(
            {
                "incoming_phone_numbers": numbers,
                "end": max(len(numbers) - 1, 0),
                "first_page_uri": f"{uri}?PageSize=50&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize=50&Page=0",
            }
        )

    async def fetch_number(self, request: Request) -> Response:
        number = self._exchange.number_by_sid(request.path_params["number_sid"])
        if number is None:
            return _not_found(request)
        return JSONResponse(self._number(number))

    async def update_number(self, request: Request) -> Response:
        number = self._exchange.number_by_sid(request.path_params["number_sid"])
        if number is None:
            return _not_found(request)
        form = await _form(request)
        if (voice_url := _one(form, "VoiceUrl")) is not None:
            number.voice_url = voice_url or None
        if "VoiceMethod" in form:
            number.voice_method = _method(form, "VoiceMethod")
        if (status_callback := _one(form, "StatusCallback")) is not None:
            number.status_callback = status_callback or None
        if "StatusCallbackMethod" in form:
            number.status_callback_method = _method(form, "StatusCallbackMethod")
        if (friendly_name := _one(form, "FriendlyName")) is not None:
            number.friendly_name = friendly_name
        number.updated = datetime.now(number.created.tzinfo)
        return JSONResponse(self._number(number))

    def _call(self, leg: CallLeg) -> dict[str, Any]:
        call = leg.call
        account = self._exchange.account_sid
        uri = f"/2010-04-01/Accounts/{account}/Calls/{call.sid}"
        number = self._exchange.numbers.get(call.to if call.direction == "inbound" else call.from_)
        return {
            "sid": call.sid,
            "account_sid": account,
            "annotation": None,
            "answered_by": call.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(leg.created),
            "date_updated": rfc2822(leg.ended or leg.answered or leg.created),
            "direction": call.direction,
            "duration": None if call.duration_s is None else str(call.duration_s),
            "end_time": _date(leg.ended),
            "forwarded_from": None,
            "from": call.from_,
            "from_formatted": call.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": number.sid if number is not None else None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "start_time": _date(leg.answered),
            "status": call.status,
            "subresource_uris": {
                "recordings": f"{uri}/Recordings.json",
                "notifications": f"{uri}/Notifications.json",
                "streams": f"{uri}/Streams.json",
            },
            "to": call.to,
            "to_formatted": call.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }

    def _recording(self, recording: Recording) -> dict[str, Any]:
        account = self._exchange.account_sid
        return {
            "sid": recording.sid,
            "account_sid": account,
            "api_version": API_VERSION,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "channels": recording.channels,
            "date_created": rfc2822(recording.started),
            "date_updated": rfc2822(recording.started),
            "duration": "-1",
            "encryption_details": None,
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "source": recording.source,
            "start_time": rfc2822(recording.started),
            "status": "in-progress",
            "track": "both",
            "uri": f"/2010-04-01/Accounts/{account}/Calls/{recording.call_sid}"
            f"/Recordings/{recording.sid}.json",
        }

    def _number(self, number: PhoneNumber) -> dict[str, Any]:
        account = self._exchange.account_sid
        return {
            "sid": number.sid,
            "account_sid": account,
            "address_requirements": "none",
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": rfc2822(number.created),
            "date_updated": rfc2822(number.updated),
            "friendly_name": number.friendly_name or number.phone_number,
            "origin": "twilio",
            "phone_number": number.phone_number,
            "status": "in-use",
            "status_callback": number.status_callback or "",
            "status_callback_method": number.status_callback_method,
            "uri": f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{number.sid}.json",
            "voice_application_sid": None,
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": number.voice_method,
            "voice_url": number.voice_url or "",
        }


async def _form(request: Request) -> _Form:
    return parse_qs((await request.body()).decode(), keep_blank_values=True)


def _one(form: _Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _method(form: _Form, name: str) -> str:
    return "GET" if (_one(form, name) or "").upper() == "GET" else "POST"


def _events(form: _Form, name: str) -> frozenset[str]:
    """A repeated field, also accepting space-separated values in one field."""
    return frozenset(event for value in form.get(name, []) for event in value.split())


def _date(moment: datetime | None) -> str | None:
    return None if moment is None else rfc2822(moment)
