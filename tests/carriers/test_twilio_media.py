"""Media Streams frames: what Twilio sends parses into typed frames, what we send is exact JSON."""

import base64
import json

import pytest

from getpatter.carriers.twilio.media import (
    MAX_FRAME_CHARS,
    Connected,
    Dtmf,
    MalformedFrame,
    Mark,
    Media,
    Start,
    Stop,
    clear_message,
    mark_message,
    media_message,
    parse_frame,
)

STREAM = "MZ" + "1" * 32
CALL = "CA" + "2" * 32
ACCOUNT = "AC" + "3" * 32
AUDIO = bytes(range(160))


def media_frame(**media):
    body = {"track": "inbound", "chunk": "2", "timestamp": "5"}
    body["payload"] = base64.b64encode(AUDIO).decode()
    body.update(media)
    return json.dumps({"event": "media", "sequenceNumber": "4", "streamSid": STREAM, "media": body})


def start_frame(**start):
    body = {
        "accountSid": ACCOUNT,
        "streamSid": STREAM,
        "callSid": CALL,
        "tracks": ["inbound"],
        "customParameters": {"call_token": "abc123"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    body.update(start)
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": STREAM, "start": body})


def test_the_documented_messages_parse_into_typed_frames():
    connected = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
    assert parse_frame(connected) == Connected()
    assert parse_frame(start_frame()) == Start(
        stream_sid=STREAM,
        call_sid=CALL,
        account_sid=ACCOUNT,
        custom_parameters={"call_token": "abc123"},
        encoding="audio/x-mulaw",
        sample_rate=8000,
    )
    assert parse_frame(media_frame()) == Media(AUDIO, "inbound", 2, 5)
    dtmf = {"event": "dtmf", "streamSid": STREAM, "dtmf": {"track": "inbound_track", "digit": "#"}}
    assert parse_frame(json.dumps(dtmf)) == Dtmf("#")
    mark = {"event": "mark", "streamSid": STREAM, "mark": {"name": "utt-17"}}
    assert parse_frame(json.dumps(mark)) == Mark("utt-17")
    stop = {"event": "stop", "streamSid": STREAM, "stop": {"accountSid": ACCOUNT, "callSid": CALL}}
    assert parse_frame(json.dumps(stop)) == Stop(CALL)


def test_start_without_custom_parameters_has_an_empty_dict():
    frame = json.loads(start_frame())
    del frame["start"]["customParameters"]
    parsed = parse_frame(json.dumps(frame))
    assert isinstance(parsed, Start)
    assert parsed.custom_parameters == {}


def test_counters_sent_as_numbers_and_unknown_fields_are_accepted():
    parsed = parse_frame(media_frame(chunk=7, timestamp=140, extra="ignored"))
    assert parsed == Media(AUDIO, "inbound", 7, 140)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b'{"event": "connected"}', "binary"),
        ("x" * (MAX_FRAME_CHARS + 1), "over"),
        ("{not json", "not JSON"),
        ("[" * 60_000, "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"protocol": "Call"}', "no 'event'"),
        ('{"event": "media_v2"}', "unknown event"),
        ('{"event": 5}', "unknown event"),
        ('{"event": "media"}', "'media' object"),
        (media_frame(payload="not base64!"), "not base64"),
        (media_frame(payload=12), "'payload' is not a string"),
        (media_frame(chunk="two"), "media.chunk"),
        (media_frame(timestamp="-5"), "media.timestamp"),
        (media_frame(timestamp="1.5"), "media.timestamp"),
        (media_frame(timestamp=True), "media.timestamp"),
        (media_frame(chunk="٣"), "media.chunk"),
        (media_frame(chunk="9" * 5000), "media.chunk"),
        (start_frame(callSid=""), "'callSid'"),
        (start_frame(mediaFormat=None), "'mediaFormat'"),
        (start_frame(mediaFormat={"encoding": "audio/x-mulaw"}), "sampleRate"),
        (start_frame(customParameters={"n": 1}), "customParameters"),
        ('{"event": "dtmf", "dtmf": {"digit": "E"}}', "dtmf"),
        ('{"event": "dtmf", "dtmf": {"digit": "12"}}', "dtmf"),
        ('{"event": "dtmf", "dtmf": {}}', "dtmf"),
        ('{"event": "mark", "mark": {}}', "'name'"),
        ('{"event": "stop", "stop": {"accountSid": "AC1"}}', "'callSid'"),
    ],
)
def test_malformed_frames_raise_with_a_reason(message, reason):
    with pytest.raises(MalformedFrame) as info:
        parse_frame(message)
    assert reason in info.value.reason
    assert len(info.value.reason) < 120


def test_a_missing_media_field_is_named():
    frame = json.loads(media_frame())
    del frame["media"]["track"]
    with pytest.raises(MalformedFrame, match="'track'"):
        parse_frame(json.dumps(frame))


def test_every_dtmf_key_of_a_phone_keypad_parses():
    for digit in "0123456789*#ABCD":
        frame = json.dumps({"event": "dtmf", "dtmf": {"digit": digit}})
        assert parse_frame(frame) == Dtmf(digit)


def test_outbound_messages_match_the_documented_json():
    assert json.loads(media_message(STREAM, AUDIO)) == {
        "event": "media",
        "streamSid": STREAM,
        "media": {"payload": base64.b64encode(AUDIO).decode()},
    }
    assert json.loads(mark_message(STREAM, 'utt "17"')) == {
        "event": "mark",
        "streamSid": STREAM,
        "mark": {"name": 'utt "17"'},
    }
    assert json.loads(clear_message(STREAM)) == {"event": "clear", "streamSid": STREAM}


def test_a_stream_sid_is_escaped_in_outbound_media():
    odd = 'MZ"},"event":"clear'
    assert json.loads(media_message(odd, b"\xff"))["streamSid"] == odd


def test_outbound_media_round_trips_through_the_parser_shape():
    sent = json.loads(media_message(STREAM, AUDIO))
    sent["media"].update(track="outbound", chunk="1", timestamp="0")
    assert parse_frame(json.dumps(sent)) == Media(AUDIO, "outbound", 1, 0)
