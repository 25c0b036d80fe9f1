"""What pipeline mode costs Patter: turn latency, CPU and memory per call, with instant fakes.

Run ``python bench/pipeline.py [--calls 1,50,100,200] [--seconds 20]``. It prints numbers, with
the targets beside them, and asserts nothing. Everything runs on 127.0.0.1.

``Patter.serve()`` runs a pipeline agent (``DeepgramSTT`` -> brain -> ``ElevenLabsTTS``) in its
own process (``bench/pipeline_server.py``); this process plays N Twilio media streams and lean,
instant fakes of Deepgram, ElevenLabs and OpenAI (``bench/pipeline_peers.py``), so what is
measured is the network and Patter's pipeline, not the fakes. Each call sends a caller frame
every 20 ms: babble the Silero VAD hears for ``--speech`` seconds at the start of every
``--every`` seconds, silence otherwise. 300 ms after the babble ends the fake Deepgram sends the
call a final result (``speech_final``); with ``SileroVAD()`` in the agent it answers Patter's
``Finalize`` instead. The reply (one sentence) is spoken by the fake ElevenLabs as 200 ms of
μ-law in one chunk. Brains, one table section each (``--brains``):

- ``message``: an instant ``on_message`` function (the primary row);
- ``llm``: ``OpenAILLM`` against the fake chat-completions server (the openai SDK included);
- ``message+vad``: the ``message`` agent with ``SileroVAD()`` (VAD cost and shared model).

``--profile py-spy`` (py-spy on PATH) profiles the Patter process during each measured window
and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform

from pipeline_load import ENDPOINT_MS, PipelineResult, run_pipeline_load
from pipeline_server import BRAINS
from relay_load import GENERATOR_BUSY_PCT, GENERATOR_LATE_MS, IDLE_S, WARMUP_S, percentile

TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_AT_CALLS = 100
TARGET_MB_PER_CALL = 2.0
TARGET_VAD_CORE_PCT = 5.0
# Below this many calls, RSS growth / N is mostly the first call's one-time cost (lazy imports,
# connection pools), not a per-call figure.
MEMORY_FROM_CALLS = 50
_BANNER = ("Patter serving ", "  voice webhook: ")


def print_header(seconds: float, every: float, speech: float) -> None:
    print(
        f"Whole calls, {seconds:g} s measured after {WARMUP_S:g} s warm-up; each call: "
        f"{speech:g} s of babble every {every:g} s, final transcript {ENDPOINT_MS} ms after it,"
        f"\n200 ms reply. Targets: turn latency p50 < {TARGET_P50_MS:g} ms and p99 < "
        f"{TARGET_P99_MS:g} ms at {TARGET_AT_CALLS} calls; memory under {TARGET_MB_PER_CALL:g} "
        f"MB per call;\nVAD plus the turn loop under {TARGET_VAD_CORE_PCT:g}% of a core per call."
    )
    print(
        f"\n{'brain':>11} {'calls':>5} | {'turn p50':>8} {'p99':>6} {'n':>5} | "
        f"{'CPU':>9} {'core%':>6} {'total':>5} {'idle':>5} | {'late>20':>7} | "
        f"{'RSS':>5} {'MB/call':>7} {'marg.':>5} | {'bench':>5} {'send':>5} | {'other':>5}"
    )
    print(
        f"{'':>11} {'':>5} | {'ms':>8} {'ms':>6} {'turns':>5} | {'ms/call-s':>9} "
        f"{'/call':>6} {'core%':>5} {'ms/s':>5} | {'% frames':>7} | {'idle':>5} {'':>7} "
        f"{'':>5} | {'core%':>5} {'p99ms':>5} | {'core%':>5}"
    )


def print_row(r: PipelineResult, previous: PipelineResult | None) -> None:
    load = r.load
    p50, p99 = percentile(load.relay_ms, 50), percentile(load.relay_ms, 99)
    marginal = ""
    if previous is not None and previous.brain == r.brain and load.calls > previous.load.calls:
        added = load.calls - previous.load.calls
        marginal = f"{(r.rss_mb - previous.rss_mb) / added:5.2f}"
    flag = ""
    if load.calls == TARGET_AT_CALLS:
        flag = " p50 " + ("ok" if p50 < TARGET_P50_MS else "OVER")
        flag += ", p99 " + ("ok" if p99 < TARGET_P99_MS else "OVER")
    if r.brain.endswith("+vad"):
        core = load.cpu_ms_per_call_s / 10
        flag += " VAD " + ("ok" if core < TARGET_VAD_CORE_PCT else "OVER")
    if load.calls >= MEMORY_FROM_CALLS:
        flag += " mem " + ("ok" if r.mb_per_call < TARGET_MB_PER_CALL else "OVER")
    print(
        f"{r.brain:>11} {load.calls:>5} | {p50:>8.2f} {p99:>6.2f} {len(load.relay_ms):>5} | "
        f"{load.cpu_ms_per_call_s:>9.2f} {load.cpu_ms_per_call_s / 10:>6.2f} "
        f"{100 * load.patter_cpu_s / load.window_s:>5.0f} {load.idle_ms_per_s:>5.1f} | "
        f"{load.late_pct:>7.2f} | {r.rss_idle_mb:>5.0f} {r.mb_per_call:>7.2f} {marginal:>5} | "
        f"{load.bench_busy_pct:>5.0f} {percentile(load.send_late_ms, 99):>5.1f} | "
        f"{r.others_core_pct:>5.0f}{flag}"
    )


def print_checks(results: list[PipelineResult], seconds: float, every: float) -> None:
    print("\nCompleteness (measured window):")
    for r in results:
        load = r.load
        periods = round(load.calls * seconds / every)
        log = [line for line in load.server_log if not line.startswith(_BANNER)]
        print(
            f"  {r.brain} x{load.calls}: {load.failed_calls} failed to connect; turns "
            f"{load.responses} of ~{periods} periods, {r.unanswered_turns} unanswered, "
            f"{r.unmapped_finals} unmapped; frames {load.frames_received}/"
            f"{load.frames_expected}; STT {','.join(sorted(r.stt_formats))}, "
            f"{load.appends} frames, {r.finalizes} Finalize; TTS "
            f"{','.join(sorted(r.tts_formats))} x{r.tts_requests}; LLM x{r.llm_requests}; "
            f"generator {'BEHIND' if load.generator_behind else 'ok'}; "
            f"Patter logged {len(log)} lines"
        )
        for line in log[:2]:
            print(f"      {line[:150]}")


LEGEND = f"""
turn: fake STT writes the final -> caller receives the reply's first frame (same clock).
CPU: utime+stime of the Patter process over the window / (calls x seconds); core%/call = that
  as a share of one core; total = the whole process; idle = it serving no call, measured for
  {IDLE_S:g} s before (included in every figure). late>20: reply frames > 20 ms late.
RSS idle: the Patter process before any call, MB. MB/call = (RSS at N calls - idle) / N, at
  N < {MEMORY_FROM_CALLS} mostly the first call's one-time cost; marg. = RSS added per call since
  the previous row. bench: this process (callers + fakes); send p99: how late its caller
  frames left. The generator is the limit when send p99 > {GENERATOR_LATE_MS:g} ms or bench >
  {GENERATOR_BUSY_PCT:g}% of a core (then N stops rising). other: CPU of all other processes on
  the machine (2 shared cores; coarse, tick-sampled: +-15% at high packet rates)."""


async def run_all(
    brains: list[str], calls: list[int], seconds: float, every: float, speech: float, profile: str
) -> list[PipelineResult]:
    print_header(seconds, every, speech)
    results: list[PipelineResult] = []
    for brain in brains:
        previous: PipelineResult | None = None
        for count in calls:
            result = await run_pipeline_load(count, seconds, brain, every, speech, profile)
            results.append(result)
            print_row(result, previous)
            previous = result
            if result.load.generator_behind:
                print(f"{'':>11} load generator behind at {count} calls: not raising N further")
                break
    print_checks(results, seconds, every)
    print(LEGEND)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", default="1,50,100,200", help="concurrent calls, e.g. 1,50,100")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument("--brains", default=",".join(BRAINS), help=f"some of {BRAINS}")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between turns")
    parser.add_argument("--speech", type=float, default=1.0, help="seconds of caller speech")
    parser.add_argument("--profile", choices=("none", "py-spy"), default="none")
    args = parser.parse_args(argv)
    calls = [int(n) for n in args.calls.split(",") if n.strip()]
    brains = [b.strip() for b in args.brains.split(",") if b.strip()]
    unknown = [b for b in brains if b not in BRAINS]
    if unknown:
        parser.error(f"unknown brains {unknown}: use some of {BRAINS}")
    print(
        f"Patter pipeline benchmark: Python {platform.python_version()}, {os.cpu_count()} "
        f"cores, 127.0.0.1 only"
    )
    results = asyncio.run(
        run_all(brains, calls, args.seconds, args.every, args.speech, args.profile)
    )
    for result in results:
        if result.load.profile:
            print(f"\nProfile of the Patter process, {result.brain} x{result.load.calls}:")
            print(result.load.profile)


if __name__ == "__main__":
    main()
