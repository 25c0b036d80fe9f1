import logging

import pytest

from getpatter.errors import ConfigError, InputValidationError
from getpatter.observability import (
    CostBreakdown,
    CostMeter,
    PriceTable,
    RealtimeUsage,
    llm_cost,
    realtime_cost,
    stt_cost,
    telephony_cost,
    tts_cost,
)

DEFAULTS = PriceTable()

# 1 M audio in (100 k cached), 500 k audio out, 200 k text in (50 k cached), 10 k text out.
KNOWN_USAGE = RealtimeUsage(
    audio_input=1_000_000,
    audio_output=500_000,
    text_input=200_000,
    text_output=10_000,
    cached_audio_input=100_000,
    cached_text_input=50_000,
)


@pytest.mark.parametrize(
    ("seconds", "minutes"), [(0, 0), (1, 1), (59.9, 1), (60, 1), (61, 2), (120, 2), (121, 3)]
)
@pytest.mark.parametrize("carrier", ["twilio", "telnyx"])
def test_carriers_bill_whole_started_minutes(carrier: str, seconds: float, minutes: int) -> None:
    expected = minutes * DEFAULTS.price(carrier)
    assert telephony_cost(DEFAULTS, carrier, seconds) == pytest.approx(expected)


def test_stt_and_tts_cost_from_usage() -> None:
    assert stt_cost(DEFAULTS, "deepgram", 90) == pytest.approx(1.5 * 0.0077)
    assert tts_cost(DEFAULTS, "elevenlabs", 2500) == pytest.approx(2.5 * 0.06)
    assert tts_cost(DEFAULTS, "openai_tts", 0) == 0.0


def test_llm_cost_per_million_tokens() -> None:
    assert llm_cost(DEFAULTS, "openai_llm", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert llm_cost(DEFAULTS, "anthropic_llm", 2_000, 500) == pytest.approx(0.0045)


def test_realtime_cost_of_known_usage_with_default_prices() -> None:
    # 900k*10 + 100k*0.30 + 500k*20 + 150k*0.60 + 50k*0.06 + 10k*2.40, per 1 M.
    assert realtime_cost(DEFAULTS, KNOWN_USAGE) == pytest.approx(19.147)


def test_realtime_cost_of_known_usage_with_overridden_prices() -> None:
    table = PriceTable(
        {
            "openai_realtime": {
                "audio_input": 32.0,
                "audio_output": 64.0,
                "cached_audio_input": 0.40,
                "text_input": 4.0,
                "text_output": 16.0,
                "cached_text_input": 0.40,
            }
        }
    )
    # 900k*32 + 100k*0.40 + 500k*64 + 150k*4 + 50k*0.40 + 10k*16, per 1 M.
    assert realtime_cost(table, KNOWN_USAGE) == pytest.approx(61.62)


def test_realtime_usage_adds_and_reads_openai_usage() -> None:
    usage = RealtimeUsage.from_openai_usage(
        {
            "total_tokens": 700,
            "input_tokens": 500,
            "output_tokens": 200,
            "input_token_details": {
                "audio_tokens": 300,
                "text_tokens": 200,
                "cached_tokens": 150,
                "cached_tokens_details": {"audio_tokens": 100, "text_tokens": 50},
            },
            "output_token_details": {"audio_tokens": 180, "text_tokens": 20},
        }
    )
    assert usage == RealtimeUsage(
        audio_input=300,
        audio_output=180,
        text_input=200,
        text_output=20,
        cached_audio_input=100,
        cached_text_input=50,
    )
    assert (usage + usage).audio_output == 360
    assert RealtimeUsage.from_openai_usage({"input_token_details": None}) == RealtimeUsage()


def test_realtime_usage_rejects_more_cached_than_total() -> None:
    with pytest.raises(InputValidationError, match="cached_text_input"):
        RealtimeUsage(text_input=10, cached_text_input=11)


def test_unpriced_provider_costs_zero_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="getpatter.cost"):
        assert stt_cost(DEFAULTS, "acme_stt", 60) == 0.0
        assert stt_cost(DEFAULTS, "acme_stt", 120) == 0.0
    lines = [r for r in caplog.records if "acme_stt" in r.getMessage()]
    assert len(lines) == 1


def test_provider_priced_in_another_unit_costs_zero() -> None:
    assert stt_cost(DEFAULTS, "elevenlabs", 60) == 0.0
    assert realtime_cost(DEFAULTS, KNOWN_USAGE, "openai_llm") == 0.0


def test_negative_usage_is_rejected() -> None:
    with pytest.raises(InputValidationError, match="audio_seconds"):
        stt_cost(DEFAULTS, "deepgram", -1)
    with pytest.raises(InputValidationError, match="characters"):
        tts_cost(DEFAULTS, "elevenlabs", -5)
    with pytest.raises(InputValidationError, match="duration_seconds"):
        telephony_cost(DEFAULTS, "twilio", -0.5)
    with pytest.raises(InputValidationError, match="output_tokens"):
        llm_cost(DEFAULTS, "openai_llm", 1, -1)
    with pytest.raises(InputValidationError, match="audio_output"):
        RealtimeUsage(audio_output=-1)
    with pytest.raises(ConfigError, match="characters"):
        tts_cost(DEFAULTS, "elevenlabs", 2.5)  # type: ignore[arg-type]


def test_meter_prices_a_pipeline_call() -> None:
    meter = CostMeter(
        DEFAULTS,
        stt_provider="deepgram",
        tts_provider="elevenlabs",
        llm_provider="openai_llm",
        telephony_provider="twilio",
    )
    meter.add_stt_seconds(45)
    meter.add_stt_seconds(45)
    meter.add_tts_characters(1500)
    meter.add_tts_characters(500)
    meter.add_llm_tokens(400_000, 100_000)
    meter.add_llm_tokens(600_000, 0)
    meter.set_duration(95)

    cost = meter.breakdown()
    assert cost.stt == pytest.approx(1.5 * 0.0077)
    assert cost.tts == pytest.approx(2 * 0.06)
    assert cost.llm == pytest.approx(0.15 + 0.06)
    assert cost.telephony == pytest.approx(2 * 0.0085)
    assert cost.total == cost.stt + cost.tts + cost.llm + cost.telephony
    assert meter.llm_tokens == (1_000_000, 100_000)
    assert cost.unpriced == () and "unpriced" not in cost.to_dict()


def test_speech_is_priced_as_the_stt_and_tts_that_handled_it() -> None:
    meter = CostMeter(DEFAULTS, stt_provider="deepgram", tts_provider="elevenlabs")
    meter.add_stt_seconds(60)
    meter.add_stt_seconds(60, provider="soniox")  # a fallback STT's second provider
    meter.add_tts_characters(1000)
    meter.add_tts_characters(1000, provider="openai_tts")  # a fallback TTS's
    cost = meter.breakdown()
    assert cost.stt == pytest.approx(0.0077 + 0.002)
    assert cost.tts == pytest.approx(0.06 + 0.015)
    assert meter.stt_seconds == 120 and meter.tts_characters == 2000


def test_a_used_provider_without_a_price_is_reported_unknown_not_free() -> None:
    meter = CostMeter(
        DEFAULTS,
        stt_provider="acme_stt",
        tts_provider="elevenlabs",
        llm_provider="acme_llm",
        telephony_provider="twilio",
    )
    meter.add_stt_seconds(30)
    meter.add_tts_characters(100)
    meter.add_llm_tokens(10, 5)
    meter.add_llm_tokens(10, 5, provider="openai_llm")  # a fallback that is priced
    meter.set_duration(30)
    cost = meter.breakdown()
    assert cost.unpriced == ("acme_stt", "acme_llm")
    assert cost.to_dict()["unpriced"] == ["acme_stt", "acme_llm"]
    assert cost.tts > 0 and cost.llm > 0 and cost.stt == 0
    assert (cost + CostBreakdown(unpriced=("acme_stt", "x"))).unpriced == (
        "acme_stt",
        "acme_llm",
        "x",
    )
    # Unused providers are not reported, priced or not.
    assert CostMeter(DEFAULTS, stt_provider="acme_stt").breakdown().unpriced == ()


def test_meter_puts_realtime_engine_cost_in_llm_bucket() -> None:
    table = PriceTable({"telnyx": {"price": 0.01}})
    meter = CostMeter(table, llm_provider="openai_realtime", telephony_provider="telnyx")
    meter.add_realtime_usage(KNOWN_USAGE)
    meter.set_duration(30)

    cost = meter.breakdown()
    assert cost.llm == pytest.approx(19.147)
    assert cost.telephony == pytest.approx(0.01)
    assert cost.stt == cost.tts == 0.0


def test_meter_prices_minute_billed_engine_from_duration() -> None:
    meter = CostMeter(llm_provider="elevenlabs_convai", telephony_provider="twilio")
    meter.set_duration(90)
    assert meter.breakdown().llm == pytest.approx(1.5 * 0.08)


def test_meter_snapshot_is_independent_of_later_usage() -> None:
    meter = CostMeter(stt_provider="deepgram")
    meter.add_stt_seconds(60)
    before = meter.breakdown()
    meter.add_stt_seconds(60)
    assert before.stt == pytest.approx(0.0077)
    assert meter.breakdown().stt == pytest.approx(0.0154)


def test_meter_rejects_negative_usage() -> None:
    meter = CostMeter()
    with pytest.raises(InputValidationError):
        meter.add_stt_seconds(-1.0)
    with pytest.raises(InputValidationError):
        meter.set_duration(-3)
    with pytest.raises(InputValidationError):
        meter.add_llm_tokens(-1, 0)
    assert meter.breakdown().total == 0.0


def test_tokens_are_priced_as_the_llm_that_used_them() -> None:
    table = PriceTable(
        {
            "openai_llm": {"input": 1.0, "output": 2.0},
            "anthropic_llm": {"input": 10.0, "output": 20.0},
        }
    )
    meter = CostMeter(table, llm_provider="openai_llm")
    meter.add_llm_tokens(1_000_000, 1_000_000)  # the meter's own LLM
    meter.add_llm_tokens(1_000_000, 0, "anthropic_llm")  # a fallback answered this one
    meter.add_llm_tokens(0, 1_000_000, "openai_llm")
    assert meter.breakdown().llm == pytest.approx(1.0 + 2.0 + 10.0 + 2.0)
    assert meter.llm_tokens == (2_000_000, 2_000_000)
