"""Tracing setup (spec TR): the process's tracer provider, its OTLP/HTTP exporter, and spans.

Tracing is off unless both the ``tracing`` extra is installed and ``PATTER_OTEL_ENABLED=1`` is
set when :func:`init_tracing` runs (TR-1, TR-2). Off, every span is a no-op and the
OpenTelemetry packages are not even imported.

On, Patter keeps a tracer provider of its own (the global one, if the application set one, is
left alone) whose batch processor exports on a background thread over OTLP/HTTP protobuf. An
export that fails (collector down, bad endpoint) is logged once as a warning and its spans are
dropped: nothing of it reaches a call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from getpatter.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

__all__ = [
    "ENABLE_ENV",
    "SPAN_BARGEIN",
    "SPAN_CALL",
    "SPAN_ENDPOINT",
    "SPAN_LLM",
    "SPAN_STT",
    "SPAN_TOOL",
    "SPAN_TTS",
    "current_tracer",
    "init_tracing",
    "is_enabled",
    "is_tracing_enabled",
    "shutdown_tracing",
    "start_span",
]

logger = logging.getLogger("getpatter.tracing")

ENABLE_ENV = "PATTER_OTEL_ENABLED"
"""Tracing runs only when this is ``1`` (or ``true``/``yes``) as :func:`init_tracing` runs."""

SPAN_CALL = "getpatter.call"
SPAN_STT = "getpatter.stt"
SPAN_ENDPOINT = "getpatter.endpoint"
SPAN_LLM = "getpatter.llm"
SPAN_TTS = "getpatter.tts"
SPAN_BARGEIN = "getpatter.bargein"
SPAN_TOOL = "getpatter.tool"

_DEFAULT_ENDPOINT = "http://localhost:4318"
_TRACES_PATH = "/v1/traces"
_EXPORT_TIMEOUT_S = 5.0
_EXTRA_HINT = "pip install 'getpatter[tracing]'"
# The OTLP exporter's own logger reports every failed request; Patter says it once instead.
_OTEL_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.http_transport",
)

_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def is_enabled() -> bool:
    """Whether :func:`init_tracing` turned tracing on (and :func:`shutdown_tracing` has not
    turned it off since)."""
    return _tracer is not None


is_tracing_enabled = is_enabled
"""The top-level name of :func:`is_enabled` (``getpatter.is_tracing_enabled``)."""


def current_tracer() -> Tracer | None:
    """The tracer Patter's spans are made with, or ``None`` while tracing is off."""
    return _tracer


def init_tracing(
    service_name: str = "getpatter",
    otlp_endpoint: str = "",
    resource_attributes: Mapping[str, str | int | float | bool] | None = None,
    *,
    exporter: SpanExporter | None = None,
) -> bool:
    """Turn tracing on for this process; return whether it is on (spec TR-2).

    Returns ``False`` and changes nothing unless ``PATTER_OTEL_ENABLED=1``. Spans go over
    OTLP/HTTP (protobuf) to ``otlp_endpoint`` when given, else to what the standard variables
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is) or ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (a base URL) name, else ``http://localhost:4318``. ``otlp_endpoint`` is a base URL like the
    latter: ``/v1/traces`` is added unless it already ends with it. ``exporter`` replaces the
    OTLP exporter (an in-memory one in tests). Call it once at startup, before
    :meth:`Patter.serve <getpatter.Patter.serve>`; a second call while on returns ``True`` and
    keeps the first setup. Raises :class:`~getpatter.ConfigError` when the flag is set but
    the ``tracing`` extra is missing, or ``otlp_endpoint`` is not an http(s) URL.
    """
    global _provider, _tracer
    if not isinstance(service_name, str) or not service_name.strip():
        raise ConfigError("init_tracing(service_name=...) must be a non-empty string")
    if not isinstance(otlp_endpoint, str):
        raise ConfigError("init_tracing(otlp_endpoint=...) must be a URL string")
    attributes = dict(resource_attributes or {})
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise ConfigError(
                "init_tracing(resource_attributes=...) maps strings to str, int, float or bool"
            )
    if not _flag_set():
        return False
    endpoint = _traces_url(otlp_endpoint) if otlp_endpoint else None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from getpatter.observability.tracing.export import GuardedExporter
    except ImportError as exc:
        raise ConfigError(
            f"tracing needs the OpenTelemetry SDK: {_EXTRA_HINT} ({exc.name} is missing)"
        ) from exc
    with _lock:
        if _tracer is not None:
            return True
        if exporter is None:
            exporter = _otlp_exporter(endpoint)
        provider = TracerProvider(
            resource=Resource.create({**attributes, "service.name": service_name})
        )
        batch = _batch_defaults(os.environ)
        provider.add_span_processor(
            BatchSpanProcessor(
                GuardedExporter(exporter),
                max_export_batch_size=batch.get("max_export_batch_size"),
                schedule_delay_millis=batch.get("schedule_delay_millis"),
            )
        )
        _provider = provider
        _tracer = provider.get_tracer("getpatter")
    return True


def shutdown_tracing() -> None:
    """Export the spans still queued, then turn tracing off (spans are no-ops again)."""
    global _provider, _tracer
    with _lock:
        provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        try:
            provider.shutdown()  # flushes the batch processor, then closes the exporter
        except Exception as exc:  # a tracing failure never reaches the application
            logger.warning("tracing: shutdown failed: %s", exc)


@contextlib.contextmanager
def start_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A span named ``name`` around a block, as a child of the current span; yields it.

    With tracing off this yields a no-op span (``set_attribute`` and friends do nothing).
    Attributes follow TR-6: sizes, counts, timings and ids, never text a caller said or an
    LLM wrote.
    """
    tracer = _tracer
    if tracer is None:
        yield _NOOP_SPAN
        return
    with tracer.start_as_current_span(name, attributes=dict(attributes or {})) as span:
        yield span


class _NoopSpan:
    """What :func:`start_span` yields with tracing off."""

    def set_attribute(self, key: str, value: Any) -> None:
        """Ignored."""

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Ignored."""

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Ignored."""

    def record_exception(self, exception: BaseException) -> None:
        """Ignored."""

    def is_recording(self) -> bool:
        """Always ``False``."""
        return False


_NOOP_SPAN = _NoopSpan()


def _flag_set() -> bool:
    return os.environ.get(ENABLE_ENV, "").strip().lower() in ("1", "true", "yes")


def _traces_url(base: str) -> str:
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"init_tracing(otlp_endpoint=...) must be an http(s) URL such as "
            f"{_DEFAULT_ENDPOINT}, got {base!r}"
        )
    url = base.strip().rstrip("/")
    return url if url.endswith(_TRACES_PATH) else url + _TRACES_PATH


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            f"tracing needs the OTLP/HTTP exporter: {_EXTRA_HINT} ({exc.name} is missing)"
        ) from exc
    if endpoint is None and not (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    ):
        endpoint = _DEFAULT_ENDPOINT + _TRACES_PATH
    once = _FirstOnly()
    for name in _OTEL_EXPORTER_LOGGERS:
        logging.getLogger(name).addFilter(once)
    timeout = None if os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") else _EXPORT_TIMEOUT_S
    return OTLPSpanExporter(endpoint=endpoint, timeout=timeout)


class _FirstOnly(logging.Filter):
    """Lets the exporter's first warning or error through, and none after it."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        seen, self._seen = self._seen, True
        return not seen


_BATCH_DEFAULTS = {
    # The SDK's 512-span batches are encoded on its thread while holding the GIL for long
    # enough to delay calls' audio (bench/pipeline.py message+tracing: reply p99 20-30 ms);
    # 64-span batches every second keep each hold short. The OTEL_BSP_* variables still win.
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("max_export_batch_size", 64),
    "OTEL_BSP_SCHEDULE_DELAY": ("schedule_delay_millis", 1000),
}


def _batch_defaults(environ: Mapping[str, str]) -> dict[str, int]:
    """The batch processor's options Patter sets, less those the environment sets itself
    (an option left out is ``None`` to the SDK, which then reads its variable)."""
    return {
        name: value
        for variable, (name, value) in _BATCH_DEFAULTS.items()
        if not environ.get(variable)
    }
