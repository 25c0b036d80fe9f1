"""Patter serving relayed calls in a process of its own, for ``bench/soak.py``, reporting its memory.

Run by the benchmark as ``python bench/soak_server.py PORT REALTIME_BASE_URL MODEL``: the same
``Patter`` as ``bench/relay_server.py`` (Twilio carrier on ``127.0.0.1:PORT``, an OpenAI Realtime
engine pointed at the benchmark's fake). It prints ``READY`` once it takes calls and stops
cleanly on SIGTERM or at the end of its input.

Each ``stats`` line on its standard input is answered with one ``STATS {json}`` line on its
standard output: RSS and its peak, Python's allocated blocks, objects tracked by the garbage collector (total
and per watched type: sessions, engines, outbound audio, sockets, tasks...), pending tasks, the
sizes of the call registry's tables, the GC's collection counts and how long each full
collection since the last answer took (wall and CPU time). ``collect`` does the same
after a ``gc.collect()``. Counting walks every object (tens of ms): the benchmark asks between
rounds, when no call is running.

The environment tunes it for the benchmark only: ``SOAK_RETENTION=<s>`` shortens how long the
registry keeps finished calls (``registry.FINISHED_KEPT_SECONDS``), and
``SOAK_TRACEMALLOC=<frames>`` traces allocations, so that each answer also lists the source lines
whose memory grew most since the first answer.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from relay_server import _UNUSED_REST_URL, ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER

import getpatter.server.registry as registry_module
from getpatter import OpenAIRealtime, Patter, Twilio

#: Types counted by name among the objects the garbage collector tracks.
WATCHED = (
    "CallSession",
    "FinishedCall",
    "RealtimeEngine",
    "OutboundAudio",
    "FrameBuffer",
    "TwilioMediaOut",
    "WebSocket",
    "MediaWebSocketProtocol",
    "ClientConnection",
    "CostMeter",
    "Task",
    "coroutine",
    "async_generator",
)
_TOP_GROWTH = 8
_MOST_COMMON = 12


class FullCollections:
    """How long the collector's full (generation 2) passes stop the process, wall and CPU."""

    def __init__(self) -> None:
        self.wall_ms: list[float] = []
        self.cpu_ms: list[float] = []
        self._started = (0.0, 0.0)
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        now = (time.perf_counter(), time.thread_time())
        if phase == "start":
            self._started = now
        else:
            self.wall_ms.append((now[0] - self._started[0]) * 1000)
            self.cpu_ms.append((now[1] - self._started[1]) * 1000)

    def take(self) -> dict[str, list[float]]:
        """The passes since the last call."""
        taken = {"wall_ms": self.wall_ms, "cpu_ms": self.cpu_ms}
        self.wall_ms, self.cpu_ms = [], []
        return taken


class MemoryReport:
    """What the process holds, for the ``stats`` command."""

    def __init__(self, phone: Patter) -> None:
        self._phone = phone
        self._baseline: tracemalloc.Snapshot | None = None
        self._full = FullCollections()

    def stats(self, *, collect: bool) -> dict[str, Any]:
        full_collections = self._full.take()
        collected = gc.collect() if collect else 0
        objects = gc.get_objects()
        counts = Counter(type(obj).__name__ for obj in objects)
        total = len(objects)
        del objects
        report: dict[str, Any] = {
            "rss_kb": _status_kb("VmRSS"),
            "peak_rss_kb": _status_kb("VmHWM"),
            "blocks": sys.getallocatedblocks(),
            "gc_objects": total,
            "frozen": gc.get_freeze_count(),
            "collected": collected,
            "types": {name: counts.get(name, 0) for name in WATCHED},
            "most_common": counts.most_common(_MOST_COMMON),
            "pending_tasks": len(asyncio.all_tasks()),
            "registry": self._registry_sizes(),
            "gc_collections": [generation["collections"] for generation in gc.get_stats()],
            "full_collections": full_collections,
        }
        if tracemalloc.is_tracing():
            report["growth"] = self._growth()
        return report

    def _registry_sizes(self) -> dict[str, int]:
        server = getattr(self._phone, "_server", None)
        registry = getattr(server, "registry", None)
        if registry is None:
            return {}
        return {
            name: len(value)
            for name, value in vars(registry).items()
            if hasattr(value, "__len__") and not isinstance(value, str)
        }

    def _growth(self) -> list[str]:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        if self._baseline is None:
            self._baseline = snapshot
            return []
        diff = snapshot.compare_to(self._baseline, "traceback")
        lines = []
        for stat in diff[:_TOP_GROWTH]:
            frames = " <- ".join(
                f"{Path(frame.filename).name}:{frame.lineno}" for frame in stat.traceback[:4]
            )
            lines.append(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks {frames}")
        return lines


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB: ``VmRSS`` (resident now), ``VmHWM`` (its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def answer_commands(report: MemoryReport, stopped: asyncio.Event) -> None:
    """Answer ``stats`` / ``collect`` lines on stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = line.strip().decode()
        if command in ("stats", "collect"):
            stats = report.stats(collect=command == "collect")
            print("STATS " + json.dumps(stats), flush=True)
    stopped.set()


async def serve(port: int, realtime_url: str, model: str) -> None:
    retention = os.environ.get("SOAK_RETENTION", "")
    if retention:
        registry_module.FINISHED_KEPT_SECONDS = float(retention)
    frames = int(os.environ.get("SOAK_TRACEMALLOC", "0") or 0)
    if frames:
        tracemalloc.start(frames)
    phone = Patter(
        carrier=Twilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=_UNUSED_REST_URL),
        phone_number=PHONE_NUMBER,
        webhook_url=f"127.0.0.1:{port}",
    )
    agent = phone.agent(
        system_prompt="You answer the phone for a benchmark.",
        engine=OpenAIRealtime(api_key="sk-soak-bench", base_url=realtime_url, model=model),
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(phone.disconnect()))
    serving = asyncio.create_task(phone.serve(agent, port=port, host="127.0.0.1"))
    await phone.ready()
    stopped = asyncio.Event()
    commands = asyncio.create_task(answer_commands(MemoryReport(phone), stopped))
    print("READY", flush=True)
    await asyncio.wait({serving, commands}, return_when=asyncio.FIRST_COMPLETED)
    if stopped.is_set():
        await phone.disconnect()
    await serving


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
