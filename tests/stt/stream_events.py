"""Helpers shared by the streaming STT tests: feed audio, read a stream's events on a task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from getpatter.stt.base import STTEvent, STTProvider, STTStream, Transcript
from getpatter.testing.phone_network.sound import SILENCE, speech

FRAME = 160  # 20 ms of μ-law at 8 kHz


def silence(ms: int) -> bytes:
    """``ms`` of μ-law 8 kHz silence."""
    return bytes([SILENCE]) * (8 * ms)


def utterance(speech_ms: int = 800, silence_ms: int = 1300) -> bytes:
    """μ-law 8 kHz speech followed by silence."""
    return speech(speech_ms) + silence(silence_ms)


async def send(stream: STTStream, audio: bytes, frame: int = FRAME) -> None:
    """Send ``audio`` in ``frame``-byte chunks, as a carrier would (faster than real time)."""
    for offset in range(0, len(audio), frame):
        await stream.send_audio(audio[offset : offset + frame])


async def eventually(check: Callable[[], bool]) -> None:
    """Poll a fake's records, which have no change notification."""
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class Events:
    """Reads a stream's events on a task, so a test can wait for the one it expects."""

    def __init__(self, stream: STTStream) -> None:
        self.seen: list[STTEvent] = []
        self._queue: asyncio.Queue[STTEvent] = asyncio.Queue()
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: STTStream) -> None:
        async for event in stream.receive_transcripts():
            self.seen.append(event)
            self._queue.put_nowait(event)

    async def until(self, predicate: Callable[[STTEvent], bool]) -> STTEvent:
        """The next event matching ``predicate`` (5 s at most)."""
        async with asyncio.timeout(5):
            while True:
                event = await self._queue.get()
                if predicate(event):
                    return event

    def finals(self) -> list[str]:
        """The text of every final transcript so far."""
        return [e.text for e in self.seen if isinstance(e, Transcript) and e.is_final]


def is_final(event: STTEvent) -> bool:
    """A final transcript."""
    return isinstance(event, Transcript) and event.is_final


@asynccontextmanager
async def opened(
    stt: STTProvider, audio_format: Any = "ulaw_8000"
) -> AsyncIterator[tuple[STTStream, Events]]:
    """A connected stream of ``stt`` with its events read on a task; closed on exit."""
    stream = stt.open_stream(audio_format=audio_format, language="en")
    async with asyncio.timeout(5):
        await stream.connect()
    events = Events(stream)
    try:
        yield stream, events
    finally:
        async with asyncio.timeout(5):
            await stream.close()
            await asyncio.wait([events.task])
