"""Phone numbers as call logs keep them: mask, full, hash_only (spec LG-7)."""

from __future__ import annotations

import hashlib

import pytest

from getpatter.calls.phone_redaction import (
    HASH_CHARS,
    phone_redaction_from_env,
    redact_number,
)
from getpatter.errors import ConfigError

NUMBER = "+15550001234"


def test_mask_keeps_the_last_four_digits_and_is_the_default() -> None:
    assert redact_number(NUMBER) == "***1234"
    assert redact_number(NUMBER, "mask") == "***1234"
    assert redact_number("+44 20 7946 0958", "mask") == "***0958"


def test_mask_hides_short_numbers_whole() -> None:
    # A short code, an extension or a SIP user would be mostly shown by its last 4 digits.
    assert redact_number("12345", "mask") == "***"
    assert redact_number("+1234567", "mask") == "***"
    assert redact_number("+12345678", "mask") == "***5678"
    assert redact_number("client:alice", "mask") == "***"


def test_full_keeps_the_number_and_an_empty_number_stays_empty() -> None:
    assert redact_number(NUMBER, "full") == NUMBER
    for mode in ("mask", "full", "hash_only"):
        assert redact_number("", mode) == ""  # type: ignore[arg-type]


def test_hash_only_is_a_stable_sha256_prefix() -> None:
    hashed = redact_number(NUMBER, "hash_only")
    assert hashed == hashlib.sha256(NUMBER.encode()).hexdigest()[:HASH_CHARS]
    assert len(hashed) == 16 and "1234" not in hashed
    assert redact_number(NUMBER, "hash_only") == hashed
    assert redact_number("+15550001235", "hash_only") != hashed


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="mask, full, hash_only"):
        redact_number(NUMBER, "partial")  # type: ignore[arg-type]


def test_the_env_var_sets_the_mode_and_refuses_what_it_cannot_mean() -> None:
    assert phone_redaction_from_env({}) == "mask"
    assert phone_redaction_from_env({"PATTER_LOG_REDACT_PHONE": ""}) == "mask"
    assert phone_redaction_from_env({"PATTER_LOG_REDACT_PHONE": " Hash_Only "}) == "hash_only"
    assert phone_redaction_from_env({"PATTER_LOG_REDACT_PHONE": "full"}) == "full"
    with pytest.raises(ConfigError, match="PATTER_LOG_REDACT_PHONE must be one of"):
        phone_redaction_from_env({"PATTER_LOG_REDACT_PHONE": "hash"})
