"""Cost of Patter's audio operations per 20 ms frame, and how soxr compares as a resampler.

Run ``python bench/audio.py``. It prints microseconds per 20 ms frame (best of 5 runs) for the
G.711 codecs, the resampler, mixing, background audio on the outbound path (a frame of
background alone, and one laid under an agent frame, for Twilio's μ-law and Telnyx's PCM16),
framing and the audio filters, then the streaming behaviour of both
resamplers: sine SNR, the largest lag of output behind input, and output sizes per frame.
``soxr`` is optional here (it is not a Patter dependency); its rows are skipped without it.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from functools import partial
from importlib.util import find_spec

import numpy as np
import numpy.typing as npt

from getpatter import BackgroundAudioPlayer, HighPassFilter, NoiseGate
from getpatter.audio import (
    FrameBuffer,
    Resampler,
    alaw_to_pcm16,
    mix_pcm,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    split_frames,
    ulaw_to_pcm16,
)
from getpatter.audio.filters import CallAudioFilter

PAIRS = [(8000, 16000), (16000, 8000), (24000, 16000), (16000, 24000), (48000, 16000)]
RUN_SECONDS = 0.08


class SoxrStream:
    """soxr.ResampleStream behind the same bytes-in, bytes-out shape as Resampler."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        import soxr  # type: ignore[import-untyped]

        self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")

    def process(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2")
        return bytes(self._stream.resample_chunk(samples).astype("<i2").tobytes())

    def flush(self) -> bytes:
        tail = self._stream.resample_chunk(np.zeros(0, dtype="<i2"), last=True)
        return bytes(tail.astype("<i2").tobytes())


Stream = Resampler | SoxrStream


def resamplers() -> dict[str, Callable[[int, int], Stream]]:
    found: dict[str, Callable[[int, int], Stream]] = {"numpy": Resampler}
    if find_spec("soxr") is not None:
        found["soxr"] = SoxrStream
    return found


def microseconds(operation: Callable[[], object]) -> float:
    """Best time of one call, in µs, over 5 runs of about RUN_SECONDS each."""
    timer = timeit.Timer(operation)
    calls = max(1, int(RUN_SECONDS / (timer.timeit(20) / 20)))
    return min(timer.repeat(repeat=5, number=calls)) / calls * 1e6


def sine(rate: int, seconds: float, hz: float = 1000.0) -> npt.NDArray[np.int16]:
    n = np.arange(int(rate * seconds))
    return np.round(16383 * np.sin(2 * np.pi * hz * n / rate)).astype("<i2")


def frame_of(rate: int) -> bytes:
    return sine(rate, 0.02).tobytes()


def cost_rows() -> list[tuple[str, float]]:
    pcm8k = frame_of(8000)
    ulaw, alaw = pcm16_to_ulaw(pcm8k), pcm16_to_alaw(pcm8k)
    rows = [
        ("ulaw encode 8k", microseconds(lambda: pcm16_to_ulaw(pcm8k))),
        ("ulaw decode 8k", microseconds(lambda: ulaw_to_pcm16(ulaw))),
        ("alaw encode 8k", microseconds(lambda: pcm16_to_alaw(pcm8k))),
        ("alaw decode 8k", microseconds(lambda: alaw_to_pcm16(alaw))),
    ]
    for name, make in resamplers().items():
        for src, dst in PAIRS:
            stream, frame = make(src, dst), frame_of(src)
            label = f"resample {src // 1000}k->{dst // 1000}k {name}"
            rows.append((label, microseconds(partial(stream.process, frame))))
    a, b = frame_of(16000), sine(16000, 0.02, hz=300).tobytes()
    rows.append(("mix_pcm 16k", microseconds(lambda: mix_pcm(a, b, gain_b=0.3))))
    rows += background_rows()
    second = np.zeros(8000, dtype=np.uint8).tobytes()
    rows.append(("split_frames 8k ulaw", microseconds(lambda: split_frames(second, 160)) / 50))
    buffer, chunk = FrameBuffer(640), b"\x00" * 700  # remainders carry over between pushes
    rows.append(("FrameBuffer.push 16k", microseconds(lambda: buffer.push(chunk))))
    return rows + filter_rows()


def filter_rows() -> list[tuple[str, float]]:
    """The audio filters on one 20 ms frame, and a call's whole filter step on μ-law."""
    rows = []
    for rate in (8000, 16000):
        frame = frame_of(rate)
        for audio_filter in (HighPassFilter(), NoiseGate()):
            label = f"{type(audio_filter).__name__} {rate // 1000}k"
            rows.append((label, microseconds(partial(audio_filter.process, frame, rate))))
    ulaw = pcm16_to_ulaw(frame_of(8000))
    call = CallAudioFilter(HighPassFilter(), "ulaw_8000")
    rows.append(("HighPassFilter call, ulaw 8k", microseconds(partial(call.process, ulaw))))
    return rows


def background_rows() -> list[tuple[str, float]]:
    """A BackgroundAudioPlayer's per-call mix, as the outbound pacer calls it per frame."""
    player = BackgroundAudioPlayer("hold_music", volume=0.3, duck=0.4)
    rows = []
    for audio_format, agent in (
        ("ulaw_8000", pcm16_to_ulaw(frame_of(8000))),
        ("pcm16_16000", frame_of(16000)),
    ):
        alone, under = player.mix_for(audio_format), player.mix_for(audio_format)
        under.mix(agent)  # past the ramp down to the ducked level
        rows.append((f"background alone {audio_format}", microseconds(alone.frame)))
        rows.append((f"background mix {audio_format}", microseconds(partial(under.mix, agent))))
    return rows


def behaviour_rows() -> list[tuple[str, float, float, list[int]]]:
    """Sine SNR (dB), worst lag (ms) and output samples per frame, fed 1 s in 20 ms frames."""
    rows = []
    for name, make in resamplers().items():
        for src, dst in PAIRS:
            stream, signal, step = make(src, dst), sine(src, 1.0), src // 50
            chunks, lag, emitted = [], 0.0, 0
            for start in range(0, len(signal), step):
                chunks.append(stream.process(signal[start : start + step].tobytes()))
                emitted += len(chunks[-1]) // 2
                lag = max(lag, (start + step) / src - emitted / dst)
            out = np.frombuffer(b"".join(chunks) + stream.flush(), dtype="<i2")
            sizes = [len(chunk) // 2 for chunk in chunks[:8]]
            label = f"{src // 1000}k->{dst // 1000}k {name}"
            rows.append((label, snr_db(out.astype(np.float64), dst), lag * 1000, sizes))
    return rows


def snr_db(out: npt.NDArray[np.float64], rate: int) -> float:
    """SNR of a resampled 1 kHz, -6 dBFS sine against the ideal one, skipping 100 ms each end."""
    ideal = 16383 * np.sin(2 * np.pi * 1000 * np.arange(len(out)) / rate)
    steady = slice(rate // 10, -rate // 10)
    noise = np.sum((out[steady] - ideal[steady]) ** 2)
    return float(10 * np.log10(np.sum(ideal[steady] ** 2) / noise))


def main() -> None:
    print(f"{'operation':28} {'us/frame':>9}")
    for label, cost in cost_rows():
        print(f"{label:28} {cost:9.1f}")
    print()
    print(f"{'resampler':18} {'SNR dB':>7} {'max lag ms':>11}  output samples per 20 ms frame")
    for label, snr, lag, sizes in behaviour_rows():
        print(f"{label:18} {snr:7.1f} {lag:11.1f}  {' '.join(str(n) for n in sizes)} ...")


if __name__ == "__main__":
    main()
