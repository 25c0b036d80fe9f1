"""Does a Patter process keep what its finished calls used? Rounds of relayed calls, for longer
than the server keeps a finished call, with the server's RSS and live objects after each round.

Run ``python bench/soak.py [--calls 100] [--seconds 20] [--retention S] [--rounds N]``. One
Patter process (``bench/soak_server.py``, so that its RSS is its own) takes every round; this
process plays the Twilio callers and a lean fake OpenAI Realtime server (``bench/relay_peers.py``),
exactly as part 2 of ``bench/relay.py``: a round rings N calls, sends each a caller frame every
20 ms while the fake answers each call with a 2 s response every 3 s, measures ``--seconds``
after a 2 s warm-up, lets the last responses play out, hangs every call up, and waits until the
server's ``/health`` shows no call in progress. The server then reports (without a forced
collection) its RSS, the objects the garbage collector tracks, those of a few watched types
(``CallSession``, engines, ``OutboundAudio``, sockets, tasks...) and the sizes of its call
registry's tables.

Printed per round: calls finished so far, RSS and its change since the warm-up (after round
``--warmup``), live objects, outbound agent frames more than 20 ms late, the relay latency (fake
writes a response's first delta -> caller receives its first frame) and Patter's CPU. By default
the run lasts until 1.25 x the server's retention of finished calls (600 s; ``--retention``
shortens it for a quick run) has passed, and at least 8 rounds. At the end the server runs a
full ``gc.collect()`` and reports again, which tells garbage waiting for the cyclic collector
from objects still referenced. ``--tracemalloc F`` also lists, after each round, the source lines
whose memory grew most since the first round (slower: use it to find a leak, not to time).
Numbers only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from relay_load import (
    GENERATOR_LATE_MS,
    MODEL,
    RESPONSE_EVERY_S,
    RESPONSE_S,
    WARMUP_S,
    free_port,
    pace,
    percentile,
    place_call,
    process_cpu_s,
)
from relay_peers import CallerStats, FakeRealtime, TwilioCaller

#: How long the registry keeps a finished call (``getpatter.server.registry``), by default.
DEFAULT_RETENTION_S = 600.0
TARGET_RSS_PCT = 5.0
TARGET_LATE_PCT = 1.0
# A round is calm when Patter waited less than this per second for a core (others had it).
CALM_WAIT_MS = 60.0
_RING_AT_ONCE = 16


def runqueue_wait_s(pid: int) -> float:
    """How long the threads of ``pid`` have been ready to run but waited for a core (s)."""
    return (
        sum(
            int(task.joinpath("schedstat").read_text().split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
        / 1e9
    )


class SoakServer:
    """``bench/soak_server.py`` in a child process, answering ``stats`` on its stdin."""

    def __init__(
        self, port: int, realtime_url: str, workdir: Path, retention: float, frames: int
    ) -> None:
        self.port = port
        self._args = [str(Path(__file__).with_name("soak_server.py")), str(port), realtime_url]
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if retention != DEFAULT_RETENTION_S:
            self._env["SOAK_RETENTION"] = repr(retention)
        if frames:
            self._env["SOAK_TRACEMALLOC"] = str(frames)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            self._env.pop(name, None)
        self.log_path = workdir / "patter-stderr.txt"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *self._args,
                MODEL,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self._env,
            )
        async with asyncio.timeout(60):
            await self._line(b"READY")

    async def stats(self, *, collect: bool = False) -> dict[str, Any]:
        """The server's memory report (after a full collection with ``collect``)."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"collect\n" if collect else b"stats\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(120):
            line = await self._line(b"STATS ")
        return dict(json.loads(line[len(b"STATS ") :]))

    async def _line(self, prefix: bytes) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the Patter process exited:\n{self.errors()}")
            if line.startswith(prefix):
                return line.strip()

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await self.proc.communicate()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def errors(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Round:
    """What one round of calls measured, and what the server held after it."""

    number: int
    elapsed_s: float
    calls_done: int
    failed: int
    frames: int
    late_frames: int
    lateness_p99_ms: float
    relay_ms: list[float]
    send_late_ms: list[float]
    cpu_ms_per_call_s: float
    patter_wait_ms_per_s: float
    bench_wait_ms_per_s: float
    server: dict[str, Any]

    @property
    def late_pct(self) -> float:
        return 100 * self.late_frames / max(1, self.frames)

    @property
    def calm(self) -> bool:
        """Neither Patter nor the load generator was short of CPU (other processes had it)."""
        return (
            self.patter_wait_ms_per_s < CALM_WAIT_MS
            and percentile(self.send_late_ms, 99) < GENERATOR_LATE_MS
        )

    @property
    def rss_mb(self) -> float:
        return float(self.server["rss_kb"]) / 1024


class Soak:
    """One soak run: the fake, the server, and the rounds played so far."""

    def __init__(self, calls: int, seconds: float, workdir: Path, args: argparse.Namespace) -> None:
        self.calls = calls
        self.seconds = seconds
        self.fake = FakeRealtime(every=RESPONSE_EVERY_S, seconds=RESPONSE_S)
        self._workdir = workdir
        self._args = args
        self.server: SoakServer | None = None
        self.placed = 0
        self.started = 0.0

    async def start(self) -> dict[str, Any]:
        await self.fake.start()
        self.server = SoakServer(
            free_port(),
            self.fake.base_url,
            self._workdir,
            self._args.retention,
            self._args.tracemalloc,
        )
        await self.server.start()
        self.started = time.monotonic()
        return await self.server.stats()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.stop()
        await self.fake.close()

    async def round(self, number: int) -> Round:
        """Ring ``calls`` calls, play them, hang up, wait until the server has ended them all."""
        assert self.server is not None
        stats = CallerStats()
        self.fake.first_delta_sent.clear()
        sessions_before = self.fake.sessions
        callers = await self._ring(stats)
        async with asyncio.timeout(60):
            await self.fake.wait_sessions(sessions_before + len(callers))
        t0, t1, cpu_s, waits = await self._play([caller for caller, _ in callers], stats)
        for caller, stop in callers:
            caller.hang_up(stop)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await asyncio.gather(*(caller.closed for caller, _ in callers))
        for caller, _ in callers:
            caller.abort()
        await self._wait_no_calls()
        server = await self.server.stats()
        keys = [key for key, sent in self.fake.first_delta_sent.items() if t0 <= sent <= t1]
        relay = [
            (stats.first_arrival[key] - self.fake.first_delta_sent[key]) * 1000
            for key in keys
            if key in stats.first_arrival
        ]
        lateness = [late for key in keys for late in stats.lateness.get(key, [])]
        return Round(
            number=number,
            elapsed_s=time.monotonic() - self.started,
            calls_done=self.placed,
            failed=self.calls - len(callers),
            frames=len(lateness),
            late_frames=sum(1 for late in lateness if late > 0.020),
            lateness_p99_ms=percentile(lateness, 99) * 1000,
            relay_ms=relay,
            send_late_ms=[late * 1000 for late in stats.send_lateness],
            cpu_ms_per_call_s=cpu_s * 1000 / (max(1, len(callers)) * (t1 - t0)),
            patter_wait_ms_per_s=waits[0] * 1000 / (t1 - t0),
            bench_wait_ms_per_s=waits[1] * 1000 / (t1 - t0),
            server=server,
        )

    async def _ring(self, stats: CallerStats) -> list[tuple[TwilioCaller, dict[str, Any]]]:
        """Place this round's calls, 16 at a time, with CallSids never used before."""
        assert self.server is not None
        port, first = self.server.port, self.placed + 1
        self.placed += self.calls
        gate = asyncio.Semaphore(_RING_AT_ONCE)

        async def one(client: httpx.AsyncClient, index: int) -> tuple[TwilioCaller, dict[str, Any]]:
            async with gate:
                return await place_call(client, port, index, stats)

        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            placed = await asyncio.gather(
                *(one(client, first + i) for i in range(self.calls)), return_exceptions=True
            )
        return [result for result in placed if not isinstance(result, BaseException)]

    async def _play(
        self, callers: list[TwilioCaller], stats: CallerStats
    ) -> tuple[float, float, float, tuple[float, float]]:
        """Play the calls; the measured window's start and end, Patter's CPU in it, and how long
        Patter and this process waited for a core in it (seconds)."""
        assert self.server is not None
        pids = (self.server.pid, os.getpid())
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        window_start = start + WARMUP_S
        window_end = window_start + self.seconds
        pacer = asyncio.create_task(pace(callers, start, window_end + RESPONSE_S + 0.5))
        await asyncio.sleep(window_start - loop.time())
        cpu0, t0 = sum(process_cpu_s(self.server.pid)), time.monotonic()
        wait0 = [runqueue_wait_s(pid) for pid in pids]
        stats.recording = True
        await asyncio.sleep(window_end - loop.time())
        cpu1, t1 = sum(process_cpu_s(self.server.pid)), time.monotonic()
        wait1 = [runqueue_wait_s(pid) for pid in pids]
        stats.recording = False
        await pacer
        return t0, t1, cpu1 - cpu0, (wait1[0] - wait0[0], wait1[1] - wait0[1])

    async def _wait_no_calls(self) -> None:
        assert self.server is not None
        url = f"http://127.0.0.1:{self.server.port}/health"
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            async with asyncio.timeout(60):
                while True:
                    if not (await client.get(url)).json()["active_calls"]:
                        return
                    await asyncio.sleep(0.2)


def print_header(args: argparse.Namespace, idle: dict[str, Any]) -> None:
    print(
        f"Patter soak benchmark: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"127.0.0.1 only; {MODEL}, {args.calls} calls a round, {args.seconds:g} s measured "
        f"per round;\nfinished calls kept {args.retention:g} s; a {RESPONSE_S:g} s response every "
        f"{RESPONSE_EVERY_S:g} s per call\n"
    )
    print(f"idle server: {_memory(idle)}\n")
    print(
        f"{'round':>5} {'time':>5} {'calls':>6} | {'RSS':>6} {'vs warm':>7} {'peak':>6} "
        f"{'blocks':>6} | "
        f"{'gc objs':>8} "
        f"{'sess':>5} {'eng':>5} {'outb':>5} {'tasks':>5} {'pend':>4} {'kept':>5} | "
        f"{'late':>5} {'p99':>5} | {'relay':>5} {'p99':>5} | {'CPU':>4} {'wait':>4} {'send':>5} "
        f"{'wait':>4} {'fail':>4} | "
        f"{'full GC':>7} {'max':>5} {'cpu':>5}"
    )
    print(
        f"{'':>5} {'s':>5} {'done':>6} | {'MB':>6} {'%':>7} {'MB':>6} {'k':>6} | {'':>8} "
        f"{'':>5} {'':>5} {'':>5} {'':>5} {'':>4} {'':>5} | "
        f"{'%':>5} {'ms':>5} | {'p50ms':>5} {'ms':>5} | {'ms/s':>4} {'ms/s':>4} {'p99':>5} "
        f"{'ms/s':>4} {'':>4} | "
        f"{'passes':>7} {'ms':>5} {'ms':>5}"
    )


def print_round(r: Round, warm_rss: float | None) -> None:
    types = r.server["types"]
    full = r.server["full_collections"]
    kept = max((size for size in r.server["registry"].values()), default=0)
    change = "" if warm_rss is None else f"{100 * (r.rss_mb - warm_rss) / warm_rss:+7.1f}"
    print(
        f"{r.number:>5} {r.elapsed_s:>5.0f} {r.calls_done:>6} | {r.rss_mb:>6.1f} {change:>7} "
        f"{r.server['peak_rss_kb'] / 1024:>6.1f} {r.server['blocks'] / 1000:>6.0f} | "
        f"{r.server['gc_objects']:>8} {types['CallSession']:>5} {types['RealtimeEngine']:>5} "
        f"{types['OutboundAudio']:>5} {types['Task']:>5} {r.server['pending_tasks']:>4} "
        f"{kept:>5} | {r.late_pct:>5.2f} {r.lateness_p99_ms:>5.1f} | "
        f"{percentile(r.relay_ms, 50):>5.2f} {percentile(r.relay_ms, 99):>5.2f} | "
        f"{r.cpu_ms_per_call_s:>4.1f} {r.patter_wait_ms_per_s:>4.0f} "
        f"{percentile(r.send_late_ms, 99):>5.1f} {r.bench_wait_ms_per_s:>4.0f} {r.failed:>4} | "
        f"{len(full['wall_ms']):>7} {max(full['wall_ms'], default=0):>5.0f} "
        f"{max(full['cpu_ms'], default=0):>5.0f}",
        flush=True,
    )
    for line in r.server.get("growth", []):
        print(f"        {line}")


def _memory(stats: dict[str, Any]) -> str:
    types = ", ".join(f"{name} {count}" for name, count in stats["types"].items() if count)
    registry = ", ".join(f"{name} {size}" for name, size in stats["registry"].items())
    return (
        f"RSS {stats['rss_kb'] / 1024:.1f} MB, {stats['blocks']} allocated blocks, "
        f"{stats['gc_objects']} gc objects ({types}) and {stats.get('frozen', 0)} frozen; "
        f"{stats['pending_tasks']} pending tasks; "
        f"registry: {registry or '-'}; collections per generation {stats['gc_collections']}"
    )


def print_summary(rounds: list[Round], warmup: int, final: dict[str, Any]) -> None:
    after = [r for r in rounds if r.number > warmup]
    warm = next((r for r in rounds if r.number == warmup), None)
    print(f"\nafter a full gc.collect() ({final['collected']} objects freed): {_memory(final)}")
    if warm is None or not after:
        return
    top = max(r.rss_mb for r in after)
    growth = 100 * (top - warm.rss_mb) / warm.rss_mb
    last = rounds[-1]
    per_call = (last.rss_mb - warm.rss_mb) * 1024 / max(1, last.calls_done - warm.calls_done)
    worst = max(rounds, key=lambda r: r.late_pct)
    print(
        f"RSS after round {warmup} (warm-up) {warm.rss_mb:.1f} MB, highest after it "
        f"{top:.1f} MB ({growth:+.1f}%; target within {TARGET_RSS_PCT:g}%: "
        f"{'ok' if growth <= TARGET_RSS_PCT else 'OVER'}), last {last.rss_mb:.1f} MB "
        f"({per_call:+.1f} KB per call since the warm-up)"
    )
    print(
        f"late frames: worst round {worst.number} at {worst.late_pct:.2f}% (target < "
        f"{TARGET_LATE_PCT:g}% in every round: "
        f"{'ok' if worst.late_pct < TARGET_LATE_PCT else 'OVER'}); "
        f"{sum(r.failed for r in rounds)} calls failed to connect"
    )
    calm = [r for r in rounds if r.calm]
    if calm:
        worst_calm = max(calm, key=lambda r: r.late_pct)
        print(
            f"  in the {len(calm)} calm rounds (Patter waited < {CALM_WAIT_MS:g} ms/s for a core, "
            f"caller frames sent on time, p99 < {GENERATOR_LATE_MS:g} ms): worst round "
            f"{worst_calm.number} at {worst_calm.late_pct:.2f}%"
        )
    legend = [
        "",
        "time: since the server started. calls done: calls rung so far (all ended by then).",
        "RSS: the server's, after the round's calls ended; vs warm: change since the warm-up round;",
        "  peak: the highest RSS so far (a starved round queues audio, and freed memory is not",
        "  always returned to the system); blocks: memory blocks Python has allocated and not freed.",
        "gc objs: objects the garbage collector tracks and walks (no collection forced; those",
        "  frozen at startup are left out), of which sess",
        "  CallSession, eng RealtimeEngine, outb OutboundAudio, tasks asyncio.Task objects (done",
        "  or not); pend: pending tasks; kept: the largest table of the server's call registry.",
        "late: agent frames arriving > 20 ms after (first frame of their response + n x 20 ms);",
        "  p99 = that lateness. relay: fake writes a response's first delta -> caller receives",
        "  its first frame. CPU: Patter's ms per call-second in the window; wait: ms per second",
        "  Patter's threads were ready to run but waited for a core (other processes had them).",
        "  send p99: how late this process (load generator + fake Realtime) sent caller frames,",
        "  and its own wait for a core: when high, the figures measure the machine, not Patter.",
        "full GC: the collector's full passes",
        "  in the round; the longest, in wall and CPU time (the process is stopped meanwhile).",
    ]
    print("\n".join(legend))


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="soak-bench-") as tmp:
        soak = Soak(args.calls, args.seconds, Path(tmp), args)
        rounds: list[Round] = []
        try:
            print_header(args, await soak.start())
            until = 1.25 * args.retention
            number = 0
            warm_rss: float | None = None
            while True:
                number += 1
                result = await soak.round(number)
                rounds.append(result)
                if number == args.warmup:
                    warm_rss = result.rss_mb
                print_round(result, warm_rss)
                if args.rounds:
                    if number >= args.rounds:
                        break
                elif number >= 8 and result.elapsed_s >= until:
                    break
            assert soak.server is not None
            final = await soak.server.stats(collect=True)
        finally:
            await soak.close()
            log = (
                [line for line in soak.server.errors().splitlines() if line.strip()]
                if soak.server
                else []
            )
        print_summary(rounds, args.warmup, final)
        print(f"Patter stderr: {len(log)} lines")
        for line in log[:5]:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls per round")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per round")
    parser.add_argument(
        "--retention",
        type=float,
        default=DEFAULT_RETENTION_S,
        help="how long the server keeps finished calls (the run lasts 1.25 x this)",
    )
    parser.add_argument("--rounds", type=int, default=0, help="rounds to run (0: by retention)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds before RSS is compared")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES", help="trace allocations"
    )
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
