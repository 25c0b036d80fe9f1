"""Part 2 of ``bench/relay.py``: whole calls through ``Patter.serve()`` under load.

Patter runs in its own process (``relay_server.py``) so that its CPU can be read alone from
``/proc/<pid>/stat``. This process rings it N times as one carrier would, then sends each call a
caller frame every 20 ms on a monotonic schedule while the engine's fake (``relay_peers.py``:
``FakeRealtime`` for OpenAI Realtime, ``FakeConvAI`` for an ElevenLabs ConvAI public agent)
answers each call with a 2 s response every 3 s, in 100 ms audio messages. As Twilio: a signed voice
webhook, TwiML, a media stream with ``connected`` and ``start``. As Telnyx: a ``call.initiated``
event (direction ``incoming``) signed with a test Ed25519 key whose public half Patter was
given; Patter answers it with a REST ``answer`` command to a fake Call Control API
(``relay_peers.FakeTelnyxRest``) whose ``stream_url`` the caller then opens, sending
``connected`` and ``start`` (PCMU 8 kHz). After a warm-up, one window is measured; the calls then
play out their last responses, send ``stop`` and close, and the Patter process is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pstats
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import tracing_cpu
from relay_peers import (
    CallerStats,
    FakeAgentServer,
    FakeConvAI,
    FakeRealtime,
    FakeTelnyxRest,
    MediaCaller,
    TelnyxCaller,
    TwilioCaller,
)
from relay_server import ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER, TELNYX_CONNECTION_ID

from getpatter.testing.telnyx_simulator.signature import WebhookSigner
from getpatter.testing.twilio_simulator import twilio_signature

__all__ = ["CARRIERS", "ENGINES", "LoadResult", "percentile", "run_load"]

CARRIERS = ("twilio", "telnyx")
ENGINES = ("realtime", "convai")
TRACED = "+tracing"
"""An engine name with this suffix runs with tracing on (``relay.py --tracing``)."""

MODEL = "gpt-realtime"
AGENT_ID = "agent_relay_bench"
FRAMES_PER_S = 50
WARMUP_S = 2.0
IDLE_S = 4.0
RESPONSE_EVERY_S = 3.0
RESPONSE_S = 2.0
# The load generator is behind when its own frames leave this late (p99), or when it uses this
# share of its core: past that, the figures measure the generator, not Patter.
DASHBOARD_TOKEN = "relay-bench-dashboard-token"
DASHBOARD_CLIENT = False
"""Whether one browser's dashboard event stream stays connected to the Patter process while it
serves (``bench/relay.py --dashboard-client``)."""
GENERATOR_LATE_MS = 5.0
GENERATOR_BUSY_PCT = 85.0


@dataclass
class LoadResult:
    """What one run of ``calls`` concurrent calls measured (times in the window unless noted)."""

    calls: int
    window_s: float
    patter_user_s: float
    patter_system_s: float
    patter_runtime_s: float
    idle_ms_per_s: float
    bench_cpu_s: float
    responses: int
    frames_expected: int
    frames_received: int
    late_frames: int
    lateness_p99_ms: float
    relay_ms: list[float]
    send_late_ms: list[float]
    echo_late_ms: list[float]
    media_sent: int
    appends: int
    failed_calls: int
    server_log: list[str]
    profile: str
    carrier: str = "twilio"
    engine: str = "realtime"
    rest_actions: dict[str, int] = field(default_factory=dict)
    """Call Control commands Patter sent the fake Telnyx REST API, by action."""
    tracing_cpu_s: tuple[float, float] | None = None
    """With tracing on: the CPU its call tracer and its exporter thread used in the window."""

    @property
    def tracing_ms_per_call_s(self) -> tuple[float, float]:
        """Tracing's own CPU (see ``tracing_cpu.py``) per call-second, in ms: its tracer's and
        its exporter thread's (0 with tracing off)."""
        tracer, exporter = self.tracing_cpu_s or (0.0, 0.0)
        call_s = self.calls * self.window_s
        return tracer * 1000 / call_s, exporter * 1000 / call_s

    @property
    def patter_cpu_s(self) -> float:
        return self.patter_user_s + self.patter_system_s

    @property
    def cpu_ms_per_call_s(self) -> float:
        return self.patter_cpu_s * 1000 / (self.calls * self.window_s)

    @property
    def late_pct(self) -> float:
        return 100 * self.late_frames / max(1, self.frames_received)

    @property
    def bench_busy_pct(self) -> float:
        return 100 * self.bench_cpu_s / self.window_s

    @property
    def generator_behind(self) -> bool:
        return (
            percentile(self.send_late_ms, 99) > GENERATOR_LATE_MS
            or self.bench_busy_pct > GENERATOR_BUSY_PCT
        )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def process_cpu_s(pid: int) -> tuple[float, float]:
    """(utime, stime) of process ``pid``, all threads, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def process_runtime_s(pid: int) -> float:
    """CPU time of all threads of ``pid`` from the scheduler, in ns steps (10 ms for /stat)."""
    return (
        sum(
            int(task.joinpath("schedstat").read_text().split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
        / 1e9
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PatterProcess:
    """``bench/relay_server.py`` in a child process."""

    def __init__(
        self,
        port: int,
        engine_args: Sequence[str],
        workdir: Path,
        cprofile_path: str,
        carrier_args: Sequence[str] = (),
        *,
        traced: bool = False,
    ) -> None:
        self.port = port
        self.tracing_file = workdir / "tracing-cpu.txt" if traced else None
        """Where a traced Patter process answers ``tracing_cpu.read``."""
        script = str(Path(__file__).with_name("relay_server.py"))
        self._args = [script, str(port), *engine_args]
        self._carrier_args = list(carrier_args)
        self._cprofile = cprofile_path
        self.log_path = workdir / "patter-stderr.txt"
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._browser: asyncio.subprocess.Process | None = None
        self._drain_browser: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "RELAY_DASHBOARD_TOKEN": DASHBOARD_TOKEN}
        if self._cprofile:
            env["RELAY_CPROFILE"] = self._cprofile
        if self.tracing_file is not None:
            env[tracing_cpu.FILE_VARIABLE] = str(self.tracing_file)
        # No proxy, and no ElevenLabs key: the ConvAI agent is reached as a public one.
        for name in (
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "ELEVENLABS_API_KEY",
        ):
            env.pop(name, None)
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *self._args,
                *self._carrier_args,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
            )
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the Patter process exited:\n{self.errors()}")
                if line.strip() == b"READY":
                    break
        self._drain = asyncio.create_task(self._discard(self.proc.stdout))
        if DASHBOARD_CLIENT:
            self._browser = await self._open_dashboard()

    async def _open_dashboard(self) -> asyncio.subprocess.Process:
        """A browser's event stream, read by ``curl`` in a process of its own (so that neither
        Patter's nor this process's CPU pays for the reading); returns once subscribed."""
        curl = shutil.which("curl")
        if curl is None:
            raise RuntimeError("--dashboard-client needs curl on PATH")
        browser = await asyncio.create_subprocess_exec(
            curl,
            "-sN",
            "-H",
            f"Authorization: Bearer {DASHBOARD_TOKEN}",
            f"http://127.0.0.1:{self.port}/api/v1/events",
            stdout=asyncio.subprocess.PIPE,
        )
        assert browser.stdout is not None
        async with asyncio.timeout(10):
            first = await browser.stdout.readline()
        if not first.startswith(b"retry:"):
            raise RuntimeError(f"the dashboard's event stream did not open: {first!r}")
        self._drain_browser = asyncio.create_task(self._discard(browser.stdout))
        return browser

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            continue

    def signal(self, number: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(number)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self._browser is not None:
            self._browser.terminate()
            await self._browser.wait()
            if self._drain_browser is not None:
                await self._drain_browser
        self.signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._drain is not None:
            await self._drain

    def errors(self) -> str:
        return self.log_path.read_text(errors="replace")


async def place_call(
    client: httpx.AsyncClient, port: int, index: int, stats: CallerStats
) -> tuple[TwilioCaller, dict[str, Any]]:
    """Ring Patter as Twilio would (signed voice webhook), open the media stream, start it."""
    host = f"127.0.0.1:{port}"
    call_sid = f"CA{index:032x}"
    stream_sid = f"MZ{index:032x}"
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": PHONE_NUMBER,
        "Caller": f"+1555{index:07d}",
        "Direction": "inbound",
        "From": f"+1555{index:07d}",
        "To": PHONE_NUMBER,
    }
    path = "/webhooks/twilio/voice"
    signature = twilio_signature(AUTH_TOKEN, f"https://{host}{path}", form)
    answer = await client.post(
        f"http://{host}{path}", data=form, headers={"X-Twilio-Signature": signature}
    )
    answer.raise_for_status()
    stream = ET.fromstring(answer.text).find("./Connect/Stream")
    if stream is None:
        raise RuntimeError(f"no <Stream> in the TwiML: {answer.text}")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    stream_path = urlsplit(stream.get("url", "")).path
    loop = asyncio.get_running_loop()
    _, caller = await loop.create_connection(
        lambda: TwilioCaller(host=host, path=stream_path, stream_sid=stream_sid, stats=stats),
        "127.0.0.1",
        port,
    )
    await caller.opened
    caller.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    caller.send_json(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": ACCOUNT_SID,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": parameters,
            },
            "streamSid": stream_sid,
        }
    )
    stop = {
        "event": "stop",
        "sequenceNumber": "999999",
        "streamSid": stream_sid,
        "stop": {"accountSid": ACCOUNT_SID, "callSid": call_sid},
    }
    return caller, stop


class TelnyxLine:
    """Places calls as Telnyx would: signs ``call.initiated`` events with a test Ed25519 key,
    and runs the fake Call Control REST API that Patter answers them through."""

    def __init__(self) -> None:
        self.signer = WebhookSigner()
        self.rest = FakeTelnyxRest()

    def server_args(self) -> list[str]:
        """The Patter process's carrier arguments (see ``relay_server.py``)."""
        return ["telnyx", self.signer.public_key, self.rest.base_url]

    async def place_call(
        self, client: httpx.AsyncClient, port: int, index: int, stats: CallerStats
    ) -> tuple[TelnyxCaller, dict[str, Any]]:
        """Post a signed incoming ``call.initiated``, await Patter's ``answer`` command, open
        the media stream it names and start it."""
        host = f"127.0.0.1:{port}"
        call_id = f"v3:relay-bench-{index:08d}"
        stream_id = str(uuid.UUID(int=index))
        session_id = str(uuid.uuid4())
        caller_number = f"+1555{index:07d}"
        path = "/webhooks/telnyx/voice"
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event = {
            "data": {
                "record_type": "event",
                "event_type": "call.initiated",
                "id": str(uuid.uuid4()),
                "occurred_at": now,
                "payload": {
                    "call_control_id": call_id,
                    "call_leg_id": str(uuid.uuid4()),
                    "call_session_id": session_id,
                    "connection_id": TELNYX_CONNECTION_ID,
                    "from": caller_number,
                    "to": PHONE_NUMBER,
                    "direction": "incoming",
                    "state": "parked",
                    "start_time": now,
                },
            },
            "meta": {"attempt": 1, "delivered_to": f"https://{host}{path}"},
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        answered = self.rest.answered(call_id)
        response = await client.post(
            f"http://{host}{path}",
            content=body,
            headers={"Content-Type": "application/json", **self.signer.headers(body)},
        )
        response.raise_for_status()
        async with asyncio.timeout(30):
            stream_path = urlsplit(await answered).path
        loop = asyncio.get_running_loop()
        _, caller = await loop.create_connection(
            lambda: TelnyxCaller(host=host, path=stream_path, stream_id=stream_id, stats=stats),
            "127.0.0.1",
            port,
        )
        await caller.opened
        caller.send_json({"event": "connected", "version": "1.0.0"})
        caller.send_json(
            {
                "event": "start",
                "sequence_number": "1",
                "stream_id": stream_id,
                "start": {
                    "user_id": "relay-bench-user",
                    "call_control_id": call_id,
                    "call_session_id": session_id,
                    "from": caller_number,
                    "to": PHONE_NUMBER,
                    "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
                },
            }
        )
        stop = {
            "event": "stop",
            "sequence_number": "999999",
            "stream_id": stream_id,
            "stop": {"call_control_id": call_id},
        }
        return caller, stop


async def pace(callers: Sequence[MediaCaller], start: float, until: float) -> None:
    """Send every caller a frame every 20 ms on a monotonic schedule, phases spread evenly."""
    loop = asyncio.get_running_loop()
    count = len(callers)
    period = 1 / FRAMES_PER_S
    offsets = [i * period / count for i in range(count)]
    tick = index = 0
    due = start
    while due < until:
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        now = loop.time()
        while due <= now:
            callers[index].send_media(tick, now - due)
            index += 1
            if index == count:
                index, tick = 0, tick + 1
            due = start + tick * period + offsets[index]


class Profiler:
    """py-spy or cProfile over the Patter process during the measured window."""

    def __init__(self, kind: str, seconds: float, workdir: Path) -> None:
        self.kind = kind
        self._seconds = seconds
        self._dir = workdir
        self.cprofile_path = str(workdir / "patter.prof") if kind == "cprofile" else ""
        self._spy: asyncio.subprocess.Process | None = None

    async def begin(self, server: PatterProcess) -> None:
        if self.kind == "cprofile":
            server.signal(signal.SIGUSR1)
        elif self.kind == "py-spy":
            spy = shutil.which("py-spy")
            if spy is None:
                raise SystemExit("--profile py-spy needs py-spy on PATH (pip install py-spy)")
            self._spy = await asyncio.create_subprocess_exec(
                spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(round(self._seconds)),
                "--rate",
                "200",
                "--function",
                "--full-filenames",
                "--format",
                "raw",
                "--output",
                str(self._dir / "patter.txt"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )

    async def end(self, server: PatterProcess) -> None:
        if self.kind == "cprofile":
            server.signal(signal.SIGUSR2)
            await asyncio.sleep(1.0)
        elif self._spy is not None:
            async with asyncio.timeout(30):
                await self._spy.wait()

    def report(self) -> str:
        if self.kind == "cprofile":
            out = io.StringIO()
            stats = pstats.Stats(self.cprofile_path, stream=out)
            stats.sort_stats("tottime").print_stats(15)
            return out.getvalue()
        if self.kind == "py-spy":
            return collapsed_top((self._dir / "patter.txt").read_text(), 15)
        return ""


def collapsed_top(text: str, limit: int) -> str:
    """Top functions of py-spy's collapsed stacks: own time, callers, and Patter's totals."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    callers: dict[str, Counter[tuple[str, ...]]] = {}
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [
            _short(frame)
            for frame in stack.split(";")
            if not frame.startswith(("process ", "thread "))
        ]
        samples += count
        own[frames[-1]] += count
        callers.setdefault(frames[-1], Counter())[tuple(frames[-5:-1])] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"py-spy: {samples} busy samples of the Patter process (200 Hz)", "", "by own time:"]
    lines += [f"  {100 * c / samples:5.1f}%  {f}" for f, c in own.most_common(limit)]
    lines += ["", "their most frequent callers (nearest first):"]
    for frame, _ in own.most_common(limit):
        path, count = callers[frame].most_common(1)[0]
        share = 100 * count / own[frame]
        lines.append(
            f"  {frame.split(' (')[0]} ({share:.0f}% of it): "
            + " <- ".join(f.split(" (")[0] for f in reversed(path))
        )
    lines += ["", "Patter's functions by total time (self + callees):"]
    patter = [(f, c) for f, c in total.most_common() if "(getpatter/" in f]
    lines += [f"  {100 * c / samples:5.1f}%  {f}" for f, c in patter[:limit]]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``function (path:line)`` with the path cut to the package (py-spy --full-filenames)."""
    name, _, where = frame.partition(" (")
    for marker in ("/site-packages/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/"):
        if marker in where:
            return f"{name} ({where.split(marker, 1)[1]}"
    if "/getpatter/" in where:
        return f"{name} (getpatter/{where.split('/getpatter/', 1)[1]}"
    return frame


async def run_load(
    calls: int, seconds: float, profile: str, carrier: str = "twilio", engine: str = "realtime"
) -> LoadResult:
    """Run ``calls`` concurrent calls of ``carrier`` (``twilio`` or ``telnyx``) through a fresh
    Patter process whose agent uses ``engine`` (``realtime`` or ``convai``, with ``+tracing``:
    tracing on, exporting to the collector at ``$BENCH_OTLP_URL``); measure ``seconds``."""
    if carrier not in CARRIERS:
        raise ValueError(f"unknown carrier {carrier!r}: one of {', '.join(CARRIERS)}")
    kind, traced = engine.removesuffix(TRACED), engine.endswith(TRACED)
    if kind not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        fake: FakeAgentServer[Any]
        if kind == "convai":
            fake = FakeConvAI(every=RESPONSE_EVERY_S, seconds=RESPONSE_S)
        else:
            fake = FakeRealtime(every=RESPONSE_EVERY_S, seconds=RESPONSE_S)
        await fake.start()
        name = AGENT_ID if kind == "convai" else MODEL
        telnyx = TelnyxLine() if carrier == "telnyx" else None
        if telnyx is not None:
            await telnyx.rest.start()
        profiler = Profiler(profile, seconds, Path(tmp))
        server = PatterProcess(
            free_port(),
            (engine, fake.base_url, name),
            Path(tmp),
            profiler.cprofile_path,
            telnyx.server_args() if telnyx is not None else (),
            traced=traced,
        )
        stats = CallerStats()
        callers: list[tuple[MediaCaller, dict[str, Any]]] = []
        try:
            await server.start()
            idle_ms = await _cpu_ms_per_s(server.pid, IDLE_S)
            callers = await _ring(server.port, calls, stats, telnyx)
            async with asyncio.timeout(60):
                await fake.wait_sessions(len(callers))
            window = await _measure(server, [c for c, _ in callers], stats, seconds, profiler)
            appends = fake.appends
            for caller, stop in callers:
                caller.hang_up(stop)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await asyncio.gather(*(caller.closed for caller, _ in callers))
        finally:
            for caller, _ in callers:
                caller.abort()
            await server.stop()
            await fake.close()
            if telnyx is not None:
                await telnyx.rest.close()
        report = profiler.report()
        log = [line for line in server.errors().splitlines() if line.strip()]
    t0, t1, patter_user, patter_system, patter_runtime, bench_cpu, tracing = window
    keys = [key for key, sent in fake.first_delta_sent.items() if t0 <= sent <= t1]
    relay = [
        (stats.first_arrival[key] - fake.first_delta_sent[key]) * 1000
        for key in keys
        if key in stats.first_arrival
    ]
    lateness = [late for key in keys for late in stats.lateness.get(key, [])]
    return LoadResult(
        calls=calls,
        window_s=t1 - t0,
        patter_user_s=patter_user,
        patter_system_s=patter_system,
        patter_runtime_s=patter_runtime,
        idle_ms_per_s=idle_ms,
        bench_cpu_s=bench_cpu,
        responses=len(keys),
        frames_expected=len(keys) * fake.frames_per_response,
        frames_received=len(lateness),
        late_frames=sum(1 for late in lateness if late > 0.020),
        lateness_p99_ms=percentile(lateness, 99) * 1000,
        relay_ms=relay,
        send_late_ms=[late * 1000 for late in stats.send_lateness],
        echo_late_ms=[late * 1000 for late in stats.echo_lateness],
        media_sent=stats.media_sent,
        appends=appends,
        failed_calls=calls - len(callers),
        server_log=log,
        profile=report,
        carrier=carrier,
        engine=engine,
        rest_actions=dict(telnyx.rest.actions) if telnyx is not None else {},
        tracing_cpu_s=tracing,
    )


async def _cpu_ms_per_s(pid: int, seconds: float) -> float:
    cpu0, t0 = process_runtime_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (process_runtime_s(pid) - cpu0) * 1000 / (time.monotonic() - t0)


async def _ring(
    port: int, calls: int, stats: CallerStats, telnyx: TelnyxLine | None = None
) -> list[tuple[MediaCaller, dict[str, Any]]]:
    """Place ``calls`` calls, 16 at a time, as Twilio (or as Telnyx through ``telnyx``); the
    ones that fail to connect are left out."""
    gate = asyncio.Semaphore(16)
    place = place_call if telnyx is None else telnyx.place_call

    async def one(client: httpx.AsyncClient, index: int) -> tuple[MediaCaller, dict[str, Any]]:
        async with gate:
            return await place(client, port, index, stats)

    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        placed = await asyncio.gather(
            *(one(client, i + 1) for i in range(calls)), return_exceptions=True
        )
    return [result for result in placed if not isinstance(result, BaseException)]


async def _measure(
    server: PatterProcess,
    callers: Sequence[MediaCaller],
    stats: CallerStats,
    seconds: float,
    profiler: Profiler,
) -> tuple[float, float, float, float, float, float, tuple[float, float] | None]:
    """Play the calls; the window's start, end, Patter user, system and scheduler CPU time,
    this process's CPU time, in seconds, and with tracing on, tracing's own CPU (its tracer's,
    its exporter's)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    window_start, window_end = start + WARMUP_S, start + WARMUP_S + seconds
    # The calls go on after the window until its last responses have played out.
    pacer = asyncio.create_task(pace(callers, start, window_end + RESPONSE_S + 0.5))
    await asyncio.sleep(window_start - loop.time())
    traced = server.tracing_file
    tracing0 = await tracing_cpu.read(server.pid, traced) if traced else (0.0, 0.0)
    run0, cpu0 = process_runtime_s(server.pid), process_cpu_s(server.pid)
    bench0, t0 = time.process_time(), time.monotonic()
    stats.recording = True
    await profiler.begin(server)
    await asyncio.sleep(window_end - loop.time())
    run1, cpu1 = process_runtime_s(server.pid), process_cpu_s(server.pid)
    bench1, t1 = time.process_time(), time.monotonic()
    stats.recording = False
    tracing: tuple[float, float] | None = None
    if traced:
        tracing1 = await tracing_cpu.read(server.pid, traced)
        tracing = (tracing1[0] - tracing0[0], tracing1[1] - tracing0[1])
    await pacer
    await profiler.end(server)
    return t0, t1, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], run1 - run0, bench1 - bench0, tracing
