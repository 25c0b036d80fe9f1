"""The typed end report and the dict ``on_call_end`` receives."""

from getpatter.calls.events import CallEnded
from getpatter.calls.report import CallReport
from getpatter.observability.metrics import CallMetrics, CostBreakdown


def test_the_payload_is_the_documented_dict_and_a_new_one_each_time() -> None:
    metrics = CallMetrics.from_turns(
        call_id="CA1", duration_seconds=3.0, turns=(), cost=CostBreakdown(telephony=0.01)
    )
    report = CallReport(
        call_id="CA1",
        caller="+15550001111",
        callee="+15550002222",
        direction="inbound",
        outcome="completed",
        ended_by="caller",
        transcript=({"role": "user", "text": "Hi", "timestamp": 1.0},),
        metrics=metrics,
        extra={"reason": "quit"},
    )
    event = CallEnded(call_id="CA1", report=report)
    first, second = event.payload(), event.payload()
    assert first == second and first is not second
    assert (
        first["transcript"]
        == first["history"]
        == [{"role": "user", "text": "Hi", "timestamp": 1.0}]
    )
    assert first["transcript"] is not first["history"]
    first["transcript"].clear()  # one subscriber's change is not another's
    assert second["transcript"] and report.transcript
    assert first["reason"] == "quit" and first["metrics"] is metrics
    assert (first["outcome"], first["ended_by"], first["error"]) == ("completed", "caller", None)
    assert report.cost_usd == 0.01
