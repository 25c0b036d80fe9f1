"""A loopback fake of Soniox's real-time speech-to-text WebSocket (``/transcribe-websocket``).

Facts from the ``soniox`` SDK (``soniox.realtime``) and Soniox's WebSocket API docs: the key
travels in the handshake's ``Authorization: Bearer <key>`` header, or (deprecated) as
``api_key`` in the start request; both at once is refused. The fake checks the key when the
start request arrives (the SDK sends it right after connecting), so a refusal always follows it. The first text frame is the start
request (JSON): ``model``, ``audio_format`` (here a raw one the fake decodes: ``pcm_s16le``,
``mulaw``, ``alaw``), ``sample_rate``, ``num_channels``, ``enable_endpoint_detection``,
``language_hints``... Then binary audio. Control messages: ``{"type": "finalize"}``,
``{"type": "keepalive"}``; an empty frame (text or binary) ends the audio. Responses:
``{"tokens": [...], "final_audio_proc_ms", "total_audio_proc_ms"}`` where each token has
``text`` (words after the first carry a leading space), ``start_ms``, ``end_ms``,
``confidence``, ``is_final``; the last response has ``"finished": true``, then the socket
closes. Errors: ``{"error_code": <HTTP-like code>, "error_message": ...}``, then a close.

The fake's tokens: non-final tokens of the words heard so far every 200 ms of speech; after
500 ms of silence (with ``enable_endpoint_detection``) the words as final tokens and a final
``<end>`` token; without it, the words become final after 300 ms of silence with no marker.
``finalize`` makes the pending words final at once, followed by a ``<fin>`` token. A session
idle for 20 s is closed with error 408.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from getpatter.testing.fake_stt_ws._core import FakeSTTServer
from getpatter.testing.fake_stt_ws._dialect import (
    Audio,
    BadMessage,
    Configure,
    Control,
    Dialect,
    FakeSTTSession,
    Heard,
    KeepAlive,
    Opening,
    RefusalKind,
    Refused,
    StreamSettings,
    Terminate,
    Word,
    key_matches,
)
from getpatter.testing.fake_stt_ws._dialect import Finalize as FinalizeControl

__all__ = ["FakeSonioxServer", "SonioxDialect"]

ENDPOINT_SILENCE_MS = 500
_ENCODINGS: dict[str, Literal["pcm_s16le", "mulaw", "alaw"]] = {
    "pcm_s16le": "pcm_s16le",
    "mulaw": "mulaw",
    "alaw": "alaw",
}
_ERROR_CODES: dict[str, int] = {
    "auth": 401,
    "rate_limit": 429,
    "bad_request": 400,
    "server": 503,
    "idle": 408,
}
# The docs name the error frame and the close, not the close code: a policy close for what
# the client did wrong, an internal-error close for the server's faults.
_CLOSE_CODES: dict[str, int] = {
    "auth": 1008,
    "rate_limit": 1008,
    "bad_request": 1008,
    "server": 1011,
    "idle": 1008,
}


class SonioxDialect(Dialect):
    """Soniox real-time STT, as described in the module docstring."""

    label = "Soniox"
    path = "/transcribe-websocket"
    idle_timeout = 20.0

    def key_source(self, opening: Opening) -> str | None:
        return "header" if opening.headers.get("authorization") else None

    def open(self, opening: Opening) -> None:
        return None  # the start request follows; the key is checked with it

    def parse_text(self, opening: Opening, text: str, *, configured: bool) -> Control:
        if text == "":
            return Terminate()
        try:
            message = json.loads(text)
        except ValueError:
            return BadMessage("Invalid JSON message.")
        if not isinstance(message, dict):
            return BadMessage("Invalid message.")
        if not configured:
            return self._configure(opening, message)
        kind = message.get("type")
        if kind == "finalize":
            return FinalizeControl()
        if kind == "keepalive":
            return KeepAlive()
        return BadMessage(f"Unknown message type {kind!r}.")

    def parse_binary(self, data: bytes, settings: StreamSettings | None) -> Control:
        return Terminate() if not data else Audio(data)

    def _configure(self, opening: Opening, message: dict[str, Any]) -> Configure:
        authorization = opening.headers.get("authorization")
        in_header = authorization is not None
        key = message.get("api_key")
        if in_header and key is not None:
            raise Refused(
                "bad_request", "The API key was sent with the connection and in the request."
            )
        if authorization is not None and not (
            authorization.startswith("Bearer ")
            and key_matches(authorization.removeprefix("Bearer ").strip(), opening.expected_key)
        ):
            raise Refused("auth", "Invalid API key.")
        if not in_header and not key_matches(
            key if isinstance(key, str) else None, opening.expected_key
        ):
            raise Refused("auth", "Invalid API key." if key else "Missing API key.")
        if not isinstance(message.get("model"), str) or not message["model"]:
            raise Refused("bad_request", "Missing model.")
        wire = message.get("audio_format")
        if wire not in _ENCODINGS:
            raise Refused(
                "bad_request",
                f"The fake decodes only raw audio: audio_format must be one of "
                f"{sorted(_ENCODINGS)}, got {wire!r}.",
            )
        rate, channels = message.get("sample_rate"), message.get("num_channels")
        if not isinstance(rate, int) or rate <= 0 or channels != 1:
            raise Refused(
                "bad_request", "Raw audio needs a positive sample_rate and num_channels=1."
            )
        endpoints = message.get("enable_endpoint_detection") is True
        return Configure(
            settings=StreamSettings(
                encoding=_ENCODINGS[wire],
                sample_rate=rate,
                endpointing_ms=ENDPOINT_SILENCE_MS if endpoints else None,
                options={"model": message["model"]},
            ),
            config={k: v for k, v in message.items() if k != "api_key"},
            key_source="config" if key is not None else None,
        )

    def http_error_body(self, status: int, message: str) -> Mapping[str, Any]:
        return {"error_code": status, "error_message": message}

    def error(self, kind: RefusalKind, message: str) -> tuple[list[dict[str, Any]], int, str]:
        code = _ERROR_CODES[kind]
        return (
            [{"error_code": code, "error_message": message}],
            _CLOSE_CODES[kind],
            message[:120],
        )

    def interim(self, session: FakeSTTSession, heard: Heard) -> list[dict[str, Any]]:
        tokens = _tokens(heard.words(heard.interim_text), is_final=False)
        return [_response(session, tokens, final_ms=_finalized(session), total_ms=heard.end_ms)]

    def final(
        self,
        session: FakeSTTSession,
        heard: Heard | None,
        reason: Literal["endpoint", "segment", "finalize", "terminate"],
    ) -> list[dict[str, Any]]:
        end_ms = heard.end_ms if heard is not None else _processed(session)
        tokens = [] if heard is None else _tokens(heard.words(), is_final=True)
        if reason == "endpoint":
            tokens.append(_marker("<end>", end_ms))
        elif reason == "finalize":
            tokens.append(_marker("<fin>", end_ms))
        if not tokens:
            return []
        session.state["finalized_ms"] = end_ms
        return [_response(session, tokens, final_ms=end_ms, total_ms=end_ms)]

    def end(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        total = _processed(session)
        return [{**_response(session, [], final_ms=total, total_ms=total), "finished": True}]


def _processed(session: FakeSTTSession) -> int:
    return round(session.audio_seconds * 1000)


def _finalized(session: FakeSTTSession) -> int:
    return int(session.state.get("finalized_ms", 0))


def _tokens(words: list[Word], *, is_final: bool) -> list[dict[str, Any]]:
    return [
        {
            "text": word.text if i == 0 else f" {word.text}",
            "start_ms": word.start_ms,
            "end_ms": word.end_ms,
            "confidence": word.confidence,
            "is_final": is_final,
        }
        for i, word in enumerate(words)
    ]


def _marker(text: str, at_ms: int) -> dict[str, Any]:
    return {"text": text, "start_ms": at_ms, "end_ms": at_ms, "confidence": 1.0, "is_final": True}


def _response(
    session: FakeSTTSession, tokens: list[dict[str, Any]], *, final_ms: int, total_ms: int
) -> dict[str, Any]:
    return {"tokens": tokens, "final_audio_proc_ms": final_ms, "total_audio_proc_ms": total_ms}


class FakeSonioxServer(FakeSTTServer):
    """A local Soniox real-time STT API (see the module docstring).

    ``base_url`` (``ws://127.0.0.1:<port>``) is what ``SONIOX_BASE_URL`` /
    ``SonioxSTT(base_url=...)`` take; the SDK's ``websocket_base_url`` is
    ``f"{base_url}/transcribe-websocket"``.
    """

    _label = "FakeSonioxServer"
    dialect = SonioxDialect()
