"""What relaying a phone call costs Patter: CPU per 20 ms frame, per call-second, and under load.

Run ``python bench/relay.py [--calls 1,50,100,150] [--seconds 20]``. It prints numbers, with
the targets beside them, and asserts nothing. Everything runs on 127.0.0.1.

1. Micro-benchmarks of the code a call runs for each frame, with stub sockets: caller audio
   through ``ServerDesk._relay`` -> ``CallSession.on_media`` -> ``RealtimeEngine.send_audio``;
   agent audio through ``RealtimeEngine._stream`` -> ``CallSession._handle`` ->
   ``OutboundAudio`` -> the Twilio codec; and each echoed mark back through ``_relay``.
2. Whole calls: ``Patter.serve()`` runs in its own process (``bench/relay_server.py``) so its
   CPU can be read alone from ``/proc``; this process plays N Twilio media streams and a lean
   fake OpenAI Realtime server (``bench/relay_peers.py``). Each call sends a caller frame every
   20 ms and gets a 2 s response every 3 s. Reported: Patter's CPU per call-second, outbound
   frames more than 20 ms late, the relay latency (fake writes a response's first delta ->
   caller receives its first frame), and this process's own CPU and send lateness, which tell
   when the load generator, not Patter, is the limit.

``--profile py-spy`` (py-spy on PATH) or ``--profile cprofile`` profiles the Patter process
during the measured window and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform

from relay_frames import FrameCosts, frame_costs
from relay_load import (
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


def print_frame_costs(costs: FrameCosts) -> None:
    rows = [
        ("Inbound, per caller frame (Twilio -> OpenAI)", None, ""),
        ("  parse_frame(media JSON)", costs.parse_media, ""),
        ("  CallSession.on_media -> RealtimeEngine.send_audio", costs.on_media, ""),
        ("  ServerDesk._relay: both of the above, per frame", costs.inbound, "counted"),
        ("Outbound, per agent frame (OpenAI -> Twilio)", None, ""),
        ("  decode_audio_delta, share per frame (1/5 of 100 ms)", costs.decode_share, ""),
        ("  RealtimeEngine._stream + CallSession._handle, 1/5", costs.delta_share, "counted"),
        ("  media_message + mark_message", costs.build_messages, ""),
        ("  OutboundAudio send loop: media + mark to the socket", costs.outbound_send, "counted"),
        ("  ServerDesk._relay: the echoed mark (on_mark)", costs.mark_back, "counted"),
    ]
    print("1. CPU per relayed 20 ms frame (Patter's code, stub sockets, best of 7)")
    print(f"   {'':56} {'µs/frame':>9}")
    for label, value, note in rows:
        print(f"   {label:56} {'' if value is None else f'{value:9.2f}'} {note}")
    inbound_ms = FRAMES_PER_S * costs.inbound / 1000
    outbound_ms = FRAMES_PER_S * costs.outbound / 1000
    load_ms = inbound_ms + outbound_ms * RESPONSE_S / RESPONSE_EVERY_S
    print(
        f"   inbound {costs.inbound:.1f} µs + outbound {costs.outbound:.1f} µs per frame pair\n"
        f"   -> {inbound_ms + outbound_ms:.2f} ms CPU per call-second with the agent talking "
        f"all the time (50 frames each way + 50 marks)\n"
        f"   -> {load_ms:.2f} ms per call-second for the load of part 2 (agent talks 2 s in 3)\n"
        f"   target for the whole call, sockets and event loop included: "
        f"<= {TARGET_CPU_MS:g} ms per call-second (part 2)"
    )


def print_load_header(seconds: float) -> None:
    print(
        f"\n2. Whole calls through Patter.serve() in its own process ({MODEL}, {seconds:g} s "
        f"measured after {WARMUP_S:g} s warm-up;\n   caller frame every 20 ms, a {RESPONSE_S:g} s "
        f"response every {RESPONSE_EVERY_S:g} s per call)"
    )
    print(
        f"   {'calls':>5} | {'Patter CPU':>10} {'(<=8)':>6} {'core':>5} {'idle':>5} | "
        f"{'late>20ms':>9} {'(<1%)':>6} {'p99':>6} | {'relay p50':>9} {'(<1)':>5} "
        f"{'p99':>6} | {'bench':>5} {'send p99':>8} {'echo p99':>8}"
    )
    print(
        f"   {'':>5} | {'ms/call-s':>10} {'':>6} {'%':>5} {'ms/s':>5} | {'% frames':>9} {'':>6} "
        f"{'ms':>6} | {'ms':>9} {'':>5} {'ms':>6} | {'core%':>5} {'ms':>8} {'ms':>8}"
    )


def print_load_row(r: LoadResult) -> None:
    cpu_ok = "ok" if r.cpu_ms_per_call_s <= TARGET_CPU_MS else "OVER"
    late_ok = "ok" if r.late_pct < TARGET_LATE_PCT else "OVER"
    relay_p50 = percentile(r.relay_ms, 50)
    relay_ok = "ok" if relay_p50 < TARGET_RELAY_P50_MS else "OVER"
    print(
        f"   {r.calls:>5} | {r.cpu_ms_per_call_s:>10.2f} {cpu_ok:>6} "
        f"{100 * r.patter_cpu_s / r.window_s:>5.0f} {r.idle_ms_per_s:>5.1f} | "
        f"{r.late_pct:>9.2f} {late_ok:>6} "
        f"{r.lateness_p99_ms:>6.1f} | {relay_p50:>9.2f} {relay_ok:>5} "
        f"{percentile(r.relay_ms, 99):>6.2f} | {r.bench_busy_pct:>5.0f} "
        f"{percentile(r.send_late_ms, 99):>8.2f} {percentile(r.echo_late_ms, 99):>8.2f}"
    )


def print_load_checks(results: list[LoadResult]) -> None:
    print("\n   Completeness (measured window; responses = those whose first delta it holds):")
    for r in results:
        print(
            f"   {r.calls:>5} calls: {r.failed_calls} failed to connect; caller frames sent "
            f"{r.media_sent}, appends at the fake {r.appends}; responses {r.responses}, "
            f"agent frames {r.frames_received}/{r.frames_expected}; generator "
            f"{'BEHIND' if r.generator_behind else 'keeping up'}; Patter stderr: "
            f"{len(r.server_log)} lines; Patter CPU {r.patter_cpu_s:.2f} s (user "
            f"{r.patter_user_s:.2f} + system {r.patter_system_s:.2f}; schedstat "
            f"{r.patter_runtime_s:.2f})"
        )
        for line in r.server_log[:3]:
            print(f"         {line}")


async def run_loads(calls: list[int], seconds: float, profile: str) -> list[LoadResult]:
    print_load_header(seconds)
    results: list[LoadResult] = []
    for count in calls:
        result = await run_load(count, seconds, profile)
        results.append(result)
        print_load_row(result)
        if result.generator_behind:
            print(
                f"   load generator behind at {count} calls (send p99 > {GENERATOR_LATE_MS:g} ms "
                f"or > {GENERATOR_BUSY_PCT:g}% of a core): not raising N further"
            )
            break
    print_load_checks(results)
    legend = [
        "",
        "Patter CPU: utime+stime of the Patter process over the window / (calls x seconds);",
        "  core = share of one core; idle = the same process serving no call, measured (schedstat)",
        f"  for {IDLE_S:g} s before the calls (included in every figure; weighs most at 1 call).",
        "late>20ms: agent frames arriving > 20 ms after (first frame of their response + n x 20 ms);",
        "  p99 = that lateness. relay: fake writes a response's first delta -> caller receives",
        "  that response's first frame. bench: this process (load generator + fake Realtime);",
        "  send p99 = how late its caller frames left, echo p99 = how late it echoed marks.",
    ]
    print("\n   ".join(legend))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", default="1,50,100,150", help="concurrent calls, e.g. 1,50,100")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument("--profile", choices=("none", "py-spy", "cprofile"), default="none")
    parser.add_argument("--skip-micro", action="store_true", help="skip part 1")
    args = parser.parse_args(argv)
    calls = [int(n) for n in args.calls.split(",") if n.strip()]
    print(
        f"Patter relay benchmark: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"127.0.0.1 only\n"
    )
    if not args.skip_micro:
        print_frame_costs(frame_costs())
    results = asyncio.run(run_loads(calls, args.seconds, args.profile))
    for result in results:
        if result.profile:
            print(f"\nProfile of the Patter process at {result.calls} calls ({args.profile}):")
            print(result.profile)


if __name__ == "__main__":
    main()
