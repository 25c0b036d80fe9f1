"""What both ElevenLabs TTS clients share: credentials, URLs, formats, voice settings, errors."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Self

from getpatter._env import env_secret
from getpatter._validation import require_str
from getpatter.errors import (
    ConfigError,
    InputValidationError,
    PatterError,
)
from getpatter.providers.errors import status_error as kit_status_error
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import base_url as kit_base_url

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
API_KEY_ENV = "ELEVENLABS_API_KEY"
BASE_URL_ENV = "ELEVENLABS_BASE_URL"

WIRE_FORMATS = WireFormats[str](
    "ElevenLabs TTS",
    {
        "ulaw_8000": "ulaw_8000",
        "pcm16_16000": "pcm_16000",
        "pcm16_24000": "pcm_24000",
        "alaw_8000": "alaw_8000",
    },
)
"""Patter's audio formats and the ``output_format`` ElevenLabs names them by, ulaw first."""

TWILIO_VOICE_SETTINGS: dict[str, Any] = {
    "stability": 0.5,
    "similarity_boost": 0.75,
    "use_speaker_boost": False,
}
"""``for_twilio()`` settings: speaker boost adds latency and is lost on an 8 kHz line."""

_OUTPUT_FORMAT = re.compile(r"^(mp3|pcm|ulaw|alaw|opus)_\d+(_\d+)?$")
_UNIT_SETTINGS = ("stability", "similarity_boost", "style")
_SETTINGS = (*_UNIT_SETTINGS, "use_speaker_boost", "speed")
_MAX_DETAIL = 300


class TelephonyPresets:
    """``for_twilio()`` / ``for_telnyx()`` factories shared by both ElevenLabs TTS classes (TTS-3)."""

    @classmethod
    def for_twilio(
        cls,
        api_key: str | None = None,
        *,
        voice_settings: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Self:
        """μ-law 8 kHz, Twilio's own format, with speaker boost off and moderate stability.

        Other keyword arguments go to the constructor; ``voice_settings`` replaces the
        Twilio defaults (``stability=0.5``, ``similarity_boost=0.75``, no speaker boost).
        """
        settings = TWILIO_VOICE_SETTINGS if voice_settings is None else voice_settings
        return cls(api_key, output_format="ulaw_8000", voice_settings=settings, **options)  # type: ignore[call-arg]

    @classmethod
    def for_telnyx(cls, api_key: str | None = None, **options: Any) -> Self:
        """PCM16 at 16 kHz, what Telnyx media streams carry; keyword arguments as the constructor."""
        return cls(api_key, output_format="pcm_16000", **options)  # type: ignore[call-arg]


def resolve_api_key(api_key: str | None, owner: str) -> str:
    """``api_key``, else ``ELEVENLABS_API_KEY``; none raises naming both (spec PV-1)."""
    if api_key is not None:
        require_str(f"{owner} api_key", api_key)
    key = env_secret(api_key or "", API_KEY_ENV)
    if not key:
        raise ConfigError(
            f"{owner} needs an ElevenLabs API key: pass {owner}(api_key=...) or set {API_KEY_ENV}"
        )
    return key


def resolve_base_url(base_url: str | None, owner: str, schemes: tuple[str, ...]) -> str:
    """``base_url``, else ``ELEVENLABS_BASE_URL``, else the public API; no trailing slash."""
    return kit_base_url(
        owner, base_url, env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL, schemes=schemes
    )


def require_output_format(owner: str, value: object) -> str:
    """An ElevenLabs ``output_format`` name such as ``pcm_16000`` or ``ulaw_8000``."""
    name = require_str(f"{owner} output_format", value, allow_empty=False)
    if not _OUTPUT_FORMAT.fullmatch(name):
        raise InputValidationError(
            f"{owner} output_format={name!r} is not an ElevenLabs format: use e.g. 'pcm_16000', "
            "'pcm_24000', 'ulaw_8000' or 'mp3_44100_128'"
        )
    return name


def wire_format(owner: str, audio_format: object, default: str) -> str:
    """The ``output_format`` to ask for: ``audio_format`` mapped, or ``default`` for ``None``."""
    if audio_format is None:
        return default
    if audio_format not in WIRE_FORMATS:
        raise ConfigError(
            f"{owner} cannot produce audio_format={audio_format!r}: use one of "
            f"{list(WIRE_FORMATS.formats)}"
        )
    return WIRE_FORMATS.wire(audio_format)


def require_voice_settings(owner: str, value: object) -> dict[str, Any] | None:
    """A copy of ``voice_settings`` with known keys and sane values, or ``None``."""
    if value is None:
        return None
    param = f"{owner} voice_settings"
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{param} must be a dict such as {{'stability': 0.5, 'similarity_boost': 0.75}}, "
            f"got {type(value).__name__}"
        )
    settings = dict(value)
    for key, item in settings.items():
        if key not in _SETTINGS:
            raise ConfigError(f"{param} has unknown key {key!r}: use only {list(_SETTINGS)}")
        if key == "use_speaker_boost":
            if not isinstance(item, bool):
                raise ConfigError(f"{param}['use_speaker_boost'] must be True or False")
            continue
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ConfigError(f"{param}[{key!r}] must be a number, got {item!r}")
        if key in _UNIT_SETTINGS and not 0 <= item <= 1:
            raise InputValidationError(f"{param}[{key!r}] must be between 0 and 1, got {item}")
        if key == "speed" and item <= 0:
            raise InputValidationError(f"{param}['speed'] must be > 0, got {item}")
    return settings


def require_language_code(owner: str, value: object) -> str | None:
    """An ISO 639-1 code such as ``"en"`` or ``"it"``, or ``None``."""
    if value is None:
        return None
    return require_str(f"{owner} language_code", value, allow_empty=False)


def status_error(owner: str, status: int, body: bytes, *, api_key: str = "") -> PatterError:
    """The Patter error for an HTTP error answer from ElevenLabs (the kit's mapping, with
    ElevenLabs' own message from ``body``)."""
    return kit_status_error(
        "ElevenLabs",
        status,
        error_detail(body),
        api_key=api_key,
        key_hint=f"{owner}(api_key=...) or {API_KEY_ENV}",
    )


def error_detail(body: bytes) -> str:
    """The message inside an ElevenLabs error body (``{"detail": {"message": ...}}``, or a
    422's ``{"detail": [{"msg": ...}]}``)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        return text[:_MAX_DETAIL]
    detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("status") or detail
    elif isinstance(detail, list):  # a 422: [{"loc": [...], "msg": ..., "type": ...}, ...]
        said = [str(item["msg"]) for item in detail if isinstance(item, dict) and "msg" in item]
        detail = "; ".join(said) if said else detail
    return str(detail)[:_MAX_DETAIL]
