"""Deepgram listen-API facts the fake needs: query settings, audio decoding, server messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

DEFAULT_ENDPOINTING_MS = 10
"""Deepgram's reported default when ``endpointing`` is not given."""

SEGMENT_SILENCE_MS = 300
"""With ``endpointing=false``, the silence after which a segment is final (not speech_final)."""

_ENCODINGS = {"linear16": 2, "mulaw": 1, "alaw": 1}  # bytes per sample
_CONFIDENCE = 0.98


class BadRequest(Exception):
    """A query the real API would refuse with HTTP 400."""


@dataclass(frozen=True)
class Settings:
    """What the connection's query string asked for."""

    encoding: str
    sample_rate: int
    interim_results: bool
    vad_events: bool
    endpointing_ms: int | None
    """``None`` when the client sent ``endpointing=false``."""
    utterance_end_ms: int | None

    @property
    def bytes_per_second(self) -> int:
        """How much audio one second is on the wire."""
        return self.sample_rate * _ENCODINGS[self.encoding]

    def to_pcm16(self, audio: bytes) -> bytes:
        """``audio`` in the announced encoding as PCM16."""
        # getpatter.audio imports numpy: load it only when a fake decodes audio.
        from getpatter.audio import alaw_to_pcm16, ulaw_to_pcm16

        if self.encoding == "mulaw":
            return ulaw_to_pcm16(audio)
        if self.encoding == "alaw":
            return alaw_to_pcm16(audio)
        return audio


def read_settings(query: dict[str, str]) -> Settings:
    """Parse a ``/v1/listen`` query; raise :class:`BadRequest` where the real API would."""
    encoding = query.get("encoding", "")
    if encoding not in _ENCODINGS:
        raise BadRequest(
            f"The fake only decodes raw audio: encoding must be one of {sorted(_ENCODINGS)}, "
            f"got {encoding!r}."
        )
    sample_rate = _integer(query, "sample_rate")
    if sample_rate is None or not 8000 <= sample_rate <= 48000:
        raise BadRequest("sample_rate between 8000 and 48000 is required with a raw encoding.")
    interim_results = _flag(query, "interim_results")
    utterance_end_ms = _integer(query, "utterance_end_ms")
    if utterance_end_ms is not None and not interim_results:
        raise BadRequest("utterance_end_ms requires interim_results=true.")
    endpointing: int | None = DEFAULT_ENDPOINTING_MS
    if query.get("endpointing") == "false":
        endpointing = None
    elif "endpointing" in query:
        endpointing = _integer(query, "endpointing")
    return Settings(
        encoding=encoding,
        sample_rate=sample_rate,
        interim_results=interim_results,
        vad_events=_flag(query, "vad_events"),
        endpointing_ms=endpointing,
        utterance_end_ms=utterance_end_ms,
    )


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false, got {value!r}.")
    return value == "true"


def _integer(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {query[name]!r}.") from None
    if value < 0:
        raise BadRequest(f"{name} must be >= 0, got {value}.")
    return value


def request_id() -> str:
    """An id shaped like Deepgram's request ids (a UUID)."""
    return str(uuid.uuid4())


def results(
    text: str,
    *,
    start_ms: int,
    end_ms: int,
    is_final: bool,
    speech_final: bool = False,
    from_finalize: bool = False,
    model: str,
    request: str,
    speech_end_ms: int | None = None,
) -> dict[str, Any]:
    """A ``Results`` message for ``text`` heard between ``start_ms`` and ``end_ms``.

    The words share the time up to ``speech_end_ms`` (the last voiced audio; default
    ``end_ms``), so the last word ends where the speaker stopped, as with the real service.
    """
    words = text.split()
    spoken_end = end_ms if speech_end_ms is None else min(max(speech_end_ms, start_ms), end_ms)
    step = (spoken_end - start_ms) / 1000 / max(len(words), 1)
    start = start_ms / 1000
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "start": start,
        "duration": round((end_ms - start_ms) / 1000, 3),
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {
            "alternatives": [
                {
                    "transcript": text,
                    "confidence": _CONFIDENCE if words else 0.0,
                    "words": [
                        {
                            "word": word.strip(".,!?;:").lower(),
                            "start": round(start + i * step, 3),
                            "end": round(start + (i + 1) * step, 3),
                            "confidence": _CONFIDENCE,
                            "punctuated_word": word,
                        }
                        for i, word in enumerate(words)
                    ],
                }
            ]
        },
        "metadata": {
            "request_id": request,
            "model_info": {"name": model, "version": "fake", "arch": model},
            "model_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, model)),
        },
    }


def error_body(status: int, message: str) -> dict[str, str]:
    """The JSON body of a refused handshake."""
    codes = {
        400: "Bad Request",
        401: "INVALID_AUTH",
        403: "INSUFFICIENT_PERMISSIONS",
        404: "NOT_FOUND",
        429: "TOO_MANY_REQUESTS",
    }
    return {
        "err_code": codes.get(status, "INTERNAL_SERVER_ERROR"),
        "err_msg": message,
        "request_id": request_id(),
    }
