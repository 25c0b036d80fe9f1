"""Twilio REST: place, steer and end calls, start recordings, point a number at our server.

Requests go through the official ``twilio`` client in async mode, to ``Carrier.base_url``
(Twilio itself by default, a local simulator in tests). Twilio's errors become Patter's:
401/403 :class:`AuthenticationError`, 429 :class:`RateLimitError`, 5xx, timeouts and network
failures :class:`PatterConnectionError`, any other 4xx a :class:`PatterError` with code
``PROVIDER_ERROR`` that quotes Twilio's message and error code.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from getpatter._validation import require_bool, require_e164, require_int, require_str
from getpatter.carriers.twilio import Carrier
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    PatterError,
    ProvisionError,
    RateLimitError,
)

__all__ = ["TwilioAdapter"]

REQUEST_TIMEOUT_S = 15.0
"""Longest wait for one REST request; the SDK's async client sets no limit of its own."""

_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
_MACHINE_DETECTION = ("Enable", "DetectMessageEnd")
_MAX_TWIML_CHARS = 4000  # Twilio's limit for inline TwiML
_SID = re.compile(r"[A-Za-z0-9]+")
_CALL_NOT_FOUND = 20404


class TwilioAdapter:
    """Twilio's REST API for one account, with async methods.

    The HTTP session opens on the first request (it needs a running event loop); call
    :meth:`aclose` when done, or use ``async with TwilioAdapter(carrier) as twilio:``.
    """

    def __init__(self, carrier: Carrier) -> None:
        if not isinstance(carrier, Carrier):
            raise ConfigError(
                f"TwilioAdapter needs a Twilio carrier, e.g. TwilioAdapter(Twilio()), "
                f"got {type(carrier).__name__}"
            )
        self._carrier = carrier
        self._http: Any = None
        self._client: Any = None

    async def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        status_events: Sequence[str] = _STATUS_EVENTS,
        timeout: int | None = None,  # noqa: ASYNC109 (Twilio's ring time, not an await limit)
        machine_detection: Literal["Enable", "DetectMessageEnd"] | None = None,
        amd_callback: str | None = None,
        record: bool = False,
        recording_callback: str | None = None,
    ) -> str:
        """Place an outbound call and return its CallSid.

        Twilio fetches TwiML from ``url`` once the call is answered and posts each of
        ``status_events`` to ``status_callback``. ``timeout`` is how many seconds it rings
        (1-600, Twilio's default 60). ``machine_detection`` runs answering-machine detection
        asynchronously: the call connects at once and the verdict is posted to
        ``amd_callback``, which is then required. ``record`` records the whole call and posts
        to ``recording_callback`` when the file is ready.
        """
        params: dict[str, Any] = {
            "to": require_str("to", to, allow_empty=False),
            "from_": require_str("from_", from_, allow_empty=False),
            "url": require_str("url", url, allow_empty=False),
            "status_callback": require_str("status_callback", status_callback, allow_empty=False),
            "status_callback_event": _require_status_events(status_events),
        }
        if timeout is not None:
            params["timeout"] = require_int("timeout", timeout, minimum=1, maximum=600)
        if machine_detection is not None:
            if machine_detection not in _MACHINE_DETECTION:
                raise ConfigError(
                    f"machine_detection must be 'Enable' or 'DetectMessageEnd', "
                    f"got {machine_detection!r}"
                )
            if not amd_callback:
                raise ConfigError(
                    "machine_detection needs amd_callback: the URL Twilio posts the result to"
                )
            params["machine_detection"] = machine_detection
            params["async_amd"] = "true"
            params["async_amd_status_callback"] = require_str("amd_callback", amd_callback)
        elif amd_callback is not None:
            raise ConfigError("amd_callback is only used with machine_detection")
        if require_bool("record", record):
            params["record"] = True
            if recording_callback is not None:
                params["recording_status_callback"] = require_str(
                    "recording_callback", recording_callback, allow_empty=False
                )
        elif recording_callback is not None:
            raise ConfigError("recording_callback is only used with record=True")
        call = await self._send("create call", self._account().calls.create_async(**params))
        return str(call.sid)

    async def call_state(self, call_sid: str) -> tuple[str, str, str] | None:
        """``(status, to, from)`` of a call as Twilio has it now; ``None`` if Twilio has none."""
        call = self._account().calls(_require_sid("call_sid", call_sid))
        found = await self._send("fetch call", call.fetch_async(), missing_ok=True)
        if found is None:
            return None
        return str(found.status), str(found.to), str(found._from)

    async def hangup(self, call_sid: str) -> None:
        """End a call in progress; a call that has already ended is left alone."""
        call = self._account().calls(_require_sid("call_sid", call_sid))
        await self._send("hang up call", call.update_async(status="completed"), missing_ok=True)

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace the TwiML a live call is running with ``twiml`` (how transfers work).

        A running ``<Connect><Stream>`` ends: its WebSocket gets a ``stop`` and closes.
        """
        require_str("twiml", twiml, allow_empty=False)
        if len(twiml) > _MAX_TWIML_CHARS:
            raise InputValidationError(
                f"twiml is {len(twiml)} characters; Twilio accepts at most {_MAX_TWIML_CHARS} "
                "inline: serve longer TwiML from a URL"
            )
        call = self._account().calls(_require_sid("call_sid", call_sid))
        await self._send("redirect call", call.update_async(twiml=twiml))

    async def start_recording(self, call_sid: str, callback_url: str) -> str:
        """Start recording a live call and return the RecordingSid.

        Twilio posts to ``callback_url`` when the recording is complete.
        """
        require_str("callback_url", callback_url, allow_empty=False)
        call = self._account().calls(_require_sid("call_sid", call_sid))
        recording = await self._send(
            "start recording",
            call.recordings.create_async(recording_status_callback=callback_url),
        )
        return str(recording.sid)

    async def configure_number(self, phone_number: str, voice_url: str) -> None:
        """Point ``phone_number`` (E.164, owned by the account) at ``voice_url``, by POST.

        Raises :class:`ProvisionError` when the account has no such number.
        """
        require_e164("phone_number", phone_number)
        require_str("voice_url", voice_url, allow_empty=False)
        numbers = self._account().incoming_phone_numbers
        # Twilio's PhoneNumber filter also matches partial numbers: keep the exact one.
        found = await self._send(
            "find phone number", numbers.list_async(phone_number=phone_number, limit=20)
        )
        sids = [number.sid for number in found if number.phone_number == phone_number]
        if not sids:
            raise ProvisionError(
                f"Twilio account {self._carrier.account_sid} has no phone number "
                f"{phone_number}: buy or port it in the Twilio console, or fix phone_number"
            )
        await self._send(
            "set the number's voice URL",
            numbers(sids[0]).update_async(voice_url=voice_url, voice_method="POST"),
        )

    async def aclose(self) -> None:
        """Close the HTTP session. A later request opens a new one."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _account(self) -> Any:
        if self._client is None:
            self._http = AsyncTwilioHttpClient()
            client = Client(
                self._carrier.account_sid, self._carrier.auth_token, http_client=self._http
            )
            # base_url alone names the host: keep the SDK from rewriting it for
            # TWILIO_EDGE / TWILIO_REGION found in the environment.
            client.edge = None
            client.region = None
            client.api.base_url = self._carrier.base_url
            self._client = client
        return self._client.api.v2010.accounts(self._carrier.account_sid)

    async def _send(self, action: str, request: Awaitable[Any], *, missing_ok: bool = False) -> Any:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await request
        except (TwilioRestException, TwilioServiceException) as exc:
            if missing_ok and (exc.status == 404 or exc.code == _CALL_NOT_FOUND):
                return None
            raise _api_error(action, exc) from exc
        except TimeoutError:
            raise PatterConnectionError(
                f"Twilio {action}: no answer from {self._carrier.base_url} within "
                f"{REQUEST_TIMEOUT_S:g} s",
                code=ErrorCode.TIMEOUT,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PatterConnectionError(
                f"Twilio {action}: cannot reach {self._carrier.base_url} "
                f"({type(exc).__name__}); check the network or Twilio base_url"
            ) from exc
        except (TwilioException, ValueError, KeyError) as exc:
            raise PatterError(
                f"Twilio {action}: unexpected response from {self._carrier.base_url} "
                f"({type(exc).__name__})",
                code=ErrorCode.PROVIDER_ERROR,
            ) from exc


def _api_error(action: str, exc: TwilioRestException | TwilioServiceException) -> PatterError:
    status = int(exc.status)
    if isinstance(exc, TwilioServiceException):
        detail = exc.detail or exc.title
    else:
        # The SDK prefixes Twilio's message with its own "Unable to ... record: ".
        detail = str(exc.msg).split(": ", 1)[-1]
    # Without a Twilio error code in the body, the SDK repeats the HTTP status as the code.
    code = f", Twilio error {exc.code}" if exc.code not in (None, status) else ""
    message = f"Twilio {action} failed (HTTP {status}{code}): {detail}"
    if status in (401, 403):
        return AuthenticationError(
            message + "; check the account SID and auth token (TWILIO_ACCOUNT_SID, "
            "TWILIO_AUTH_TOKEN)"
        )
    if status == 429:
        return RateLimitError(message + "; slow down and retry")
    if status >= 500:
        return PatterConnectionError(message + "; Twilio is having trouble, retry later")
    return PatterError(message, code=ErrorCode.PROVIDER_ERROR)


def _require_status_events(events: Sequence[str]) -> list[str]:
    if isinstance(events, str) or not isinstance(events, Sequence):
        raise ConfigError(
            f"status_events must be a list drawn from {list(_STATUS_EVENTS)}, "
            f"got {type(events).__name__}"
        )
    unknown = [event for event in events if event not in _STATUS_EVENTS]
    if unknown:
        raise ConfigError(
            f"status_events has {unknown!r}; Twilio reports only {list(_STATUS_EVENTS)}"
        )
    return list(events)


def _require_sid(param: str, value: str) -> str:
    require_str(param, value, allow_empty=False)
    if not _SID.fullmatch(value):
        raise InputValidationError(
            f"{param}={value!r} is not a Twilio SID: letters and digits only, e.g. 'CA0123...'"
        )
    return value
