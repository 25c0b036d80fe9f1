import math
import re
from typing import Any

import pytest

from getpatter.errors import ConfigError
from getpatter.observability import (
    DEFAULT_PRICING,
    PRICING_LAST_UPDATED,
    PRICING_VERSION,
    PriceTable,
    PriceUnit,
)


def test_defaults_follow_the_spec_table() -> None:
    table = PriceTable()
    assert table.price("deepgram") == 0.0077
    assert table.price("whisper") == 0.006
    assert table.price("elevenlabs") == 0.06
    assert table.price("openai_tts_hd") == 0.030
    assert table.price("twilio") == 0.0085
    assert table.price("telnyx") == 0.007
    assert table.price("openai_realtime", "audio_input") == 10.0
    assert table.price("openai_realtime", "cached_text_input") == 0.06
    assert table.price("anthropic_llm", "output") == 5.00
    assert table.unit("deepgram") is PriceUnit.MINUTE
    assert table.unit("rime") is PriceUnit.THOUSAND_CHARS
    assert table.unit("openai_llm") is PriceUnit.MILLION_TOKENS
    assert table.version == PRICING_VERSION
    assert PRICING_LAST_UPDATED


def test_every_default_entry_names_its_unit_and_has_numeric_rates() -> None:
    for provider, entry in DEFAULT_PRICING.items():
        assert entry["unit"] in {"minute", "1k_chars", "1m_tokens"}, provider
        rates = {k: v for k, v in entry.items() if k != "unit"}
        assert rates, provider
        assert all(isinstance(v, float) and v >= 0 for v in rates.values()), provider


def test_default_pricing_is_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_PRICING["deepgram"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        DEFAULT_PRICING["deepgram"]["price"] = 1.0  # type: ignore[index]


def test_overrides_merge_per_key_into_the_defaults() -> None:
    table = PriceTable(
        {"deepgram": {"price": 0.005}, "openai_realtime": {"audio_input": 32, "audio_output": 64}}
    )
    assert table.price("deepgram") == 0.005
    assert table.price("whisper") == 0.006
    assert table.price("openai_realtime", "audio_input") == 32.0
    assert table.price("openai_realtime", "audio_output") == 64.0
    assert table.price("openai_realtime", "text_input") == 0.60
    assert table.to_dict()["deepgram"] == {"unit": "minute", "price": 0.005}
    # Neither the defaults nor other tables change.
    assert DEFAULT_PRICING["deepgram"]["price"] == 0.0077
    assert PriceTable().price("deepgram") == 0.0077


def test_zero_price_is_allowed() -> None:
    assert PriceTable({"twilio": {"price": 0}}).price("twilio") == 0.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deepgrm": {"price": 0.005}}, "known providers: deepgram, whisper"),
        ({"deepgram": {"cost": 0.005}}, "its rates are: price"),
        ({"openai_realtime": {"audio_in": 1.0}}, "audio_input, audio_output"),
        ({"deepgram": {"unit": "1k_chars"}}, "unknown rate 'unit'"),
        ({"deepgram": {"price": -0.01}}, "must be a number >= 0"),
        ({"deepgram": {"price": "0.005"}}, "must be a number >= 0"),
        ({"deepgram": {"price": True}}, "must be a number >= 0"),
        ({"deepgram": {"price": math.nan}}, "must be a number >= 0"),
        ({"deepgram": 0.005}, "must be a dict like {'price': 0.01}"),
    ],
)
def test_bad_overrides_raise_config_error(overrides: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        PriceTable(overrides)


def test_pricing_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="pricing must be a dict"):
        PriceTable([("deepgram", {"price": 0.005})])  # type: ignore[arg-type]


def test_reading_unknown_provider_or_rate_raises() -> None:
    table = PriceTable()
    with pytest.raises(ConfigError, match="known providers"):
        table.price("google_stt")
    with pytest.raises(ConfigError, match="its rates are: input, output"):
        table.price("openai_llm")
    assert "deepgram" in table
    assert "google_stt" not in table


def test_a_supported_provider_without_a_default_price_can_be_priced_in_full() -> None:
    from getpatter.observability.pricing import UNPRICED_PROVIDERS

    assert "groq_llm" in UNPRICED_PROVIDERS and "groq_llm" not in PriceTable()
    table = PriceTable({"groq_llm": {"input": 0.59, "output": 0.79}})
    assert table.price("groq_llm", "output") == 0.79
    with pytest.raises(ConfigError, match=r"no default price for 'groq_llm': give every rate"):
        PriceTable({"groq_llm": {"input": 0.59}})
