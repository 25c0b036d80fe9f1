"""Tracing a sandbox call (spec TR): the spans a pipeline call produces, and a dead collector."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from getpatter import DeepgramSTT, ElevenLabsTTS, OpenAILLM, tool
from getpatter.observability import init_tracing, is_enabled, shutdown_tracing
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario, ToolCall

CALLER_WORDS = "Book me for Friday please."
AGENT_WORDS = "Booked, see you on Friday."


@pytest.fixture
def tracing_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PATTER_OTEL_ENABLED", "1")
    yield
    shutdown_tracing()


def _scenario() -> Scenario:
    return Scenario(
        callee=Callee(steps=(Say(CALLER_WORDS), HangUp(pause_ms=1200))),
        replies=(Reply(AGENT_WORDS, tool_call=ToolCall("book", {"day": "Friday"})),),
    )


def _agent(sandbox: Sandbox) -> object:
    @tool
    def book(day: str) -> str:
        """Book an appointment on ``day``."""
        return f"booked {day}"

    return sandbox.phone.agent(
        "You book appointments.",
        stt=DeepgramSTT(api_key="dg-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        llm=OpenAILLM(api_key="sk-CANARY"),
        tools=[book],
        first_message="Hi.",
    )


async def test_a_pipeline_call_is_traced_as_a_call_span_and_its_stages(tracing_on) -> None:
    exporter = InMemorySpanExporter()
    assert init_tracing(service_name="e2e", exporter=exporter) is True
    async with asyncio.timeout(60), Sandbox(_scenario()) as sandbox:
        await sandbox.serve(_agent(sandbox))
        call = await sandbox.call_in()
        report = await call.ended()
        await sandbox.phone.call_events.drain()
    shutdown_tracing()
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.name == "getpatter.call"]
    assert root.parent is None
    assert root.attributes["getpatter.call.id"] == report["call_id"]
    assert root.attributes["getpatter.call.direction"] == "inbound"
    assert root.attributes["getpatter.call.provider_mode"] == "pipeline"
    names = {s.name for s in spans}
    for name in ("getpatter.stt", "getpatter.endpoint", "getpatter.llm", "getpatter.tts"):
        assert name in names, (name, names)
    (tool_span,) = [s for s in spans if s.name == "getpatter.tool"]
    assert tool_span.attributes["getpatter.tool.name"] == "book"
    assert tool_span.attributes["getpatter.tool.transport"] == "handler"
    # The tool round splits the LLM's work into two iterations, the second after the tool.
    llm = sorted((s for s in spans if s.name == "getpatter.llm"), key=lambda s: s.start_time)
    assert [s.attributes["getpatter.llm.iteration"] for s in llm] == [1, 2]
    assert llm[0].end_time <= tool_span.start_time <= tool_span.end_time <= llm[1].start_time
    (stt,) = [s for s in spans if s.name == "getpatter.stt"]
    assert stt.attributes["getpatter.stt.text_len"] == len(CALLER_WORDS)
    assert 0 < stt.attributes["getpatter.stt.confidence"] <= 1  # Deepgram's, through the event
    for span in spans:
        assert span.context.trace_id == root.context.trace_id
        assert span.attributes["getpatter.call.id"] == report["call_id"]
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time, span.name
        if span is not root:
            assert span.parent is not None and span.parent.span_id == root.context.span_id
        for value in span.attributes.values():  # TR-6: sizes and ids, never words
            if isinstance(value, str):
                for words in (CALLER_WORDS, AGENT_WORDS, "Friday", "booked"):
                    assert words.lower() not in value.lower(), (span.name, value)


async def test_an_unreachable_collector_does_not_touch_the_call(tracing_on, caplog) -> None:
    assert init_tracing(otlp_endpoint="http://127.0.0.1:9") is True  # nothing listens on 9
    assert is_enabled()
    with caplog.at_level(logging.WARNING):
        async with asyncio.timeout(60), Sandbox(_scenario()) as sandbox:
            await sandbox.serve(_agent(sandbox))
            report = await (await sandbox.call_in()).ended()
            await sandbox.phone.call_events.drain()
        shutdown_tracing()  # the export fails here, on the processor's thread
    lines = [(line["role"], line["text"]) for line in report["transcript"]]
    assert ("user", CALLER_WORDS) in lines and ("assistant", AGENT_WORDS) in lines
    assert report["metrics"].turns
    warnings = [r for r in caplog.records if r.name == "getpatter.tracing"]
    assert len(warnings) == 1 and "dropped" in warnings[0].getMessage()
    assert not is_enabled()
