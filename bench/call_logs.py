"""What call logs cost the event loop: its lag during a run of 100 calls, logging off vs on.

Run ``python bench/call_logs.py [--calls 100] [--seconds 20] [--repeat 1]``. It prints numbers
and asserts nothing. Everything runs on 127.0.0.1. The calls are ``bench/pipeline.py``'s, driven
by its own helpers (``pipeline_load.run_pipeline_load``, brain ``message``: caller speech every
2 s, a final transcript, an instant ``on_message`` reply): each call has a turn every 2 s, so
with logging on Patter writes two transcript rows and a ``turn`` row per call every 2 s, plus
``metadata.json`` three times per call. The Patter process is ``bench/call_logs_server.py``,
the pipeline server with a probe that sleeps 5 ms again and again and records how late it wakes.

Reported per run: the probe's lateness (p50, p99, max) while calls are active (from the first
call's start to the last one's end, ringing and hanging up included), Patter's CPU per
call-second and the turn latency over the measured window (as ``bench/pipeline.py``), and, with
logging on, what was written. Runs alternate off and on; ``--repeat K`` runs each K times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pipeline_load
from pipeline_load import PipelineProcess, PipelineResult, run_pipeline_load
from relay_load import percentile

EVERY_S = 2.0
SPEECH_S = 1.0


class _ProbedProcess(PipelineProcess):
    """The pipeline server process, run as ``call_logs_server.py`` (same arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._args[0] = str(Path(__file__).with_name("call_logs_server.py"))


@dataclass
class Run:
    logging: bool
    result: PipelineResult
    lag_ms: list[float]
    probe_samples: int
    call_folders: int
    ended_folders: int
    log_files: int
    log_bytes: int


def _written(root: Path) -> tuple[int, int, int, int]:
    folders = [p for p in root.glob("calls/*/*/*/*") if p.is_dir()]
    ended = 0
    for folder in folders:
        meta = json.loads((folder / "metadata.json").read_text())
        ended += meta["ended_at"] is not None
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(folders), ended, len(files), sum(p.stat().st_size for p in files)


async def one_run(calls: int, seconds: float, logging: bool) -> Run:
    with tempfile.TemporaryDirectory(prefix="call-logs-bench-") as tmp:
        lag_file, root = Path(tmp) / "lag.json", Path(tmp) / "logs"
        os.environ["CALL_LOGS_LAG_FILE"] = str(lag_file)
        if logging:
            os.environ["PATTER_LOG_DIR"] = str(root)
        else:
            os.environ.pop("PATTER_LOG_DIR", None)
        try:
            result = await run_pipeline_load(calls, seconds, "message", EVERY_S, SPEECH_S, "none")
        finally:
            os.environ.pop("PATTER_LOG_DIR", None)
        probe = json.loads(lag_file.read_text())
        lag = [ms for ms, busy in zip(probe["lag_ms"], probe["in_call"], strict=True) if busy]
        written = _written(root) if logging else (0, 0, 0, 0)
    return Run(logging, result, lag, len(probe["lag_ms"]), *written)


def print_header(calls: int, seconds: float) -> None:
    print(
        f"{calls} pipeline calls, a turn every {EVERY_S:g} s each, {seconds:g} s measured "
        "window; loop lag = how late a 5 ms sleep wakes up in the Patter process, while calls "
        "are active.\n"
    )
    print(
        f"{'logging':>7} | {'lag p50':>7} {'p99':>6} {'max':>6} {'samples':>7} | "
        f"{'CPU':>9} | {'turn p50':>8} {'p99':>6} {'turns':>5} | {'calls':>5} {'ended':>5} "
        f"{'files':>5} {'MB':>5}"
    )
    print(
        f"{'':>7} | {'ms':>7} {'ms':>6} {'ms':>6} {'':>7} | {'ms/call-s':>9} | {'ms':>8} "
        f"{'ms':>6} {'':>5} | {'logged':>5} {'':>5} {'':>5} {'':>5}"
    )


def print_run(run: Run) -> None:
    load = run.result.load
    logged = (
        f"{run.call_folders:>5} {run.ended_folders:>5} {run.log_files:>5} "
        f"{run.log_bytes / 1e6:>5.2f}"
        if run.logging
        else f"{'-':>5} {'-':>5} {'-':>5} {'-':>5}"
    )
    print(
        f"{'on' if run.logging else 'off':>7} | {percentile(run.lag_ms, 50):>7.2f} "
        f"{percentile(run.lag_ms, 99):>6.2f} {max(run.lag_ms, default=0.0):>6.2f} "
        f"{len(run.lag_ms):>7} | {load.cpu_ms_per_call_s:>9.2f} | "
        f"{percentile(load.relay_ms, 50):>8.2f} {percentile(load.relay_ms, 99):>6.2f} "
        f"{len(load.relay_ms):>5} | {logged}"
    )
    log = [line for line in load.server_log if "WARNING" in line or "Error" in line]
    for line in log[:3]:
        print(f"{'':>7}   Patter logged: {line[:140]}")


async def run_all(calls: int, seconds: float, repeat: int) -> None:
    pipeline_load.PipelineProcess = _ProbedProcess  # type: ignore[misc]  # run_pipeline_load's
    print_header(calls, seconds)
    runs: list[Run] = []
    for _ in range(repeat):
        for logging in (False, True):
            run = await one_run(calls, seconds, logging)
            runs.append(run)
            print_run(run)
    for logging in (False, True):
        lags = [ms for run in runs if run.logging == logging for ms in run.lag_ms]
        print(
            f"\nall {'on' if logging else 'off'} runs: lag p50 {percentile(lags, 50):.2f} ms, "
            f"p99 {percentile(lags, 99):.2f} ms, max {max(lags, default=0.0):.2f} ms",
            end="",
        )
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    args = parser.parse_args(argv)
    print(
        f"Patter call log benchmark: Python {platform.python_version()}, {os.cpu_count()} "
        "cores, 127.0.0.1 only"
    )
    asyncio.run(run_all(args.calls, args.seconds, args.repeat))


if __name__ == "__main__":
    main()
