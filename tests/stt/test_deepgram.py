"""Deepgram streaming STT through its real client code against the loopback fake Deepgram."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest

from getpatter.audio import ulaw_to_pcm16
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.stt.base import STTEvent, STTProvider, STTSpeechStarted, Transcript, UtteranceEnd
from getpatter.stt.deepgram import STT, DeepgramStream, DeepgramSTT
from getpatter.testing.fake_deepgram import FakeDeepgramServer
from getpatter.testing.phone_network.sound import SILENCE, speech
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "dg-CANARY-secret-key-123"
LINES = ("I want to book a table for two", "at eight tonight")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))
FRAME = 160  # 20 ms of μ-law at 8 kHz


def silence(ms: int) -> bytes:
    return bytes([SILENCE]) * (8 * ms)


def utterance(speech_ms: int = 800, silence_ms: int = 1300) -> bytes:
    return speech(speech_ms) + silence(silence_ms)


async def send(stream: DeepgramStream, audio: bytes, frame: int = FRAME) -> None:
    for offset in range(0, len(audio), frame):
        await stream.send_audio(audio[offset : offset + frame])


async def eventually(check: Callable[[], bool]) -> None:
    """Poll the fake's records, which have no change notification."""
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class Events:
    """Reads a stream's events on a task, so a test can wait for the one it expects."""

    def __init__(self, stream: DeepgramStream) -> None:
        self.seen: list[STTEvent] = []
        self._queue: asyncio.Queue[STTEvent] = asyncio.Queue()
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: DeepgramStream) -> None:
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


def is_final(event: STTEvent) -> bool:
    return isinstance(event, Transcript) and event.is_final


@asynccontextmanager
async def opened(
    stt: STT, audio_format: str = "ulaw_8000"
) -> AsyncIterator[tuple[DeepgramStream, Events]]:
    stream = stt.open_stream(audio_format=audio_format, language="en")  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        await stream.connect()
    events = Events(stream)
    try:
        yield stream, events
    finally:
        async with asyncio.timeout(5):
            await stream.close()
            await asyncio.wait([events.task])


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgramServer]:
    async with FakeDeepgramServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
def stt(fake: FakeDeepgramServer) -> STT:
    return DeepgramSTT(api_key=KEY, base_url=fake.base_url)


async def test_mulaw_speech_gives_speech_started_interims_final_and_utterance_end(
    fake: FakeDeepgramServer, stt: STT
) -> None:
    audio = utterance()
    async with opened(stt) as (stream, events):
        await send(stream, audio)
        await events.until(lambda e: isinstance(e, UtteranceEnd))
    seen = events.seen
    assert isinstance(seen[0], STTSpeechStarted)
    assert isinstance(seen[-1], UtteranceEnd)
    interims = [e for e in seen if isinstance(e, Transcript) and not e.is_final]
    assert len(interims) >= 2
    assert all(LINES[0].startswith(e.text) and e.text for e in interims)
    final = seen[-2]
    assert isinstance(final, Transcript)
    assert (final.text, final.is_final, final.speech_final) == (LINES[0], True, True)
    assert final.confidence is not None and 0 < final.confidence <= 1
    assert final.audio_seconds is not None and 0.8 < final.audio_seconds <= len(audio) / 8000
    # Twilio's μ-law went up untouched: byte for byte what was sent.
    assert fake.sessions[0].audio_bytes == len(audio)


async def test_stream_announces_the_configured_query(fake: FakeDeepgramServer, stt: STT) -> None:
    async with opened(stt):
        await eventually(lambda: len(fake.sessions) == 1)
    assert fake.sessions[0].path.startswith("/v1/listen?")
    assert fake.sessions[0].query == {
        "model": "nova-3",
        "language": "en",
        "encoding": "mulaw",
        "sample_rate": "8000",
        "channels": "1",
        "endpointing": "150",
        "utterance_end_ms": "1000",
        "interim_results": "true",
        "vad_events": "true",
        "smart_format": "false",
    }


async def test_default_format_is_pcm16_16k(fake: FakeDeepgramServer) -> None:
    stt = DeepgramSTT(api_key=KEY, base_url=fake.base_url, utterance_end_ms=None)
    stream = stt.open_stream()
    pcm8k = np.frombuffer(ulaw_to_pcm16(utterance(600, 400)), dtype="<i2")
    pcm16k = np.repeat(pcm8k, 2).astype("<i2").tobytes()
    async with asyncio.timeout(5):
        await stream.connect()
    events = Events(stream)
    await send(stream, pcm16k, frame=640)
    final = await events.until(is_final)
    await stream.close()
    await asyncio.wait_for(events.task, 5)
    assert isinstance(final, Transcript) and final.text == LINES[0]
    query = fake.sessions[0].query
    assert (query["encoding"], query["sample_rate"]) == ("linear16", "16000")
    assert "utterance_end_ms" not in query
    assert not any(isinstance(e, UtteranceEnd) for e in events.seen)


async def test_finalize_flushes_the_current_utterance(fake: FakeDeepgramServer, stt: STT) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, speech(500))
        await events.until(lambda e: isinstance(e, Transcript))  # an interim: speech is pending
        await stream.finalize()
        final = await events.until(is_final)
    assert isinstance(final, Transcript)
    assert (final.text, final.is_final, final.speech_final) == (LINES[0], True, False)
    session = fake.sessions[0]
    assert "Finalize" in session.controls
    assert [m["from_finalize"] for m in session.sent if m.get("is_final")] == [True]


async def test_empty_results_are_skipped_unless_they_end_speech() -> None:
    silent_line = Scenario(callee=Callee(steps=(Say(""),)))
    async with FakeDeepgramServer(silent_line) as fake:
        stt = DeepgramSTT(api_key=KEY, base_url=fake.base_url)
        async with opened(stt) as (stream, events):
            await stream.finalize()  # nothing pending: an empty final that is not speech_final
            await eventually(lambda: len(fake.sessions[0].sent) == 1)
            await send(stream, utterance(400, 300))
            final = await events.until(is_final)
    assert isinstance(final, Transcript) and (final.text, final.speech_final) == ("", True)
    assert [e for e in events.seen if isinstance(e, Transcript)] == [final]


async def test_keepalive_is_sent_while_no_audio_flows() -> None:
    async with FakeDeepgramServer(SCENARIO, idle_timeout=0.5) as fake:
        stt = DeepgramSTT(api_key=KEY, base_url=fake.base_url, keepalive_interval=0.1)
        async with opened(stt) as (stream, events):
            await eventually(lambda: fake.sessions[0].controls.count("KeepAlive") >= 8)
            # Well past the fake's idle limit, the socket still works.
            await send(stream, utterance(400, 300))
            final = await events.until(is_final)
        assert isinstance(final, Transcript) and final.text == LINES[0]
        assert not fake.sessions[0].timed_out


async def test_idle_close_without_keepalive_raises_from_the_iterator() -> None:
    async with FakeDeepgramServer(SCENARIO, idle_timeout=0.2) as fake:
        stt = DeepgramSTT(api_key=KEY, base_url=fake.base_url, keepalive_interval=9)
        stream = stt.open_stream(audio_format="ulaw_8000", language="en")
        async with asyncio.timeout(5):
            await stream.connect()
            with pytest.raises(PatterConnectionError, match="NET-0001"):
                async for _ in stream.receive_transcripts():
                    pass
            await stream.close()
        assert fake.sessions[0].timed_out


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_key_raises_authentication_error_without_the_key(
    fake: FakeDeepgramServer, status: int
) -> None:
    wrong = "dg-CANARY-wrong-key-456"
    if status == 403:
        fake.fail_next_connect(403)
    stream = DeepgramSTT(api_key=wrong, base_url=fake.base_url).open_stream()
    with pytest.raises(AuthenticationError) as raised:
        async with asyncio.timeout(5):
            await stream.connect()
    assert f"HTTP {status}" in str(raised.value)
    assert "DEEPGRAM_API_KEY" in str(raised.value)
    assert wrong not in str(raised.value)


async def test_429_raises_rate_limit_and_500_a_connection_error(
    fake: FakeDeepgramServer, stt: STT
) -> None:
    fake.fail_next_connect(429)
    fake.fail_next_connect(500)
    async with asyncio.timeout(5):
        with pytest.raises(RateLimitError):
            await stt.open_stream().connect()
        with pytest.raises(PatterConnectionError) as raised:
            await stt.open_stream().connect()
    assert not isinstance(raised.value, RateLimitError)
    assert "HTTP 500" in str(raised.value)
    async with opened(stt):  # the provider still serves the next call
        pass


async def test_dropped_socket_raises_from_the_iterator(fake: FakeDeepgramServer, stt: STT) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000", language="en")
    async with asyncio.timeout(5):
        await stream.connect()
        await eventually(lambda: len(fake.sessions) == 1)
        await fake.drop()
        with pytest.raises(PatterConnectionError, match="closed the stream unexpectedly"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.send_audio(speech(100))  # mid-call audio after a drop is dropped quietly
        await stream.finalize()
        await stream.close()


async def test_error_message_raises_from_the_iterator(fake: FakeDeepgramServer, stt: STT) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000", language="en")
    async with asyncio.timeout(5):
        await stream.connect()
        await eventually(lambda: len(fake.sessions) == 1)
        await fake.send_error(description="Model overloaded")
        with pytest.raises(PatterConnectionError, match="Model overloaded"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()


async def test_close_sends_closestream_ends_the_iterator_and_is_idempotent(
    fake: FakeDeepgramServer, stt: STT
) -> None:
    audio = utterance(400, 300)
    async with opened(stt) as (stream, events):
        await send(stream, audio)
        await events.until(is_final)
        await stream.close()
        await stream.close()
        await stream.send_audio(speech(100))  # after close: dropped
        await stream.finalize()
        async with asyncio.timeout(5):
            await events.task  # ended without raising
    session = fake.sessions[0]
    assert session.controls == ["CloseStream"]
    assert session.sent[-1]["type"] == "Metadata"
    assert session.sent[-1]["duration"] == pytest.approx(len(audio) / 8000)
    assert session.audio_bytes == len(audio)


async def test_one_provider_serves_concurrent_and_sequential_calls(
    fake: FakeDeepgramServer, stt: STT
) -> None:
    async with opened(stt) as (first, first_events), opened(stt) as (second, second_events):
        await asyncio.gather(send(first, utterance(800, 300)), send(second, utterance(500, 300)))
        await send(first, utterance(500, 300))
        await first_events.until(lambda e: is_final(e) and e.text == LINES[1])  # type: ignore[union-attr]
        await second_events.until(is_final)
    assert first_events.finals() == list(LINES)
    assert second_events.finals() == [LINES[0]]
    async with opened(stt) as (third, third_events):
        await send(third, utterance(500, 300))
        await third_events.until(is_final)
    assert third_events.finals() == [LINES[0]]
    assert [s.transcripts for s in fake.sessions] == [list(LINES), [LINES[0]], [LINES[0]]]


def test_missing_key_names_the_env_var_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    with pytest.raises(ValueError) as raised:
        DeepgramSTT()
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert "Deepgram" in message and "api_key=" in message and "DEEPGRAM_API_KEY" in message


async def test_key_and_base_url_come_from_the_environment(
    fake: FakeDeepgramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    monkeypatch.setenv("DEEPGRAM_BASE_URL", fake.base_url)
    async with opened(DeepgramSTT()):
        await eventually(lambda: len(fake.sessions) == 1)


async def test_the_key_stays_out_of_repr_and_debug_logs(
    fake: FakeDeepgramServer, stt: STT, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with opened(stt):
            await eventually(lambda: len(fake.sessions) == 1)
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("getpatter.stt")
    )
    assert "Authorization" in client_log
    assert KEY not in client_log
    assert KEY not in repr(stt)


def test_capabilities_list_twilio_mulaw_first() -> None:
    stt: STTProvider = DeepgramSTT(api_key=KEY)  # mypy checks the structural match too
    assert isinstance(stt, STTProvider)
    assert stt.name == "deepgram"
    assert stt.capabilities.streaming and stt.capabilities.endpointing
    assert stt.capabilities.interim_results
    assert stt.capabilities.input_formats[:2] == ("ulaw_8000", "pcm16_16000")
    assert DeepgramSTT is STT


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"interim_results": False}, ConfigError),  # utterance_end_ms needs interim results
        ({"encoding": "linear16", "sample_rate": 8000}, ConfigError),
        ({"encoding": "opus"}, ConfigError),
        ({"endpointing_ms": "150"}, ConfigError),
        ({"keepalive_interval": 12}, ConfigError),
        ({"smart_format": "yes"}, ConfigError),
        ({"base_url": "api.deepgram.com"}, InputValidationError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        DeepgramSTT(api_key=KEY, **options)  # type: ignore[arg-type]


def test_open_stream_refuses_an_unknown_format() -> None:
    with pytest.raises(ConfigError, match="audio_format"):
        DeepgramSTT(api_key=KEY).open_stream(audio_format="mp3", language="en")  # type: ignore[arg-type]
