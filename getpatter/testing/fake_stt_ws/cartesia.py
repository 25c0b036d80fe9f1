"""A loopback fake of Cartesia's streaming STT API (``/stt/websocket``, ``ink-whisper``).

Facts from the ``cartesia`` SDK 4.x (``resources/stt/manual_finalize.py`` and
``types/stt/``) and Cartesia's docs: the session is set by the query string (``model``,
``encoding`` one of ``pcm_s16le``, ``pcm_s32le``, ``pcm_f16le``, ``pcm_f32le``, ``pcm_mulaw``,
``pcm_alaw``; ``sample_rate``; optional ``language``, ``keyterm``,
``max_silence_duration_secs``, ``min_volume``); the key travels as ``Authorization: Bearer
<key>`` (the SDK), ``X-API-Key`` (older clients) or the ``api_key`` query parameter
(browsers), and the API version as the ``Cartesia-Version`` header or the
``cartesia_version`` query parameter. A bad key is refused at the handshake with HTTP 401.
Audio goes up as binary frames; the text commands are ``finalize`` (transcribe what is
buffered now) and ``close`` (``done`` in older clients: finish and close). Server messages:
``transcript`` (``request_id``, ``text``, ``is_final``, ``duration``, ``language``; a final's
text is the delta since the previous final), ``flush_done`` (the answer to ``finalize``),
``done`` (the answer to ``close``) and ``error`` (``message``, ``status_code``, ``title``,
``error_code``).

The fake's turns: interim ``transcript``\\ s every 200 ms of speech, the final one after
``max_silence_duration_secs`` of silence (300 ms when not given); ``finalize`` sends the
pending final, if any, then ``flush_done``; ``close`` the pending final, then ``done`` and a
normal close. The fake decodes ``pcm_s16le``, ``pcm_mulaw`` and ``pcm_alaw`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from getpatter.testing.fake_stt_ws._core import FakeSTTServer
from getpatter.testing.fake_stt_ws._dialect import (
    BadMessage,
    Control,
    Dialect,
    FakeSTTSession,
    Finalize,
    Heard,
    HttpRefusal,
    Opening,
    RefusalKind,
    Refused,
    StreamSettings,
    Terminate,
    key_matches,
)

__all__ = ["CartesiaSTTDialect", "FakeCartesiaSTTServer"]

_ENCODINGS: dict[str, Literal["pcm_s16le", "mulaw", "alaw"]] = {
    "pcm_s16le": "pcm_s16le",
    "pcm_mulaw": "mulaw",
    "pcm_alaw": "alaw",
}
_STATUS: dict[str, int] = {
    "auth": 401,
    "rate_limit": 429,
    "bad_request": 400,
    "server": 500,
    "idle": 408,
}
_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class CartesiaSTTDialect(Dialect):
    """Cartesia streaming STT, as described in the module docstring."""

    label = "Cartesia"
    path = "/stt/websocket"

    def handshake(self, opening: Opening) -> HttpRefusal | None:
        if not key_matches(_key(opening), opening.expected_key):
            return HttpRefusal(401, self.http_error_body(401, "Invalid API key"))
        if not (opening.headers.get("cartesia-version") or opening.query.get("cartesia_version")):
            return HttpRefusal(
                400, self.http_error_body(400, "Missing the Cartesia-Version header")
            )
        return None

    def key_source(self, opening: Opening) -> str | None:
        if opening.headers.get("authorization") or opening.headers.get("x-api-key"):
            return "header"
        return "query" if opening.query.get("api_key") else None

    def refusal(self, kind: RefusalKind, message: str) -> HttpRefusal | None:
        if kind in ("auth", "rate_limit"):
            status = _STATUS[kind]
            return HttpRefusal(status, self.http_error_body(status, message))
        return None

    def open(self, opening: Opening) -> StreamSettings:
        query = opening.query
        if not query.get("model"):
            raise Refused("bad_request", "model is required")
        wire = query.get("encoding", "")
        if wire not in _ENCODINGS:
            raise Refused("bad_request", f"the fake decodes {list(_ENCODINGS)}, got {wire!r}")
        try:
            rate = int(query.get("sample_rate", ""))
            silence = query.get("max_silence_duration_secs")
            endpointing = round(float(silence) * 1000) if silence is not None else None
        except ValueError:
            raise Refused(
                "bad_request", "sample_rate and max_silence_duration_secs must be numbers"
            ) from None
        if rate <= 0:
            raise Refused("bad_request", "sample_rate must be a positive integer")
        return StreamSettings(
            encoding=_ENCODINGS[wire],
            sample_rate=rate,
            endpointing_ms=endpointing,
            options={"language": query.get("language", "en"), "model": query["model"]},
        )

    def parse_text(self, opening: Opening, text: str, *, configured: bool) -> Control:
        if text == "finalize":
            return Finalize()
        if text in ("close", "done"):
            return Terminate()
        return BadMessage(f"Unknown command {text[:60]!r}: send 'finalize' or 'close'")

    def http_error_body(self, status: int, message: str) -> Mapping[str, Any]:
        return {"message": message, "status_code": status, "title": _TITLES.get(status, "Error")}

    def error(self, kind: RefusalKind, message: str) -> tuple[list[dict[str, Any]], int, str]:
        status = _STATUS[kind]
        error = {
            "type": "error",
            "message": message,
            "status_code": status,
            "title": _TITLES[status],
            "error_code": kind,
        }
        return [error], 1011 if kind == "server" else 1008, _TITLES[status]

    def interim(self, session: FakeSTTSession, heard: Heard) -> list[dict[str, Any]]:
        return [_transcript(session, heard, heard.interim_text, is_final=False)]

    def final(
        self,
        session: FakeSTTSession,
        heard: Heard | None,
        reason: Literal["endpoint", "segment", "finalize", "terminate"],
    ) -> list[dict[str, Any]]:
        messages = [] if heard is None else [_transcript(session, heard, heard.text, is_final=True)]
        if reason == "finalize":
            messages.append({"type": "flush_done", "request_id": session.id})
        return messages

    def end(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        return [{"type": "done", "request_id": session.id}]


def _key(opening: Opening) -> str | None:
    scheme, _, token = opening.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return opening.headers.get("x-api-key") or opening.query.get("api_key")


def _transcript(
    session: FakeSTTSession, heard: Heard, text: str, *, is_final: bool
) -> dict[str, Any]:
    settings = session.settings
    return {
        "type": "transcript",
        "request_id": session.id,
        "text": text,
        "is_final": is_final,
        "duration": round((heard.end_ms - heard.start_ms) / 1000, 3),
        "language": settings.options.get("language", "en") if settings else "en",
    }


class FakeCartesiaSTTServer(FakeSTTServer):
    """A local Cartesia streaming STT API (see the module docstring).

    ``base_url`` (``http://127.0.0.1:<port>``) is the API root that ``CARTESIA_BASE_URL`` /
    ``CartesiaSTT(base_url=...)`` and the SDK's ``base_url`` take.
    """

    _label = "FakeCartesiaSTTServer"
    _scheme = "http"
    dialect = CartesiaSTTDialect()
