"""Parsing OpenAI Realtime server events: registry, beta names, malformed input."""

from __future__ import annotations

import base64

import pytest

from getpatter.engines.openai.events import (
    AudioTranscriptDone,
    ErrorEvent,
    ResponseDoneEvent,
    SessionUpdated,
    decode_audio_delta,
    ga_event_name,
    parse_server_event,
)


@pytest.mark.parametrize(
    ("beta", "ga"),
    [
        ("response.audio.delta", "response.output_audio.delta"),
        ("response.audio_transcript.done", "response.output_audio_transcript.done"),
        ("conversation.item.created", "conversation.item.added"),
        ("response.text.done", "response.output_text.done"),
        ("response.done", "response.done"),
    ],
)
def test_beta_names_map_to_ga_names(beta, ga):
    assert ga_event_name(beta) == ga


@pytest.mark.parametrize(
    "event_type", ["response.audio_transcript.done", "response.output_audio_transcript.done"]
)
def test_one_model_reads_both_names(event_type):
    event = parse_server_event({"type": event_type, "item_id": "i1", "transcript": "Hi."})
    assert isinstance(event, AudioTranscriptDone)
    assert (event.item_id, event.transcript) == ("i1", "Hi.")


def test_extra_fields_are_ignored_and_optional_ones_default():
    event = parse_server_event({"type": "session.updated", "session": {"x": 1}, "new_field": 2})
    assert isinstance(event, SessionUpdated)
    done = parse_server_event({"type": "response.done", "response": {"usage": None}})
    assert isinstance(done, ResponseDoneEvent) and done.response.usage is None


def test_error_event_keeps_code_and_message():
    event = parse_server_event(
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": None, "message": "m", "param": None},
        }
    )
    assert isinstance(event, ErrorEvent)
    assert (event.error.type, event.error.code, event.error.message) == (
        "invalid_request_error",
        None,
        "m",
    )


def test_unknown_types_are_ignored_quietly(caplog):
    caplog.set_level("DEBUG", logger="getpatter.engines.openai")
    assert parse_server_event({"type": "rate_limits.updated", "rate_limits": []}) is None
    assert "ignored" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        {"type": "response.function_call_arguments.done", "name": "f"},
        {"type": "error", "error": "just a string"},
        {"type": 7},
    ],
)
def test_malformed_known_events_are_logged_and_skipped(data, caplog):
    assert parse_server_event(data) is None
    assert "skipped" in caplog.text


def test_audio_delta_is_decoded_without_pydantic():
    audio = bytes(range(256))
    data = {
        "type": "response.output_audio.delta",
        "item_id": "i",
        "delta": base64.b64encode(audio).decode(),
    }
    assert decode_audio_delta(data) == ("i", audio)


@pytest.mark.parametrize(
    "data",
    [
        {"item_id": "i", "delta": "not*base64"},
        {"item_id": "i", "delta": None},
        {"delta": "AAAA"},
    ],
)
def test_malformed_audio_delta_is_skipped(data, caplog):
    assert decode_audio_delta(data) is None
    assert "malformed audio delta" in caplog.text
