"""A loopback fake of Speechmatics' real-time API (``/v2``).

Facts from the ``speechmatics-rt`` SDK (``speechmatics.rt``) and Speechmatics' real-time docs:
the key travels as ``Authorization: Bearer <key>`` (a bad one is refused at the handshake with
HTTP 401); the SDK adds ``sm-sdk`` to the query and an ``X-Request-Id`` header. The first
message is ``StartRecognition`` with ``audio_format`` (``{"type": "raw", "encoding":
"pcm_s16le" | "pcm_f32le" | "mulaw", "sample_rate": ...}``) and ``transcription_config``
(``language``, ``model`` or ``operating_point``, ``enable_partials``, ``max_delay`` 0.7 to 4,
``conversation_config.end_of_utterance_silence_trigger`` 0 to 2 s); the server answers
``RecognitionStarted`` (``id``). Audio goes up as binary frames, each acknowledged by
``AudioAdded`` (``seq_no``, counting from 1). Client messages: ``ForceEndOfUtterance``
(optional ``timestamp``), ``EndOfStream`` (``last_seq_no``), ``SetRecognitionConfig``.
Server messages: ``AddPartialTranscript`` / ``AddTranscript`` (``format``, ``metadata``
with ``transcript``, ``start_time``, ``end_time``; ``results``: words and punctuation with
timings and ``alternatives`` of ``content``/``confidence``), ``EndOfUtterance``
(``metadata`` with the times), ``EndOfTranscript``, ``Warning``, ``Info`` and ``Error``
(``type`` such as ``not_authorised``, ``quota_exceeded``, ``invalid_config``,
``idle_timeout``, and ``reason``), after which the server closes.

The fake's turns: partials every 200 ms of speech when ``enable_partials``; after
``end_of_utterance_silence_trigger`` of silence the ``AddTranscript`` of the line, then
``EndOfUtterance`` (without the trigger, the ``AddTranscript`` comes after 300 ms of silence
and no ``EndOfUtterance``). ``ForceEndOfUtterance`` sends the pending ``AddTranscript`` and
``EndOfUtterance`` at once; ``EndOfStream`` the pending one, then ``EndOfTranscript`` and a
normal close.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from getpatter.testing.fake_stt_ws._core import FakeSTTServer
from getpatter.testing.fake_stt_ws._dialect import (
    BadMessage,
    Configure,
    Control,
    Dialect,
    FakeSTTSession,
    Finalize,
    Heard,
    HttpRefusal,
    Ignore,
    Opening,
    RefusalKind,
    Refused,
    StreamSettings,
    Terminate,
    key_matches,
)

__all__ = ["FakeSpeechmaticsServer", "SpeechmaticsDialect"]

FORMAT = "2.9"
"""The ``format`` Speechmatics stamps on its results."""

_ENCODINGS: dict[str, Literal["pcm_s16le", "mulaw"]] = {"pcm_s16le": "pcm_s16le", "mulaw": "mulaw"}
_MAX_DELAY = (0.7, 4.0)
_EOU_MAX_S = 2.0
_PUNCTUATION = ".,!?;:"
_ERROR_TYPES: dict[str, str] = {
    "auth": "not_authorised",
    "rate_limit": "quota_exceeded",
    "bad_request": "invalid_message",
    "server": "job_error",
    "idle": "idle_timeout",
}
# The close code after each error (Speechmatics' API reference names 4005 quota_exceeded,
# 4013 job_error and 1011 internal_error; the others follow its numbering of error types).
_CLOSE_CODES: dict[str, int] = {
    "auth": 4001,
    "rate_limit": 4005,
    "bad_request": 1003,
    "server": 4013,
    "idle": 1008,
}


class SpeechmaticsDialect(Dialect):
    """Speechmatics real-time, as described in the module docstring."""

    label = "Speechmatics"
    path = "/v2"

    def handshake(self, opening: Opening) -> HttpRefusal | None:
        scheme, _, key = opening.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key_matches(key.strip(), opening.expected_key):
            return HttpRefusal(401, self.http_error_body(401, "Unauthorized"))
        return None

    def key_source(self, opening: Opening) -> str | None:
        return "header" if opening.headers.get("authorization") else None

    def open(self, opening: Opening) -> None:
        return None  # StartRecognition configures the session

    def parse_text(self, opening: Opening, text: str, *, configured: bool) -> Control:
        try:
            message = json.loads(text)
        except ValueError:
            return BadMessage(f"Invalid JSON: {text[:60]}")
        kind = message.get("message") if isinstance(message, dict) else None
        if kind == "StartRecognition":
            if configured:
                return BadMessage("StartRecognition received twice")
            assert isinstance(message, dict)
            return Configure(_settings(message), message)
        if not configured:
            return BadMessage(f"Expected StartRecognition, got {kind!r}")
        assert isinstance(message, dict)
        if kind == "ForceEndOfUtterance":
            timestamp = message.get("timestamp", 0.0)
            if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
                return BadMessage("ForceEndOfUtterance timestamp must be a number")
            return Finalize()
        if kind == "EndOfStream":
            seq = message.get("last_seq_no")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                return BadMessage("EndOfStream needs last_seq_no, the number of audio chunks")
            return Terminate()
        if kind in ("SetRecognitionConfig", "GetSpeakers"):
            return Ignore(str(kind))
        return BadMessage(f"Unknown message: {kind!r}")

    def http_error_body(self, status: int, message: str) -> Mapping[str, Any]:
        return {"code": status, "error": message}

    def error(self, kind: RefusalKind, message: str) -> tuple[list[dict[str, Any]], int, str]:
        error_type = _ERROR_TYPES[kind]
        if message.startswith("invalid_"):  # a configuration refusal names its own type
            error_type, _, message = message.partition(": ")
        return (
            [{"message": "Error", "type": error_type, "reason": message}],
            _CLOSE_CODES[kind],
            error_type,
        )

    def begin(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        settings = session.settings
        language = settings.options.get("language", "en") if settings else "en"
        return [
            {
                "message": "RecognitionStarted",
                "id": session.id,
                "orchestrator_version": "fake",
                "language_pack_info": {"language_description": language, "word_delimiter": " "},
            }
        ]

    def audio_received(self, session: FakeSTTSession, frames: int) -> list[dict[str, Any]]:
        return [{"message": "AudioAdded", "seq_no": frames}]

    def interim(self, session: FakeSTTSession, heard: Heard) -> list[dict[str, Any]]:
        return [_transcript("AddPartialTranscript", heard, heard.interim_text, session)]

    def final(
        self,
        session: FakeSTTSession,
        heard: Heard | None,
        reason: Literal["endpoint", "segment", "finalize", "terminate"],
    ) -> list[dict[str, Any]]:
        messages = [] if heard is None else [_transcript("AddTranscript", heard, None, session)]
        if reason in ("endpoint", "finalize"):
            end = heard.speech_end_ms / 1000 if heard is not None else session.audio_seconds
            messages.append(
                {
                    "message": "EndOfUtterance",
                    "format": FORMAT,
                    "metadata": {"start_time": end, "end_time": end},
                }
            )
        return messages

    def end(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        return [{"message": "EndOfTranscript"}]


def _settings(message: dict[str, Any]) -> StreamSettings:
    """The session's settings from ``StartRecognition``; a bad one is refused in-band."""
    audio = message.get("audio_format")
    config = message.get("transcription_config")
    if not isinstance(audio, dict) or not isinstance(config, dict):
        raise Refused(
            "bad_request",
            "invalid_config: StartRecognition needs audio_format and transcription_config",
        )
    encoding = audio.get("encoding")
    if audio.get("type") != "raw" or encoding not in _ENCODINGS:
        raise Refused(
            "bad_request",
            f"invalid_audio_type: the fake takes raw pcm_s16le or mulaw, got {audio!r}",
        )
    rate = audio.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise Refused("bad_request", f"invalid_audio_type: bad sample_rate {rate!r}")
    language = config.get("language")
    if not isinstance(language, str) or not language:
        raise Refused("bad_request", "invalid_config: transcription_config.language is required")
    max_delay = config.get("max_delay", _MAX_DELAY[1])
    if not isinstance(max_delay, int | float) or not _MAX_DELAY[0] <= max_delay <= _MAX_DELAY[1]:
        raise Refused("bad_request", f"invalid_config: max_delay {max_delay!r} out of range")
    conversation = config.get("conversation_config") or {}
    trigger = (
        conversation.get("end_of_utterance_silence_trigger", 0)
        if isinstance(conversation, dict)
        else None
    )
    if not isinstance(trigger, int | float) or not 0 <= trigger <= _EOU_MAX_S:
        raise Refused(
            "bad_request", f"invalid_config: end_of_utterance_silence_trigger {trigger!r}"
        )
    return StreamSettings(
        encoding=_ENCODINGS[encoding],
        sample_rate=rate,
        interim_results=config.get("enable_partials") is True,
        endpointing_ms=round(trigger * 1000) if trigger else None,
        options={"language": language},
    )


def _transcript(
    kind: str, heard: Heard, text: str | None, session: FakeSTTSession
) -> dict[str, Any]:
    settings = session.settings
    language = settings.options.get("language", "en") if settings else "en"
    results: list[dict[str, Any]] = []
    for word in heard.words(text):
        content = word.text.rstrip(_PUNCTUATION)
        mark = word.text[len(content) :]
        start, end = word.start_ms / 1000, word.end_ms / 1000
        if content:
            results.append(_result("word", start, end, content, word.confidence, language))
        if mark:
            punct = _result("punctuation", end, end, mark, 1.0, language)
            results.append({**punct, "attaches_to": "previous", "is_eos": mark in ".!?"})
    start = results[0]["start_time"] if results else heard.start_ms / 1000
    end = results[-1]["end_time"] if results else heard.end_ms / 1000
    shown = heard.text if text is None else text
    return {
        "message": kind,
        "format": FORMAT,
        "metadata": {
            "transcript": f"{shown} " if shown else "",
            "start_time": start,
            "end_time": end,
        },
        "results": results,
    }


def _result(
    kind: str, start: float, end: float, content: str, confidence: float, language: str
) -> dict[str, Any]:
    return {
        "type": kind,
        "start_time": start,
        "end_time": end,
        "alternatives": [{"content": content, "confidence": confidence, "language": language}],
    }


class FakeSpeechmaticsServer(FakeSTTServer):
    """A local Speechmatics real-time API (see the module docstring).

    ``base_url`` (``ws://127.0.0.1:<port>/v2``) is the whole real-time URL, what
    ``SPEECHMATICS_RT_URL`` / ``SpeechmaticsSTT(base_url=...)`` and the SDK's ``url`` take.
    """

    _label = "FakeSpeechmaticsServer"
    _root = "/v2"
    dialect = SpeechmaticsDialect()
