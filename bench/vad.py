"""Cost of SileroVAD per call: CPU per 20 ms frame and per second of audio, memory per stream.

Run ``python bench/vad.py`` (needs ``pip install "getpatter[silero]"``). It feeds 30 s of
synthetic audio (alternating silence and a voiced, amplitude-modulated signal; the model's cost
does not depend on the content) in 20 ms frames to a fresh stream at 8 and 16 kHz, best of 3,
then measures the memory of the shared model and of each open stream (Linux RSS), compares
onnxruntime's default session options with ours, and checks whether the Twilio simulator's
synthetic callee speech makes the model fire.
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from getpatter.vad.silero import VAD

SECONDS = 30
STREAMS = 2000
TARGET_CPU = "VAD plus the turn loop under 5% of a core per call"
TARGET_MEMORY = "memory under 2 MB per call"


def rss_mb() -> float:
    """Resident memory of this process in MB (peak RSS where /proc is missing)."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * resource.getpagesize() / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def audio(rate: int, seconds: int) -> bytes:
    """Two seconds of a 140 Hz voice with 4 Hz syllables, two of silence, and so on."""
    t = np.arange(rate * seconds) / rate
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    voice *= 0.5 * (1 - np.cos(2 * np.pi * 4 * t))
    voice *= (t // 2) % 2 == 0
    return bytes((voice / np.abs(voice).max() * 8000).astype("<i2").tobytes())


def cost(vad: VAD, rate: int) -> tuple[float, float]:
    """(wall, CPU) seconds to run :data:`SECONDS` of audio through a fresh stream, best of 3."""
    pcm = audio(rate, SECONDS)
    frame = rate // 50 * 2
    frames = [pcm[i : i + frame] for i in range(0, len(pcm), frame)]
    runs = []
    for _ in range(3):
        stream = vad.open_stream(rate)
        wall, cpu = time.perf_counter(), time.process_time()
        for chunk in frames:
            stream.process(chunk)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def window_cpu_us(session: Any, rate: int) -> float:
    """CPU microseconds per model window on ``session`` (all threads of the process)."""
    context, window = (32, 256) if rate == 8000 else (64, 512)
    x = (np.random.default_rng(0).standard_normal((1, context + window)) * 0.1).astype(np.float32)
    state = np.zeros((2, 1, 128), dtype=np.float32)
    sr = np.array(rate, dtype=np.int64)
    for _ in range(50):
        session.run(None, {"input": x, "state": state, "sr": sr})
    cpu = time.process_time()
    for _ in range(2000):
        _, state = session.run(None, {"input": x, "state": state, "sr": sr})
    return (time.process_time() - cpu) / 2000 * 1e6


def main() -> None:
    base = rss_mb()
    started = time.perf_counter()
    from getpatter.vad import silero

    imported = time.perf_counter()
    after_import = rss_mb()
    vad = silero.SileroVAD()
    loaded = time.perf_counter()
    after_load = rss_mb()
    print(
        f"import onnxruntime + getpatter.vad.silero: {(imported - started) * 1e3:5.0f} ms, "
        f"+{after_import - base:.1f} MB RSS"
    )
    print(
        f"shared model session (once per process):  {(loaded - imported) * 1e3:5.0f} ms, "
        f"+{after_load - after_import:.1f} MB RSS"
    )

    print(f"\nCost per call ({SECONDS} s of audio in 20 ms frames, best of 3):")
    for rate in (8000, 16000):
        wall, cpu = cost(vad, rate)
        frames = SECONDS * 50
        print(
            f"  {rate // 1000:>2} kHz: {wall / frames * 1e6:5.0f} us per 20 ms frame (wall), "
            f"{cpu / frames * 1e6:5.0f} us CPU; {cpu / SECONDS * 1e3:4.2f} ms CPU per call-second "
            f"= {cpu / SECONDS * 100:.2f}% of one core per call"
        )
    print(f"  target: {TARGET_CPU}")

    ours = silero._shared_session(silero._model_file(None))
    import onnxruntime  # type: ignore[import-untyped]

    default = onnxruntime.InferenceSession(
        silero._model_file(None), providers=["CPUExecutionProvider"]
    )
    print("\nCPU per 32 ms model window, onnxruntime defaults vs ours (1 thread, no spinning):")
    for rate in (8000, 16000):
        print(
            f"  {rate // 1000:>2} kHz: default {window_cpu_us(default, rate):4.0f} us, "
            f"ours {window_cpu_us(ours, rate):4.0f} us"
        )
    del default

    second = audio(8000, 1)
    before = rss_mb()
    tracemalloc.start()
    streams = [vad.open_stream(8000) for _ in range(STREAMS)]
    for stream in streams:
        stream.process(second)
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_stream_kb = (rss_mb() - before) * 1e3 / STREAMS
    print(
        f"\nMemory per open 8 kHz stream ({STREAMS} streams, each fed 1 s): "
        f"{per_stream_kb:.1f} KB RSS, {traced / STREAMS / 1e3:.1f} KB allocated by Python"
    )
    print(f"  target: {TARGET_MEMORY}")
    del streams

    from getpatter.audio import ulaw_to_pcm16
    from getpatter.testing.phone_network.sound import speech

    stream = vad.open_stream(8000)
    events = stream.process(ulaw_to_pcm16(b"\xff" * 8000 + speech(5000) + b"\xff" * 8000))
    probe = vad.open_stream(8000)
    pcm = ulaw_to_pcm16(speech(5000))
    peak = 0.0
    for offset in range(0, len(pcm), 512):
        probe.process(pcm[offset : offset + 512])
        peak = max(peak, probe.probability)
    print(
        f"\nTwilio simulator callee speech (5 s, 160 Hz harmonics): events {events or 'none'}, "
        f"peak speech probability {peak:.2f}"
    )


if __name__ == "__main__":
    main()
