"""Twilio Media Streams: the WebSocket messages of a ``<Connect><Stream>``, parsed and built.

This module is the only place that knows the wire format. Twilio sends JSON text frames
(``connected``, ``start``, ``media``, ``mark``, ``dtmf``, ``stop``); :func:`parse_frame` turns one
into a typed frame or raises :class:`MalformedFrame`. The builders return the JSON text of the
messages we send back (``media``, ``mark``, ``clear``).

Audio is μ-law 8 kHz mono in both directions, base64 on the wire; the frames here carry the raw
μ-law bytes. A call moves about 50 media frames per second each way, so media frames are parsed
with plain ``json.loads`` and dict access, and built by string concatenation.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from getpatter.audio.formats import AudioFormat
from getpatter.carriers._frames import MAX_FRAME_CHARS, load_frame, show
from getpatter.carriers.base import (
    KeyPressed,
    MalformedFrame,
    MarkPlayed,
    MediaEvent,
    StreamStarted,
    StreamStopped,
)

__all__ = [
    "MAX_FRAME_CHARS",
    "Connected",
    "Dtmf",
    "MalformedFrame",
    "Mark",
    "Media",
    "Start",
    "Stop",
    "TwilioCodec",
    "TwilioFrame",
    "clear_message",
    "mark_message",
    "media_message",
    "parse_frame",
]


_DTMF_DIGITS = frozenset("0123456789*#ABCD")
_MAX_COUNT_DIGITS = 18  # keeps int() away from Python's digit limit and within 64-bit values


@dataclass(frozen=True, slots=True)
class Connected:
    """The first message: the WebSocket is open, the stream has not started yet."""


@dataclass(frozen=True, slots=True)
class Start:
    """The stream started; sent once, before any media.

    ``custom_parameters`` holds the ``<Parameter name value>`` children of the TwiML
    ``<Stream>``. ``encoding`` is ``"audio/x-mulaw"`` and ``sample_rate`` 8000 for phone calls.
    """

    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str]
    encoding: str
    sample_rate: int


@dataclass(frozen=True, slots=True)
class Media:
    """One chunk of caller audio: ``payload`` is raw μ-law bytes (160 bytes per 20 ms).

    ``chunk`` counts the track's chunks from 1; ``timestamp_ms`` is milliseconds since the stream
    started.
    """

    payload: bytes
    track: str
    chunk: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Mark:
    """A mark we sent came back: the audio queued before it has played, or was cleared."""

    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The caller pressed a key: ``digit`` is one of ``0-9``, ``*``, ``#``, ``A-D``."""

    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream stopped: the call ended or the TwiML moved on."""

    call_sid: str


TwilioFrame = Connected | Start | Media | Mark | Dtmf | Stop
"""Any frame :func:`parse_frame` returns."""


def parse_frame(message: str | bytes) -> TwilioFrame:
    """Parse one WebSocket message from Twilio.

    Raises :class:`MalformedFrame` for a binary frame, a frame longer than
    :data:`MAX_FRAME_CHARS`, text that is not a JSON object, an unknown or missing ``event``,
    a missing or mistyped field, a payload that is not base64, a counter that is not a whole
    number, or a DTMF digit outside ``0-9*#A-D``. Fields Twilio may add later are ignored.
    """
    data = load_frame(message, "Twilio")
    event = data.get("event")
    if event == "media":
        return _media(data)
    return _parse_other(event, data)


def _parse_other(event: object, data: dict[str, Any]) -> TwilioFrame:
    parse = _PARSERS.get(event) if isinstance(event, str) else None
    if parse is None:
        if event is None:
            raise MalformedFrame("no 'event' field")
        raise MalformedFrame(f"unknown event {show(event)}")
    return parse(data)


class TwilioCodec:
    """One Twilio media stream's messages as Patter's neutral events, and back (μ-law 8 kHz).

    ``hidden`` names stream parameters that are Patter's own, kept out of the call's
    ``custom_params``.
    """

    audio_format: AudioFormat = "ulaw_8000"

    def __init__(self, hidden: frozenset[str] = frozenset()) -> None:
        self._hidden = hidden
        self.stream_sid = ""

    def decode(self, message: str | bytes) -> MediaEvent | None:
        """The event in one message (see :func:`parse_frame` for what is malformed)."""
        data = load_frame(message, "Twilio")
        event = data.get("event")
        # The two messages of the per-frame path skip the typed frames of parse_frame.
        if event == "media":
            return _media_payload(_object(data, "media"))
        if event == "mark":
            return MarkPlayed(_mark_name(data))
        frame = _parse_other(event, data)
        if isinstance(frame, Dtmf):
            return KeyPressed(frame.digit)
        if isinstance(frame, Start):
            self.stream_sid = self.stream_sid or frame.stream_sid
            params = {k: v for k, v in frame.custom_parameters.items() if k not in self._hidden}
            return StreamStarted(frame.call_sid, params)
        if isinstance(frame, Stop):
            return StreamStopped()
        return None

    def audio(self, frame: bytes) -> str:
        """The ``media`` message of one frame of agent audio."""
        return media_message(self.stream_sid, frame)

    def mark(self, name: str) -> str:
        """The ``mark`` message for ``name``."""
        return mark_message(self.stream_sid, name)

    def clear(self) -> str:
        """The ``clear`` message."""
        return clear_message(self.stream_sid)


def media_message(stream_sid: str, payload: bytes) -> str:
    """The ``media`` message that plays ``payload`` (raw μ-law 8 kHz) to the caller."""
    return (
        '{"event":"media","streamSid":'
        + _quoted(stream_sid)
        + ',"media":{"payload":"'
        + base64.b64encode(payload).decode("ascii")
        + '"}}'
    )


def mark_message(stream_sid: str, name: str) -> str:
    """The ``mark`` message: Twilio echoes ``name`` once the audio sent before it has played."""
    return json.dumps(
        {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}},
        separators=(",", ":"),
    )


def clear_message(stream_sid: str) -> str:
    """The ``clear`` message: Twilio drops the audio it has buffered and returns pending marks."""
    return json.dumps({"event": "clear", "streamSid": stream_sid}, separators=(",", ":"))


@lru_cache(maxsize=256)
def _quoted(text: str) -> str:
    # A call sends every media frame to the same stream SID: quote it once per stream.
    return json.dumps(text)


def _media(data: dict[str, Any]) -> Media:
    body = _object(data, "media")
    audio = _media_payload(body)
    return Media(
        audio,
        body["track"],
        _count(body["chunk"], "media.chunk"),
        _count(body["timestamp"], "media.timestamp"),
    )


def _media_payload(body: dict[str, Any]) -> bytes:
    """The audio of a ``media`` body, once every field of it has been checked."""
    try:
        payload = body["payload"]
        track = body["track"]
        chunk = body["chunk"]
        timestamp = body["timestamp"]
    except KeyError as exc:
        raise MalformedFrame(f"media: missing {exc.args[0]!r}") from None
    if not isinstance(payload, str):
        raise MalformedFrame("media: 'payload' is not a string")
    if not isinstance(track, str):
        raise MalformedFrame("media: 'track' is not a string")
    _count(chunk, "media.chunk")
    _count(timestamp, "media.timestamp")
    try:
        return binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedFrame("media: 'payload' is not base64") from None


def _connected(data: dict[str, Any]) -> Connected:
    return Connected()


def _start(data: dict[str, Any]) -> Start:
    body = _object(data, "start")
    stream_sid = body.get("streamSid", data.get("streamSid"))
    if not isinstance(stream_sid, str) or not stream_sid:
        raise MalformedFrame("start: missing 'streamSid'")
    params = body.get("customParameters", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise MalformedFrame("start: 'customParameters' is not an object of strings")
    media_format = _object(body, "mediaFormat", "start")
    return Start(
        stream_sid=stream_sid,
        call_sid=_text(body, "callSid", "start"),
        account_sid=_text(body, "accountSid", "start"),
        custom_parameters=dict(params),
        encoding=_text(media_format, "encoding", "start.mediaFormat"),
        sample_rate=_count(media_format.get("sampleRate"), "start.mediaFormat.sampleRate"),
    )


def _mark(data: dict[str, Any]) -> Mark:
    return Mark(_mark_name(data))


def _mark_name(data: dict[str, Any]) -> str:
    name = _object(data, "mark").get("name")
    if not isinstance(name, str):
        raise MalformedFrame("mark: missing 'name'")
    return name


def _dtmf(data: dict[str, Any]) -> Dtmf:
    digit = _object(data, "dtmf").get("digit")
    if not isinstance(digit, str) or digit not in _DTMF_DIGITS:
        raise MalformedFrame(f"dtmf: digit {show(digit)} is not one of 0-9 * # A-D")
    return Dtmf(digit)


def _stop(data: dict[str, Any]) -> Stop:
    return Stop(_text(_object(data, "stop"), "callSid", "stop"))


_PARSERS: dict[str, Callable[[dict[str, Any]], TwilioFrame]] = {
    "connected": _connected,
    "start": _start,
    "mark": _mark,
    "dtmf": _dtmf,
    "stop": _stop,
}


def _object(data: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MalformedFrame(f"{where or key}: missing {key!r} object")
    return value


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedFrame(f"{where}: missing {key!r}")
    return value


def _count(value: object, where: str) -> int:
    """A non-negative counter: Twilio sends them as digit strings (``"42"``)."""
    if isinstance(value, str):
        if 0 < len(value) <= _MAX_COUNT_DIGITS and value.isascii() and value.isdigit():
            return int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if value is None:
        raise MalformedFrame(f"{where}: missing")
    raise MalformedFrame(f"{where}: {show(value)} is not a whole number")
