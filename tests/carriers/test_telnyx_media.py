"""Telnyx media-stream messages: neutral events in, wire messages out, both codecs."""

import base64
import json

import pytest

from getpatter.carriers.base import (
    KeyPressed,
    MalformedFrame,
    MarkPlayed,
    StreamStarted,
    StreamStopped,
)
from getpatter.carriers.telnyx.media import TelnyxCodec
from getpatter.carriers.telnyx.routes import KeyPresses


def start(encoding="PCMU", rate=8000, **extra):
    return json.dumps(
        {
            "event": "start",
            "sequence_number": "1",
            "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
            "start": {
                "call_control_id": "v3:abc",
                "custom_parameters": {"customer": "42"},
                "media_format": {"encoding": encoding, "sample_rate": rate, "channels": 1},
                **extra,
            },
        }
    )


def media(payload: bytes, track="inbound"):
    body = {"track": track, "chunk": "2", "timestamp": "5"}
    body["payload"] = base64.b64encode(payload).decode()
    return json.dumps({"event": "media", "sequence_number": "4", "media": body})


def test_pcmu_stream_passes_audio_through():
    codec = TelnyxCodec("ulaw_8000")
    assert codec.decode('{"event": "connected", "version": "1.0.0"}') is None
    assert codec.decode(start()) == StreamStarted("v3:abc", {"customer": "42"})
    assert codec.decode(media(b"\x7f" * 160)) == b"\x7f" * 160
    assert codec.decode(media(b"\x01" * 160, track="outbound")) is None
    sent = json.loads(codec.audio(b"\x00\xff"))
    assert sent == {"event": "media", "media": {"payload": base64.b64encode(b"\x00\xff").decode()}}
    assert json.loads(codec.mark("m1")) == {"event": "mark", "mark": {"name": "m1"}}
    assert json.loads(codec.clear()) == {"event": "clear"}
    assert codec.decode('{"event": "mark", "mark": {"name": "m1"}}') == MarkPlayed("m1")
    assert codec.decode('{"event": "stop", "stop": {}}') == StreamStopped()


def test_l16_is_big_endian_on_the_wire_and_little_endian_inside():
    codec = TelnyxCodec("pcm16_16000")
    codec.decode(start("L16", 16000))
    # The sample 0x0102 is b"\x01\x02" on the wire (network order), b"\x02\x01" for Patter.
    assert codec.decode(media(b"\x01\x02\x03\x04")) == b"\x02\x01\x04\x03"
    out = json.loads(codec.audio(b"\x02\x01\x04\x03"))
    assert base64.b64decode(out["media"]["payload"]) == b"\x01\x02\x03\x04"
    with pytest.raises(MalformedFrame, match="odd number"):
        codec.decode(media(b"\x01\x02\x03"))


@pytest.mark.parametrize(
    "message",
    [
        b"\x00binary",
        "not json",
        "[]",
        '{"no": "event"}',
        '{"event": "media", "media": {"payload": "***"}}',
        '{"event": "media"}',
        '{"event": "dtmf", "dtmf": {"digit": "x"}}',
        '{"event": "surprise"}',
        '{"event": "media", "media": {"payload": "' + "A" * 70_000 + '"}}',
    ],
)
def test_malformed_messages_are_refused(message):
    with pytest.raises(MalformedFrame):
        TelnyxCodec("ulaw_8000").decode(message)


def test_a_stream_in_another_codec_than_asked_for_is_refused():
    with pytest.raises(MalformedFrame, match="not the PCMU"):
        TelnyxCodec("ulaw_8000").decode(start("L16", 16000))


def test_a_key_press_reported_by_the_stream_and_the_webhook_counts_once():
    keys = KeyPresses()
    codec = TelnyxCodec("ulaw_8000", keys)
    codec.decode(start())
    press = '{"event": "dtmf", "stream_id": "s", "dtmf": {"digit": "5"}}'
    assert codec.decode(press) == KeyPressed("5")
    assert keys.accept("v3:abc", "5", "webhook") is False  # the same press, by webhook
    assert keys.accept("v3:abc", "5", "webhook") is True  # a second press, webhook first
    assert codec.decode(press) is None  # ...and its twin from the stream
