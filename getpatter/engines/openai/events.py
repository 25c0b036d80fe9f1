"""The OpenAI Realtime server events the engine reads, as pydantic models.

A message is parsed with :func:`json.loads` first; only the event types the engine handles are
validated, through the ``type -> model`` registry :data:`SERVER_EVENTS`. Beta event names are
renamed to their GA equivalents (:data:`BETA_EVENT_NAMES`) before the lookup, so one model serves
both protocols. Unknown types are ignored (debug log); a known event that fails validation is
logged and skipped, never raised.

Audio deltas arrive 50 or more times a second, so they skip pydantic: see
:func:`decode_audio_delta`.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "AUDIO_DELTA_TYPES",
    "BETA_EVENT_NAMES",
    "INPUT_TRANSCRIPT_DELTA",
    "SERVER_EVENTS",
    "TRANSCRIPT_DELTA_TYPES",
    "AudioTranscriptDelta",
    "AudioTranscriptDone",
    "ErrorDetails",
    "ErrorEvent",
    "FunctionCallArgumentsDone",
    "InputTranscriptionCompleted",
    "InputTranscriptionDelta",
    "InputTranscriptionFailed",
    "ResponseCreated",
    "ResponseDoneEvent",
    "ResponseInfo",
    "ServerEvent",
    "SessionUpdated",
    "SpeechStartedEvent",
    "SpeechStoppedEvent",
    "decode_audio_delta",
    "ga_event_name",
    "parse_server_event",
]

logger = logging.getLogger("getpatter.engines.openai")

#: Beta event names and the GA names that replaced them (protocols §3.3).
BETA_EVENT_NAMES = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
}

#: The two names of the agent-audio event, handled by :func:`decode_audio_delta`.
AUDIO_DELTA_TYPES = frozenset({"response.output_audio.delta", "response.audio.delta"})

#: The two names of the event carrying the text of agent audio as it is generated.
TRANSCRIPT_DELTA_TYPES = frozenset(
    {"response.output_audio_transcript.delta", "response.audio_transcript.delta"}
)


class ServerEvent(BaseModel):
    """Fields every server event has. Extra fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str
    event_id: str = ""


class SessionUpdated(ServerEvent):
    """``session.updated``: the session configuration was applied."""

    session: dict[str, Any] = {}


class SpeechStartedEvent(ServerEvent):
    """``input_audio_buffer.speech_started``: server VAD heard the caller start."""

    item_id: str = ""
    audio_start_ms: int = 0


class SpeechStoppedEvent(ServerEvent):
    """``input_audio_buffer.speech_stopped``: server VAD heard the caller stop."""

    item_id: str = ""
    audio_end_ms: int = 0


class InputTranscriptionCompleted(ServerEvent):
    """``conversation.item.input_audio_transcription.completed``: a caller utterance's text."""

    item_id: str = ""
    transcript: str


#: The event carrying more of a caller utterance's text as it is transcribed (one name in both
#: protocols). ``gpt-4o-transcribe`` sends it word by word; ``whisper-1`` once, with the whole text.
INPUT_TRANSCRIPT_DELTA = "conversation.item.input_audio_transcription.delta"


class InputTranscriptionDelta(ServerEvent):
    """``conversation.item.input_audio_transcription.delta``: more of a caller utterance."""

    item_id: str = ""
    delta: str


class ErrorDetails(BaseModel):
    """The ``error`` object of an error event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str = ""
    code: str | None = None
    message: str = ""
    param: str | None = None
    event_id: str | None = None


class InputTranscriptionFailed(ServerEvent):
    """``conversation.item.input_audio_transcription.failed``."""

    item_id: str = ""
    error: ErrorDetails = ErrorDetails()


class ResponseInfo(BaseModel):
    """The ``response`` object of ``response.created`` and ``response.done``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    status: str = ""
    usage: dict[str, Any] | None = None


class ResponseCreated(ServerEvent):
    """``response.created``: the model started a response."""

    response: ResponseInfo


class AudioTranscriptDelta(ServerEvent):
    """``response.output_audio_transcript.delta``: more text of the audio being generated."""

    item_id: str
    delta: str


class AudioTranscriptDone(ServerEvent):
    """``response.output_audio_transcript.done`` (beta: ``response.audio_transcript.done``)."""

    item_id: str
    transcript: str


class FunctionCallArgumentsDone(ServerEvent):
    """``response.function_call_arguments.done``: the model asks to run a tool."""

    call_id: str
    name: str
    arguments: str
    item_id: str = ""


class ResponseDoneEvent(ServerEvent):
    """``response.done``: a response ended; carries its status and token usage."""

    response: ResponseInfo


class ErrorEvent(ServerEvent):
    """``error``: the server refused a client event or the session failed."""

    error: ErrorDetails


#: GA event type -> model, for every event the engine handles besides audio deltas.
SERVER_EVENTS: dict[str, type[ServerEvent]] = {
    "session.updated": SessionUpdated,
    "input_audio_buffer.speech_started": SpeechStartedEvent,
    "input_audio_buffer.speech_stopped": SpeechStoppedEvent,
    "conversation.item.input_audio_transcription.completed": InputTranscriptionCompleted,
    "conversation.item.input_audio_transcription.failed": InputTranscriptionFailed,
    INPUT_TRANSCRIPT_DELTA: InputTranscriptionDelta,
    "response.created": ResponseCreated,
    "response.output_audio_transcript.delta": AudioTranscriptDelta,
    "response.output_audio_transcript.done": AudioTranscriptDone,
    "response.function_call_arguments.done": FunctionCallArgumentsDone,
    "response.done": ResponseDoneEvent,
    "error": ErrorEvent,
}


def ga_event_name(event_type: str) -> str:
    """The GA name of ``event_type`` (beta names are renamed, others returned unchanged)."""
    return BETA_EVENT_NAMES.get(event_type, event_type)


def parse_server_event(data: dict[str, Any]) -> ServerEvent | None:
    """Validate a decoded server message; ``None`` when its type is unknown or it is malformed."""
    event_type = data.get("type")
    if not isinstance(event_type, str):
        logger.warning("OpenAI Realtime sent an event without a type: skipped")
        return None
    model = SERVER_EVENTS.get(ga_event_name(event_type))
    if model is None:
        logger.debug("OpenAI Realtime event %r ignored", event_type)
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        logger.warning("OpenAI Realtime sent a malformed %r event, skipped: %s", event_type, exc)
        return None


def decode_audio_delta(data: dict[str, Any]) -> tuple[str, bytes] | None:
    """``(item_id, audio)`` of an audio delta event; ``None`` (logged) when it is malformed."""
    item_id = data.get("item_id")
    delta = data.get("delta")
    if isinstance(item_id, str) and isinstance(delta, str):
        with contextlib.suppress(binascii.Error):
            return item_id, binascii.a2b_base64(delta, strict_mode=True)
    logger.warning("OpenAI Realtime sent a malformed audio delta: skipped")
    return None
