"""Telnyx Call Control REST: dial, answer, stream, transfer, record, press keys, hang up.

Requests go through the official ``telnyx`` SDK's async client (``getpatter[telnyx]``), to
``Carrier.base_url`` (Telnyx itself by default, a local simulator in tests), with no automatic
retries (a retried dial could ring someone twice). Telnyx's errors become Patter's: 401/403
:class:`AuthenticationError`, 429 :class:`RateLimitError`, 5xx, timeouts and network failures
:class:`PatterConnectionError`, any other 4xx a :class:`PatterError` with code
``PROVIDER_ERROR`` quoting Telnyx's error code and detail.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from getpatter._validation import require_e164, require_str
from getpatter.carriers.telnyx import Carrier
from getpatter.carriers.telnyx.media import StreamRate
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    ProvisionError,
    RateLimitError,
)

__all__ = ["StreamSettings", "TelnyxAdapter"]

REQUEST_TIMEOUT_S = 15.0
#: Telnyx's error code for a command on a call that has already ended.
_CALL_ENDED = "90018"
_T = TypeVar("_T")

AmdMode = Literal["detect", "detect_beep"]


class StreamSettings:
    """A bidirectional RTP media stream to ``url`` in ``codec`` at ``rate`` Hz."""

    __slots__ = ("codec", "rate", "url")

    def __init__(self, url: str, codec: str, rate: StreamRate) -> None:
        self.url = url
        self.codec = codec
        self.rate = rate

    def params(self) -> dict[str, Any]:
        """The streaming fields of ``answer`` / ``streaming_start``."""
        return {
            "stream_url": self.url,
            "stream_track": "inbound_track",
            "stream_bidirectional_mode": "rtp",
            "stream_bidirectional_codec": self.codec,
            "stream_codec": self.codec,
        }


class TelnyxAdapter:
    """Telnyx's Call Control API for one account, with async methods.

    Use ``async with TelnyxAdapter(carrier) as telnyx:``, or call :meth:`aclose` when done.
    Importing it needs the ``telnyx`` SDK: ``pip install 'getpatter[telnyx]'``.
    """

    def __init__(self, carrier: Carrier) -> None:
        if not isinstance(carrier, Carrier):
            raise ConfigError(
                f"TelnyxAdapter needs a Telnyx carrier, e.g. TelnyxAdapter(Telnyx()), "
                f"got {type(carrier).__name__}"
            )
        try:
            import telnyx
        except ImportError:
            raise ConfigError(
                "Telnyx calls need the telnyx SDK: pip install 'getpatter[telnyx]'"
            ) from None
        self._carrier = carrier
        self._telnyx = telnyx
        self._client = telnyx.AsyncTelnyx(
            api_key=carrier.api_key,
            base_url=carrier.base_url,
            max_retries=0,
            timeout=REQUEST_TIMEOUT_S,
        )
        # The SDK loads its Call Control code on first use (about 0.6 s of CPU and 90,000
        # objects): load it now, while the server starts, not at the first call's answer, and
        # before the server freezes its startup objects out of the garbage collector.
        _ = self._client.calls.actions, self._client.call_control_applications

    async def dial(
        self,
        *,
        to: str,
        from_: str,
        webhook_url: str,
        client_state: str,
        timeout_secs: int | None = None,
        time_limit_secs: int | None = None,
        machine_detection: AmdMode | None = None,
        record: bool = False,
    ) -> str:
        """Place an outbound call; return its ``call_control_id``.

        Its webhooks go to ``webhook_url`` with ``client_state``. ``timeout_secs`` is the ring
        time (5-600); ``machine_detection`` runs answering-machine detection (``detect_beep``
        also reports the end of a machine's greeting); ``record`` records from the answer.
        """
        params: dict[str, Any] = {
            "connection_id": self._carrier.connection_id,
            "to": require_e164("to", to),
            "from_": require_e164("from_", from_),
            "webhook_url": require_str("webhook_url", webhook_url, allow_empty=False),
            "client_state": client_state,
        }
        if timeout_secs is not None:
            params["timeout_secs"] = timeout_secs
        if time_limit_secs is not None:
            params["time_limit_secs"] = time_limit_secs
        if machine_detection is not None:
            params["answering_machine_detection"] = machine_detection
        if record:
            params["record"] = "record-from-answer"
        response = await self._send("dial", self._client.calls.dial(**params))
        data = getattr(response, "data", None)
        call_id = getattr(data, "call_control_id", None)
        if not isinstance(call_id, str) or not call_id:
            raise PatterError(
                f"Telnyx dial: unexpected response from {self._carrier.base_url} (no "
                "call_control_id)",
                code=ErrorCode.PROVIDER_ERROR,
            )
        return call_id

    async def answer(
        self, call_id: str, *, client_state: str, stream: StreamSettings | None = None
    ) -> None:
        """Answer a parked inbound call, streaming it to ``stream`` if given."""
        params: dict[str, Any] = {"client_state": client_state, "command_id": _command_id()}
        if stream is not None:
            params.update(stream.params())
        await self._send("answer", self._client.calls.actions.answer(call_id, **params))

    async def start_streaming(self, call_id: str, stream: StreamSettings) -> None:
        """Stream an answered call to ``stream`` (both ways)."""
        await self._send(
            "start streaming",
            self._client.calls.actions.start_streaming(
                call_id,
                **stream.params(),
                stream_bidirectional_sampling_rate=stream.rate,
                command_id=_command_id(),
            ),
        )

    async def hangup(self, call_id: str) -> None:
        """End a call; a call that has already ended is left alone."""
        await self._send(
            "hang up",
            self._client.calls.actions.hangup(call_id, command_id=_command_id()),
            ended_ok=True,
        )

    async def transfer(
        self,
        call_id: str,
        *,
        to: str,
        from_: str,
        target_client_state: str,
        time_limit_secs: int | None = None,
        webhook_url: str | None = None,
    ) -> None:
        """Transfer a live call to ``to``; the new leg's webhooks carry ``target_client_state``."""
        params: dict[str, Any] = {
            "to": require_e164("to", to),
            "from_": from_,
            "target_leg_client_state": target_client_state,
            "command_id": _command_id(),
        }
        if time_limit_secs is not None:
            params["time_limit_secs"] = time_limit_secs
        if webhook_url is not None:
            params["webhook_url"] = webhook_url
        await self._send("transfer", self._client.calls.actions.transfer(call_id, **params))

    async def start_recording(self, call_id: str) -> None:
        """Record a live call (one channel, WAV); ``call.recording.saved`` says when it is ready."""
        await self._send(
            "start recording",
            self._client.calls.actions.start_recording(
                call_id, channels="single", format="wav", command_id=_command_id()
            ),
        )

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        """Press ``digits`` (``0-9 A-D * #``, ``w``/``W`` pauses) on a live call."""
        await self._send(
            "send DTMF",
            self._client.calls.actions.send_dtmf(call_id, digits=digits, command_id=_command_id()),
        )

    async def is_alive(self, call_id: str) -> bool | None:
        """Whether Telnyx has the call live now; ``None`` if it knows no such call."""
        response = await self._send(
            "fetch call", self._client.calls.retrieve_status(call_id), missing_ok=True
        )
        if response is None:
            return None
        data = getattr(response, "data", None)
        return bool(getattr(data, "is_alive", False))

    async def set_webhook_url(self, url: str) -> None:
        """Point the Call Control application (``connection_id``) at ``url``."""
        apps = self._client.call_control_applications
        app = await self._send(
            "find the Call Control application",
            apps.retrieve(self._carrier.connection_id),
            missing_ok=True,
        )
        name = getattr(getattr(app, "data", None), "application_name", None)
        if app is None or not isinstance(name, str):
            raise ProvisionError(
                f"Telnyx has no Call Control application {self._carrier.connection_id}: check "
                "TELNYX_CONNECTION_ID (the application's id in the Telnyx portal)"
            )
        await self._send(
            "set the application's webhook URL",
            apps.update(self._carrier.connection_id, application_name=name, webhook_event_url=url),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(
        self,
        action: str,
        request: Awaitable[_T],
        *,
        missing_ok: bool = False,
        ended_ok: bool = False,
    ) -> _T | None:
        telnyx = self._telnyx
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S + 1):
                return await request
        except telnyx.APIStatusError as exc:
            codes = _error_codes(exc.body)
            if missing_ok and exc.status_code == 404:
                return None
            if ended_ok and (exc.status_code == 404 or _CALL_ENDED in codes):
                return None
            raise _api_error(action, exc.status_code, exc.body) from exc
        except (telnyx.APITimeoutError, TimeoutError):
            raise PatterConnectionError(
                f"Telnyx {action}: no answer from {self._carrier.base_url} within "
                f"{REQUEST_TIMEOUT_S:g} s",
                code=ErrorCode.TIMEOUT,
            ) from None
        except telnyx.APIConnectionError as exc:
            raise PatterConnectionError(
                f"Telnyx {action}: cannot reach {self._carrier.base_url} "
                f"({type(exc.__cause__ or exc).__name__}); check the network or Telnyx base_url"
            ) from exc
        except telnyx.APIError as exc:
            raise PatterError(
                f"Telnyx {action}: unexpected response from {self._carrier.base_url} "
                f"({type(exc).__name__})",
                code=ErrorCode.PROVIDER_ERROR,
            ) from exc


def _command_id() -> str:
    """A fresh ``command_id``: Telnyx ignores a repeat of the same command on a call."""
    return secrets.token_hex(12)


def _errors(body: object) -> list[dict[str, Any]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_codes(body: object) -> set[str]:
    return {str(error.get("code")) for error in _errors(body)}


def _api_error(action: str, status: int, body: object) -> PatterError:
    errors = _errors(body)
    first = errors[0] if errors else {}
    detail = first.get("detail") or first.get("title") or "no detail"
    code = f", Telnyx error {first['code']}" if first.get("code") else ""
    message = f"Telnyx {action} failed (HTTP {status}{code}): {detail}"
    if status in (401, 403):
        return AuthenticationError(message + "; check the API key (TELNYX_API_KEY)")
    if status == 429:
        return RateLimitError(message + "; slow down and retry")
    if status >= 500:
        return PatterConnectionError(message + "; Telnyx is having trouble, retry later")
    return PatterError(message, code=ErrorCode.PROVIDER_ERROR)
