"""The subset of Telnyx's API v2 that a voice app uses, over an :class:`Exchange`.

Requests are JSON with ``Authorization: Bearer <api key>``; responses are ``{"data": ...}``
shaped like Telnyx's resources, errors ``{"errors": [...]}`` with Telnyx's codes (see
:mod:`~getpatter.testing.telnyx_simulator.params`). Routes: dial and call status, the call
commands the simulator runs (answer, hangup, reject, transfer, record_start, record_stop,
send_dtmf, streaming_start, streaming_stop, client_state_update), Call Control applications
(retrieve, update) and phone numbers (list, retrieve, update).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from getpatter.testing.phone_network.call import Command
from getpatter.testing.telnyx_simulator.account import iso
from getpatter.testing.telnyx_simulator.exchange import Exchange
from getpatter.testing.telnyx_simulator.leg import TelnyxLeg
from getpatter.testing.telnyx_simulator.params import (
    DIAL,
    ApiError,
    Param,
    action_spec,
    checked,
    checked_number,
    invalid,
    stream_config,
)

__all__ = ["build_app"]

_Handler = Callable[[Request], Awaitable[Response]]
_URL = re.compile(r"^https?://[^\s/]+")
_APPLICATION = {
    "application_name": Param(str, required=True),
    "webhook_event_url": Param(str, required=True, pattern=_URL, hint="an http(s) URL"),
    "webhook_event_failover_url": Param(str),
    "webhook_timeout_secs": Param(int, minimum=1, maximum=30),
    "active": Param(bool),
}
_NUMBER = {
    "connection_id": Param(str),
    "tags": Param(list),
    "customer_reference": Param(str),
}


def build_app(exchange: Exchange) -> Starlette:
    """A Starlette app serving the Telnyx API of ``exchange``'s account under ``/v2``."""
    api = _RestApi(exchange)
    routes = [
        Route("/v2/calls", api.guarded(api.dial), methods=["POST"]),
        Route("/v2/calls/{call_control_id}", api.guarded(api.call_status), methods=["GET"]),
        Route(
            "/v2/calls/{call_control_id}/actions/{action}",
            api.guarded(api.command),
            methods=["POST"],
        ),
        Route(
            "/v2/call_control_applications/{id}",
            api.guarded(api.get_application),
            methods=["GET"],
        ),
        Route(
            "/v2/call_control_applications/{id}",
            api.guarded(api.update_application),
            methods=["PATCH"],
        ),
        Route("/v2/phone_numbers", api.guarded(api.list_numbers), methods=["GET"]),
        Route("/v2/phone_numbers/{id}", api.guarded(api.get_number), methods=["GET"]),
        Route("/v2/phone_numbers/{id}", api.guarded(api.update_number), methods=["PATCH"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in (404, 405):
        return _not_found(f"{request.method} {request.url.path}").response()
    return ApiError(status, "10007", "Unexpected error", str(exc)).response()


def _not_found(what: str) -> ApiError:
    return ApiError(
        404,
        "10005",
        "Resource not found",
        f"The requested resource or URL could not be found: {what}",
    )


class _RestApi:
    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def guarded(self, handler: _Handler) -> _Handler:
        """Check the API key, then run ``handler``; an :class:`ApiError` becomes its response."""

        async def endpoint(request: Request) -> Response:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                key.strip().encode(), self._exchange.api_key.encode()
            ):
                return ApiError(
                    401,
                    "10009",
                    "Authentication failed",
                    "The required authentication headers were either invalid or not included "
                    "in the request.",
                ).response()
            try:
                return await handler(request)
            except ApiError as error:
                return error.response()

        return endpoint

    async def dial(self, request: Request) -> Response:
        body = checked(await _json(request), DIAL)
        command_id = body.get("command_id")
        if command_id is not None and (earlier := self._exchange.dials.get(command_id)):
            return JSONResponse({"data": self._call(earlier)})
        application = self._exchange.applications.get(body["connection_id"])
        if application is None:
            raise invalid(
                "connection_id",
                f"connection_id {body['connection_id']!r} is not a Call Control application "
                "of this account",
            )
        to = body["to"]
        if isinstance(to, list):
            if len(to) != 1 or not isinstance(to[0], str):
                raise invalid("to", "the simulator dials exactly one destination")
            to = to[0]
        checked_number("to", to)
        checked_number("from", body["from"])
        stream_config(body)
        leg = self._exchange.dial(to, body["from"], application, body)
        leg.call.commands.append(Command("dial", body, 200, 0.0))
        if command_id is not None:
            self._exchange.dials[command_id] = leg
        sent = asyncio.Event()
        leg.start(gate=sent)
        data = self._call(leg) | {"is_alive": False}  # "always false for Dial" (the SDK)
        if leg.recording_id is not None:
            data["recording_id"] = leg.recording_id
        return JSONResponse({"data": data}, background=BackgroundTask(sent.set))

    async def call_status(self, request: Request) -> Response:
        return JSONResponse({"data": self._call(self._leg(request))})

    async def command(self, request: Request) -> Response:
        leg = self._leg(request)
        name = request.path_params["action"]
        spec = action_spec(name)
        if spec is None:
            raise ApiError(
                422,
                "10015",
                "Unsupported command",
                f"the simulator does not implement the {name!r} call command",
            )
        loop = asyncio.get_running_loop()
        body = await _json(request, empty={})
        params = body if isinstance(body, dict) else {}
        status = 200
        try:
            data = leg.command(name, checked(body, spec))
        except ApiError as error:
            status = error.status
            raise
        finally:
            leg.call.commands.append(Command(name, params, status, leg.call._ms(loop.time())))
            leg.call._touch()
        return JSONResponse({"data": data})

    async def get_application(self, request: Request) -> Response:
        application = self._exchange.applications.get(request.path_params["id"])
        if application is None:
            raise _not_found(f"call_control_applications/{request.path_params['id']}")
        return JSONResponse({"data": application.resource()})

    async def update_application(self, request: Request) -> Response:
        application = self._exchange.applications.get(request.path_params["id"])
        if application is None:
            raise _not_found(f"call_control_applications/{request.path_params['id']}")
        body = checked(await _json(request), _APPLICATION)
        application.application_name = body["application_name"]
        application.webhook_event_url = body["webhook_event_url"]
        if "webhook_event_failover_url" in body:
            application.webhook_event_failover_url = body["webhook_event_failover_url"]
        if "webhook_timeout_secs" in body:
            application.webhook_timeout_secs = body["webhook_timeout_secs"]
        if "active" in body:
            application.active = body["active"]
        application.updated = datetime.now(UTC)
        return JSONResponse({"data": application.resource()})

    async def list_numbers(self, request: Request) -> Response:
        wanted = request.query_params.get("filter[phone_number]")
        size = _page_size(request.query_params.get("page[size]"))
        numbers = [
            self._number(number)
            for number in self._exchange.numbers.values()
            if wanted is None or _digits_match(wanted, number.phone_number)
        ]
        meta = {
            "page_number": 1,
            "page_size": size,
            "total_pages": 1,
            "total_results": len(numbers),
        }
        return JSONResponse({"data": numbers[:size], "meta": meta})

    async def get_number(self, request: Request) -> Response:
        number = self._exchange.number_by_id(request.path_params["id"])
        if number is None:
            raise _not_found(f"phone_numbers/{request.path_params['id']}")
        return JSONResponse({"data": self._number(number)})

    async def update_number(self, request: Request) -> Response:
        number = self._exchange.number_by_id(request.path_params["id"])
        if number is None:
            raise _not_found(f"phone_numbers/{request.path_params['id']}")
        body = checked(await _json(request), _NUMBER)
        if "connection_id" in body:
            if body["connection_id"] not in self._exchange.applications:
                raise invalid(
                    "connection_id",
                    f"connection_id {body['connection_id']!r} is not a connection of this account",
                )
            number.connection_id = body["connection_id"]
        if "tags" in body:
            number.tags = [str(tag) for tag in body["tags"]]
        number.updated = datetime.now(UTC)
        return JSONResponse({"data": self._number(number)})

    def _leg(self, request: Request) -> TelnyxLeg:
        call_control_id = request.path_params["call_control_id"]
        leg = self._exchange.legs.get(call_control_id)
        if leg is None:
            raise _not_found(f"calls/{call_control_id}")
        return leg

    def _call(self, leg: TelnyxLeg) -> dict[str, Any]:
        call = leg.call
        data: dict[str, Any] = {
            "record_type": "call",
            "call_control_id": call.sid,
            "call_leg_id": leg.call_leg_id,
            "call_session_id": leg.call_session_id,
            "is_alive": leg.is_live,
            "client_state": leg.client_state,
            "call_duration": call.duration_s or 0,
            "start_time": iso(leg.created),
        }
        if leg.ended is not None:
            data["end_time"] = iso(leg.ended)
        return data

    def _number(self, number: Any) -> dict[str, Any]:
        application = self._exchange.applications.get(number.connection_id or "")
        resource: dict[str, Any] = number.resource(
            application.application_name if application is not None else None
        )
        return resource


async def _json(request: Request, empty: object = None) -> object:
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(
            400, "10023", "Invalid JSON", "The request body is not valid JSON."
        ) from None


def _page_size(value: str | None) -> int:
    try:
        size = int(value) if value is not None else 20
    except ValueError:
        raise invalid("page[size]", "'page[size]' must be an integer") from None
    return min(max(size, 1), 250)


def _digits_match(wanted: str, number: str) -> bool:
    """Telnyx matches ``filter[phone_number]`` on digits (a leading ``+`` is allowed here)."""
    digits = wanted.removeprefix("+")
    return len(digits) >= 3 and digits.isdigit() and digits in number
