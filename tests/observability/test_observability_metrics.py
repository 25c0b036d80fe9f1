import dataclasses
import json
import random

import numpy as np
import pytest

from getpatter.errors import InputValidationError
from getpatter.observability import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
    percentile,
    summarize_latency,
)


def _turn(index: int, **latency: float) -> TurnMetrics:
    return TurnMetrics(
        turn_index=index,
        user_text=f"user {index}",
        agent_text=f"agent {index}",
        latency=LatencyBreakdown(**latency),
        timestamp=1_700_000_000.0 + index,
    )


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [400.0, 100.0, 300.0, 200.0]
    assert percentile(values, 50) == pytest.approx(250.0)
    assert percentile(values, 90) == pytest.approx(370.0)
    assert percentile(values, 95) == pytest.approx(385.0)
    assert percentile(values, 99) == pytest.approx(397.0)
    assert percentile(values, 0) == 100.0
    assert percentile(values, 100) == 400.0
    assert percentile([42.0], 99) == 42.0


def test_percentile_matches_numpy_default_method() -> None:
    rng = random.Random(7)
    for size in (2, 3, 5, 17, 100):
        values = [rng.uniform(50, 2000) for _ in range(size)]
        for q in (50, 90, 95, 99):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(InputValidationError):
        percentile([], 50)
    with pytest.raises(InputValidationError):
        percentile([1.0], 101)


def test_summary_is_computed_per_field_over_turns_that_measured_it() -> None:
    turns = [
        _turn(0, total_ms=600.0, llm_ttft_ms=300.0),
        _turn(1, total_ms=800.0, llm_ttft_ms=500.0, bargein_ms=120.0),
        _turn(2, total_ms=1000.0),
        _turn(3, total_ms=1200.0, llm_ttft_ms=400.0),
    ]
    summary = summarize_latency(turns)

    assert summary["avg"].total_ms == pytest.approx(900.0)
    assert summary["p50"].total_ms == pytest.approx(900.0)
    assert summary["p90"].total_ms == pytest.approx(1140.0)
    assert summary["p95"].total_ms == pytest.approx(1170.0)
    assert summary["p99"].total_ms == pytest.approx(1194.0)
    # llm_ttft_ms over turns 0, 1, 3 only: sorted [300, 400, 500].
    assert summary["avg"].llm_ttft_ms == pytest.approx(400.0)
    assert summary["p90"].llm_ttft_ms == pytest.approx(480.0)
    assert summary["p90"].llm_ms == summary["p90"].llm_ttft_ms
    # bargein_ms only on the barge-in turn, not diluted by zeros.
    assert summary["avg"].bargein_ms == 120.0
    assert summary["p99"].bargein_ms == 120.0
    assert summary["avg"].stt_ms is None
    assert summary["p95"].tts_total_ms is None


def test_summary_of_no_turns_is_all_none() -> None:
    summary = summarize_latency([])
    assert set(summary) == {"avg", "p50", "p90", "p95", "p99"}
    assert all(value is None for value in summary["p50"].to_dict().values())


def test_llm_ms_is_a_read_only_alias_of_ttft() -> None:
    latency = LatencyBreakdown(llm_ttft_ms=210.0, llm_total_ms=900.0)
    assert latency.llm_ms == 210.0
    assert latency.to_dict()["llm_ms"] == 210.0
    with pytest.raises(AttributeError):
        latency.llm_ms = 1.0  # type: ignore[misc]


def test_cost_total_is_always_the_sum() -> None:
    cost = CostBreakdown(stt=0.1, tts=0.2, llm=0.3, telephony=0.4)
    assert cost.total == cost.stt + cost.tts + cost.llm + cost.telephony
    assert cost.total == pytest.approx(1.0)

    changed = dataclasses.replace(cost, llm=1.3)
    assert changed.total == pytest.approx(2.0)

    combined = cost + CostBreakdown(stt=1.0, telephony=0.5)
    assert combined.stt == pytest.approx(1.1)
    assert combined.telephony == pytest.approx(0.9)
    assert combined.total == combined.stt + combined.tts + combined.llm + combined.telephony

    assert CostBreakdown().total == 0.0


def test_cost_total_cannot_be_set() -> None:
    cost = CostBreakdown(stt=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cost.total = 5.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        CostBreakdown(stt=1.0, total=5.0)  # type: ignore[call-arg]


def test_cost_rejects_negative_amounts() -> None:
    with pytest.raises(InputValidationError, match=r"CostBreakdown\.tts"):
        CostBreakdown(tts=-0.01)


def test_call_metrics_from_turns_fills_summaries_and_serialises() -> None:
    turns = [_turn(0, total_ms=500.0), _turn(1, total_ms=700.0)]
    metrics = CallMetrics.from_turns(
        "CA123",
        42.5,
        turns,
        cost=CostBreakdown(stt=0.01, telephony=0.017),
        provider_mode="pipeline",
        stt_provider="deepgram",
        tts_provider="elevenlabs",
        llm_provider="openai_llm",
        telephony_provider="twilio",
    )

    assert metrics.turns == tuple(turns)
    assert metrics.latency_avg.total_ms == pytest.approx(600.0)
    assert metrics.latency_p50.total_ms == pytest.approx(600.0)
    assert metrics.latency_p99.total_ms == pytest.approx(698.0)

    data = json.loads(json.dumps(metrics.to_dict()))
    assert data["call_id"] == "CA123"
    assert data["cost"]["total"] == pytest.approx(0.027)
    assert data["turns"][1]["latency"]["total_ms"] == 700.0
    assert data["latency_avg"]["llm_ms"] is None
    assert data["telephony_provider"] == "twilio"


def test_call_metrics_is_frozen_and_keeps_turns_as_tuple() -> None:
    metrics = CallMetrics(call_id="c", duration_seconds=1.0, turns=[_turn(0)])  # type: ignore[arg-type]
    assert isinstance(metrics.turns, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.call_id = "other"  # type: ignore[misc]
