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
- ``llm``: ``OpenAILLM`` against the fake chat-completions server (its HTTP client included);
  one brain per LLM provider family in ``pipeline_server.LLM_BRAINS`` (a line each: the
  OpenAI-compatible ones get the same stream from the fake under their own API path);
- ``message+vad``: the ``message`` agent with ``SileroVAD()`` (VAD cost and shared model);
- ``message+tracing``: the ``message`` agent with tracing on (spec TR), exporting OTLP/HTTP to
  a collector in a process of its own (``call_events.py``'s). Its CPU less the ``message``
  row's is what tracing costs a whole call (issue 15: under 5% at 100 calls), but rounds
  differ by more than that, so a last table also gives tracing's own CPU inside the Patter
  process (``tracing_cpu.py``) against the ``message`` row's median;
- ``stt-<name>`` / ``tts-<name>`` (``--stt``/``--tts``, ``all`` or a list): the ``message`` agent
  with one package STT or TTS against the getpatter.testing fakes, served by
  ``bench/providers_fakes.py`` in a process of its own; the other provider stays the lean peer
  (``bench/pipeline_providers.py`` says how the turn is timed). A table per family gives each
  row's difference to the fastest package provider of its kind (issue 14: over +1 ms p50 needs a
  written reason). CartesiaSTT is left out: it does not endpoint by itself (it needs a VAD).

With LLM brains and ``message`` both run, a second table gives each provider family's added
turn latency (its p50 and p99 less the ``message`` brain's at the same N) and CPU per
call-second, against targets of +2 ms p50 and +5 ms p99 at 100 calls.

The machine is shared: ``--repeat K`` runs every (N, brain) K times, the brains back to back
within each round, and the LLM table gives the median of the K rounds.

``--profile py-spy`` (py-spy on PATH) profiles the Patter process during each measured window
and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
from collections.abc import Callable, Collection

import tracing_cpu
from call_events import collector_process
from pipeline_load import ENDPOINT_MS, PROVIDER_BRAINS, PipelineResult, run_pipeline_load
from pipeline_providers import STT_BRAINS, TTS_BRAINS
from pipeline_server import BRAINS, LLM_BRAINS
from providers import FakeProcess
from relay_load import GENERATOR_BUSY_PCT, GENERATOR_LATE_MS, IDLE_S, WARMUP_S, percentile

TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_AT_CALLS = 100
TARGET_MB_PER_CALL = 2.0
TARGET_VAD_CORE_PCT = 5.0
TARGET_LLM_ADDED_P50_MS = 2.0
TARGET_LLM_ADDED_P99_MS = 5.0
TARGET_PROVIDER_OVER_FASTEST_P50_MS = 1.0
# Below this many calls, RSS growth / N is mostly the first call's one-time cost (lazy imports,
# connection pools), not a per-call figure.
MEMORY_FROM_CALLS = 50
_BANNER = ("Patter serving ", "  voice webhook: ")
DEFAULT = ("message", *LLM_BRAINS, "message+vad")
"""The brains run when neither ``--brains`` nor ``--stt``/``--tts`` is given."""


def _short(family: dict[str, str]) -> list[str]:
    return [brain.split("-", 1)[1] for brain in family]


def _families(kind: str, names: str, family: dict[str, str]) -> list[str]:
    """``--stt``/``--tts``: the provider brains named (``all``: every one)."""
    wanted = _short(family) if names.strip() == "all" else names.split(",")
    return [f"{kind}-{name.strip()}" for name in wanted if name.strip()]


def print_header(seconds: float, every: float, speech: float) -> None:
    print(
        f"Whole calls, {seconds:g} s measured after {WARMUP_S:g} s warm-up; each call: "
        f"{speech:g} s of babble every {every:g} s, final transcript {ENDPOINT_MS} ms after it,"
        f"\n200 ms reply. Targets: turn latency p50 < {TARGET_P50_MS:g} ms and p99 < "
        f"{TARGET_P99_MS:g} ms at {TARGET_AT_CALLS} calls; memory under {TARGET_MB_PER_CALL:g} "
        f"MB per call;\nVAD plus the turn loop under {TARGET_VAD_CORE_PCT:g}% of a core per call."
    )
    print(
        f"\n{'brain':>17} {'calls':>5} | {'turn p50':>8} {'p99':>6} {'n':>5} | "
        f"{'CPU':>9} {'core%':>6} {'total':>5} {'idle':>5} | {'late>20':>7} | "
        f"{'RSS':>5} {'MB/call':>7} {'marg.':>5} | {'bench':>5} {'send':>5} | {'other':>5}"
    )
    print(
        f"{'':>17} {'':>5} | {'ms':>8} {'ms':>6} {'turns':>5} | {'ms/call-s':>9} "
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
        f"{r.brain:>17} {load.calls:>5} | {p50:>8.2f} {p99:>6.2f} {len(load.relay_ms):>5} | "
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


def _runs_by_row(
    results: list[PipelineResult], family: Collection[str]
) -> dict[tuple[str, int], list[PipelineResult]]:
    """The runs of ``family``'s brains and of ``message``, by (brain, N); empty when none of
    ``family`` ran."""
    rows: dict[tuple[str, int], list[PipelineResult]] = {}
    for r in results:
        if r.brain == "message" or r.brain in family:
            rows.setdefault((r.brain, r.load.calls), []).append(r)
    return rows if any(brain in family for brain, _ in rows) else {}


def print_llm_table(results: list[PipelineResult]) -> None:
    """Each LLM brain's turn latency and CPU against the ``message`` brain's at the same N
    (medians over the repeated rounds), with where the turn's time goes."""
    rows = _runs_by_row(results, LLM_BRAINS)
    if not rows:
        return

    def median(runs: list[PipelineResult], value: Callable[[PipelineResult], float]) -> float:
        return statistics.median(value(r) for r in runs)

    def stats(runs: list[PipelineResult]) -> tuple[float, float, float]:
        return (
            median(runs, lambda r: percentile(r.load.relay_ms, 50)),
            median(runs, lambda r: percentile(r.load.relay_ms, 99)),
            median(runs, lambda r: r.load.cpu_ms_per_call_s),
        )

    print(
        f"\nLLM brains against the message brain (median of each row's runs): turn latency and "
        f"CPU,\nand what the LLM adds (row - message at the same N). Targets: +"
        f"{TARGET_LLM_ADDED_P50_MS:g} ms p50, +{TARGET_LLM_ADDED_P99_MS:g} ms p99 at "
        f"{TARGET_AT_CALLS} calls."
    )
    print(
        f"\n{'brain':>11} {'family':>9} {'calls':>5} {'runs':>4} | {'turn p50':>8} {'p99':>6} | "
        f"{'added p50':>9} {'p99':>6} | {'CPU':>9} {'added':>6} | {'->LLM':>6} {'->TTS':>6}"
    )
    print(
        f"{'':>11} {'':>9} {'':>5} {'':>4} | {'ms':>8} {'ms':>6} | {'ms':>9} {'ms':>6} | "
        f"{'ms/call-s':>9} {'':>6} | {'p50 ms':>6} {'p50 ms':>6}"
    )
    order = ["message", *LLM_BRAINS]
    for (brain, calls), runs in sorted(rows.items(), key=lambda i: (i[0][1], order.index(i[0][0]))):
        p50, p99, cpu = stats(runs)
        family = LLM_BRAINS[brain].family if brain in LLM_BRAINS else "-"
        base = rows.get(("message", calls)) if brain != "message" else None
        added, flag = f"{'':>9} {'':>6} | {cpu:>9.2f} {'':>6}", ""
        if base is not None:
            b50, b99, bcpu = stats(base)
            added = f"{p50 - b50:>+9.2f} {p99 - b99:>+6.2f} | {cpu:>9.2f} {cpu - bcpu:>+6.2f}"
            if calls == TARGET_AT_CALLS:
                flag = " p50 " + ("ok" if p50 - b50 < TARGET_LLM_ADDED_P50_MS else "OVER")
                flag += ", p99 " + ("ok" if p99 - b99 < TARGET_LLM_ADDED_P99_MS else "OVER")
        to_llm = median(runs, lambda r: percentile(r.llm_request_ms, 50))
        to_tts = median(runs, lambda r: percentile(r.tts_request_ms, 50))
        print(
            f"{brain:>11} {family:>9} {calls:>5} {len(runs):>4} | {p50:>8.2f} {p99:>6.2f} | "
            f"{added} | {to_llm:>6.2f} {to_tts:>6.2f}{flag}"
        )
    print(
        "->LLM, ->TTS: the fake STT's final -> the LLM request / the first TTS request arriving "
        "at the fakes."
    )


def print_provider_tables(results: list[PipelineResult]) -> None:
    """Per STT and TTS family: turn latency and CPU (medians over the rounds), and the
    difference to the fastest package provider of its kind at the same N."""
    for kind, family, lean in (
        ("STT", STT_BRAINS, "lean Deepgram; TTS: the lean ElevenLabs HTTP fake"),
        ("TTS", TTS_BRAINS, "lean ElevenLabs HTTP; STT: the lean Deepgram"),
    ):
        rows = _runs_by_row(results, family)
        if not rows:
            continue
        print(
            f"\n{kind} families (message brain; 'message' = the {lean}); medians of each row's "
            f"runs.\nvs fastest: p50 less the fastest {kind} against the package fakes at the same "
            f"N; over +{TARGET_PROVIDER_OVER_FASTEST_P50_MS:g} ms needs a written reason."
        )
        print(
            f"\n{'brain':>17} {'provider':>22} {'calls':>5} {'runs':>4} | {'turn p50':>8} "
            f"{'p99':>6} {'turns':>5} | {'vs fastest':>10} | {'CPU':>9} {'vs fast.':>8} | "
            f"{'final lag':>9}"
        )
        print(
            f"{'':>17} {'':>22} {'':>5} {'':>4} | {'ms':>8} {'ms':>6} {'':>5} | {'p50 ms':>10} | "
            f"{'ms/call-s':>9} {'':>8} | {'p50 ms':>9}"
        )
        order = ["message", *family]
        stats = {
            key: (
                statistics.median(percentile(r.load.relay_ms, 50) for r in runs),
                statistics.median(percentile(r.load.relay_ms, 99) for r in runs),
                statistics.median(r.load.cpu_ms_per_call_s for r in runs),
                statistics.median(len(r.load.relay_ms) for r in runs),
                statistics.median(percentile(r.final_lag_ms, 50) for r in runs),
            )
            for key, runs in rows.items()
        }
        for (brain, calls), runs in sorted(
            rows.items(), key=lambda i: (i[0][1], order.index(i[0][0]))
        ):
            p50, p99, cpu, turns, lag = stats[(brain, calls)]
            package = [v for (b, n), v in stats.items() if n == calls and b in family]
            fastest = min((v[0] for v in package), default=float("nan"))
            fastest_cpu = min((v[2] for v in package), default=float("nan"))
            flag = ""
            if brain in family and p50 - fastest > TARGET_PROVIDER_OVER_FASTEST_P50_MS:
                flag = "  needs a written reason"
            print(
                f"{brain:>17} {family.get(brain, '(lean peer)'):>22} {calls:>5} {len(runs):>4} | "
                f"{p50:>8.2f} {p99:>6.2f} {turns:>5.0f} | {p50 - fastest:>+10.2f} | {cpu:>9.2f} "
                f"{cpu - fastest_cpu:>+8.2f} | {lag:>9.1f}{flag}"
            )
    print(
        "final lag (STT rows): the package fake's final after the moment the lean Deepgram "
        "sends its own\n(caller's speech end + 300 ms), ms: it follows the provider's endpointing setting."
    )


async def run_all(
    brains: list[str],
    calls: list[int],
    seconds: float,
    every: float,
    speech: float,
    profile: str,
    repeat: int = 1,
) -> list[PipelineResult]:
    print_header(seconds, every, speech)
    fakes: FakeProcess | None = None
    fake_urls: dict[str, str] | None = None
    if PROVIDER_BRAINS.intersection(brains):
        # The package fakes in a process of their own, for the whole run (bench/providers.py's).
        fakes = FakeProcess()
        fake_urls = fakes.urls
    with contextlib.ExitStack() as stack:
        if any(brain.endswith("+tracing") for brain in brains):
            os.environ[tracing_cpu.OTLP_URL_VARIABLE] = stack.enter_context(collector_process())
        try:
            return await _run_all(brains, calls, seconds, every, speech, profile, repeat, fake_urls)
        finally:
            if fakes is not None:
                fakes.close()


async def _run_all(
    brains: list[str],
    calls: list[int],
    seconds: float,
    every: float,
    speech: float,
    profile: str,
    repeat: int,
    fake_urls: dict[str, str] | None,
) -> list[PipelineResult]:
    results: list[PipelineResult] = []
    previous: dict[str, PipelineResult] = {}
    behind_at: dict[str, int] = {}  # a brain's N where the load generator fell behind
    for count in calls:
        for _round in range(repeat):
            for brain in brains:
                if count > behind_at.get(brain, count):
                    continue
                result = await run_pipeline_load(
                    count, seconds, brain, every, speech, profile, fake_urls
                )
                results.append(result)
                print_row(result, previous.get(brain))
                previous[brain] = result
                if result.load.generator_behind and brain not in behind_at:
                    print(f"{'':>11} load generator behind at {count} calls: not raising N further")
                    behind_at[brain] = count
    print_checks(results, seconds, every)
    print(LEGEND)
    print_llm_table(results)
    print_provider_tables(results)
    print_tracing(results)
    return results


def print_tracing(results: list[PipelineResult]) -> None:
    """With ``message`` and ``message+tracing`` both run: tracing's cost at each N."""
    rows = _runs_by_row(results, {"message+tracing"})
    lines = [
        f"{calls:>5} calls: "
        + tracing_cpu.summary(
            [r.load.cpu_ms_per_call_s for r in rows[("message", calls)]],
            [r.load.cpu_ms_per_call_s for r in runs],
            [r.load.tracing_ms_per_call_s for r in runs],
        ).replace("\n", "\n" + " " * 13)
        for (brain, calls), runs in sorted(rows.items(), key=lambda item: item[0][1])
        if brain == "message+tracing" and ("message", calls) in rows
    ]
    if lines:
        print(
            f"\nTracing (message+tracing against message): target under "
            f"{tracing_cpu.TARGET_PCT:g}% more CPU per call-second at {TARGET_AT_CALLS} calls, "
            "read on tracing's own CPU in the Patter process (bench/tracing_cpu.py)."
        )
        print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", default="1,50,100,200", help="concurrent calls, e.g. 1,50,100")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument("--brains", default="", help=f"some of {BRAINS} (default: {DEFAULT})")
    parser.add_argument(
        "--stt",
        default="",
        help=f"STT families to add (with the message brain): 'all' or some of {_short(STT_BRAINS)}",
    )
    parser.add_argument(
        "--tts",
        default="",
        help=f"TTS families to add (with the message brain): 'all' or some of {_short(TTS_BRAINS)}",
    )
    parser.add_argument("--every", type=float, default=2.0, help="seconds between turns")
    parser.add_argument("--speech", type=float, default=1.0, help="seconds of caller speech")
    parser.add_argument("--profile", choices=("none", "py-spy"), default="none")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of every (N, brain), brains back to back"
    )
    args = parser.parse_args(argv)
    calls = [int(n) for n in args.calls.split(",") if n.strip()]
    brains = [b.strip() for b in args.brains.split(",") if b.strip()]
    extra = _families("stt", args.stt, STT_BRAINS) + _families("tts", args.tts, TTS_BRAINS)
    if not brains:
        brains = ["message"] if extra else list(DEFAULT)
    brains += [b for b in extra if b not in brains]
    unknown = [b for b in brains if b not in BRAINS]
    if unknown:
        parser.error(f"unknown brains {unknown}: use some of {BRAINS}")
    print(
        f"Patter pipeline benchmark: Python {platform.python_version()}, {os.cpu_count()} "
        f"cores, 127.0.0.1 only"
    )
    results = asyncio.run(
        run_all(
            brains, calls, args.seconds, args.every, args.speech, args.profile, max(1, args.repeat)
        )
    )
    for result in results:
        if result.load.profile:
            print(f"\nProfile of the Patter process, {result.brain} x{result.load.calls}:")
            print(result.load.profile)


if __name__ == "__main__":
    main()
