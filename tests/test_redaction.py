"""getpatter/_redaction.py: what the log filter hides, what it leaves alone, where it is attached."""

from __future__ import annotations

import importlib
import logging
import pkgutil

import pytest

import getpatter
import getpatter_langchain
import getpatter_mcp
from getpatter import _redaction
from getpatter._redaction import LOGGERS, REDACTED, RedactSecrets, redact, register_secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # websockets' handshake lines, client and server side
        ("> Authorization: Bearer sk-CANARY-1", "> Authorization: Bearer <redacted>"),
        ("< Authorization: Token dg-CANARY-2", "< Authorization: Token <redacted>"),
        ("> xi-api-key: xi-CANARY-3", "> xi-api-key: <redacted>"),
        ("> X-Twilio-Signature: OvRo7F4QTig2c2r6PhWHv8FqVTw=", "> X-Twilio-Signature: <redacted>"),
        (
            "> x-telnyx-streaming-auth-token: CANARY-stream",
            "> x-telnyx-streaming-auth-token: <redacted>",
        ),
        (
            "> GET /ws/twilio/media/CANARYa-b_c HTTP/1.1",
            "> GET /ws/twilio/media/<redacted> HTTP/1.1",
        ),
        # headers as reprs, bytes and JSON
        (
            "{'headers': {'Authorization': 'Bearer CANARY', 'Accept': 'json'}}",
            "{'headers': {'Authorization': 'Bearer <redacted>', 'Accept': 'json'}}",
        ),
        ("[(b'authorization', b'Basic QUM6CANARY')]", "[(b'authorization', b'Basic <redacted>')]"),
        ('{"x-api-key": "CANARY"}', '{"x-api-key": "<redacted>"}'),
        # named fields: JSON, reprs, JSON inside a repr, keyword arguments, query strings
        ('{"token": "CANARY", "max_tokens": 5}', '{"token": "<redacted>", "max_tokens": 5}'),
        ("arguments={'token': 'CANARY'}", "arguments={'token': '<redacted>'}"),
        ('text=\'{\\"token\\": \\"CANARY\\"}\'', 'text=\'{\\"token\\": \\"<redacted>\\"}\''),
        ("Twilio(auth_token=CANARY)", "Twilio(auth_token=<redacted>)"),
        # Telnyx: the SDK's request options, the media stream's connected frame
        (
            "{'json_data': {'stream_url': 'wss://h/m', 'stream_auth_token': 'CANARY'}}",
            "{'json_data': {'stream_url': 'wss://h/m', 'stream_auth_token': '<redacted>'}}",
        ),
        (
            '{"connected": {"x-telnyx-streaming-auth-token": "CANARY"}}',
            '{"connected": {"x-telnyx-streaming-auth-token": "<redacted>"}}',
        ),
        ("wss://host/v1?api_key=CANARY&model=m", "wss://host/v1?api_key=<redacted>&model=m"),
        # Google APIs: the key header and the ?key= query parameter
        ("{'x-goog-api-key': 'AIza-CANARY'}", "{'x-goog-api-key': '<redacted>'}"),
        (
            "POST /v1beta/models/m:streamGenerateContent?alt=sse&key=AIza-CANARY HTTP/1.1",
            "POST /v1beta/models/m:streamGenerateContent?alt=sse&key=<redacted> HTTP/1.1",
        ),
        ("https://h/v1/models?key=AIza-CANARY#x", "https://h/v1/models?key=<redacted>#x"),
        # an ElevenLabs signed conversation URL
        (
            "GET /v1/convai/conversation?agent_id=a&conversation_signature=CANARY-s&source=x",
            "GET /v1/convai/conversation?agent_id=a&conversation_signature=<redacted>&source=x",
        ),
        # a URL's password
        ("via http://user:CANARY@proxy:8080/", "via http://user:<redacted>@proxy:8080/"),
    ],
)
def test_secrets_in_the_shapes_libraries_log_them_are_hidden(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the token expired; input_tokens=5; max_tokens: 10",
        "> I-Twilio-Idempotency-Token: 0f0e-11",
        "< WWW-Authenticate: Bearer realm=x",
        "connect to http://127.0.0.1:8000/ws/twilio/media",
        "> Authorization: Bearer <redacted>",
        "GET /items?monkey=banana&sort_key=name",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_values_are_hidden_anywhere_and_short_ones_are_not_registered() -> None:
    key = "sk-CANARY-registered-0123"
    assert register_secret(key) == key
    assert redact(f"refused at https://api.example/?k={key}!") == (
        f"refused at https://api.example/?k={REDACTED}!"
    )
    register_secret("CANARY")  # shorter than MIN_SECRET_CHARS: would blank out ordinary words
    assert redact("a CANARY word") == "a CANARY word"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("x", logging.DEBUG, __file__, 1, msg, args, exc_info)


def test_a_record_with_nothing_to_hide_keeps_its_message_and_arguments() -> None:
    entry = record("> %s: %s", "Accept", "json")
    assert RedactSecrets().filter(entry) is True
    assert (entry.msg, entry.args) == ("> %s: %s", ("Accept", "json"))


def test_a_record_with_a_secret_gets_the_redacted_message() -> None:
    entry = record("> %s: %s", "Authorization", "Bearer sk-CANARY-arg")
    assert RedactSecrets().filter(entry) is True
    assert (entry.getMessage(), entry.args) == ("> Authorization: Bearer <redacted>", None)


def test_a_traceback_with_a_secret_becomes_redacted_text() -> None:
    try:
        raise ValueError("refused Authorization: Token dg-CANARY-exc")
    except ValueError as exc:
        entry = record("failed", exc=exc)
    RedactSecrets().filter(entry)
    assert entry.exc_info is None
    assert entry.exc_text is not None and "Token <redacted>" in entry.exc_text
    formatted = logging.Formatter().format(entry)
    assert "CANARY" not in formatted and "Traceback" in formatted


def test_a_traceback_without_a_secret_is_left_to_the_handler() -> None:
    try:
        raise ValueError("nothing to hide")
    except ValueError as exc:
        entry = record("failed", exc=exc)
    RedactSecrets().filter(entry)
    assert entry.exc_info is not None and entry.exc_text is None


def test_a_malformed_record_passes_through_for_its_handler_to_report() -> None:
    entry = record("%d", "not a number")
    assert RedactSecrets().filter(entry) is True
    assert entry.args == ("not a number",)


def test_install_attaches_one_filter_and_changes_no_level() -> None:
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    _redaction.install()
    _redaction.install()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        assert [f for f in logger.filters if isinstance(f, RedactSecrets)] == [_redaction._FILTER]
        assert logger.level == levels[name]


def test_every_patter_logger_is_filtered() -> None:
    # A filter sees only records created on its own logger: a logger added to Patter must be
    # added to LOGGERS too.
    for package in (getpatter, getpatter_mcp, getpatter_langchain):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.endswith("__main__"):
                continue
            importlib.import_module(module.name)
    ours = {
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.split(".")[0] in ("getpatter", "getpatter_mcp", "getpatter_langchain")
        and isinstance(logger, logging.Logger)
    }
    assert ours, "no Patter logger found"
    assert sorted(ours - set(LOGGERS)) == []
