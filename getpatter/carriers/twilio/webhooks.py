"""Twilio webhooks: signature checks, typed form posts, and the TwiML we answer with.

Twilio POSTs ``application/x-www-form-urlencoded`` forms to our endpoints and signs each with
``X-Twilio-Signature`` (HMAC-SHA1 keyed by the auth token). :func:`verify_signature` checks that
header with the official SDK, :func:`parse_form` turns a form into one of the models below, and
the ``*_twiml`` builders write the TwiML documents Twilio runs next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from getpatter._validation import require_e164, require_int, require_str
from getpatter.errors import InputValidationError

__all__ = [
    "AmdCallback",
    "DialActionCallback",
    "RecordingCallback",
    "StatusCallback",
    "VoiceWebhook",
    "connect_stream_twiml",
    "dial_twiml",
    "hangup_twiml",
    "parse_form",
    "verify_signature",
]


def verify_signature(
    auth_token: str, url: str, params: Mapping[str, str | Sequence[str]], signature: str
) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) signs this request.

    ``url`` is the full public URL Twilio requested, query string included; behind a proxy or
    tunnel, rebuild it from the public host. ``params`` are the POSTed form fields; give a
    repeated field as a list of its values. An empty signature or token never verifies.
    """
    if not signature or not auth_token:
        return False
    validator = RequestValidator(auth_token)
    return bool(validator.validate(url, _FormValues(params), signature))


class _FormValues:
    """A form as the SDK's validator reads repeated fields: iteration plus ``getlist``."""

    def __init__(self, params: Mapping[str, str | Sequence[str]]) -> None:
        self._values = {
            name: [value] if isinstance(value, str) else list(value)
            for name, value in params.items()
        }

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getlist(self, name: str) -> list[str]:
        return self._values[name]


class _TwilioForm(BaseModel):
    """A form Twilio posts: Twilio's field names as aliases, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object, info: ValidationInfo) -> object:
        # Twilio sends some optional fields empty (``CallDuration=``); treat them as missing.
        optional = (
            info.field_name is not None and not cls.model_fields[info.field_name].is_required()
        )
        return None if value == "" and optional else value


class VoiceWebhook(_TwilioForm):
    """The incoming-call webhook posted to a number's voice URL."""

    call_sid: str = Field(alias="CallSid", min_length=1)
    account_sid: str = Field(alias="AccountSid", min_length=1)
    from_: str = Field(alias="From", min_length=1)
    to: str = Field(alias="To", min_length=1)
    call_status: str = Field(alias="CallStatus", min_length=1)
    """``ringing`` for a new inbound call."""
    direction: str = Field(alias="Direction", min_length=1)
    """``inbound`` for calls to our number."""


class StatusCallback(_TwilioForm):
    """A call progress event posted to the ``StatusCallback`` URL of an outbound call."""

    call_sid: str = Field(alias="CallSid", min_length=1)
    call_status: str = Field(alias="CallStatus", min_length=1)
    """``initiated``, ``ringing``, ``in-progress`` (answered), or a final state: ``completed``,
    ``busy``, ``failed``, ``no-answer``, ``canceled``."""
    direction: str = Field(alias="Direction", min_length=1)
    call_duration: int | None = Field(default=None, alias="CallDuration", ge=0)
    """Seconds, on ``completed`` only."""
    answered_by: str | None = Field(default=None, alias="AnsweredBy")
    timestamp: str | None = Field(default=None, alias="Timestamp")
    """When the event happened, as Twilio formats it (RFC 2822)."""
    sequence_number: int | None = Field(default=None, alias="SequenceNumber", ge=0)
    """Orders the events of one call; Twilio retries, so the same number can arrive twice."""
    sip_response_code: int | None = Field(default=None, alias="SipResponseCode")


class AmdCallback(_TwilioForm):
    """The asynchronous answering-machine detection result (``AsyncAmdStatusCallback``)."""

    call_sid: str = Field(alias="CallSid", min_length=1)
    answered_by: str = Field(alias="AnsweredBy", min_length=1)
    """``human``, ``machine_start``, ``machine_end_beep``, ``machine_end_silence``,
    ``machine_end_other``, ``fax`` or ``unknown``."""
    machine_detection_duration: int | None = Field(
        default=None, alias="MachineDetectionDuration", ge=0
    )
    """Milliseconds the detection took."""


class DialActionCallback(_TwilioForm):
    """Posted to a ``<Dial action>`` URL when the dialed leg of a transfer ends."""

    call_sid: str = Field(alias="CallSid", min_length=1)
    """The call that was transferred (the parent leg)."""
    dial_call_status: str = Field(alias="DialCallStatus", min_length=1)
    """``completed`` (talked), ``answered``, ``busy``, ``no-answer``, ``failed`` or ``canceled``."""
    dial_call_sid: str | None = Field(default=None, alias="DialCallSid")
    dial_call_duration: int | None = Field(default=None, alias="DialCallDuration", ge=0)
    """Seconds the two parties were connected."""


class RecordingCallback(_TwilioForm):
    """A recording status event posted to the ``RecordingStatusCallback`` URL."""

    call_sid: str = Field(alias="CallSid", min_length=1)
    recording_sid: str = Field(alias="RecordingSid", min_length=1)
    recording_url: str = Field(alias="RecordingUrl", min_length=1)
    recording_status: str = Field(alias="RecordingStatus", min_length=1)
    """``completed`` once the file is available; also ``in-progress``, ``absent``, ``failed``."""
    recording_duration: int | None = Field(default=None, alias="RecordingDuration", ge=0)
    """Seconds."""


FormT = TypeVar("FormT", bound=_TwilioForm)


def parse_form(model_cls: type[FormT], form: Mapping[str, str]) -> FormT:
    """Validate a Twilio form post into ``model_cls`` (one of the models of this module).

    Raises :class:`~getpatter.errors.InputValidationError` naming each missing or invalid
    field by its Twilio name.
    """
    try:
        return model_cls.model_validate(dict(form))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            if error["type"] == "missing":
                problems.append(f"{field} is missing")
            else:
                problems.append(f"{field} is invalid ({error['msg']})")
        raise InputValidationError(
            f"Twilio {model_cls.__name__} form rejected: {'; '.join(problems)}"
        ) from None


def connect_stream_twiml(stream_url: str, parameters: Mapping[str, str]) -> str:
    """TwiML that connects the call to a two-way media stream at ``stream_url``.

    ``<Connect><Stream>`` (not ``<Start>``) is the bidirectional form: audio we send is played
    to the caller, and Twilio runs no further TwiML until the WebSocket closes. ``parameters``
    reach the ``start`` frame as ``customParameters``; Twilio ignores a query string on the
    stream URL, so per-call data goes there.
    """
    url = require_str("stream_url", stream_url, allow_empty=False)
    if not url.startswith(("wss://", "ws://")) or "?" in url:
        raise InputValidationError(
            f"stream_url={url!r} must be a wss:// URL (ws:// for a local simulator) without a "
            "query string; pass per-call values as parameters"
        )
    response = VoiceResponse()
    stream = response.connect().stream(url=url)
    for name, value in parameters.items():
        require_str("stream parameter name", name, allow_empty=False)
        require_str(f"stream parameter {name!r}", value)
        stream.parameter(name=name, value=value)
    return str(response.to_xml())


def dial_twiml(
    number: str, caller_id: str = "", *, time_limit: int | None = None, action: str = ""
) -> str:
    """TwiML that transfers the call to ``number`` (E.164), shown as ``caller_id`` if given.

    ``time_limit`` caps the transferred leg in seconds (``<Dial timeLimit>``); ``action`` is
    the URL Twilio posts to when that leg ends (then the TwiML it answers runs).
    """
    require_e164("transfer number", number)
    attributes: dict[str, str | int] = {}
    if caller_id:
        attributes["caller_id"] = require_e164("caller_id", caller_id)
    if time_limit is not None:
        attributes["time_limit"] = require_int("time_limit", time_limit, minimum=1)
    if action:
        attributes["action"] = require_str("action", action)
        attributes["method"] = "POST"
    response = VoiceResponse()
    response.dial(number, **attributes)
    return str(response.to_xml())


def hangup_twiml() -> str:
    """TwiML that ends the call."""
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())
