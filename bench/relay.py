"""What relaying a phone call costs Patter: CPU per 20 ms frame, per call-second, and under load.

Run ``python bench/relay.py [--calls 1,50,100,150] [--seconds 20] [--carriers twilio,telnyx]
[--repeat 1]``. It prints numbers, with the targets beside them, and asserts nothing. Everything
runs on 127.0.0.1. Each part has a row per carrier (Twilio and Telnyx by default), measured back
to back, and the ratio of the second carrier's figures to the first's: the target is Telnyx
within 10% of Twilio.

1. Micro-benchmarks of the code a call runs for each frame, with stub sockets: caller audio
   through ``ServerDesk._relay`` -> ``CallSession.on_media`` -> ``RealtimeEngine.send_audio``;
   agent audio through ``RealtimeEngine._stream`` -> ``CallSession._handle`` ->
   ``OutboundAudio`` -> the carrier's codec (``TwilioCodec``, ``TelnyxCodec("ulaw_8000")``);
   and each echoed mark back through ``_relay``. The carriers' runs alternate.
2. Whole calls: ``Patter.serve()`` runs in its own process (``bench/relay_server.py``) so its
   CPU can be read alone from ``/proc``; this process rings it as the carrier would (Twilio: a
   signed voice webhook and TwiML; Telnyx: a signed ``call.initiated`` event answered through a
   fake Call Control REST API), plays N media streams and a lean fake OpenAI Realtime server
   (``bench/relay_peers.py``). Each call sends a caller frame every 20 ms and gets a 2 s
   response every 3 s. Reported: Patter's CPU per call-second, outbound frames more than 20 ms
   late, the relay latency (fake writes a response's first delta -> caller receives its first
   frame), and this process's own CPU and send lateness, which tell when the load generator,
   not Patter, is the limit. The machine's noise moves these figures by more than 10% from one
   run to the next: ``--repeat K`` runs each carrier K times at each N (rounds alternating
   which goes first) and compares the medians.

``--profile py-spy`` (py-spy on PATH) or ``--profile cprofile`` profiles the Patter process
during each measured window and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
from statistics import median

from relay_frames import FrameCosts, frame_costs
from relay_load import (
    CARRIERS,
    FRAMES_PER_S,
    GENERATOR_BUSY_PCT,
    GENERATOR_LATE_MS,
    IDLE_S,
    MODEL,
    RESPONSE_EVERY_S,
    RESPONSE_S,
    WARMUP_S,
    LoadResult,
    percentile,
    run_load,
)

TARGET_CPU_MS = 8.0
TARGET_LATE_PCT = 1.0
TARGET_RELAY_P50_MS = 1.0
TOLERANCE = 0.10
"""How much worse than the first carrier the second may be (CPU, late frames)."""
LATE_NOISE_PP = 0.1


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base > 0 else "-"


def print_frame_costs(all_costs: dict[str, FrameCosts]) -> None:
    names = list(all_costs)
    costs = list(all_costs.values())
    compare = len(names) == 2
    titles = [name.capitalize() for name in names]
    rows: list[tuple[str, str | None, str]] = [
        ("Inbound, per caller frame (carrier -> OpenAI)", None, ""),
        ("  codec.decode(caller media JSON)", "decode_media", ""),
        ("  CallSession.on_media -> RealtimeEngine.send_audio", "on_media", "shared"),
        ("  ServerDesk._relay: both of the above, per frame", "inbound", "counted"),
        ("Outbound, per agent frame (OpenAI -> carrier)", None, ""),
        ("  decode_audio_delta, share per frame (1/5 of 100 ms)", "decode_share", "shared"),
        ("  RealtimeEngine._stream + CallSession._handle, 1/5", "delta_share", "counted"),
        ("  codec.audio + codec.mark (media + mark messages)", "build_messages", ""),
        ("  OutboundAudio send loop: media + mark to the socket", "outbound_send", "counted"),
        ("  ServerDesk._relay: the echoed mark (on_mark)", "mark_back", "counted"),
    ]
    print(
        "1. CPU per relayed 20 ms frame (Patter's code, stub sockets, best of 7, carriers "
        "alternating)"
    )
    ratio_title = f"{titles[1]}/{titles[0]}" if compare else ""
    print(f"   {'':56} " + " ".join(f"{t:>9}" for t in titles) + f" {ratio_title:>13}")
    print(f"   {'':56} " + " ".join(f"{'µs/frame':>9}" for _ in titles))
    for label, key, note in rows:
        if key is None:
            print(f"   {label}")
            continue
        values = [getattr(c, key) for c in costs]
        ratio = "" if note == "shared" or not compare else _ratio(values[1], values[0])
        cells = " ".join(f"{v:9.2f}" for v in values)
        marker = note
        if note == "shared":
            marker = "same code, measured once" if compare else ""
        print(f"   {label:56} {cells} {ratio:>13} {marker}")
    for title, c in zip(titles, costs, strict=True):
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
        "   (all the time = 50 frames each way + 50 marks per second). Target for the whole "
        f"call, sockets and event loop\n   included: <= {TARGET_CPU_MS:g} ms per call-second "
        "(part 2)"
    )


def print_load_header(seconds: float) -> None:
    print(
        f"\n2. Whole calls through Patter.serve() in its own process ({MODEL}, {seconds:g} s "
        f"measured after {WARMUP_S:g} s warm-up;\n   caller frame every 20 ms, a {RESPONSE_S:g} s "
        f"response every {RESPONSE_EVERY_S:g} s per call; the carriers run back to back at each N)"
    )
    print(
        f"   {'calls':>5} {'carrier':<7} | {'Patter CPU':>10} {'(<=8)':>6} {'core':>5} "
        f"{'idle':>5} | {'late>20ms':>9} {'(<1%)':>6} {'p99':>6} | {'relay p50':>9} {'(<1)':>5} "
        f"{'p99':>6} | {'bench':>5} {'send p99':>8} {'echo p99':>8}"
    )
    print(
        f"   {'':>5} {'':<7} | {'ms/call-s':>10} {'':>6} {'%':>5} {'ms/s':>5} | "
        f"{'% frames':>9} {'':>6} {'ms':>6} | {'ms':>9} {'':>5} {'ms':>6} | {'core%':>5} "
        f"{'ms':>8} {'ms':>8}"
    )


def print_load_row(r: LoadResult) -> None:
    cpu_ok = "ok" if r.cpu_ms_per_call_s <= TARGET_CPU_MS else "OVER"
    late_ok = "ok" if r.late_pct < TARGET_LATE_PCT else "OVER"
    relay_p50 = percentile(r.relay_ms, 50)
    relay_ok = "ok" if relay_p50 < TARGET_RELAY_P50_MS else "OVER"
    print(
        f"   {r.calls:>5} {r.carrier:<7} | {r.cpu_ms_per_call_s:>10.2f} {cpu_ok:>6} "
        f"{100 * r.patter_cpu_s / r.window_s:>5.0f} {r.idle_ms_per_s:>5.1f} | "
        f"{r.late_pct:>9.2f} {late_ok:>6} "
        f"{r.lateness_p99_ms:>6.1f} | {relay_p50:>9.2f} {relay_ok:>5} "
        f"{percentile(r.relay_ms, 99):>6.2f} | {r.bench_busy_pct:>5.0f} "
        f"{percentile(r.send_late_ms, 99):>8.2f} {percentile(r.echo_late_ms, 99):>8.2f}"
    )


def late_within(late: float, base: float) -> bool:
    """Late frames within the tolerance of the base carrier's: within 10% of them, or under the
    1% target both and less than one frame in 1,000 apart (a ratio of near-zeros is noise)."""
    if late <= base * (1 + TOLERANCE):
        return True
    return max(late, base) < TARGET_LATE_PCT and late - base < LATE_NOISE_PP


def ratio_line(base: list[LoadResult], other: list[LoadResult]) -> str:
    """``other`` against ``base`` at the same N (medians of their runs): CPU per call-second
    and late frames."""
    cpu = median(r.cpu_ms_per_call_s for r in other) / median(r.cpu_ms_per_call_s for r in base)
    sched = median(r.patter_runtime_s / r.window_s for r in other) / median(
        r.patter_runtime_s / r.window_s for r in base
    )
    cpu_ok = "ok" if cpu <= 1 + TOLERANCE else "OVER"
    base_late, other_late = median(r.late_pct for r in base), median(r.late_pct for r in other)
    late = _ratio(other_late, base_late) if base_late else "-"
    late_ok = "ok" if late_within(other_late, base_late) else "OVER"
    runs = f" (medians of {len(base)} runs each)" if len(base) > 1 else ""
    return (
        f"CPU per call-second {cpu:.2f} {cpu_ok} (scheduler time {sched:.2f}); late frames "
        f"{other_late:.2f}% / {base_late:.2f}% = {late} {late_ok}{runs}"
    )


def print_load_checks(results: list[LoadResult]) -> None:
    print("\n   Completeness (measured window; responses = those whose first delta it holds):")
    for r in results:
        rest = ", ".join(f"{action} {n}" for action, n in sorted(r.rest_actions.items()))
        print(
            f"   {r.calls:>5} calls {r.carrier}: {r.failed_calls} failed to connect; caller frames "
            f"sent {r.media_sent}, appends at the fake {r.appends}; responses {r.responses}, "
            f"agent frames {r.frames_received}/{r.frames_expected}; generator "
            f"{'BEHIND' if r.generator_behind else 'keeping up'}; Patter stderr: "
            f"{len(r.server_log)} lines; Patter CPU {r.patter_cpu_s:.2f} s (user "
            f"{r.patter_user_s:.2f} + system {r.patter_system_s:.2f}; schedstat "
            f"{r.patter_runtime_s:.2f})" + (f"; REST commands (whole run): {rest}" if rest else "")
        )
        for line in r.server_log[:3]:
            print(f"         {line}")


async def run_loads(
    calls: list[int], seconds: float, profile: str, carriers: list[str], repeat: int = 1
) -> list[LoadResult]:
    print_load_header(seconds)
    results: list[LoadResult] = []
    ratios: list[str] = []
    for count in calls:
        runs: dict[str, list[LoadResult]] = {carrier: [] for carrier in carriers}
        for round_ in range(repeat):
            # Every other round starts with the other carrier, so neither always goes first.
            for carrier in carriers if round_ % 2 == 0 else carriers[::-1]:
                result = await run_load(count, seconds, profile, carrier)
                print_load_row(result)
                runs[carrier].append(result)
                results.append(result)
        if len(carriers) == 2:
            ratio = ratio_line(runs[carriers[0]], runs[carriers[1]])
            print(f"   {'':>5} {'ratio':<7} | {ratio}")
            names = f"{carriers[1].capitalize()}/{carriers[0].capitalize()}"
            ratios.append(f"{count:>5} calls, {names}: {ratio}")
        behind = sorted({r.carrier for rs in runs.values() for r in rs if r.generator_behind})
        if behind:
            print(
                f"   load generator behind at {count} calls ({', '.join(behind)}: send p99 > "
                f"{GENERATOR_LATE_MS:g} ms or > {GENERATOR_BUSY_PCT:g}% of a core): not raising "
                "N further"
            )
            break
    print_load_checks(results)
    if ratios:
        print(
            f"\n   Target: the {carriers[1].capitalize()} row's CPU per call-second and late "
            f"frames within {100 * TOLERANCE:g}% of {carriers[0].capitalize()}'s:"
        )
        for line in ratios:
            print(f"   {line}")
    legend = [
        "",
        "Patter CPU: utime+stime of the Patter process over the window / (calls x seconds);",
        "  core = share of one core; idle = the same process serving no call, measured (schedstat)",
        f"  for {IDLE_S:g} s before the calls (included in every figure; weighs most at 1 call).",
        "late>20ms: agent frames arriving > 20 ms after (first frame of their response + n x 20 ms);",
        "  p99 = that lateness. relay: fake writes a response's first delta -> caller receives",
        "  that response's first frame. bench: this process (load generator + fake Realtime);",
        "  send p99 = how late its caller frames left, echo p99 = how late it echoed marks.",
        "ratio: the second carrier's figure / the first's at the same N (with --repeat, of their",
        "  medians; rounds alternate which carrier runs first). CPU is the Patter CPU",
        "  column (10 ms clock ticks); scheduler time is the same from schedstat (ns, all",
        "  threads). Late frames count as within the target when within 10% or, both under 1%,",
        f"  less than {LATE_NOISE_PP:g} percentage points apart; '-': the first carrier had none.",
    ]
    print("\n   ".join(legend))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", default="1,50,100,150", help="concurrent calls, e.g. 1,50,100")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument(
        "--carriers",
        default=",".join(CARRIERS),
        help="carriers to compare, in order (the ratios are the second's / the first's)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each carrier at each N; the ratios compare their medians",
    )
    parser.add_argument("--profile", choices=("none", "py-spy", "cprofile"), default="none")
    parser.add_argument("--skip-micro", action="store_true", help="skip part 1")
    args = parser.parse_args(argv)
    calls = [int(n) for n in args.calls.split(",") if n.strip()]
    carriers = [c.strip() for c in args.carriers.split(",") if c.strip()]
    if not carriers or len(carriers) > 2 or any(c not in CARRIERS for c in carriers):
        parser.error(f"--carriers: one or two of {', '.join(CARRIERS)}")
    print(
        f"Patter relay benchmark: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"127.0.0.1 only; carriers {', '.join(carriers)}\n"
    )
    if not args.skip_micro:
        print_frame_costs(frame_costs(tuple(carriers)))
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    results = asyncio.run(run_loads(calls, args.seconds, args.profile, carriers, args.repeat))
    for result in results:
        if result.profile:
            print(
                f"\nProfile of the Patter process at {result.calls} calls, {result.carrier} "
                f"({args.profile}):"
            )
            print(result.profile)


if __name__ == "__main__":
    main()
