"""Request bodies of the simulated Telnyx API: parameter specs, checks and Telnyx errors.

Like Telnyx, unknown fields are ignored; a missing required field is HTTP 422 with code
``10004``, a value of the wrong type or out of range 422 with ``10015`` (the simulator's
choice: Telnyx's code for each such case is not published), a body that is not a JSON object
400 with ``10023``. Errors have Telnyx's shape, ``{"errors": [{"code", "title", "detail",
"source": {"pointer"}}]}``, with ``code`` a string as Telnyx sends it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "AMD_MODES",
    "DIAL",
    "ApiError",
    "Param",
    "StreamConfig",
    "action_spec",
    "checked",
    "stream_config",
]

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_DTMF = re.compile(r"^[0-9A-Da-d*#wW]+$")
_URL = re.compile(r"^https?://[^\s/]+")
_WS_URL = re.compile(r"^wss?://[^\s/]+")

SUPPORTED_CODECS = ("PCMU", "PCMA", "L16")
"""Codecs the simulator can encode and decode; Telnyx's others are refused with a 422."""
AMD_MODES = (
    "premium",
    "premium_ios_call_screening_detection",
    "detect",
    "detect_beep",
    "detect_words",
    "greeting_end",
    "disabled",
)
_CODECS = ("PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16")
_RATES = (8000, 16000, 22050, 24000, 48000)
_L16_RATES = (8000, 16000, 24000, 48000)
_TRACKS = ("inbound_track", "outbound_track", "both_tracks")


class ApiError(Exception):
    """A Telnyx API error: HTTP ``status`` with one entry of ``errors``."""

    def __init__(
        self, status: int, code: str, title: str, detail: str, pointer: str | None = None
    ) -> None:
        super().__init__(f"{status} {code} {title}: {detail}")
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.pointer = pointer

    def response(self) -> JSONResponse:
        """The JSON response Telnyx would send."""
        error: dict[str, Any] = {"code": self.code, "title": self.title, "detail": self.detail}
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        return JSONResponse({"errors": [error]}, status_code=self.status)


def invalid(name: str, detail: str) -> ApiError:
    """A 422 for a parameter whose value Telnyx would refuse."""
    return ApiError(422, "10015", "Invalid parameter", detail, f"/{name}")


@dataclass(frozen=True)
class Param:
    """One body field: its JSON type, and optionally its allowed values or range."""

    kind: type | tuple[type, ...]
    required: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    hint: str = ""

    def check(self, name: str, value: object) -> None:
        """Raise :class:`ApiError` (422) unless ``value`` fits."""
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise invalid(name, f"'{name}' must be {_kind_name(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise invalid(name, f"'{name}' must be {_kind_name(kinds)}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(choice) for choice in self.choices)
            raise invalid(name, f"'{name}' must be one of {allowed}")
        if isinstance(value, int) and not isinstance(value, bool):
            low = self.minimum if self.minimum is not None else value
            high = self.maximum if self.maximum is not None else value
            if not low <= value <= high:
                raise invalid(name, f"'{name}' must be between {low} and {high}")
        if isinstance(value, str):
            if self.max_length is not None and len(value) > self.max_length:
                raise invalid(name, f"'{name}' is longer than {self.max_length} characters")
            if self.pattern is not None and not self.pattern.match(value):
                raise invalid(name, f"'{name}' must be {self.hint}")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object"}
    return " or ".join(names.get(kind, "an array") for kind in kinds)


_STR = Param(str)
_BOOL = Param(bool)
_COMMON = {"client_state": _STR, "command_id": _STR}
_WEBHOOK = {
    "webhook_url": Param(str, pattern=_URL, hint="an http(s) URL"),
    "webhook_url_method": Param(str, choices=("POST",)),
}
_STREAMING = {
    "stream_url": Param(str, pattern=_WS_URL, hint="a ws:// or wss:// URL"),
    "stream_track": Param(str, choices=_TRACKS),
    "stream_codec": Param(str, choices=(*_CODECS, "default")),
    "stream_bidirectional_mode": Param(str, choices=("rtp", "mp3")),
    "stream_bidirectional_codec": Param(str, choices=_CODECS),
    "stream_bidirectional_sampling_rate": Param(int, choices=_RATES),
    "stream_bidirectional_target_legs": Param(str, choices=("both", "self", "opposite")),
    "stream_auth_token": Param(str, max_length=4000),
}
_RECORD = {
    "record": Param(str, choices=("record-from-answer",)),
    "record_channels": Param(str, choices=("single", "dual")),
    "record_format": Param(str, choices=("wav", "mp3")),
    "record_track": Param(str, choices=("both", "inbound", "outbound")),
    "record_trim": Param(str, choices=("trim-silence",)),
    "record_max_length": Param(int, minimum=0, maximum=43200),
}
_AMD = {
    "answering_machine_detection": Param(str, choices=AMD_MODES),
    "answering_machine_detection_config": Param(dict),
}

DIAL: dict[str, Param] = {
    "connection_id": Param(str, required=True),
    "to": Param((str, list), required=True),
    "from": Param(str, required=True),
    "from_display_name": _STR,
    "timeout_secs": Param(int, minimum=5, maximum=600),
    "time_limit_secs": Param(int, minimum=1, maximum=14400),
    "send_digits_on_answer": Param(str, pattern=_DTMF, hint="DTMF digits (0-9 A-D * # w W)"),
    "stream_establish_before_call_originate": _BOOL,
    "custom_headers": Param(list),
    "sip_headers": Param(list),
    **_COMMON,
    **_WEBHOOK,
    **_STREAMING,
    **_RECORD,
    **_AMD,
}

_ACTIONS: dict[str, dict[str, Param]] = {
    "answer": {
        **_COMMON,
        **_WEBHOOK,
        **_STREAMING,
        **_RECORD,
        "send_silence_when_idle": _BOOL,
        "preferred_codecs": _STR,
        "custom_headers": Param(list),
    },
    "hangup": {**_COMMON, "custom_headers": Param(list), "reason": _STR},
    "reject": {
        **_COMMON,
        "cause": Param(
            str,
            required=True,
            choices=("CALL_REJECTED", "NOT_FOUND", "TEMPORARILY_UNAVAILABLE", "USER_BUSY"),
        ),
    },
    "transfer": {
        **_COMMON,
        **_WEBHOOK,
        **_AMD,
        "to": Param(str, required=True),
        "from": _STR,
        "from_display_name": _STR,
        "timeout_secs": Param(int, minimum=5, maximum=600),
        "time_limit_secs": Param(int, minimum=1, maximum=14400),
        "audio_url": _STR,
        "target_leg_client_state": _STR,
        "early_media": _BOOL,
        "custom_headers": Param(list),
    },
    "record_start": {
        **_COMMON,
        "channels": Param(str, required=True, choices=("single", "dual")),
        "format": Param(str, required=True, choices=("wav", "mp3")),
        "max_length": Param(int, minimum=0, maximum=14400),
        "play_beep": _BOOL,
        "recording_track": Param(str, choices=("both", "inbound", "outbound")),
        "trim": Param(str, choices=("trim-silence",)),
        "custom_file_name": _STR,
        "timeout_secs": Param(int, minimum=0),
        "transcription": _BOOL,
    },
    "record_stop": {**_COMMON, "recording_id": _STR},
    "send_dtmf": {
        **_COMMON,
        "digits": Param(str, required=True, pattern=_DTMF, hint="DTMF digits (0-9 A-D * # w W)"),
        "duration_millis": Param(int, minimum=100, maximum=500),
    },
    "streaming_start": {
        **_COMMON,
        **_STREAMING,
        "stream_url": Param(str, required=True, pattern=_WS_URL, hint="a ws:// or wss:// URL"),
        "custom_parameters": Param(list),
        "enable_dialogflow": _BOOL,
    },
    "streaming_stop": {**_COMMON, "stream_id": _STR},
    "client_state_update": {"client_state": Param(str, required=True)},
}


def action_spec(name: str) -> dict[str, Param] | None:
    """The parameters of call command ``name``, or ``None`` if the simulator has no such
    command."""
    return _ACTIONS.get(name)


def checked(body: object, spec: Mapping[str, Param]) -> dict[str, Any]:
    """``body`` once every known field is checked; unknown fields are kept but not checked."""
    if not isinstance(body, dict):
        raise ApiError(400, "10023", "Invalid JSON", "The request body must be a JSON object.")
    for name, param in spec.items():
        if name not in body or body[name] is None:
            if param.required:
                raise ApiError(
                    422,
                    "10004",
                    "Missing required parameter",
                    f"The '{name}' parameter is required.",
                    f"/{name}",
                )
            continue
        param.check(name, body[name])
    if isinstance(state := body.get("client_state"), str) and not _is_base64(state):
        raise invalid("client_state", "'client_state' must be a valid Base-64 encoded string")
    if "stream_auth_token" in body and "stream_url" not in body and "stream_url" in spec:
        raise invalid("stream_auth_token", "'stream_auth_token' needs a 'stream_url'")
    return body


def checked_number(name: str, value: str) -> str:
    """``value`` if it is an E.164 number or a SIP URI (422 otherwise)."""
    if _E164.match(value) or value.startswith(("sip:", "sips:")):
        return value
    raise ApiError(
        422,
        "10016",
        "Phone number must be in +E.164 format",
        f"'{name}' must be a +E.164 number or a SIP URI, got {value!r}.",
        f"/{name}",
    )


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class StreamConfig:
    """A media stream as the app asked for it (dial, answer or ``streaming_start``).

    ``codec``/``sample_rate`` are the audio Telnyx sends (``stream_codec``), the
    ``bidirectional_*`` fields the audio the app sends back (``rtp`` mode only).
    """

    url: str
    track: str = "inbound_track"
    codec: str = "PCMU"
    sample_rate: int = 8000
    bidirectional_mode: str | None = None
    bidirectional_codec: str = "PCMU"
    bidirectional_sample_rate: int = 8000
    auth_token: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)


def stream_config(params: Mapping[str, Any]) -> StreamConfig | None:
    """The stream ``params`` ask for (``None`` without ``stream_url``); 422 for what the
    simulator cannot play.

    L16 is 16 kHz unless ``stream_bidirectional_sampling_rate`` says otherwise (on both
    directions); PCMU and PCMA are 8 kHz only. MP3 bidirectional mode is not simulated.
    """
    url = params.get("stream_url")
    if url is None:
        return None
    if params.get("stream_bidirectional_mode") == "mp3":
        raise invalid(
            "stream_bidirectional_mode",
            "the simulator does not play MP3 media: use stream_bidirectional_mode 'rtp'",
        )
    rate = params.get("stream_bidirectional_sampling_rate")
    codec = params.get("stream_codec", "default")
    codec = "PCMU" if codec == "default" else codec
    back = params.get("stream_bidirectional_codec", "PCMU")
    for name, value in (("stream_codec", codec), ("stream_bidirectional_codec", back)):
        if value not in SUPPORTED_CODECS:
            raise invalid(
                name,
                f"the simulator does not support codec {value!r}: use one of "
                f"{', '.join(SUPPORTED_CODECS)}",
            )
    if rate is not None and "L16" not in (codec, back) and rate != 8000:
        raise invalid(
            "stream_bidirectional_sampling_rate",
            f"{back} is 8000 Hz; only L16 streams at {rate} Hz",
        )
    if rate is not None and rate not in _L16_RATES:
        raise invalid(
            "stream_bidirectional_sampling_rate",
            f"the simulator streams L16 at {', '.join(map(str, _L16_RATES))} Hz, not {rate}",
        )
    l16_rate = rate if rate is not None else 16000
    return StreamConfig(
        url=url,
        track=params.get("stream_track", "inbound_track"),
        codec=codec,
        sample_rate=l16_rate if codec == "L16" else 8000,
        bidirectional_mode=params.get("stream_bidirectional_mode"),
        bidirectional_codec=back,
        bidirectional_sample_rate=l16_rate if back == "L16" else 8000,
        auth_token=params.get("stream_auth_token"),
        custom_parameters=_custom_parameters(params.get("custom_parameters", [])),
    )


def _custom_parameters(value: list[Any]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in value:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("value"), str)
        ):
            raise invalid(
                "custom_parameters", "each custom parameter needs a string name and value"
            )
        parameters[item["name"]] = item["value"]
    return parameters
