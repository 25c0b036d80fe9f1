"""Telnyx media streaming: the WebSocket messages of a bidirectional RTP stream.

Telnyx sends JSON text frames: ``connected``, ``start`` (snake_case, with the stream's
``media_format``), ``media`` (base64 RTP payload without headers, ``track`` inbound or outbound),
``dtmf``, ``mark`` (an echo of ours), ``error`` and ``stop``. We send ``media`` (base64 payload
in the stream's bidirectional codec), ``mark`` and ``clear``.

Codecs: PCMU and PCMA at 8 kHz pass through as Patter's ``ulaw_8000`` / ``alaw_8000``. L16 is
linear PCM in RTP's network byte order (big-endian, RFC 3551); Patter's ``pcm16_16000`` is
little-endian, so the samples are byte-swapped each way.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Any, Literal, Protocol

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
    "KeyFilter",
    "StreamRate",
    "TelnyxCodec",
    "stream_codec",
    "streamable",
]


_DTMF_DIGITS = frozenset("0123456789*#ABCD")
#: Telnyx's codec name and sample rate for each format Patter may stream a call in.
StreamRate = Literal[8000, 16000]
_CODECS: dict[str, tuple[str, StreamRate]] = {
    "ulaw_8000": ("PCMU", 8000),
    "alaw_8000": ("PCMA", 8000),
    "pcm16_16000": ("L16", 16000),
}
_FORMATS = {codec: fmt for fmt, codec in _CODECS.items()}
_SWAP = sys.byteorder == "little"


def stream_codec(audio_format: AudioFormat) -> tuple[str, StreamRate]:
    """Telnyx's ``stream_bidirectional_codec`` and sampling rate for ``audio_format``."""
    return _CODECS[audio_format]


def streamable(audio_format: str) -> bool:
    """True when Telnyx can stream a call in ``audio_format``."""
    return audio_format in _CODECS


class KeyFilter(Protocol):
    """Drops the second report of a key press Telnyx reports twice."""

    def accept(self, call_id: str, digit: str, source: str) -> bool:
        """True if the press is new."""
        ...


class TelnyxCodec:
    """One Telnyx media stream, in ``audio_format`` both ways (the codec Patter asked for).

    The ``start`` message names the codec Telnyx actually streams; a stream in another codec
    than the one asked for is refused as malformed rather than played as noise.
    """

    def __init__(self, audio_format: AudioFormat, keys: KeyFilter | None = None) -> None:
        self.audio_format: AudioFormat = audio_format
        self._keys = keys
        self._call_id = ""
        self._encoding, self._rate = _CODECS[audio_format]
        self._pcm = audio_format.startswith("pcm16")

    def decode(self, message: str | bytes) -> MediaEvent | None:
        """The event in one message; ``None`` for messages with nothing to act on."""
        data = load_frame(message, "Telnyx")
        event = data.get("event")
        if event == "media":
            return self._media(_object(data, "media"))
        if event == "mark":
            name = _object(data, "mark").get("name")
            if not isinstance(name, str):
                raise MalformedFrame("mark: missing 'name'")
            return MarkPlayed(name)
        if event == "dtmf":
            digit = _object(data, "dtmf").get("digit")
            if not isinstance(digit, str) or digit not in _DTMF_DIGITS:
                raise MalformedFrame(f"dtmf: digit {show(digit)} is not one of 0-9 * # A-D")
            if self._keys is not None and not self._keys.accept(self._call_id, digit, "stream"):
                return None
            return KeyPressed(digit)
        if event == "start":
            return self._start(data)
        if event == "stop":
            return StreamStopped()
        if event in ("connected", "error"):
            return None
        if event is None:
            raise MalformedFrame("no 'event' field")
        raise MalformedFrame(f"unknown event {show(event)}")

    def audio(self, frame: bytes) -> str:
        """The ``media`` message of one frame of agent audio."""
        if self._pcm:
            frame = _swap16(frame)
        return (
            '{"event":"media","media":{"payload":"'
            + base64.b64encode(frame).decode("ascii")
            + '"}}'
        )

    def mark(self, name: str) -> str:
        """The ``mark`` message for ``name``."""
        return json.dumps({"event": "mark", "mark": {"name": name}}, separators=(",", ":"))

    def clear(self) -> str:
        """The ``clear`` message."""
        return '{"event":"clear"}'

    def _media(self, body: dict[str, Any]) -> bytes | None:
        payload = body.get("payload")
        if not isinstance(payload, str):
            raise MalformedFrame("media: missing 'payload'")
        if body.get("track", "inbound") != "inbound":
            return None  # the agent's own audio, if both tracks are streamed
        try:
            audio = binascii.a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError):
            raise MalformedFrame("media: 'payload' is not base64") from None
        if self._pcm:
            if len(audio) % 2:
                raise MalformedFrame("media: an L16 payload of an odd number of bytes")
            return _swap16(audio)
        return audio

    def _start(self, data: dict[str, Any]) -> StreamStarted:
        body = _object(data, "start")
        call_id = body.get("call_control_id")
        if not isinstance(call_id, str) or not call_id:
            raise MalformedFrame("start: missing 'call_control_id'")
        media_format = body.get("media_format")
        if isinstance(media_format, dict):
            encoding = media_format.get("encoding")
            rate = media_format.get("sample_rate")
            if encoding != self._encoding or (rate is not None and rate != self._rate):
                raise MalformedFrame(
                    f"start: the stream is {show(encoding)} at {show(rate)} Hz, not the "
                    f"{self._encoding} at {self._rate} Hz asked for"
                )
        params = body.get("custom_parameters") or {}
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise MalformedFrame("start: 'custom_parameters' is not an object of strings")
        self._call_id = self._call_id or call_id
        return StreamStarted(call_id, dict(params))


def _swap16(audio: bytes) -> bytes:
    if not _SWAP:
        return audio
    swapped = bytearray(audio)
    swapped[0::2], swapped[1::2] = audio[1::2], audio[0::2]
    return bytes(swapped)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MalformedFrame(f"{key}: missing {key!r} object")
    return value
