"""The exporter wrapper that keeps export failures away from calls (imports OpenTelemetry)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["GuardedExporter"]

logger = logging.getLogger("getpatter.tracing")


class GuardedExporter(SpanExporter):
    """Delegates to ``inner``; a failure (an exception or a refused batch) is warned about
    once, and its spans are dropped. It runs on the batch processor's thread, never a call's."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export ``spans`` through the wrapped exporter; never raises."""
        try:
            result = self._inner.export(spans)
        except Exception as exc:
            self._warn(f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._warn("the collector did not accept them")
        return result

    def shutdown(self) -> None:
        """Shut the wrapped exporter down; never raises."""
        try:
            self._inner.shutdown()
        except Exception as exc:
            logger.debug("tracing: exporter shutdown failed: %s", exc)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter; ``False`` if it failed."""
        try:
            return bool(self._inner.force_flush(timeout_millis))
        except Exception:
            return False

    def _warn(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "tracing: spans could not be exported (%s); they are dropped and calls go on "
                "(this is said once)",
                why,
            )
