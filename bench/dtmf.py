"""Cost of the Twilio simulator's DTMF detector per 20 ms frame.

Run ``python bench/dtmf.py``. It prints microseconds per 160-byte μ-law frame (best of 5 runs)
for silence (the usual case: the agent is not speaking), the fake model's speech tone, the
callee's synthetic voice and a DTMF key, then the cost of generating key presses.
"""

from __future__ import annotations

import timeit

from getpatter.audio.dtmf_tones import DTMF_KEYS, dtmf_ulaw
from getpatter.testing._fake_audio import Codec, tone_chunk
from getpatter.testing.phone_network.dtmf_detector import DtmfDetector
from getpatter.testing.phone_network.sound import speech

FRAME = 160
FRAMES = 2000
ULAW = Codec("ulaw", 8000, {"type": "audio/pcmu"}, "g711_ulaw")


def per_frame_us(audio: bytes) -> float:
    """Best-of-5 microseconds to feed ``audio`` to a fresh detector, per 160-byte frame."""
    frames = [audio[i : i + FRAME] for i in range(0, len(audio) - FRAME + 1, FRAME)]
    frames = (frames * (FRAMES // len(frames) + 1))[:FRAMES]

    def run() -> None:
        detector = DtmfDetector()
        for frame in frames:
            detector.feed(frame)

    return min(timeit.repeat(run, number=1, repeat=5)) / FRAMES * 1e6


def main() -> None:
    DtmfDetector().feed(b"\xff" * FRAME)  # build the cached tables outside the timings
    cases = {
        "silence": b"\xff" * FRAME,
        "fake model speech (400 Hz)": tone_chunk(ULAW),
        "callee speech (160 Hz voice)": speech(1000),
        "DTMF keys, 100 ms on / 60 ms off": dtmf_ulaw(DTMF_KEYS),
    }
    print(f"DtmfDetector.feed, per 20 ms frame ({FRAMES} frames, best of 5):")
    for name, audio in cases.items():
        print(f"  {name:<34} {per_frame_us(audio):6.1f} us")
    seconds = min(timeit.repeat(lambda: dtmf_ulaw("1234567890*#"), number=100, repeat=5)) / 100
    print(f"dtmf_ulaw('1234567890*#'), 12 keys:  {seconds * 1e6:6.1f} us")


if __name__ == "__main__":
    main()
