"""A loopback fake of AssemblyAI's v3 Universal Streaming API (``/v3/ws``).

Facts from the ``assemblyai`` SDK (``assemblyai.streaming.v3``) and AssemblyAI's streaming
docs: the key travels raw in the ``Authorization`` header (or a temporary ``token`` query
parameter); the query carries ``sample_rate``, ``encoding`` (``pcm_s16le`` or ``pcm_mulaw``),
``speech_model``, ``format_turns``, ``min_turn_silence``... (booleans as ``true``/``True``).
Audio is binary frames of 50 to 1000 ms (others close the session with 3007). Client
messages: ``{"type": "ForceEndpoint"}``, ``{"type": "Terminate"}``, ``{"type": "KeepAlive"}``,
``{"type": "UpdateConfiguration", ...}``. Server messages: ``Begin`` (``id``,
``expires_at``), ``Turn`` (``turn_order``, ``end_of_turn``, ``turn_is_formatted``,
``transcript`` of the final words, ``words`` with ``word_is_final``), ``Termination``
(``audio_duration_seconds``, ``session_duration_seconds``), and before an error close an
``Error`` frame whose ``error_code`` is the close code (1008 unauthorized, 3009 too many
concurrent sessions, 3006 invalid message, 3007 input duration violation, 3005 server error).

The fake's turns: interims every 200 ms of speech (all words final but the newest), then after
``min_turn_silence`` ms of silence (default 400) the end-of-turn ``Turn``: lower-case without
punctuation; with ``format_turns=true`` followed by the same turn formatted (the scripted line
as written). ``ForceEndpoint`` ends the pending turn at once; ``Terminate`` ends it, then
``Termination`` and a normal close.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal

from getpatter.testing.fake_stt_ws._core import FakeSTTServer
from getpatter.testing.fake_stt_ws._dialect import (
    Audio,
    BadMessage,
    Control,
    Dialect,
    FakeSTTSession,
    Finalize,
    Heard,
    Ignore,
    KeepAlive,
    Opening,
    RefusalKind,
    Refused,
    StreamSettings,
    Terminate,
    key_matches,
)

__all__ = ["AssemblyAIDialect", "FakeAssemblyAIServer"]

DEFAULT_MIN_TURN_SILENCE_MS = 400
_ENCODINGS: dict[str, Literal["pcm_s16le", "mulaw"]] = {
    "pcm_s16le": "pcm_s16le",
    "pcm_mulaw": "mulaw",
}
_MIN_CHUNK_MS, _MAX_CHUNK_MS = 50, 1000
_SESSION_HOURS = 3
_CLOSE_CODES: dict[str, int] = {
    "auth": 1008,
    "rate_limit": 3009,
    "bad_request": 3006,
    "server": 3005,
    "idle": 3005,
}
_PREFIXES: dict[str, str] = {
    "auth": "Unauthorized Connection: ",
    "rate_limit": "Unauthorized Connection: ",
    "server": "Session Cancelled: ",
    "idle": "Session Cancelled: ",
    "bad_request": "",
}


class AssemblyAIDialect(Dialect):
    """AssemblyAI v3 streaming, as described in the module docstring."""

    label = "AssemblyAI"
    path = "/v3/ws"

    def key_source(self, opening: Opening) -> str | None:
        if opening.headers.get("authorization"):
            return "header"
        return "query" if opening.query.get("token") else None

    def open(self, opening: Opening) -> StreamSettings:
        key = opening.headers.get("authorization") or opening.query.get("token")
        if not key_matches(key, opening.expected_key):
            reason = "Invalid API key" if key else "Missing Authorization header"
            raise Refused("auth", reason)
        query = opening.query
        wire = query.get("encoding", "pcm_s16le")
        if wire not in _ENCODINGS:
            raise Refused("bad_request", f"Invalid encoding: {wire}")
        try:
            rate = int(query.get("sample_rate", ""))
            silence = int(query.get("min_turn_silence", DEFAULT_MIN_TURN_SILENCE_MS))
        except ValueError:
            raise Refused("bad_request", "sample_rate must be a positive integer") from None
        if rate <= 0:
            raise Refused("bad_request", "sample_rate must be a positive integer")
        return StreamSettings(
            encoding=_ENCODINGS[wire],
            sample_rate=rate,
            endpointing_ms=silence,
            options={
                "format_turns": query.get("format_turns", "false").lower() == "true",
                "speech_model": query.get("speech_model", "universal-streaming-english"),
            },
        )

    def parse_text(self, opening: Opening, text: str, *, configured: bool) -> Control:
        try:
            message = json.loads(text)
        except ValueError:
            return BadMessage(f"Invalid JSON: {text[:60]}")
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ForceEndpoint":
            return Finalize()
        if kind == "Terminate":
            return Terminate()
        if kind == "KeepAlive":
            return KeepAlive()
        if kind == "UpdateConfiguration":
            return Ignore("UpdateConfiguration")
        return BadMessage(f"Invalid Message Type: {kind}")

    def parse_binary(self, data: bytes, settings: StreamSettings | None) -> Control:
        if settings is not None:
            ms = len(data) * 1000 / settings.bytes_per_second
            if not _MIN_CHUNK_MS <= ms <= _MAX_CHUNK_MS:
                raise Refused(
                    "bad_request",
                    f"Input duration violation: {ms:.0f} ms. Expected between "
                    f"{_MIN_CHUNK_MS} and {_MAX_CHUNK_MS} ms",
                )
        return Audio(data)

    def http_error_body(self, status: int, message: str) -> Mapping[str, Any]:
        return {"error": message}

    def error(self, kind: RefusalKind, message: str) -> tuple[list[dict[str, Any]], int, str]:
        code = _CLOSE_CODES[kind]
        if message.startswith("Input duration violation"):
            code = 3007
        text = _PREFIXES[kind] + message
        reason = text if len(text.encode()) <= 123 else "See Error message for details"
        return [{"type": "Error", "error_code": code, "error": text}], code, reason

    def begin(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        session.state["opened"] = time.monotonic()
        return [
            {
                "type": "Begin",
                "id": session.id,
                "expires_at": int(time.time()) + _SESSION_HOURS * 3600,
            }
        ]

    def interim(self, session: FakeSTTSession, heard: Heard) -> list[dict[str, Any]]:
        words = heard.words(heard.interim_text)
        final_words = [_plain(w.text) for w in words[:-1]]
        return [
            _turn(
                heard,
                transcript=" ".join(final_words),
                words=[
                    {
                        "start": w.start_ms,
                        "end": w.end_ms,
                        "confidence": w.confidence,
                        "text": _plain(w.text),
                        "word_is_final": i < len(words) - 1,
                    }
                    for i, w in enumerate(words)
                ],
                end_of_turn=False,
                formatted=False,
            )
        ]

    def final(
        self,
        session: FakeSTTSession,
        heard: Heard | None,
        reason: Literal["endpoint", "segment", "finalize", "terminate"],
    ) -> list[dict[str, Any]]:
        if heard is None:
            return []
        words = heard.words()
        plain = [
            {
                "start": w.start_ms,
                "end": w.end_ms,
                "confidence": w.confidence,
                "text": _plain(w.text),
                "word_is_final": True,
            }
            for w in words
        ]
        turns = [
            _turn(
                heard,
                transcript=" ".join(str(w["text"]) for w in plain),
                words=plain,
                end_of_turn=True,
                formatted=False,
            )
        ]
        settings = session.settings
        if settings is not None and settings.options.get("format_turns"):
            formatted = [{**w, "text": words[i].text} for i, w in enumerate(plain)]
            turns.append(
                _turn(
                    heard, transcript=heard.text, words=formatted, end_of_turn=True, formatted=True
                )
            )
        return turns

    def end(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        opened = session.state.get("opened", time.monotonic())
        return [
            {
                "type": "Termination",
                "audio_duration_seconds": int(session.audio_seconds),
                "session_duration_seconds": int(time.monotonic() - opened),
            }
        ]


def _plain(word: str) -> str:
    return word.strip(".,!?;:\"'").lower()


def _turn(
    heard: Heard,
    *,
    transcript: str,
    words: list[dict[str, Any]],
    end_of_turn: bool,
    formatted: bool,
) -> dict[str, Any]:
    return {
        "type": "Turn",
        "turn_order": heard.index,
        "turn_is_formatted": formatted,
        "end_of_turn": end_of_turn,
        "transcript": transcript,
        "end_of_turn_confidence": 0.9 if end_of_turn else 0.1,
        "words": words,
    }


class FakeAssemblyAIServer(FakeSTTServer):
    """A local AssemblyAI v3 streaming API (see the module docstring).

    ``base_url`` (``ws://127.0.0.1:<port>``) is what ``ASSEMBLYAI_BASE_URL`` /
    ``AssemblyAISTT(base_url=...)`` take, and the SDK's ``api_host``.
    """

    _label = "FakeAssemblyAIServer"
    dialect = AssemblyAIDialect()
