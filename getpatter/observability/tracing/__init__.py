"""Tracing (spec TR): OpenTelemetry spans of every call, exported over OTLP/HTTP.

Opt-in: ``pip install 'getpatter[tracing]'``, set ``PATTER_OTEL_ENABLED=1`` and call
:func:`init_tracing` before :meth:`Patter.serve <getpatter.Patter.serve>`; the server then
subscribes a :class:`~getpatter.observability.tracing.call_spans.CallTracer` to its call
events. Importing this package imports no OpenTelemetry module.
"""

from getpatter.observability.tracing.tracer import (
    SPAN_BARGEIN,
    SPAN_CALL,
    SPAN_ENDPOINT,
    SPAN_LLM,
    SPAN_STT,
    SPAN_TOOL,
    SPAN_TTS,
    init_tracing,
    is_enabled,
    shutdown_tracing,
    start_span,
)

__all__ = [
    "SPAN_BARGEIN",
    "SPAN_CALL",
    "SPAN_ENDPOINT",
    "SPAN_LLM",
    "SPAN_STT",
    "SPAN_TOOL",
    "SPAN_TTS",
    "init_tracing",
    "is_enabled",
    "shutdown_tracing",
    "start_span",
]
