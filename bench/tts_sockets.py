"""What pooling CartesiaTTS's WebSocket saves: time to first audio, per sentence, on 127.0.0.1.

Run ``python bench/tts_sockets.py [--sentences 200]``. It speaks the same sentence against the
loopback Cartesia fake twice: with the provider's socket pool (one socket reused by every
sentence) and with a fresh socket per sentence (the pool emptied after each). It prints the
median and p95 time from ``synthesize()`` to the first audio bytes, and asserts nothing.
On loopback a handshake costs only the client's and server's CPU; over the internet a fresh
socket also pays TCP + TLS + the WebSocket upgrade (about three round trips) before the first
byte, which is what the pool saves on every sentence but the first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from getpatter.testing.fake_tts import FakeCartesiaServer
from getpatter.tts.cartesia import CartesiaTTS

_KEY = "bench-key-0123456789"
_SENTENCE = "Your table for four is booked at eight."


async def _first_audio_ms(tts: CartesiaTTS, *, fresh: bool, sentences: int) -> list[float]:
    times = []
    for _ in range(sentences):
        if fresh:
            await tts._pools.close()
        start = time.perf_counter()
        chunks = tts.synthesize(_SENTENCE, audio_format="ulaw_8000")
        async for _chunk in chunks:
            times.append((time.perf_counter() - start) * 1000)
            break
        await chunks.aclose()  # barge-in: cancels the rest of the sentence
    return times


async def main(sentences: int) -> None:
    async with FakeCartesiaServer(api_key=_KEY, speedup=1000) as fake:
        for label, fresh in (("pooled socket", False), ("socket per sentence", True)):
            tts = CartesiaTTS(api_key=_KEY, base_url=fake.base_url)
            times = await _first_audio_ms(tts, fresh=fresh, sentences=sentences)
            await tts.close()
            p95 = statistics.quantiles(times, n=20)[-1]
            print(
                f"{label:>20}: first audio p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms"
            )
        print(f"sockets opened: {fake.connections}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=200)
    asyncio.run(main(parser.parse_args().sentences))
