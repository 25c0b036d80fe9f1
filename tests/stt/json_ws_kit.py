"""Helpers for the tests of the JSON-over-WebSocket STT streams against their loopback fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from getpatter.audio import ulaw_to_pcm16
from getpatter.stt.base import STTEvent, STTStream, Transcript
from getpatter.testing.phone_network.sound import SILENCE, speech
from getpatter.testing.scenario import Callee, Say, Scenario

LINES = ("I want to book a table for two.", "At eight tonight!")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))
FRAME = 160  # 20 ms of μ-law at 8 kHz


def silence(ms: int) -> bytes:
    """``ms`` of μ-law silence at 8 kHz."""
    return bytes([SILENCE]) * (8 * ms)


def utterance(speech_ms: int = 800, silence_ms: int = 1300) -> bytes:
    """μ-law speech then silence."""
    return speech(speech_ms) + silence(silence_ms)


def pcm16k(ulaw: bytes) -> bytes:
    """μ-law 8 kHz audio as PCM16 at 16 kHz (each sample twice)."""
    samples = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2")
    return np.repeat(samples, 2).astype("<i2").tobytes()


async def send(stream: STTStream, audio: bytes, frame: int = FRAME) -> None:
    """``audio`` in carrier-sized frames."""
    for offset in range(0, len(audio), frame):
        await stream.send_audio(audio[offset : offset + frame])


async def eventually(check: Callable[[], bool]) -> None:
    """Poll the fake's records, which have no change notification."""
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
        async with asyncio.timeout(5):
            while True:
                event = await self._queue.get()
                if predicate(event):
                    return event

    def finals(self) -> list[str]:
        return [e.text for e in self.seen if isinstance(e, Transcript) and e.is_final]

    def interims(self) -> list[str]:
        return [e.text for e in self.seen if isinstance(e, Transcript) and not e.is_final]


def is_final(event: STTEvent) -> bool:
    return isinstance(event, Transcript) and event.is_final


def is_speech_final(event: STTEvent) -> bool:
    return isinstance(event, Transcript) and event.speech_final


@asynccontextmanager
async def opened(stt: Any, audio_format: str = "ulaw_8000") -> AsyncIterator[tuple[Any, Events]]:
    """A connected stream of ``stt`` and its event reader; closed (and drained) on exit."""
    stream = stt.open_stream(audio_format=audio_format)
    async with asyncio.timeout(5):
        await stream.connect()
    events = Events(stream)
    try:
        yield stream, events
    finally:
        async with asyncio.timeout(5):
            await stream.close()
            await asyncio.wait([events.task])
