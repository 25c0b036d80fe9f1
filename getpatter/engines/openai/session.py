"""The ``session.update`` an OpenAI Realtime engine sends, in the GA or the beta shape.

Which shape a model speaks is decided by its name: the ``*-realtime-preview*`` snapshots (such
as the default ``gpt-4o-mini-realtime-preview``) speak the beta protocol (``OpenAI-Beta:
realtime=v1`` header, flat session, ``g711_ulaw``-style formats); every other model
(``gpt-realtime*``) speaks GA (nested ``audio.input/output``, ``{"type": "audio/pcmu"}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from getpatter.engines.base import EngineConfig
from getpatter.errors import ConfigError

__all__ = ["WireFormat", "session_update", "uses_beta_protocol", "wire_format"]

# Server VAD settings (the SDK's documented defaults). The engine never barges in on its own:
# the call session applies its barge-in threshold and then calls ``interrupt()``.
_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": False,
}
_GA_TRANSCRIPTION_MODEL = "gpt-4o-transcribe"
_BETA_TRANSCRIPTION_MODEL = "whisper-1"


@dataclass(frozen=True)
class WireFormat:
    """How one :data:`~getpatter.engines.base.AudioFormat` is named on the wire."""

    ga: dict[str, Any]
    beta: str
    bytes_per_ms: int


_WIRE_FORMATS = {
    "ulaw_8000": WireFormat({"type": "audio/pcmu"}, "g711_ulaw", 8),
    "alaw_8000": WireFormat({"type": "audio/pcma"}, "g711_alaw", 8),
    "pcm16_24000": WireFormat({"type": "audio/pcm", "rate": 24000}, "pcm16", 48),
}


def uses_beta_protocol(model: str) -> bool:
    """True for the ``*-realtime-preview*`` models, which speak the beta protocol."""
    return "realtime-preview" in model


def wire_format(audio_format: str) -> WireFormat:
    """The wire names of ``audio_format``; :class:`ConfigError` if Realtime cannot use it."""
    found = _WIRE_FORMATS.get(audio_format)
    if found is not None:
        return found
    if audio_format == "pcm16_16000":
        raise ConfigError(
            "OpenAI Realtime does not accept audio_format='pcm16_16000': PCM16 must be 24 kHz; "
            "use 'pcm16_24000' (or 'ulaw_8000' / 'alaw_8000' for phone audio)"
        )
    raise ConfigError(
        f"audio_format={audio_format!r} is not an OpenAI Realtime format: use one of "
        f"{sorted(_WIRE_FORMATS)}"
    )


def session_update(config: EngineConfig, *, beta: bool) -> dict[str, Any]:
    """The ``session.update`` event configuring a call's session (GA shape unless ``beta``)."""
    fmt = wire_format(config.audio_format)
    tools = [
        {
            "type": "function",
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool.get("parameters", {"type": "object", "properties": {}}),
        }
        for tool in config.tools
    ]
    # Transcription wants an ISO-639-1 code: "en-US" -> "en".
    language = config.language.split("-")[0].lower()
    transcription = {"model": _BETA_TRANSCRIPTION_MODEL if beta else _GA_TRANSCRIPTION_MODEL}
    if language:
        transcription["language"] = language
    if beta:
        session: dict[str, Any] = {
            "modalities": ["audio", "text"],
            "instructions": config.instructions,
            "voice": config.voice,
            "input_audio_format": fmt.beta,
            "output_audio_format": fmt.beta,
            "input_audio_transcription": transcription,
            "turn_detection": dict(_TURN_DETECTION),
        }
    else:
        session = {
            "type": "realtime",
            "model": config.model,
            "instructions": config.instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": dict(fmt.ga),
                    "transcription": transcription,
                    "turn_detection": dict(_TURN_DETECTION),
                },
                "output": {"format": dict(fmt.ga), "voice": config.voice},
            },
        }
    session["tools"] = tools
    session["tool_choice"] = "auto"
    return {"type": "session.update", "session": session}
