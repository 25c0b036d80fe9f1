"""The provider kit's format table: capabilities order, wire names, refusals, carriers."""

from __future__ import annotations

import pytest

from getpatter.errors import ConfigError
from getpatter.providers.formats import WireFormats, carrier_format, encoding_of

TABLE = WireFormats[str]("ExampleTTS", {"pcm16_16000": "pcm_16k", "ulaw_8000": "mulaw_8k"})


def test_formats_keep_table_order_and_preferring_moves_supported_ones_first() -> None:
    assert TABLE.formats == ("pcm16_16000", "ulaw_8000")
    assert TABLE.preferring("ulaw_8000") == ("ulaw_8000", "pcm16_16000")
    assert TABLE.preferring("alaw_8000", "ulaw_8000") == ("ulaw_8000", "pcm16_16000")


def test_wire_names_and_their_reverse() -> None:
    assert TABLE.wire("ulaw_8000") == "mulaw_8k"
    assert TABLE.format_of("pcm_16k") == "pcm16_16000"
    assert "alaw_8000" not in TABLE


def test_unsupported_formats_are_refused_naming_the_provider_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"ExampleTTS cannot handle audio_format='alaw_8000'"):
        TABLE.wire("alaw_8000")
    with pytest.raises(ConfigError, match=r"ExampleTTS output_format='mp3'.*'pcm_16k'"):
        TABLE.format_of("mp3", hint="output_format")


def test_carrier_formats_and_encodings() -> None:
    assert carrier_format("twilio") == "ulaw_8000"
    assert carrier_format("telnyx") == "pcm16_16000"
    with pytest.raises(ConfigError, match="unknown carrier 'sip'"):
        carrier_format("sip")
    assert encoding_of("ulaw_8000") == ("mulaw", 8000)
    assert encoding_of("alaw_8000") == ("alaw", 8000)
    assert encoding_of("pcm16_24000") == ("pcm_s16le", 24000)
