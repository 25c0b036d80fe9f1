"""Tracing (spec TR): setup, no-op spans, the spans built from call events, OTLP export."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import getpatter
from getpatter.calls.events import (
    BargeIn,
    CallEnded,
    CallError,
    CallStarted,
    ToolFinished,
    ToolStarted,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.report import CallReport
from getpatter.calls.stream import CallEventStream
from getpatter.errors import ConfigError
from getpatter.observability import init_tracing, is_enabled, shutdown_tracing
from getpatter.observability.metrics import (
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
)
from getpatter.observability.tracing.call_spans import CallTracer, trace_calls
from getpatter.observability.tracing.export import GuardedExporter
from getpatter.testing.fake_otlp import FakeOTLPCollector

T0 = 1_700_000_000.0
SECRET_WORDS = ("my card is 4111", "here is the plan", '{"pin": "1234"}')


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PATTER_OTEL_ENABLED", "1")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    yield
    shutdown_tracing()


@pytest.fixture
def memory(enabled: None) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    assert init_tracing(service_name="unit", exporter=exporter)
    return exporter


def _finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    shutdown_tracing()
    return sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)


def _ms(span: ReadableSpan) -> tuple[float, float]:
    """Start (from T0) and duration of ``span``, in ms."""
    assert span.start_time is not None and span.end_time is not None
    start = span.start_time / 1e6 - T0 * 1000
    return (round(start, 1), round((span.end_time - span.start_time) / 1e6, 1))


def _ended(call_id: str, at: float) -> CallEnded:
    report = CallReport(
        call_id=call_id,
        caller="+15550000001",
        callee="+15550000002",
        started_at=T0,
        ended_at=at,
        outcome="completed",
    )
    return CallEnded(call_id=call_id, report=report, at=at)


def _turn(*, at: float, latency: LatencyBreakdown, user: str, agent: str) -> TurnCompleted:
    turn = TurnMetrics(
        turn_index=0, user_text=user, agent_text=agent, latency=latency, tts_characters=len(agent)
    )
    return TurnCompleted(call_id="CA1", turn=turn, cost_so_far=CostBreakdown(), speech_ended_at=at)


def _call_events() -> list[Any]:
    """A pipeline call: one turn with a tool round, then a barge-in, then a fatal error."""
    user_line = TranscriptFinal(
        call_id="CA1",
        role="user",
        text=SECRET_WORDS[0],
        history=({"role": "assistant", "text": "Hi"}, {"role": "user", "text": SECRET_WORDS[0]}),
        confidence=0.875,
        at=T0 + 2.3,
    )
    return [
        CallStarted(call_id="CA1", direction="outbound", provider_mode="pipeline", at=T0),
        ToolStarted(call_id="OTHER", name="x", transport="handler", at=T0 + 0.5),  # not traced
        user_line,
        ToolStarted(call_id="CA1", name="lookup", transport="webhook", at=T0 + 2.4),
        ToolFinished(call_id="CA1", name="lookup", at=T0 + 2.5),
        _turn(
            at=T0 + 2.0,
            latency=LatencyBreakdown(
                stt_ms=200,
                endpoint_ms=150,
                llm_ttft_ms=450,
                llm_total_ms=700,
                tts_ms=100,
                tts_total_ms=900,
                total_ms=800,
            ),
            user=SECRET_WORDS[0],
            agent=SECRET_WORDS[1],
        ),
        BargeIn(call_id="CA1", item_id="pl_1", played_ms=300, bargein_ms=250, at=T0 + 3.0),
        TranscriptFinal(
            call_id="CA1",
            role="assistant",
            text="here",
            history=(),
            heard=True,
            generated_chars=len(SECRET_WORDS[1]),
            at=T0 + 3.1,
        ),
        ToolStarted(call_id="CA1", name="end_call", transport="handler", at=T0 + 3.5),
        CallError(
            call_id="CA1", error=SECRET_WORDS[2], code="llm_failed", source="llm", fatal=True
        ),
        _ended("CA1", T0 + 4.0),
    ]


async def test_the_spans_of_a_call_are_built_from_its_events(
    memory: InMemorySpanExporter,
) -> None:
    tracer, stream = CallTracer(), CallEventStream()
    tracer.subscribe(stream)
    for event in _call_events():
        stream.publish(event)
    await stream.drain()
    assert tracer.open_calls == 0
    spans = _finished(memory)
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    (root,) = by_name.pop("getpatter.call")
    assert root.parent is None and root.attributes is not None
    assert dict(root.attributes) == {
        "getpatter.call.id": "CA1",
        "getpatter.call.direction": "outbound",
        "getpatter.call.provider_mode": "pipeline",
        "getpatter.call.turns": 1,
    }
    assert _ms(root) == pytest.approx((0, 4000), abs=0.01)
    assert root.status.status_code is StatusCode.ERROR and root.status.description == "llm_failed"
    found = {
        name: [(_ms(s), dict(s.attributes or {})) for s in group] for name, group in by_name.items()
    }
    call_id = {"getpatter.call.id": "CA1"}
    assert found == {
        "getpatter.endpoint": [((2000, 150), {**call_id, "getpatter.endpoint.silence_ms": 150})],
        "getpatter.stt": [
            (
                (2000, 200),
                {**call_id, "getpatter.stt.text_len": 15, "getpatter.stt.confidence": 0.875},
            )
        ],
        # LLM from the final transcript (2200) for 700 ms, split at the tool (2400-2500).
        "getpatter.llm": [
            (
                (2200, 200),
                {**call_id, "getpatter.llm.iteration": 1, "getpatter.llm.history_size": 2},
            ),
            (
                (2500, 400),
                {
                    **call_id,
                    "getpatter.llm.iteration": 2,
                    "getpatter.llm.history_size": 4,
                    "getpatter.llm.ttft_ms": 450,
                },
            ),
        ],
        "getpatter.tool": [
            (
                (2400, 100),
                {**call_id, "getpatter.tool.name": "lookup", "getpatter.tool.transport": "webhook"},
            ),
            # end_call has no finish event: it ends with the call.
            (
                (3500, 500),
                {
                    **call_id,
                    "getpatter.tool.name": "end_call",
                    "getpatter.tool.transport": "handler",
                },
            ),
        ],
        # The first audio went out 800 ms after speech end, 100 ms after TTS began.
        "getpatter.tts": [((2700, 900), {**call_id, "getpatter.tts.text_len": 16})],
        # 16 characters generated, 4 heard: 12 cancelled.
        "getpatter.bargein": [
            ((2750, 250), {**call_id, "getpatter.bargein.cancelled_text_len": 12})
        ],
    }
    for span in spans:
        assert span.context.trace_id == root.context.trace_id
        if span is not root:
            assert span.parent is not None and span.parent.span_id == root.context.span_id
        for value in (span.attributes or {}).values():
            assert not any(words in str(value) for words in SECRET_WORDS)


def test_an_engine_turn_has_only_the_stages_it_measured(memory: InMemorySpanExporter) -> None:
    tracer = CallTracer()
    tracer.record(
        CallStarted(call_id="CA1", direction="inbound", provider_mode="openai_realtime", at=T0)
    )
    latency = LatencyBreakdown(llm_ttft_ms=320, total_ms=340)
    tracer.record(_turn(at=T0 + 1, latency=latency, user="hello", agent="hi"))
    tracer.record(BargeIn(call_id="CA1", item_id="i", played_ms=0, bargein_ms=None, at=T0 + 2))
    tracer.record(_ended("CA1", T0 + 3))
    spans = _finished(memory)
    assert [(s.name, _ms(s)) for s in spans] == [
        ("getpatter.call", pytest.approx((0, 3000), abs=0.01)),
        ("getpatter.llm", pytest.approx((1000, 320), abs=0.01)),
        ("getpatter.bargein", pytest.approx((2000, 0), abs=0.01)),
    ]
    assert "getpatter.bargein.cancelled_text_len" not in (spans[2].attributes or {})


async def test_the_server_subscribes_a_tracer_only_while_tracing_is_on(
    enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = CallEventStream()
    assert trace_calls(stream) is None  # init_tracing not called: nothing subscribed
    assert not stream.wants(TurnCompleted)
    exporter = InMemorySpanExporter()
    init_tracing(exporter=exporter)
    unsubscribe = trace_calls(stream)
    assert unsubscribe is not None and stream.wants(TurnCompleted)
    stream.publish(CallStarted(call_id="CA9", direction="inbound", at=T0))
    stream.publish(_ended("CA9", T0 + 1))
    await stream.drain()
    assert [s.name for s in _finished(exporter)] == ["getpatter.call"]
    # After shutdown_tracing the subscriber drops what it gets.
    stream.publish(CallStarted(call_id="CA10", direction="inbound", at=T0))
    await stream.drain()
    unsubscribe()


def test_disabled_tracing_returns_false_and_spans_are_no_ops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PATTER_OTEL_ENABLED", raising=False)
    assert init_tracing(service_name="svc") is False
    assert not is_enabled() and not getpatter.is_tracing_enabled()
    with getpatter.start_span(getpatter.SPAN_TOOL, {"getpatter.tool.name": "x"}) as span:
        span.set_attribute("a", 1)
        assert not span.is_recording()
    monkeypatch.setenv("PATTER_OTEL_ENABLED", "0")
    assert init_tracing() is False


def test_without_the_flag_no_opentelemetry_module_is_imported() -> None:
    code = (
        "import sys, getpatter\n"
        "assert getpatter.init_tracing() is False\n"
        "with getpatter.start_span('x') as span: span.set_attribute('a', 1)\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    env = {"PATH": "", "PYTHONPATH": ":".join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_span_names_are_the_spec_names() -> None:
    assert (
        getpatter.SPAN_CALL,
        getpatter.SPAN_STT,
        getpatter.SPAN_ENDPOINT,
        getpatter.SPAN_LLM,
        getpatter.SPAN_TTS,
        getpatter.SPAN_BARGEIN,
        getpatter.SPAN_TOOL,
    ) == (
        "getpatter.call",
        "getpatter.stt",
        "getpatter.endpoint",
        "getpatter.llm",
        "getpatter.tts",
        "getpatter.bargein",
        "getpatter.tool",
    )


def test_start_span_records_a_span_when_on(memory: InMemorySpanExporter) -> None:
    assert getpatter.is_tracing_enabled()
    assert init_tracing(service_name="again") is True  # a second call keeps the first setup
    with (
        getpatter.start_span("app.work", {"app.size": 3}) as outer,
        getpatter.start_span("app.inner") as inner,
    ):
        inner.set_attribute("app.count", 2)
    inner_span, outer_span = sorted(_finished(memory), key=lambda s: s.name)
    assert inner_span.parent is not None and inner_span.parent.span_id == outer_span.context.span_id
    assert outer_span.attributes == {"app.size": 3}
    assert outer_span.resource.attributes["service.name"] == "unit"
    assert not outer.is_recording()


@pytest.mark.parametrize(
    "options",
    [
        {"service_name": ""},
        {"otlp_endpoint": "collector:4318"},
        {"otlp_endpoint": "ftp://collector:4318"},
        {"resource_attributes": {"deployment": ["a"]}},
    ],
)
def test_bad_options_are_refused(enabled: None, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        init_tracing(**options)
    assert not is_enabled()


def test_a_missing_extra_names_the_install_command(
    enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(ConfigError, match=r"pip install 'getpatter\[tracing\]'"):
        init_tracing()
    assert not is_enabled()


def test_an_exporter_failure_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            raise ConnectionError("collector down")

    class Refusing(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.FAILURE

    with caplog.at_level(logging.WARNING, logger="getpatter.tracing"):
        for inner in (Broken(), Refusing()):
            guarded = GuardedExporter(inner)
            assert guarded.export([]) is SpanExportResult.FAILURE
            assert guarded.export([]) is SpanExportResult.FAILURE
    assert len(caplog.records) == 2  # once per exporter


async def _export_a_call(collector: FakeOTLPCollector) -> list[Any]:
    stream = CallEventStream()
    assert trace_calls(stream) is not None
    for event in _call_events():
        stream.publish(event)
    await stream.drain()
    # The exporter posts synchronously (requests), so flush off the loop serving the collector.
    await asyncio.to_thread(shutdown_tracing)
    return collector.spans


async def test_the_otlp_exporter_sends_what_the_collector_decodes(enabled: None) -> None:
    async with FakeOTLPCollector() as collector:
        assert init_tracing(
            service_name="svc-unit",
            otlp_endpoint=collector.endpoint,
            resource_attributes={"deployment.environment": "test", "replica": 2},
        )
        spans = await _export_a_call(collector)
    assert collector.requests >= 1
    (root,) = [s for s in spans if s.name == "getpatter.call"]
    assert root.parent_span_id == "" and root.resource["service.name"] == "svc-unit"
    assert root.resource["deployment.environment"] == "test" and root.resource["replica"] == 2
    assert root.attributes["getpatter.call.direction"] == "outbound"
    assert (root.end_ns - root.start_ns) == pytest.approx(4e9, rel=1e-6)
    assert sorted(s.name for s in spans) == sorted(
        ["getpatter.call", "getpatter.endpoint", "getpatter.stt", "getpatter.tts"]
        + ["getpatter.llm"] * 2
        + ["getpatter.tool"] * 2
        + ["getpatter.bargein"]
    )
    for span in spans:
        assert span.trace_id == root.trace_id and span.attributes["getpatter.call.id"] == "CA1"
        assert span.scope == "getpatter" and span.resource == root.resource
        if span is not root:
            assert span.parent_span_id == root.span_id
        assert not any(words in str(span.attributes) for words in SECRET_WORDS)


async def test_the_standard_endpoint_variable_is_honoured(
    enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeOTLPCollector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        assert init_tracing()
        spans = await _export_a_call(collector)
    assert "getpatter.call" in {s.name for s in spans}


async def test_an_unsampled_call_exports_nothing_and_fails_nothing(
    enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")  # the SDK's standard variable
    exporter = InMemorySpanExporter()
    assert init_tracing(exporter=exporter)
    tracer, stream = CallTracer(), CallEventStream()
    tracer.subscribe(stream)
    for event in _call_events():
        stream.publish(event)
    await stream.drain()
    assert tracer.open_calls == 0
    assert _finished(exporter) == []


def test_a_span_that_cannot_be_built_is_skipped_with_one_warning(
    memory: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    tracer = CallTracer()
    tracer.record(CallStarted(call_id="CA1", direction="inbound", at=T0))
    broken = _turn(at=T0 + 1, latency=LatencyBreakdown(stt_ms=100), user="x", agent="y")
    object.__setattr__(broken, "turn", None)  # malformed: no metrics
    with caplog.at_level(logging.WARNING, logger="getpatter.tracing"):
        tracer.record(broken)
        tracer.record(broken)
    tracer.record(_ended("CA1", T0 + 2))
    assert len(caplog.records) == 1
    assert [s.name for s in _finished(memory)] == ["getpatter.call"]


def test_spans_are_exported_in_small_batches_unless_the_environment_says_otherwise() -> None:
    from getpatter.observability.tracing.tracer import _batch_defaults

    assert _batch_defaults({}) == {"max_export_batch_size": 64, "schedule_delay_millis": 1000}
    assert _batch_defaults({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512"}) == {
        "schedule_delay_millis": 1000
    }
    assert (
        _batch_defaults({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8", "OTEL_BSP_SCHEDULE_DELAY": "200"})
        == {}
    )
