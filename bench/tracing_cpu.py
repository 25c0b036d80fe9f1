"""Tracing's own CPU inside a served Patter process, for the whole-call benchmarks.

A whole call's CPU moves by more than tracing costs from one run to the next (a shared
2-core machine), so ``bench/pipeline.py`` and ``bench/relay.py`` also read what tracing itself
spends inside the Patter process during the measured window:

- the call tracer's handler (``CallTracer.record``: span building, on the event loop's thread),
  timed with the thread's CPU clock around each call;
- the batch span processor's thread (encoding and posting OTLP/HTTP), read from its CPU clock.

What neither includes: the call event stream's delivery to the tracer's subscription (queueing
and waking its task), measured by ``bench/call_events.py`` (``+ tracing`` with a null exporter
costs ~30 µs per call-second in all).

The Patter process calls :func:`start_tracing` (``init_tracing()`` exporting to the collector
at ``$BENCH_OTLP_URL``, which the benchmark starts in a process of its own); on :data:`SIGNAL`
it writes ``SEQUENCE TRACER_S EXPORTER_S`` to ``$BENCH_TRACING_CPU_FILE``. The benchmark reads
it with :func:`read` at the start and end of its window, and prints :func:`summary`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from getpatter.calls.events import CallEvent
from getpatter.observability.tracing import init_tracing
from getpatter.observability.tracing.call_spans import CallTracer

SIGNAL = signal.SIGRTMIN
"""Asks the Patter process for its figures (SIGUSR1/2 drive the relay bench's cProfile)."""
FILE_VARIABLE = "BENCH_TRACING_CPU_FILE"
OTLP_URL_VARIABLE = "BENCH_OTLP_URL"
"""Where a traced Patter process exports its spans (the benchmark starts a collector)."""
TARGET_PCT = 5.0
"""Issue 15: tracing adds under 5% CPU per call-second at 100 calls."""
_EXPORTER_THREAD = "OtelBatchSpanRecordProcessor"


def start_tracing(service_name: str) -> None:
    """In the Patter process, before ``serve()``: tracing on, and its CPU read on request."""
    os.environ["PATTER_OTEL_ENABLED"] = "1"
    assert init_tracing(service_name=service_name, otlp_endpoint=os.environ[OTLP_URL_VARIABLE])
    if os.environ.get(FILE_VARIABLE):
        _install(Path(os.environ[FILE_VARIABLE]))


def _install(path: Path) -> None:
    """Time the call tracer, and answer :data:`SIGNAL` with the figures in ``path``."""
    spent = [0.0]
    sequence = [0]
    record = CallTracer.record

    def timed(self: CallTracer, event: CallEvent) -> None:
        began = time.thread_time()
        try:
            record(self, event)
        finally:
            spent[0] += time.thread_time() - began

    CallTracer.record = timed  # type: ignore[method-assign]

    def answer() -> None:
        exporter = sum(
            time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            for thread in threading.enumerate()
            if thread.name == _EXPORTER_THREAD and thread.ident is not None
        )
        sequence[0] += 1
        partial = path.with_suffix(".tmp")
        partial.write_text(f"{sequence[0]} {spent[0]!r} {exporter!r}\n")
        partial.replace(path)

    asyncio.get_running_loop().add_signal_handler(SIGNAL, answer)


async def read(pid: int, path: Path) -> tuple[float, float]:
    """In the benchmark: the Patter process's tracer and exporter CPU so far, in seconds."""
    before = _figures(path)[0]
    os.kill(pid, SIGNAL)
    async with asyncio.timeout(10):
        while True:
            sequence, tracer_s, exporter_s = _figures(path)
            if sequence != before:
                return tracer_s, exporter_s
            await asyncio.sleep(0.01)


def _figures(path: Path) -> tuple[int, float, float]:
    """The last answer in ``path`` (sequence 0: none yet)."""
    fields = path.read_text().split() if path.exists() else []
    if len(fields) != 3:
        return 0, 0.0, 0.0
    return int(fields[0]), float(fields[1]), float(fields[2])


def summary(
    untraced_ms: Sequence[float],
    traced_ms: Sequence[float],
    tracing_ms: Sequence[tuple[float, float]],
) -> str:
    """Tracing's cost over a comparison's rounds, in CPU ms per call-second of the Patter
    process: its own CPU (``tracing_ms``: the tracer's, the exporter's, per traced round)
    against the untraced median, the figure the target is read on; and the whole calls'
    medians (noisier than the difference they show)."""
    own_ms = [tracer + exporter for tracer, exporter in tracing_ms]
    base, traced, own = (statistics.median(v) for v in (untraced_ms, traced_ms, own_ms))
    tracer = statistics.median(t for t, _ in tracing_ms)
    exporter = statistics.median(e for _, e in tracing_ms)
    share = 100 * own / base
    verdict = "ok" if share < TARGET_PCT else "OVER"
    return (
        f"tracing's own CPU {own * 1000:.0f} us/call-s (median of "
        f"{', '.join(f'{v * 1000:.0f}' for v in own_ms)}) = {share:.1f}% of the untraced "
        f"{base:.2f} ms/call-s: target < {TARGET_PCT:g}% {verdict}\n"
        f"(medians: tracer {tracer * 1000:.0f}, exporter thread {exporter * 1000:.0f} us/call-s)\n"
        f"whole calls: untraced {base:.2f} ms/call-s ({_spread(untraced_ms)}), traced "
        f"{traced:.2f} ({_spread(traced_ms)}): {100 * (traced / base - 1):+.1f}%"
    )


def _spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "1 round"
