"""Twilio webhooks: signature checks, typed form posts, and the TwiML we answer with."""

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET

import pytest

from getpatter import ErrorCode, InputValidationError
from getpatter.carriers.twilio.webhooks import (
    AmdCallback,
    RecordingCallback,
    StatusCallback,
    VoiceWebhook,
    connect_stream_twiml,
    dial_twiml,
    hangup_twiml,
    parse_form,
    verify_signature,
)

# The test vector of Twilio's security docs (protocols §1.6).
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
CALL = "CA" + "0" * 32


def test_the_documented_signature_verifies():
    assert verify_signature(TOKEN, URL, PARAMS, SIGNATURE)


def test_the_signature_verifies_when_the_url_carries_the_default_port():
    assert verify_signature(TOKEN, URL.replace(".com/", ".com:443/"), PARAMS, SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        (TOKEN, URL, PARAMS, ""),
        (TOKEN, URL, PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"),
        ("54321", URL, PARAMS, SIGNATURE),
        ("", URL, PARAMS, SIGNATURE),
        (TOKEN, URL.replace("foo=1", "foo=2"), PARAMS, SIGNATURE),
        (TOKEN, URL, {**PARAMS, "Digits": "9999"}, SIGNATURE),
        (TOKEN, URL, {**PARAMS, "Extra": "x"}, SIGNATURE),
    ],
)
def test_forged_or_missing_signatures_fail(token, url, params, signature):
    assert not verify_signature(token, url, params, signature)


def test_repeated_fields_are_signed_value_by_value():
    """Twilio signs each value of a repeated field, in sorted order."""
    signed = URL + "EventA" + "EventB" + "Namex"
    expected = base64.b64encode(hmac.new(b"k", signed.encode(), hashlib.sha1).digest()).decode()
    assert verify_signature("k", URL, {"Event": ["B", "A"], "Name": "x"}, expected)
    assert not verify_signature("k", URL, {"Event": "B", "Name": "x"}, expected)


VOICE_FORM = {
    "CallSid": CALL,
    "AccountSid": "AC" + "1" * 32,
    "From": "+15550001111",
    "To": "+15550002222",
    "CallStatus": "ringing",
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
    "CallerName": "Jane",
}


def test_a_voice_webhook_parses_with_snake_case_names():
    hook = parse_form(VoiceWebhook, VOICE_FORM)
    assert (hook.call_sid, hook.from_, hook.to) == (CALL, "+15550001111", "+15550002222")
    assert (hook.call_status, hook.direction) == ("ringing", "inbound")


def test_a_missing_field_is_named_by_its_twilio_name():
    form = {key: value for key, value in VOICE_FORM.items() if key != "From"}
    with pytest.raises(InputValidationError, match="From is missing") as info:
        parse_form(VoiceWebhook, form)
    assert info.value.code is ErrorCode.INPUT_VALIDATION


def test_an_empty_required_field_is_refused():
    with pytest.raises(InputValidationError, match="CallSid is invalid"):
        parse_form(VoiceWebhook, {**VOICE_FORM, "CallSid": ""})


def test_a_status_callback_reads_numbers_and_treats_blanks_as_absent():
    form = {
        "CallSid": CALL,
        "CallStatus": "completed",
        "Direction": "outbound-api",
        "CallDuration": "42",
        "AnsweredBy": "",
        "SequenceNumber": "3",
        "Timestamp": "Tue, 01 Jul 2025 10:00:00 +0000",
    }
    status = parse_form(StatusCallback, form)
    assert (status.call_status, status.call_duration, status.sequence_number) == (
        "completed",
        42,
        3,
    )
    assert status.answered_by is None
    assert status.timestamp == "Tue, 01 Jul 2025 10:00:00 +0000"
    ringing = parse_form(StatusCallback, {**form, "CallStatus": "ringing", "CallDuration": ""})
    assert ringing.call_duration is None


def test_a_non_numeric_duration_is_refused():
    form = {"CallSid": CALL, "CallStatus": "completed", "Direction": "inbound"}
    with pytest.raises(InputValidationError, match="CallDuration is invalid"):
        parse_form(StatusCallback, {**form, "CallDuration": "a lot"})


def test_amd_and_recording_callbacks_parse():
    amd = parse_form(
        AmdCallback,
        {"CallSid": CALL, "AnsweredBy": "machine_end_beep", "MachineDetectionDuration": "2100"},
    )
    assert (amd.answered_by, amd.machine_detection_duration) == ("machine_end_beep", 2100)
    recording = parse_form(
        RecordingCallback,
        {
            "CallSid": CALL,
            "RecordingSid": "RE" + "0" * 32,
            "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE",
            "RecordingStatus": "completed",
            "RecordingDuration": "17",
        },
    )
    assert (recording.recording_status, recording.recording_duration) == ("completed", 17)
    with pytest.raises(InputValidationError, match="AnsweredBy is missing"):
        parse_form(AmdCallback, {"CallSid": CALL})


def test_models_are_frozen():
    hook = parse_form(VoiceWebhook, VOICE_FORM)
    with pytest.raises(ValueError):
        hook.call_sid = "CA1"


def test_connect_stream_twiml_opens_a_two_way_stream_with_parameters():
    xml = connect_stream_twiml(
        "wss://example.com/media", {"call_token": "a&b<c>", "caller": "+15550001111"}
    )
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    (connect,) = root
    assert connect.tag == "Connect"
    (stream,) = connect
    assert stream.tag == "Stream"
    assert stream.attrib == {"url": "wss://example.com/media"}
    assert [(p.tag, p.attrib) for p in stream] == [
        ("Parameter", {"name": "call_token", "value": "a&b<c>"}),
        ("Parameter", {"name": "caller", "value": "+15550001111"}),
    ]


def test_connect_stream_twiml_without_parameters_has_none():
    stream = ET.fromstring(connect_stream_twiml("ws://127.0.0.1:8000/ws", {}))[0][0]
    assert list(stream) == []


@pytest.mark.parametrize(
    "url", ["https://example.com/media", "wss://example.com/media?token=1", ""]
)
def test_connect_stream_twiml_refuses_urls_twilio_cannot_stream_to(url):
    with pytest.raises(ValueError, match="stream_url"):
        connect_stream_twiml(url, {})


def test_dial_twiml_transfers_to_the_number_with_an_optional_caller_id():
    dial = ET.fromstring(dial_twiml("+15552223333", caller_id="+15550001111"))[0]
    assert (dial.tag, dial.text, dial.attrib) == (
        "Dial",
        "+15552223333",
        {"callerId": "+15550001111"},
    )
    plain = ET.fromstring(dial_twiml("+15552223333"))[0]
    assert plain.attrib == {}
    with pytest.raises(InputValidationError, match="transfer number"):
        dial_twiml("555-1234")


def test_hangup_twiml():
    assert [child.tag for child in ET.fromstring(hangup_twiml())] == ["Hangup"]
