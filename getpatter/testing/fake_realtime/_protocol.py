"""Realtime wire facts the fake needs: GA and beta dialects, audio formats, session settings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from getpatter.testing._fake_audio import Codec, new_id

DEFAULT_SILENCE_MS = 500
_RMS_PER_THRESHOLD = 1000.0

# GA event names the beta protocol spells differently; None: the beta API has no such event.
BETA_NAMES: dict[str, str | None] = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
    "conversation.item.done": None,
}

# Session keys only one dialect has: the real API refuses the other dialect's keys.
BETA_ONLY_KEYS = frozenset(
    {
        "modalities",
        "voice",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "input_audio_noise_reduction",
        "turn_detection",
        "max_response_output_tokens",
        "temperature",
    }
)
GA_ONLY_KEYS = frozenset({"type", "audio", "output_modalities", "max_output_tokens"})
_MERGED_KEYS = frozenset({"audio", "input", "output"})


class ClientError(Exception):
    """A client event the real API would refuse with an ``error`` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


PCM24 = Codec("pcm", 24000, {"type": "audio/pcm", "rate": 24000}, "pcm16")
_PCMU = Codec("ulaw", 8000, {"type": "audio/pcmu"}, "g711_ulaw")
_PCMA = Codec("alaw", 8000, {"type": "audio/pcma"}, "g711_alaw")
_GA_FORMATS = {"audio/pcm": PCM24, "audio/pcmu": _PCMU, "audio/pcma": _PCMA}
_BETA_FORMATS = {"pcm16": PCM24, "g711_ulaw": _PCMU, "g711_alaw": _PCMA}


@dataclass(frozen=True)
class Settings:
    """The parts of the effective session the fake acts on."""

    input: Codec
    output: Codec
    voice: str
    instructions: str
    vad: bool
    rms_threshold: float = 0.0
    silence_ms: int = DEFAULT_SILENCE_MS
    create_response: bool = False
    interrupt_response: bool = False


def default_session(beta: bool, model: str) -> dict[str, Any]:
    """The session a new connection starts with, as ``session.created`` shows it."""
    turn_detection = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": DEFAULT_SILENCE_MS,
        "create_response": True,
        "interrupt_response": True,
    }
    common = {
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "expires_at": int(time.time()) + 1800,
    }
    if beta:
        return common | {
            "modalities": ["audio", "text"],
            "voice": "alloy",
            "input_audio_format": PCM24.beta,
            "output_audio_format": PCM24.beta,
            "input_audio_transcription": None,
            "turn_detection": turn_detection,
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }
    return common | {
        "type": "realtime",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {
            "input": {
                "format": dict(PCM24.ga),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": turn_detection | {"idle_timeout_ms": None},
            },
            "output": {"format": dict(PCM24.ga), "voice": "alloy", "speed": 1.0},
        },
    }


def check_update(update: object, beta: bool) -> dict[str, Any]:
    """The ``session`` of a ``session.update``, if its shape suits the connection's dialect."""
    if not isinstance(update, dict):
        raise ClientError(
            "invalid_type", "Invalid type for 'session': expected an object.", "session"
        )
    foreign = sorted(update.keys() & (GA_ONLY_KEYS if beta else BETA_ONLY_KEYS))
    if foreign:
        param = f"session.{foreign[0]}"
        raise ClientError("unknown_parameter", f"Unknown parameter: '{param}'.", param)
    if not beta and update.get("type") != "realtime":
        raise ClientError(
            "missing_required_parameter",
            "Missing required parameter: 'session.type' (use 'realtime').",
            "session.type",
        )
    return update


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``: the audio containers merge, other keys are replaced."""
    merged = dict(base)
    for key, value in update.items():
        if key in _MERGED_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_settings(session: dict[str, Any], beta: bool) -> Settings:
    """Read the effective session, refusing the values the real API refuses."""
    if beta:
        input_codec = _beta_format(session.get("input_audio_format"), "input_audio_format")
        output_codec = _beta_format(session.get("output_audio_format"), "output_audio_format")
        voice = session.get("voice")
        turn_detection = session.get("turn_detection")
        param = "session.turn_detection"
    else:
        audio = session.get("audio") or {}
        audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
        input_codec = _ga_format(audio_in.get("format"), "audio.input.format")
        output_codec = _ga_format(audio_out.get("format"), "audio.output.format")
        voice = audio_out.get("voice")
        turn_detection = audio_in.get("turn_detection")
        param = "session.audio.input.turn_detection"
    instructions = session.get("instructions") or ""
    if not isinstance(instructions, str):
        raise ClientError(
            "invalid_type", "Invalid type for 'session.instructions'.", "session.instructions"
        )
    if turn_detection is None:
        return Settings(input_codec, output_codec, str(voice), instructions, vad=False)
    if not isinstance(turn_detection, dict) or turn_detection.get("type") not in (
        "server_vad",
        "semantic_vad",
    ):
        raise ClientError(
            "invalid_value",
            f"Invalid value for '{param}.type'. Supported values are: 'server_vad' and "
            "'semantic_vad'.",
            param,
        )
    threshold = turn_detection.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        threshold = -1
    if not 0 <= threshold <= 1:
        raise ClientError("invalid_value", f"'{param}.threshold' must be between 0 and 1.", param)
    silence = turn_detection.get("silence_duration_ms", DEFAULT_SILENCE_MS)
    if isinstance(silence, bool) or not isinstance(silence, int) or silence < 0:
        raise ClientError(
            "invalid_value", f"'{param}.silence_duration_ms' must be an integer >= 0.", param
        )
    return Settings(
        input=input_codec,
        output=output_codec,
        voice=str(voice),
        instructions=instructions,
        vad=True,
        rms_threshold=threshold * _RMS_PER_THRESHOLD,
        silence_ms=silence,
        create_response=turn_detection.get("create_response", True) is not False,
        interrupt_response=turn_detection.get("interrupt_response", True) is not False,
    )


def _ga_format(value: object, param: str) -> Codec:
    fmt = value if isinstance(value, dict) else {}
    codec = _GA_FORMATS.get(fmt.get("type", ""))
    if codec is None or fmt.get("rate", codec.rate) != codec.rate:
        raise ClientError(
            "invalid_value",
            f"Invalid value for 'session.{param}'. Supported formats are "
            "{'type': 'audio/pcm', 'rate': 24000}, {'type': 'audio/pcmu'} and "
            "{'type': 'audio/pcma'}.",
            f"session.{param}",
        )
    return codec


def _beta_format(value: object, param: str) -> Codec:
    codec = _BETA_FORMATS.get(value) if isinstance(value, str) else None
    if codec is None:
        raise ClientError(
            "invalid_value",
            f"Invalid value: {value!r}. Supported values are: 'pcm16', 'g711_ulaw', and "
            "'g711_alaw'.",
            f"session.{param}",
        )
    return codec
