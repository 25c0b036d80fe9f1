"""Whole pipeline calls through ``Patter.serve()`` under load, for ``bench/pipeline.py``.

The structure is the relay benchmark's (``relay_load.py``, whose helpers this module drives):
Patter runs in its own process (``pipeline_server.py``) so that its CPU and memory can be read
alone from ``/proc``; this process rings it N times as Twilio would and plays every call's media
stream, while the lean fakes of ``pipeline_peers.py`` stand in for Deepgram, ElevenLabs and
OpenAI. Each call speaks babble at the start of every period; when its speech has ended and the
endpointing silence has passed, the fake Deepgram sends the call a final result (or, with a VAD
in the agent, answers the ``Finalize`` Patter sends when its VAD hears the caller stop). The
turn latency runs from writing that final to the caller receiving the reply's first frame, both
read on this process's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pipeline_peers import REPLY_FRAMES, CallerVoice, FakeDeepgram, FakeSpeechAPIs, caller_script
from pipeline_providers import STT_BRAINS, TTS_BRAINS, TurnWatch
from relay_load import (
    IDLE_S,
    LoadResult,
    PatterProcess,
    Profiler,
    _cpu_ms_per_s,
    _measure,
    _ring,
    free_port,
    percentile,
    process_cpu_s,
)
from relay_peers import CallerStats, TwilioCaller

__all__ = ["ENDPOINT_MS", "PipelineResult", "rss_mb", "run_pipeline_load"]

PROVIDER_BRAINS = frozenset({*STT_BRAINS, *TTS_BRAINS})
ENDPOINT_MS = 300
"""Silence after the caller's speech before the fake STT's final (as Deepgram endpointing)."""


@dataclass
class PipelineResult:
    """One run: the relay's load figures (``relay_ms`` holds the turn latencies, ``responses``
    the turns measured, ``appends`` the audio frames the fake STT got) plus memory and checks."""

    brain: str
    load: LoadResult
    rss_idle_mb: float
    rss_mb: float
    finalizes: int
    unmapped_finals: int
    unanswered_turns: int
    tts_requests: int
    llm_requests: int
    stt_formats: set[str]
    tts_formats: set[str]
    others_core_pct: float
    """CPU used meanwhile by every other process on the machine, in % of one core."""
    llm_request_ms: list[float]
    """Per turn: the fake STT's final -> the LLM request's arrival at the fake (LLM brains)."""
    tts_request_ms: list[float]
    """Per turn: the fake STT's final -> the first TTS request's arrival at the fake."""
    final_lag_ms: list[float] = field(default_factory=list)
    """``stt-*`` brains: the package fake's final after the caller's endpoint, ms."""

    @property
    def mb_per_call(self) -> float:
        return (self.rss_mb - self.rss_idle_mb) / self.load.calls


class PipelineProcess(PatterProcess):
    """``bench/pipeline_server.py`` in a child process."""

    def __init__(
        self,
        port: int,
        workdir: Path,
        deepgram_url: str,
        http_url: str,
        brain: str,
        fake_urls: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port, (), workdir, "", traced=brain.endswith("+tracing"))
        self._args = [
            str(Path(__file__).with_name("pipeline_server.py")),
            str(port),
            deepgram_url,
            http_url,
            brain,
            json.dumps(fake_urls or {}),
        ]


def machine_busy_s() -> float:
    """CPU time used on the whole machine (all cores, all processes) since boot, in s."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class _Others:
    """The CPU other processes use while the calls run: the machine's minus Patter's and ours.

    Coarse: ``/proc/stat`` is sampled at each clock tick while the processes' own times are
    exact, so at high packet rates the difference is off by up to ~15% of a core.
    """

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        return (
            time.monotonic(),
            machine_busy_s(),
            sum(process_cpu_s(self._pid)),
            time.process_time(),
        )

    def core_pct(self) -> float:
        """Since construction, in % of one core."""
        end = self._sample()
        wall, busy, patter, bench = (b - a for a, b in zip(self._start, end, strict=True))
        return 100 * (busy - patter - bench) / wall


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1000
    return float("nan")


async def run_pipeline_load(
    calls: int,
    seconds: float,
    brain: str,
    every_s: float,
    speech_s: float,
    profile: str,
    fake_urls: dict[str, str] | None = None,
) -> PipelineResult:
    """Run ``calls`` concurrent pipeline calls through a fresh Patter process (``fake_urls``:
    the package fakes' process, for the provider brains of ``pipeline_providers``)."""
    vad = brain.endswith("+vad")
    # Provider brains: the turns as the callers hear them (pipeline_providers.TurnWatch).
    watch = TurnWatch(stamped=brain in STT_BRAINS) if brain in PROVIDER_BRAINS else None
    script = caller_script(every_s, speech_s, ENDPOINT_MS)
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        deepgram = FakeDeepgram(answer_finalize=vad)
        apis = FakeSpeechAPIs()
        await deepgram.start()
        await apis.start()
        profiler = Profiler(profile, seconds, Path(tmp))
        server = PipelineProcess(
            free_port(), Path(tmp), deepgram.base_url, apis.base_url, brain, fake_urls
        )
        stats = CallerStats()
        placed: list[tuple[TwilioCaller, dict[str, Any]]] = []
        try:
            await server.start()
            idle_ms = await _cpu_ms_per_s(server.pid, IDLE_S)
            rss_idle = rss_mb(server.pid)
            placed = await _ring(server.port, calls, stats)
            if brain in STT_BRAINS:
                await asyncio.sleep(1.0)  # the package STT fake's sockets open meanwhile
            else:
                async with asyncio.timeout(60):
                    await deepgram.wait_connections(len(placed))
            on_endpoint: Callable[[int], object] | None = None if vad else deepgram.final
            if watch is not None:
                for caller, stop in placed:
                    watch.attach(caller, int(stop["streamSid"][2:], 16))
                on_endpoint = watch.endpoint if watch.stamped else _final_watched(deepgram, watch)
            voices = [
                CallerVoice(
                    caller,
                    stop["streamSid"],
                    int(stop["streamSid"][2:], 16),
                    script,
                    i * script.period // max(1, len(placed)),
                    on_endpoint,
                )
                for i, (caller, stop) in enumerate(placed)
            ]
            others = _Others(server.pid)
            # relay_load.pace only calls send_media(seq, lateness): the voices stand in.
            window = await _measure(
                server, cast(list[TwilioCaller], voices), stats, seconds, profiler
            )
            others_pct = others.core_pct()
            rss = rss_mb(server.pid)
            for caller, stop in placed:
                caller.hang_up(stop)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await asyncio.gather(*(caller.closed for caller, _ in placed))
        finally:
            for caller, _ in placed:
                caller.abort()
            await server.stop()
            await deepgram.close()
            await apis.close()
        report = profiler.report()
        log = [line for line in server.errors().splitlines() if line.strip()]
    t0, t1, patter_user, patter_system, patter_runtime, bench_cpu, tracing = window
    keys = [key for key, sent in deepgram.final_sent.items() if t0 <= sent <= t1]
    turn_ms = [
        (stats.first_arrival[key] - deepgram.final_sent[key]) * 1000
        for key in keys
        if key in stats.first_arrival
    ]
    llm_request_ms = [
        (apis.llm_received[key] - deepgram.final_sent[key]) * 1000
        for key in keys
        if key in apis.llm_received
    ]
    tts_request_ms = [
        (apis.tts_received[key] - deepgram.final_sent[key]) * 1000
        for key in keys
        if key in apis.tts_received
    ]
    lateness = [late for key in keys for late in stats.lateness.get(key, [])]
    final_lag_ms: list[float] = []
    if watch is not None:
        # The reply frames of package TTS fakes carry no markers, the stamped ones no call:
        # the turns are the watch's.
        turn_ms = watch.in_window(t0, t1)
        lateness = []
        final_lag_ms = watch.final_lag_ms
    turns = len(turn_ms) if watch is not None else len(keys)
    load = LoadResult(
        calls=calls,
        window_s=t1 - t0,
        patter_user_s=patter_user,
        patter_system_s=patter_system,
        patter_runtime_s=patter_runtime,
        idle_ms_per_s=idle_ms,
        bench_cpu_s=bench_cpu,
        responses=turns,
        frames_expected=len(lateness) if watch is not None else turns * REPLY_FRAMES,
        frames_received=len(lateness),
        late_frames=sum(1 for late in lateness if late > 0.020),
        lateness_p99_ms=percentile(lateness, 99) * 1000,
        relay_ms=turn_ms,
        send_late_ms=[late * 1000 for late in stats.send_lateness],
        echo_late_ms=[late * 1000 for late in stats.echo_lateness],
        media_sent=stats.media_sent,
        appends=deepgram.audio_frames,
        failed_calls=calls - len(placed),
        server_log=log,
        profile=report,
        tracing_cpu_s=tracing,
    )
    return PipelineResult(
        brain=brain,
        load=load,
        rss_idle_mb=rss_idle,
        rss_mb=rss,
        finalizes=deepgram.finalizes,
        unmapped_finals=deepgram.unmapped_finals,
        unanswered_turns=turns - len(turn_ms),
        tts_requests=apis.tts_requests,
        llm_requests=apis.llm_requests,
        stt_formats=deepgram.encodings,
        tts_formats=apis.tts_formats,
        others_core_pct=others_pct,
        llm_request_ms=llm_request_ms,
        tts_request_ms=tts_request_ms,
        final_lag_ms=final_lag_ms,
    )


def _final_watched(deepgram: FakeDeepgram, watch: TurnWatch) -> Callable[[int], None]:
    """The lean Deepgram's final for a call, its send time told to ``watch``."""

    def final(call: int) -> None:
        deepgram.final(call)
        connection = deepgram._calls.get(call)
        if connection is not None:
            watch.final(call, deepgram.final_sent.get((call, connection._turns & 0xFF)))

    return final
