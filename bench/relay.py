"""What relaying a phone call costs Patter: CPU per 20 ms frame, per call-second, and under load.

Run ``python bench/relay.py [--calls 1,50,100,150] [--seconds 20] [--carriers twilio,telnyx]
[--engines realtime,convai] [--repeat 1]``. It prints numbers, with the targets beside them, and
asserts nothing. Everything runs on 127.0.0.1. Two comparisons, each of two configurations
measured back to back with the ratio of the second's figures to the first's: the carriers
(Twilio and Telnyx by default) on the first engine, target Telnyx within 10% of Twilio; and the
engines (OpenAI Realtime and ElevenLabs ConvAI by default) on the first carrier, target ConvAI
within 10% of Realtime. The defaults thus run three configurations, Twilio/Realtime (shared by
both comparisons), Telnyx/Realtime and Twilio/ConvAI, not every pair; ``--carriers telnyx``
compares the engines on Telnyx instead, and one carrier with one engine runs that alone.

1. Micro-benchmarks of the code a call runs for each frame, with stub sockets: caller audio
   through ``ServerDesk._relay`` -> ``CallSession.on_media`` -> the engine's ``send_audio``
   (``RealtimeEngine``, ``ConvAIEngine``); agent audio through the engine's ``_stream`` ->
   ``CallSession._handle`` -> ``OutboundAudio`` -> the carrier's codec (``TwilioCodec``,
   ``TelnyxCodec("ulaw_8000")``); and each echoed mark back through ``_relay``. The
   configurations' runs alternate; a table per comparison.
2. Whole calls: ``Patter.serve()`` runs in its own process (``bench/relay_server.py``) so its
   CPU can be read alone from ``/proc``; this process rings it as the carrier would (Twilio: a
   signed voice webhook and TwiML; Telnyx: a signed ``call.initiated`` event answered through a
   fake Call Control REST API), plays N media streams and a lean fake of the engine
   (``bench/relay_peers.py``: OpenAI Realtime, or an ElevenLabs ConvAI public agent, reached
   without a key or signed URL). Each call sends a caller frame every 20 ms and gets a 2 s
   response every 3 s, as 100 ms audio messages (Realtime: ``response.output_audio.delta``;
   ConvAI: ``agent_response`` then ``audio``). Reported: Patter's CPU per call-second, outbound
   frames more than 20 ms late, the relay latency (fake writes a response's first audio ->
   caller receives its first frame), and this process's own CPU and send lateness, which tell
   when the load generator, not Patter, is the limit (N stops rising once it is, in most runs
   of a configuration). The machine's noise moves these figures by more than 10% from one run to
   the next: ``--repeat K`` runs each configuration K times at each N (rounds alternating which
   goes first) and compares the medians.

``--profile py-spy`` (py-spy on PATH) or ``--profile cprofile`` profiles the Patter process
during each measured window and prints its top functions. ``--dashboard-client`` keeps one
browser's dashboard event stream (``/api/v1/events``) connected to the Patter process throughout
(read by ``curl``, in a process of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
from dataclasses import dataclass
from statistics import median

import relay_load
import tracing_cpu
from call_events import collector_process
from relay_frames import FrameCosts, frame_costs
from relay_load import (
    CARRIERS,
    ENGINES,
    FRAMES_PER_S,
    GENERATOR_BUSY_PCT,
    GENERATOR_LATE_MS,
    IDLE_S,
    MODEL,
    RESPONSE_EVERY_S,
    RESPONSE_S,
    TRACED,
    WARMUP_S,
    LoadResult,
    percentile,
    run_load,
)

TARGET_CPU_MS = 8.0
TARGET_LATE_PCT = 1.0
TARGET_RELAY_P50_MS = 1.0
TOLERANCE = 0.10
"""How much worse than the first configuration of a comparison the second may be (CPU, late
frames)."""
LATE_NOISE_PP = 0.1

Config = tuple[str, str]
"""A configuration: (carrier, engine)."""

TITLES = {"twilio": "Twilio", "telnyx": "Telnyx", "realtime": "Realtime", "convai": "ConvAI"}
ENGINE_CLASSES = {"realtime": "RealtimeEngine", "convai": "ConvAIEngine"}


def title(name: str) -> str:
    """A carrier's or engine's title; ``realtime+tracing`` is ``Realtime+tracing``."""
    return TITLES[name.removesuffix(TRACED)] + (TRACED if name.endswith(TRACED) else "")


@dataclass(frozen=True)
class Comparison:
    """Two configurations that differ in one dimension: ``carrier``, ``engine``, or ``tracing``
    (the same engine with tracing on)."""

    dimension: str
    base: Config
    other: Config

    @property
    def titles(self) -> tuple[str, str]:
        index = 0 if self.dimension == "carrier" else 1
        return title(self.base[index]), title(self.other[index])

    @property
    def name(self) -> str:
        base, other = self.titles
        return f"{other}/{base}"

    @property
    def fixed(self) -> str:
        """What both configurations share, e.g. ``Realtime engine``."""
        if self.dimension == "carrier":
            return f"{title(self.base[1])} engine"
        return f"{title(self.base[0])} carrier"


def plan(
    carriers: list[str], engines: list[str], tracing: bool = False
) -> tuple[list[Config], list[Comparison]]:
    """The configurations to run and the comparisons between them: the carriers on the first
    engine, the engines on the first carrier (not every pair); with ``tracing``, the first
    carrier and engine with tracing on against the same without."""
    traced = [(carriers[0], engines[0] + TRACED)] if tracing else []
    configs = list(
        dict.fromkeys(
            [(carrier, engines[0]) for carrier in carriers]
            + [(carriers[0], engine) for engine in engines]
            + traced
        )
    )
    comparisons = []
    if len(carriers) == 2:
        comparisons.append(
            Comparison("carrier", (carriers[0], engines[0]), (carriers[1], engines[0]))
        )
    if len(engines) == 2:
        comparisons.append(
            Comparison("engine", (carriers[0], engines[0]), (carriers[0], engines[1]))
        )
    if tracing:
        comparisons.append(Comparison("tracing", (carriers[0], engines[0]), traced[0]))
    return configs, comparisons


def config_title(config: Config) -> str:
    return f"{title(config[0])}/{title(config[1])}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base > 0 else "-"


CARRIER_ROWS = {"decode_media", "build_messages", "outbound_send", "mark_back"}
"""Part 1's rows that depend on the carrier only (the others' engine rows: on_media and
decode_share; the rest run both)."""
ENGINE_ROWS = {"on_media", "decode_share"}
COUNTED_ROWS = {"inbound", "delta_share", "outbound_send", "mark_back"}


def frame_rows(engine: str) -> list[tuple[str, str | None]]:
    """Part 1's rows, naming ``engine`` (a class name, or ``engine`` for any)."""
    peer = {"RealtimeEngine": "OpenAI", "ConvAIEngine": "ElevenLabs"}.get(engine, "engine")
    return [
        (f"Inbound, per caller frame (carrier -> {peer})", None),
        ("  codec.decode(caller media JSON)", "decode_media"),
        (f"  CallSession.on_media -> {engine}.send_audio", "on_media"),
        ("  ServerDesk._relay: both of the above, per frame", "inbound"),
        (f"Outbound, per agent frame ({peer} -> carrier)", None),
        (f"  {engine}._agent_audio (decode), 1/5", "decode_share"),
        (f"  {engine}._stream + CallSession._handle, 1/5", "delta_share"),
        ("  codec.audio + codec.mark (media + mark messages)", "build_messages"),
        ("  OutboundAudio send loop: media + mark to the socket", "outbound_send"),
        ("  ServerDesk._relay: the echoed mark (on_mark)", "mark_back"),
    ]


def print_frame_table(columns: list[tuple[str, FrameCosts]], shared: set[str], engine: str) -> None:
    """One table of part 1: a column per configuration, and the second's / the first's."""
    titles = [title for title, _ in columns]
    costs = [c for _, c in columns]
    compare = len(columns) == 2
    ratio_title = f"{titles[1]}/{titles[0]}" if compare else ""
    print(f"   {'':56} " + " ".join(f"{t:>9}" for t in titles) + f" {ratio_title:>15}")
    print(f"   {'':56} " + " ".join(f"{'µs/frame':>9}" for _ in titles))
    for label, key in frame_rows(engine):
        if key is None:
            print(f"   {label}")
            continue
        values = [getattr(c, key) for c in costs]
        same = compare and key in shared
        ratio = "" if same or not compare else _ratio(values[1], values[0])
        notes = (["counted"] if key in COUNTED_ROWS else []) + (
            ["same code, measured once"] if same else []
        )
        cells = " ".join(f"{v:9.2f}" for v in values)
        print(f"   {label:56} {cells} {ratio:>15} {', '.join(notes)}".rstrip())


def print_frame_costs(all_costs: dict[Config, FrameCosts], comparisons: list[Comparison]) -> None:
    print(
        "1. CPU per relayed 20 ms frame (Patter's code, stub sockets, best of 7, configurations "
        "alternating)"
    )
    tables: list[tuple[str, list[tuple[str, FrameCosts]], set[str], str]] = []
    for comparison in comparisons:
        if comparison.dimension == "tracing":
            continue  # tracing runs off the frame path: part 2 measures it
        base, other = comparison.titles
        if comparison.dimension == "carrier":
            engine, shared = ENGINE_CLASSES[comparison.base[1]], ENGINE_ROWS
        else:
            engine, shared = "engine", CARRIER_ROWS
        columns = [(base, all_costs[comparison.base]), (other, all_costs[comparison.other])]
        tables.append((f"{comparison.name}, {comparison.fixed}", columns, shared, engine))
    if not tables:  # one configuration
        ((config, costs),) = all_costs.items()
        tables.append(
            (config_title(config), [(TITLES[config[0]], costs)], set(), ENGINE_CLASSES[config[1]])
        )
    for heading, columns, shared, engine in tables:
        print(f"\n   {heading}:")
        print_frame_table(columns, shared, engine)
    print()
    for config, c in all_costs.items():
        title = config_title(config)
        inbound_ms = FRAMES_PER_S * c.inbound / 1000
        outbound_ms = FRAMES_PER_S * c.outbound / 1000
        load_ms = inbound_ms + outbound_ms * RESPONSE_S / RESPONSE_EVERY_S
        print(
            f"   {title}: inbound {c.inbound:.1f} µs + outbound {c.outbound:.1f} µs per frame "
            f"pair -> {inbound_ms + outbound_ms:.2f} ms CPU per call-second with the agent "
            f"talking all the time,\n   {'':{len(title) + 1}} {load_ms:.2f} ms for the load of "
            f"part 2 (agent talks 2 s in 3)"
        )
    print(
        "   (1/5: an agent audio message carries 100 ms, 5 frames; all the time = 50 frames each "
        "way + 50 marks per second;\n   outbound = the counted outbound rows). Target for the "
        f"whole call, sockets and event loop included: <= {TARGET_CPU_MS:g} ms\n   per "
        "call-second (part 2)"
    )


def print_load_header(seconds: float) -> None:
    print(
        f"\n2. Whole calls through Patter.serve() in its own process ({seconds:g} s measured "
        f"after {WARMUP_S:g} s warm-up;\n   caller frame every 20 ms, a {RESPONSE_S:g} s "
        f"response every {RESPONSE_EVERY_S:g} s per call; the configurations run back to back "
        f"at each N;\n   Realtime: {MODEL}, ConvAI: a public agent)"
    )
    print(
        f"   {'calls':>5} {'carrier':<7} {'engine':<16} | {'Patter CPU':>10} {'(<=8)':>6} "
        f"{'core':>5} {'idle':>5} | {'late>20ms':>9} {'(<1%)':>6} {'p99':>6} | "
        f"{'relay p50':>9} {'(<1)':>5} {'p99':>6} | {'bench':>5} {'send p99':>8} {'echo p99':>8}"
    )
    print(
        f"   {'':>5} {'':<7} {'':<16} | {'ms/call-s':>10} {'':>6} {'%':>5} {'ms/s':>5} | "
        f"{'% frames':>9} {'':>6} {'ms':>6} | {'ms':>9} {'':>5} {'ms':>6} | {'core%':>5} "
        f"{'ms':>8} {'ms':>8}"
    )


def print_load_row(r: LoadResult) -> None:
    cpu_ok = "ok" if r.cpu_ms_per_call_s <= TARGET_CPU_MS else "OVER"
    late_ok = "ok" if r.late_pct < TARGET_LATE_PCT else "OVER"
    relay_p50 = percentile(r.relay_ms, 50)
    relay_ok = "ok" if relay_p50 < TARGET_RELAY_P50_MS else "OVER"
    print(
        f"   {r.calls:>5} {r.carrier:<7} {r.engine:<16} | {r.cpu_ms_per_call_s:>10.2f} "
        f"{cpu_ok:>6} {100 * r.patter_cpu_s / r.window_s:>5.0f} {r.idle_ms_per_s:>5.1f} | "
        f"{r.late_pct:>9.2f} {late_ok:>6} "
        f"{r.lateness_p99_ms:>6.1f} | {relay_p50:>9.2f} {relay_ok:>5} "
        f"{percentile(r.relay_ms, 99):>6.2f} | {r.bench_busy_pct:>5.0f} "
        f"{percentile(r.send_late_ms, 99):>8.2f} {percentile(r.echo_late_ms, 99):>8.2f}"
    )


def late_within(late: float, base: float) -> bool:
    """Late frames within the tolerance of the base configuration's: within 10% of them, or
    under the 1% target both and less than one frame in 1,000 apart (a ratio of near-zeros is
    noise)."""
    if late <= base * (1 + TOLERANCE):
        return True
    return max(late, base) < TARGET_LATE_PCT and late - base < LATE_NOISE_PP


def ratio_line(base: list[LoadResult], other: list[LoadResult]) -> str:
    """``other`` against ``base`` at the same N (medians of their runs): CPU per call-second
    and late frames against the target, and the relay latency beside them."""
    cpu = median(r.cpu_ms_per_call_s for r in other) / median(r.cpu_ms_per_call_s for r in base)
    sched = median(r.patter_runtime_s / r.window_s for r in other) / median(
        r.patter_runtime_s / r.window_s for r in base
    )
    cpu_ok = "ok" if cpu <= 1 + TOLERANCE else "OVER"
    base_late, other_late = median(r.late_pct for r in base), median(r.late_pct for r in other)
    late = _ratio(other_late, base_late) if base_late else "-"
    late_ok = "ok" if late_within(other_late, base_late) else "OVER"
    base_relay = median(percentile(r.relay_ms, 50) for r in base)
    other_relay = median(percentile(r.relay_ms, 50) for r in other)
    runs = f" (medians of {len(base)} runs each)" if len(base) > 1 else ""
    return (
        f"CPU per call-second {cpu:.2f} {cpu_ok} (scheduler time {sched:.2f}); late frames "
        f"{other_late:.2f}% / {base_late:.2f}% = {late} {late_ok}; relay p50 {other_relay:.2f} / "
        f"{base_relay:.2f} ms{runs}"
    )


def print_load_checks(results: list[LoadResult]) -> None:
    print("\n   Completeness (measured window; responses = those whose first audio it holds):")
    for r in results:
        rest = ", ".join(f"{action} {n}" for action, n in sorted(r.rest_actions.items()))
        print(
            f"   {r.calls:>5} calls {r.carrier}/{r.engine}: {r.failed_calls} failed to connect; "
            f"caller frames sent {r.media_sent}, audio messages at the fake {r.appends}; "
            f"responses {r.responses}, agent frames {r.frames_received}/{r.frames_expected}; "
            f"generator {'BEHIND' if r.generator_behind else 'keeping up'}; Patter stderr: "
            f"{len(r.server_log)} lines; Patter CPU {r.patter_cpu_s:.2f} s (user "
            f"{r.patter_user_s:.2f} + system {r.patter_system_s:.2f}; schedstat "
            f"{r.patter_runtime_s:.2f})" + (f"; REST commands (whole run): {rest}" if rest else "")
        )
        for line in r.server_log[:3]:
            print(f"         {line}")


async def run_loads(
    calls: list[int],
    seconds: float,
    profile: str,
    configs: list[Config],
    comparisons: list[Comparison],
    repeat: int = 1,
) -> list[LoadResult]:
    print_load_header(seconds)
    results: list[LoadResult] = []
    ratios: dict[Comparison, list[str]] = {comparison: [] for comparison in comparisons}
    for count in calls:
        runs: dict[Config, list[LoadResult]] = {config: [] for config in configs}
        for round_ in range(repeat):
            # Every other round runs them in reverse order, so none always goes first.
            for config in configs if round_ % 2 == 0 else configs[::-1]:
                carrier, engine = config
                result = await run_load(count, seconds, profile, carrier, engine)
                print_load_row(result)
                runs[config].append(result)
                results.append(result)
        for comparison in comparisons:
            base_runs, other_runs = runs[comparison.base], runs[comparison.other]
            if comparison.dimension == "tracing":
                ratio = tracing_cpu.summary(
                    [r.cpu_ms_per_call_s for r in base_runs],
                    [r.cpu_ms_per_call_s for r in other_runs],
                    [r.tracing_ms_per_call_s for r in other_runs],
                ).replace("\n", "\n" + " " * 28)
            else:
                ratio = ratio_line(base_runs, other_runs)
            print(f"   {'':>5} {comparison.name:<16} | {ratio}")
            ratios[comparison].append(f"{count:>5} calls, {comparison.name}: {ratio}")
        # With --repeat, a minority of runs put behind by the machine's noise does not stop N
        # rising (their figures stay in the medians, and are flagged below).
        behind = [
            config_title(config)
            for config, rs in runs.items()
            if 2 * sum(r.generator_behind for r in rs) > len(rs)
        ]
        late_runs = sum(r.generator_behind for rs in runs.values() for r in rs)
        if behind:
            print(
                f"   load generator behind at {count} calls in most runs of "
                f"{', '.join(behind)} (send p99 > {GENERATOR_LATE_MS:g} ms or > "
                f"{GENERATOR_BUSY_PCT:g}% of a core): not raising N further"
            )
            break
        if late_runs:
            print(f"   load generator behind in {late_runs} run(s) at {count} calls (see below)")
    print_load_checks(results)
    for comparison, lines in ratios.items():
        base, other = comparison.titles
        if comparison.dimension == "tracing":
            print(
                f"\n   Target: tracing adds under {tracing_cpu.TARGET_PCT:g}% CPU per "
                f"call-second to {base} at 100 calls ({comparison.fixed}; tracing's own CPU, "
                "see bench/tracing_cpu.py):"
            )
        else:
            print(
                f"\n   Target: the {other} row's CPU per call-second and late frames within "
                f"{100 * TOLERANCE:g}% of {base}'s ({comparison.fixed}):"
            )
        for line in lines:
            print(f"   {line}")
    legend = [
        "",
        "Patter CPU: utime+stime of the Patter process over the window / (calls x seconds);",
        "  core = share of one core; idle = the same process serving no call, measured (schedstat)",
        f"  for {IDLE_S:g} s before the calls (included in every figure; weighs most at 1 call).",
        "late>20ms: agent frames arriving > 20 ms after (first frame of their response + n x 20 ms);",
        "  p99 = that lateness. relay: fake writes a response's first audio message -> caller",
        "  receives that response's first frame. bench: this process (load generator + the",
        "  engine's fake); send p99 = how late its caller frames left, echo p99 = how late it",
        "  echoed marks.",
        "ratio: the second configuration's figure / the first's at the same N (with --repeat, of",
        "  their medians; rounds alternate which configuration runs first). CPU is the Patter CPU",
        "  column (10 ms clock ticks); scheduler time is the same from schedstat (ns, all",
        "  threads). Late frames count as within the target when within 10% or, both under 1%,",
        f"  less than {LATE_NOISE_PP:g} percentage points apart; '-': the first had none. relay",
        "  p50: the second's / the first's median relay p50 (no target on the ratio).",
    ]
    print("\n   ".join(legend))
    return results


def _names(
    parser: argparse.ArgumentParser, option: str, text: str, known: tuple[str, ...]
) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if (
        not names
        or len(names) > 2
        or len(set(names)) < len(names)
        or any(n not in known for n in names)
    ):
        parser.error(f"{option}: one or two of {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", default="1,50,100,150", help="concurrent calls, e.g. 1,50,100")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument(
        "--carriers",
        default=",".join(CARRIERS),
        help="carriers to compare, in order (the ratios are the second's / the first's), with "
        "the first engine; the engines are compared on the first carrier",
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="engines to compare, in order (the ratios are the second's / the first's), on the "
        "first carrier",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each configuration at each N; the ratios compare their medians",
    )
    parser.add_argument("--profile", choices=("none", "py-spy", "cprofile"), default="none")
    parser.add_argument("--skip-micro", action="store_true", help="skip part 1")
    parser.add_argument(
        "--dashboard-client",
        action="store_true",
        help="keep one dashboard event stream (a browser) connected to the Patter process",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="also run the first carrier and engine with tracing on (spec TR), exporting to a "
        "collector in a process of its own, and compare",
    )
    args = parser.parse_args(argv)
    relay_load.DASHBOARD_CLIENT = args.dashboard_client
    calls = [int(n) for n in args.calls.split(",") if n.strip()]
    carriers = _names(parser, "--carriers", args.carriers, CARRIERS)
    engines = _names(parser, "--engines", args.engines, ENGINES)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    configs, comparisons = plan(carriers, engines, args.tracing)
    print(
        f"Patter relay benchmark: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"127.0.0.1 only; configurations {', '.join(config_title(c) for c in configs)}\n"
    )
    if not args.skip_micro:
        untraced = tuple(config for config in configs if not config[1].endswith(TRACED))
        print_frame_costs(frame_costs(untraced), comparisons)
    with contextlib.ExitStack() as stack:
        if args.tracing:
            os.environ[tracing_cpu.OTLP_URL_VARIABLE] = stack.enter_context(collector_process())
        results = asyncio.run(
            run_loads(calls, args.seconds, args.profile, configs, comparisons, args.repeat)
        )
    for result in results:
        if result.profile:
            print(
                f"\nProfile of the Patter process at {result.calls} calls, {result.carrier}/"
                f"{result.engine} ({args.profile}):"
            )
            print(result.profile)


if __name__ == "__main__":
    main()
