"""What each STT and TTS client adds itself: latency and CPU, per provider, at 1 and 100 calls.

Run ``python bench/providers.py [--calls 1,100] [--seconds 5] [--repeat 3] [--only NAME,...]``.
It prints one table per family (STT, TTS) and asserts nothing. Issue 14's rule: no provider
may add more than 1 ms p50 over the fastest of its kind without a written reason; rows over
that are flagged "needs a written reason".

The fakes of getpatter.testing run in a process of their own (``bench/providers_fakes.py``),
so their CPU is not counted; this process is the client: the provider objects, and a driver
that plays the calls (its own share is the ``(driver)`` row, a stream that drops the audio).

STT: N streams (``open_stream(audio_format="ulaw_8000")``) each send a 20 ms μ-law frame every
20 ms of wall time: 200 ms of a loud tone, then 800 ms of silence, phases spread over the
cycle. The fakes' energy VAD ends the utterance after 300 ms of silence and sends a final;
the HTTP providers (Whisper, OpenAI Transcribe) get ``finalize()`` 300 ms into the silence,
as the pipeline's VAD would call it. Latency: from the fake writing the final to its socket
(its wall-clock stamp in the transcript's text, see ``providers_fakes.py``) to
``receive_transcripts()`` yielding it here (``time.time()``, the same CLOCK_REALTIME). For the
HTTP row the stamp is taken when the fake builds its answer, so the latency also covers the
response going out and the client's parsing. CPU: ``time.process_time()`` of this process over
the measured window, per call-second.

TTS: N callers each start ``synthesize("One short sentence.", audio_format="ulaw_8000")``
every ``--tts-period`` seconds (0.05 s for one caller, 1 s each for more: 20 and 100 sentences
a second), read the whole reply, and record the time to the first audio bytes
(``time.perf_counter()``, from the call to the first chunk). The fakes answer at once
(``speedup`` 10**6). TTFB includes the fake's own work (HTTP parsing, its reply) and loopback;
the fake's CPU per request is printed beside it. CPU: this process's, per request.

Each figure is the median over ``--repeat`` runs (p50, p99 and CPU each taken separately).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers_fakes import KEY

from getpatter.audio.g711 import pcm16_to_ulaw
from getpatter.stt.base import Transcript

FRAME_S = 0.020
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
TONE_FRAMES = 10  # 200 ms
CYCLE_FRAMES = 50  # 1 s
FINALIZE_AT = TONE_FRAMES + 15  # finalize() 300 ms into the silence (HTTP STTs)
WARMUP_S = 1.5
SENTENCE = "One short sentence."
FLAG_MS = 1.0
_STAMP = re.compile(r"\d{16}")


def _tone_frame() -> bytes:
    import math
    import struct

    samples = [int(8000 * math.sin(2 * math.pi * 400 * n / 8000)) for n in range(160)]
    return pcm16_to_ulaw(struct.pack("<160h", *samples))


TONE = _tone_frame()
SILENCE = b"\xff" * FRAME_BYTES


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Window:
    """The measured window: samples taken while ``open``."""

    open: bool = False
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    late_frames: int = 0


@dataclass
class Row:
    """One measured run of one provider at one concurrency."""

    name: str
    kind: str
    calls: int
    p50: float
    p99: float
    samples: int
    cpu: float  # ms per call-second (STT) or per request (TTS)
    fake_cpu: float
    errors: int


# Providers


def stt_providers(urls: dict[str, str]) -> dict[str, tuple[str, Callable[[], Any]]]:
    """Name -> (kind, factory) of every STT client, pointed at its fake."""
    from getpatter import (
        AssemblyAISTT,
        CartesiaSTT,
        DeepgramSTT,
        OpenAITranscribeSTT,
        SonioxSTT,
        SpeechmaticsSTT,
        WhisperSTT,
    )

    return {
        "(driver)": ("ws", lambda: _NullSTT()),
        "DeepgramSTT": ("ws", lambda: DeepgramSTT(api_key=KEY, base_url=urls["deepgram"])),
        "AssemblyAISTT": ("ws", lambda: AssemblyAISTT(api_key=KEY, base_url=urls["assemblyai"])),
        "SonioxSTT": ("ws", lambda: SonioxSTT(api_key=KEY, base_url=urls["soniox"])),
        "SpeechmaticsSTT": (
            "ws",
            lambda: SpeechmaticsSTT(api_key=KEY, base_url=urls["speechmatics"]),
        ),
        "CartesiaSTT": ("ws", lambda: CartesiaSTT(api_key=KEY, base_url=urls["cartesia_stt"])),
        "WhisperSTT": ("http", lambda: WhisperSTT(api_key=KEY, base_url=urls["transcription"])),
        "OpenAITranscribeSTT": (
            "http",
            lambda: OpenAITranscribeSTT(api_key=KEY, base_url=urls["transcription"]),
        ),
    }


def tts_providers(urls: dict[str, str]) -> dict[str, tuple[str, Callable[[], Any]]]:
    """Name -> (kind, factory) of every TTS client, pointed at its fake."""
    from getpatter import (
        LMNTTTS,
        CartesiaTTS,
        ElevenLabsTTS,
        ElevenLabsWebSocketTTS,
        OpenAITTS,
        RimeTTS,
    )

    return {
        "ElevenLabsTTS": ("http", lambda: ElevenLabsTTS(api_key=KEY, base_url=urls["elevenlabs"])),
        "ElevenLabsWebSocketTTS": (
            "ws",
            lambda: ElevenLabsWebSocketTTS(api_key=KEY, base_url=urls["elevenlabs"]),
        ),
        "OpenAITTS": ("http", lambda: OpenAITTS(api_key=KEY, base_url=urls["openai_tts"])),
        "CartesiaTTS": ("ws", lambda: CartesiaTTS(api_key=KEY, base_url=urls["cartesia_tts"])),
        "RimeTTS": ("http", lambda: RimeTTS(api_key=KEY, base_url=urls["rime"])),
        "LMNTTTS": ("http", lambda: LMNTTTS(api_key=KEY, base_url=urls["lmnt"])),
    }


class _NullSTT:
    """The driver alone: a stream that drops the audio and never transcribes."""

    class _Stream:
        def __init__(self) -> None:
            self._closed = asyncio.Event()

        async def connect(self) -> None:
            pass

        async def send_audio(self, chunk: bytes) -> None:
            pass

        async def finalize(self) -> None:
            pass

        async def receive_transcripts(self) -> Any:
            await self._closed.wait()
            return
            yield

        async def close(self) -> None:
            self._closed.set()

    capabilities = type("C", (), {"streaming": True})()

    def open_stream(self, **_: Any) -> _NullSTT._Stream:
        return self._Stream()


# STT


async def _receive(stream: Any, window: Window) -> None:
    try:
        async for event in stream.receive_transcripts():
            if not isinstance(event, Transcript) or not event.is_final:
                continue
            now_ms = time.time() * 1000
            stamp = _STAMP.search(event.text)
            if stamp is not None and window.open:
                window.latencies_ms.append(now_ms - int(stamp.group()) / 1000)
    except Exception:  # a dropped stream: counted, the call goes on without transcripts
        window.errors += 1


async def _stt_call(stt: Any, phase: int, window: Window, stop: asyncio.Event) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000")
    await stream.connect()
    receiver = asyncio.create_task(_receive(stream, window))
    streaming = stt.capabilities.streaming
    loop = asyncio.get_running_loop()
    due = loop.time()
    frame = phase
    try:
        while not stop.is_set():
            position = frame % CYCLE_FRAMES
            await stream.send_audio(TONE if position < TONE_FRAMES else SILENCE)
            if not streaming and position == FINALIZE_AT:
                await stream.finalize()
            frame += 1
            due += FRAME_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -FRAME_S and window.open:
                window.late_frames += 1
    finally:
        await stream.close()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


async def run_stt(
    factory: Callable[[], Any], calls: int, seconds: float, fake: FakeProcess
) -> tuple[Window, float, float]:
    """N streams for ``seconds`` after the warm-up; (window, client CPU s, fake CPU s)."""
    stt = factory()
    window, stop = Window(), asyncio.Event()
    rng = random.Random(calls)
    tasks = [
        asyncio.create_task(_stt_call(stt, rng.randrange(CYCLE_FRAMES), window, stop))
        for _ in range(calls)
    ]
    await asyncio.sleep(WARMUP_S)
    window.open = True
    cpu, fake_cpu = time.process_time(), fake.cpu()
    with _profiled():
        await asyncio.sleep(seconds)
    cpu, fake_cpu = time.process_time() - cpu, fake.cpu() - fake_cpu
    window.open = False
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    window.errors += sum(isinstance(r, BaseException) for r in results)
    close = getattr(stt, "close", None)
    if close is not None:
        await close()
    return window, cpu, fake_cpu


# TTS


async def _tts_caller(
    tts: Any, period: float, phase: float, window: Window, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(phase)
    due = loop.time()
    while not stop.is_set():
        start = time.perf_counter()
        first: float | None = None
        try:
            async for _chunk in tts.synthesize(SENTENCE, audio_format="ulaw_8000"):
                if first is None:
                    first = time.perf_counter() - start
        except Exception:
            if window.open:
                window.errors += 1
        else:
            if window.open and first is not None:
                window.latencies_ms.append(first * 1000)
                window.requests += 1
        due += period
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            due = loop.time()


async def run_tts(
    factory: Callable[[], Any], calls: int, seconds: float, period: float, fake: FakeProcess
) -> tuple[Window, float, float]:
    """N callers for ``seconds`` after the warm-up; (window, client CPU s, fake CPU s)."""
    tts = factory()
    window, stop = Window(), asyncio.Event()
    rng = random.Random(calls)
    tasks = [
        asyncio.create_task(_tts_caller(tts, period, rng.uniform(0, period), window, stop))
        for _ in range(calls)
    ]
    await asyncio.sleep(WARMUP_S)
    window.open = True
    cpu, fake_cpu = time.process_time(), fake.cpu()
    with _profiled():
        await asyncio.sleep(seconds)
    cpu, fake_cpu = time.process_time() - cpu, fake.cpu() - fake_cpu
    window.open = False
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    close = getattr(tts, "close", None)
    if close is not None:
        await close()
    return window, cpu, fake_cpu


# Profile

PROFILE_TOP = 0


@contextlib.contextmanager
def _profiled() -> Any:
    """With ``--profile N``: cProfile over the measured window, the top N functions printed."""
    if not PROFILE_TOP:
        yield
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        stats = pstats.Stats(profile, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(PROFILE_TOP)
        stats.sort_stats("cumulative").print_stats(PROFILE_TOP)


# The fakes' process


class FakeProcess:
    """``bench/providers_fakes.py`` running; :meth:`cpu` asks it for its CPU seconds."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("providers_fakes.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.urls: dict[str, str] = json.loads(self._process.stdout.readline())

    def cpu(self) -> float:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("cpu\n")
        self._process.stdin.flush()
        return float(self._process.stdout.readline())

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            self._process.wait()


# Report


def _median_row(runs: list[Row]) -> Row:
    first = runs[0]
    return Row(
        first.name,
        first.kind,
        first.calls,
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        sum(r.samples for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.fake_cpu for r in runs),
        sum(r.errors for r in runs),
    )


def print_family(title: str, rows: list[Row], latency: str, cpu_unit: str) -> None:
    print(f"\n{title}")
    print(
        f"{'provider':>22} {'kind':>4} {'calls':>5} | {latency + ' p50':>12} {'p99':>7} "
        f"{'n':>6} | {'Δp50 vs fastest':>15} | {'CPU ' + cpu_unit:>17} {'fake CPU':>9} | "
        f"{'errors':>6}"
    )
    for calls in sorted({r.calls for r in rows}):
        group = [r for r in rows if r.calls == calls]
        for kind in sorted({r.kind for r in group}, reverse=True):
            same = [r for r in group if r.kind == kind and not r.name.startswith("(")]
            fastest = min(same, key=lambda r: r.p50, default=None)
            for r in [r for r in group if r.kind == kind]:
                if r.name.startswith("(") or fastest is None:
                    delta = ""
                elif r is fastest:
                    delta = "fastest"
                else:
                    diff = r.p50 - fastest.p50
                    delta = f"{diff:+.2f} ms"
                    if diff > FLAG_MS:
                        delta += "  needs a written reason"
                lat = "" if r.samples == 0 else f"{r.p50:12.2f} {r.p99:7.2f}"
                print(
                    f"{r.name:>22} {r.kind:>4} {r.calls:>5} | {lat:>20} {r.samples:>6} | "
                    f"{delta:<15} | {r.cpu:17.3f} {r.fake_cpu:9.3f} | {r.errors:>6}"
                )
        print()


async def main(args: argparse.Namespace) -> None:
    global PROFILE_TOP
    PROFILE_TOP = args.profile
    fake = FakeProcess()
    try:
        stt, tts = stt_providers(fake.urls), tts_providers(fake.urls)
        only = set(args.only.split(",")) if args.only else None
        stt_runs: dict[tuple[str, int], list[Row]] = {}
        tts_runs: dict[tuple[str, int], list[Row]] = {}
        for repeat in range(args.repeat):
            for calls in args.calls:
                names = list(stt)
                if repeat % 2:
                    names.reverse()
                for name in names if "stt" in args.families else []:
                    if only and name not in only:
                        continue
                    kind, factory = stt[name]
                    window, cpu, fake_cpu = await run_stt(factory, calls, args.seconds, fake)
                    call_s = calls * args.seconds
                    row = Row(
                        name,
                        kind,
                        calls,
                        percentile(window.latencies_ms, 50),
                        percentile(window.latencies_ms, 99),
                        len(window.latencies_ms),
                        cpu * 1000 / call_s,
                        fake_cpu * 1000 / call_s,
                        window.errors,
                    )
                    stt_runs.setdefault((name, calls), []).append(row)
                    print(f"  stt {name} x{calls}: {row}", file=sys.stderr)
                names = list(tts)
                if repeat % 2:
                    names.reverse()
                for name in names if "tts" in args.families else []:
                    if only and name not in only:
                        continue
                    kind, factory = tts[name]
                    period = args.tts_period if calls > 1 else args.tts_period_single
                    window, cpu, fake_cpu = await run_tts(
                        factory, calls, args.seconds, period, fake
                    )
                    requests = max(1, window.requests)
                    row = Row(
                        name,
                        kind,
                        calls,
                        percentile(window.latencies_ms, 50),
                        percentile(window.latencies_ms, 99),
                        len(window.latencies_ms),
                        cpu * 1000 / requests,
                        fake_cpu * 1000 / requests,
                        window.errors,
                    )
                    tts_runs.setdefault((name, calls), []).append(row)
                    print(f"  tts {name} x{calls}: {row}", file=sys.stderr)
    finally:
        fake.close()
    print(
        f"Medians of {args.repeat} run(s) of {args.seconds:g} s each (after {WARMUP_S:g} s "
        f"warm-up); flag: p50 more than {FLAG_MS:g} ms over the fastest of its kind."
    )
    if stt_runs:
        print_family(
            "STT: final transcript, fake's socket write -> receive_transcripts() yields it",
            [_median_row(r) for r in stt_runs.values()],
            "ms",
            "ms/call-s",
        )
    if tts_runs:
        print_family(
            "TTS: synthesize() -> first audio bytes (includes the fake's own reply work)",
            [_median_row(r) for r in tts_runs.values()],
            "TTFB ms",
            "ms/request",
        )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", default="1,100", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--families", default="stt,tts")
    parser.add_argument("--only", default="", help="comma-separated provider class names")
    parser.add_argument(
        "--profile", type=int, default=0, help="cProfile each window, print the top N functions"
    )
    parser.add_argument("--tts-period", type=float, default=1.0)
    parser.add_argument("--tts-period-single", type=float, default=0.05)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_parse()))
