"""Telnyx webhook events: signatures, the envelope, and Telnyx's words in Patter's."""

import base64
import json
import time

import pytest
from nacl.signing import SigningKey

from getpatter.carriers.telnyx.webhooks import (
    WebhookRejected,
    call_state,
    client_state,
    machine_result,
    parse_event,
    transfer_state,
    verify_signature,
)

KEY = SigningKey.generate()
PUBLIC = base64.b64encode(bytes(KEY.verify_key)).decode()


def signed(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = KEY.sign(f"{stamp}|".encode() + body).signature
    return {
        "Telnyx-Signature-Ed25519": base64.b64encode(signature).decode(),
        "Telnyx-Timestamp": stamp,
    }


def event(**payload):
    return json.dumps(
        {
            "data": {
                "event_type": "call.hangup",
                "id": "ev-1",
                "occurred_at": "2026-12-07T03:00:10Z",
                "payload": payload,
            }
        }
    ).encode()


def test_a_signed_body_verifies_and_any_change_does_not():
    body = event(call_control_id="v3:x")
    verify_signature(body, signed(body), PUBLIC)
    with pytest.raises(WebhookRejected):
        verify_signature(body + b" ", signed(body), PUBLIC)
    with pytest.raises(WebhookRejected, match="too old"):
        verify_signature(body, signed(body, int(time.time()) - 400), PUBLIC)
    with pytest.raises(WebhookRejected):
        verify_signature(body, {}, PUBLIC)
    with pytest.raises(WebhookRejected, match="UTF-8"):
        verify_signature(b"\xff", signed(b"\xff"), PUBLIC)


def test_events_are_parsed_and_name_their_patter_call():
    body = event(
        call_control_id="v3:x",
        client_state=client_state("pc_1"),
        start_time="2026-12-07T03:00:00Z",
        hangup_cause="user_busy",
    )
    parsed = parse_event(body)
    assert (parsed.id, parsed.event_type, parsed.call_control_id) == ("ev-1", "call.hangup", "v3:x")
    assert parsed.patter_id == "pc_1" and not parsed.is_transfer_leg
    assert parsed.seconds() == 10
    leg = parse_event(event(call_control_id="v3:y", client_state=transfer_state("v3:x")))
    assert leg.is_transfer_leg and leg.transferred_call_id == "v3:x" and leg.patter_id == ""
    foreign = parse_event(event(client_state=base64.b64encode(b"someone else").decode()))
    assert foreign.patter_id == "" and not foreign.is_transfer_leg


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"data": 1}',
        b'{"data": {"id": "x"}}',
        b'{"data": {"event_type": "a"}}',
    ],
)
def test_what_is_not_an_event_is_rejected(body):
    with pytest.raises(WebhookRejected):
        parse_event(body)


def test_telnyx_words_map_to_patter_words():
    assert [
        call_state(c) for c in ("normal_clearing", "user_busy", "timeout", "originator_cancel")
    ] == [
        "completed",
        "busy",
        "no-answer",
        "canceled",
    ]
    assert call_state("not_found") == call_state("unspecified") == "failed"
    assert [
        machine_result(r)
        for r in ("human", "human_business", "machine", "fax_detected", "not_sure")
    ] == [
        "human",
        "human",
        "machine",
        "fax",
        "unknown",
    ]
