"""A call's spans, built from its events (spec TR-4..TR-6).

:class:`CallTracer` subscribes to a server's :class:`~getpatter.calls.stream.CallEventStream`
and turns each call's events into spans with the times the events carry: nothing on a call's
path calls the tracer, and a slow or failing tracer delays only its own subscription.

- ``getpatter.call``: from :class:`CallStarted` to :class:`CallEnded`; every other span of the
  call is its child.
- ``getpatter.endpoint``, ``getpatter.stt``, ``getpatter.llm``, ``getpatter.tts``: from each
  :class:`TurnCompleted`, whose latencies are placed from ``speech_ended_at`` (when the caller
  stopped speaking). ``endpoint`` and ``stt`` start there; the LLM starts when the transcript
  was final, and is one span per iteration, split at the tool calls made in between;
  ``tts`` runs from the first sentence sent to synthesis to the last audio of the reply. A
  stage the turn did not measure (an engine turn has no STT or TTS stage) has no span.
- ``getpatter.tool``: :class:`ToolStarted` to :class:`ToolFinished` (a system tool such as
  ``end_call`` has no finish event: its span ends with the call).
- ``getpatter.bargein``: the :class:`BargeIn`, from the caller's voice to playback cancelled;
  ``cancelled_text_len`` is how many characters the model had generated for the reply that the
  caller did not hear (the agent line's ``generated_chars`` less its heard text, when the
  engine reports it).

Attributes are sizes, counts, timings and ids only (TR-6): no text is ever put on a span.
Only the call span is a live SDK span; the others are built finished when their end is known
(:mod:`~getpatter.observability.tracing.finished_spans`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from getpatter.calls.events import (
    BargeIn,
    CallEnded,
    CallError,
    CallEvent,
    CallStarted,
    ToolFinished,
    ToolStarted,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.observability.tracing.tracer import (
    SPAN_BARGEIN,
    SPAN_CALL,
    SPAN_ENDPOINT,
    SPAN_LLM,
    SPAN_STT,
    SPAN_TOOL,
    SPAN_TTS,
    current_tracer,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from getpatter.calls.stream import CallEventStream
    from getpatter.observability.tracing.finished_spans import FinishedSpans

__all__ = ["TRACED_KINDS", "CallTracer", "trace_calls"]

logger = logging.getLogger("getpatter.tracing")

CALL_ID = "getpatter.call.id"

TRACED_KINDS: tuple[type[CallEvent], ...] = (
    CallStarted,
    CallEnded,
    CallError,
    TranscriptFinal,
    ToolStarted,
    ToolFinished,
    TurnCompleted,
    BargeIn,
)
"""The events the spans are made from."""


@dataclass
class _Tool:
    name: str
    transport: str
    started: float
    ended: float | None = None


@dataclass
class _Call:
    """What one call's spans need between its events."""

    call_id: str
    span: Span
    history_size: int = 0
    """Conversation lines (caller and agent) when the caller's last line was final."""
    stt_confidence: float | None = None
    """The STT's confidence in the caller's last line."""
    tools: list[_Tool] = field(default_factory=list)
    """Tool calls since the last completed turn."""
    bargein: tuple[float, float] | None = None
    """A barge-in waiting for the heard part of the reply (start, end)."""
    turns: int = 0


class CallTracer:
    """Builds each call's spans from its events; see the module docstring."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._failed = False
        self._spans: FinishedSpans | None = None

    @property
    def open_calls(self) -> int:
        """Calls whose span is open (started, not yet ended)."""
        return len(self._calls)

    def subscribe(self, stream: CallEventStream) -> Callable[[], None]:
        """Have ``stream`` deliver the traced kinds to :meth:`record`; return the unsubscribe.

        Span building and export run in the subscription's own task, never on a call's path.
        """
        return stream.subscribe(self.record, kinds=TRACED_KINDS, name="tracing")

    def record(self, event: CallEvent) -> None:
        """Turn ``event`` into spans; a failure is logged and never raised."""
        tracer = current_tracer()
        if tracer is None:  # tracing was shut down: nothing more is exported
            self._calls.clear()
            return
        try:
            self._record(tracer, event)
        except Exception:
            # Said once as a warning (a systematic failure would repeat on every event).
            level = logging.DEBUG if self._failed else logging.WARNING
            self._failed = True
            logger.log(level, "tracing: could not trace %s", type(event).__name__, exc_info=True)

    def _record(self, tracer: Tracer, event: CallEvent) -> None:
        spans = self._spans
        if spans is None or spans.tracer is not tracer:  # first event, or tracing restarted
            from getpatter.observability.tracing.finished_spans import FinishedSpans

            spans = self._spans = FinishedSpans(tracer)
        if isinstance(event, CallStarted):
            self._start_call(tracer, event)
            return
        call = self._calls.get(event.call_id)
        if call is None:  # a call that started before tracing did
            return
        if isinstance(event, TranscriptFinal):
            self._line(spans, call, event)
        elif isinstance(event, ToolStarted):
            call.tools.append(_Tool(event.name, event.transport, event.at))
        elif isinstance(event, ToolFinished):
            for tool in call.tools:
                if tool.ended is None and tool.name == event.name:
                    tool.ended = event.at
                    self._tool_span(spans, call, tool)
                    break
        elif isinstance(event, TurnCompleted):
            self._turn(spans, call, event)
        elif isinstance(event, BargeIn):
            self._flush_bargein(spans, call, None)
            started = event.at - (event.bargein_ms or 0.0) / 1000
            call.bargein = (started, event.at)
        elif isinstance(event, CallError):
            if event.fatal:
                from opentelemetry.trace import Status, StatusCode

                call.span.set_status(Status(StatusCode.ERROR, event.code or event.source))
        elif isinstance(event, CallEnded):
            self._end_call(spans, call, event)

    def _start_call(self, tracer: Tracer, event: CallStarted) -> None:
        if event.call_id in self._calls:
            return
        span = tracer.start_span(
            SPAN_CALL,
            start_time=_ns(event.at),
            attributes={
                CALL_ID: event.call_id,
                "getpatter.call.direction": event.direction,
                "getpatter.call.provider_mode": event.provider_mode,
            },
        )
        self._calls[event.call_id] = _Call(event.call_id, span)

    def _end_call(self, spans: FinishedSpans, call: _Call, event: CallEnded) -> None:
        self._flush_bargein(spans, call, None)
        for tool in call.tools:
            if tool.ended is None:
                tool.ended = event.at
                self._tool_span(spans, call, tool)
        call.span.set_attribute("getpatter.call.turns", call.turns)
        call.span.end(end_time=_ns(event.at))
        del self._calls[event.call_id]

    def _tool_span(self, spans: FinishedSpans, call: _Call, tool: _Tool) -> None:
        attributes = {"getpatter.tool.name": tool.name, "getpatter.tool.transport": tool.transport}
        self._child(spans, call, SPAN_TOOL, tool.started, tool.ended or tool.started, attributes)

    def _line(self, spans: FinishedSpans, call: _Call, event: TranscriptFinal) -> None:
        if event.role == "user":
            self._flush_bargein(spans, call, None)
            call.history_size = len(event.history)
            call.stt_confidence = event.confidence
        elif event.role == "assistant" and call.bargein is not None:
            generated = event.generated_chars
            cancelled = None if generated is None else max(0, generated - len(event.text))
            self._flush_bargein(spans, call, cancelled)

    def _flush_bargein(
        self, spans: FinishedSpans, call: _Call, cancelled_chars: int | None
    ) -> None:
        if call.bargein is None:
            return
        started, ended = call.bargein
        call.bargein = None
        attributes: dict[str, Any] = {}
        if cancelled_chars is not None:
            attributes["getpatter.bargein.cancelled_text_len"] = cancelled_chars
        self._child(spans, call, SPAN_BARGEIN, started, ended, attributes)

    def _turn(self, spans: FinishedSpans, call: _Call, event: TurnCompleted) -> None:
        call.turns += 1
        tools, call.tools = call.tools, [tool for tool in call.tools if tool.ended is None]
        t0 = event.speech_ended_at
        latency = event.turn.latency
        if t0 is None:
            return
        if latency.endpoint_ms is not None:
            self._stage(
                spans,
                call,
                SPAN_ENDPOINT,
                t0,
                latency.endpoint_ms,
                {"getpatter.endpoint.silence_ms": latency.endpoint_ms},
            )
        stt_ms = latency.stt_ms
        if stt_ms is not None:
            stt_attributes: dict[str, Any] = {"getpatter.stt.text_len": len(event.turn.user_text)}
            if call.stt_confidence is not None:
                stt_attributes["getpatter.stt.confidence"] = call.stt_confidence
            self._stage(
                spans,
                call,
                SPAN_STT,
                t0,
                stt_ms,
                stt_attributes,
            )
        llm_ms = latency.llm_total_ms if latency.llm_total_ms is not None else latency.llm_ttft_ms
        if llm_ms is not None:
            start = t0 + (stt_ms or 0.0) / 1000
            self._llm_iterations(spans, call, start, llm_ms, latency.llm_ttft_ms, tools)
        tts_ms, tts_total_ms, total_ms = latency.tts_ms, latency.tts_total_ms, latency.total_ms
        if tts_ms is not None and tts_total_ms is not None and total_ms is not None:
            # total_ms ends at the first audio sent; the TTS stage began tts_ms before it.
            self._stage(
                spans,
                call,
                SPAN_TTS,
                t0 + (total_ms - tts_ms) / 1000,
                tts_total_ms,
                {"getpatter.tts.text_len": event.turn.tts_characters},
            )

    def _llm_iterations(
        self,
        spans: FinishedSpans,
        call: _Call,
        start: float,
        total_ms: float,
        ttft_ms: float | None,
        tools: list[_Tool],
    ) -> None:
        """One span per LLM iteration: the turn's LLM time, split at its rounds of tools."""
        end = start + total_ms / 1000
        rounds: list[tuple[float, float, int]] = []  # tool rounds: start, end, tools in it
        for tool in sorted(tools, key=lambda t: t.started):
            if tool.started < start or tool.started > end:
                continue
            finished = tool.ended if tool.ended is not None else tool.started
            if rounds and tool.started <= rounds[-1][1]:
                first, last, count = rounds[-1]
                rounds[-1] = (first, max(last, finished), count + 1)
            else:
                rounds.append((tool.started, finished, 1))
        first_token = start + ttft_ms / 1000 if ttft_ms is not None else None
        history = call.history_size
        begin = start
        for index, (stop, resume, count) in enumerate([*rounds, (end, end, 0)], start=1):
            finish = max(begin, stop)
            attributes: dict[str, Any] = {
                "getpatter.llm.iteration": index,
                "getpatter.llm.history_size": history,
            }
            if first_token is not None and ttft_ms is not None and first_token <= finish:
                attributes["getpatter.llm.ttft_ms"] = ttft_ms  # the turn's first token came here
                first_token = None
            self._child(spans, call, SPAN_LLM, begin, finish, attributes)
            history += 1 + count  # the assistant's tool calls, and one result per call
            begin = max(finish, resume)

    def _stage(
        self,
        spans: FinishedSpans,
        call: _Call,
        name: str,
        start: float,
        duration_ms: float,
        attributes: dict[str, Any],
    ) -> None:
        self._child(spans, call, name, start, start + max(0.0, duration_ms) / 1000, attributes)

    def _child(
        self,
        spans: FinishedSpans,
        call: _Call,
        name: str,
        start: float,
        end: float,
        attributes: dict[str, Any],
    ) -> None:
        attributes[CALL_ID] = call.call_id
        spans.add(call.span, name, _ns(start), _ns(end), attributes)


def trace_calls(stream: CallEventStream) -> Callable[[], None] | None:
    """Subscribe a :class:`CallTracer` to ``stream`` when tracing is on; return the
    unsubscribe (``None`` when tracing is off: nothing is subscribed)."""
    if current_tracer() is None:
        return None
    return CallTracer().subscribe(stream)


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)
