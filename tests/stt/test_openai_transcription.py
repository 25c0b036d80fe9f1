"""WhisperSTT and OpenAITranscribeSTT against the loopback fake transcription endpoint.

The providers' client IS the official ``openai`` SDK (``client.audio.transcriptions.create``),
so every exchange here is the SDK holding a real multipart exchange with the fake: these tests
are also the check that the fake speaks the API's wire format (paths, auth, form fields, the
JSON shapes the SDK parses).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator

import pytest

from getpatter.audio import pcm16_to_ulaw
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.stt.base import STTProvider, STTStream, Transcript
from getpatter.stt.openai_transcribe import OpenAITranscribeSTT
from getpatter.stt.utterance import UtteranceStream
from getpatter.stt.whisper import WhisperSTT
from getpatter.testing.babble import babble_pcm16
from getpatter.testing.fake_stt_http import FakeTranscriptionServer
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "sk-CANARY-transcription-key-123"
LINES = ("I want to book a table for two", "at eight tonight", "and a high chair")


def scenario(*lines: str) -> Scenario:
    return Scenario(callee=Callee(steps=tuple(Say(line) for line in lines or LINES)))


def speech_ulaw(seconds: float, seed: int = 0) -> bytes:
    return pcm16_to_ulaw(babble_pcm16(8000, seconds, seed).tobytes())


def speech_pcm16(seconds: float, rate: int = 16000) -> bytes:
    return babble_pcm16(rate, seconds).tobytes()


async def say(stream: STTStream, audio: bytes, frame: int = 160) -> None:
    """Send ``audio`` in 20 ms frames, then end the utterance as the pipeline's VAD would."""
    for offset in range(0, len(audio), frame):
        await stream.send_audio(audio[offset : offset + frame])
    await stream.finalize()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTranscriptionServer]:
    async with FakeTranscriptionServer(scenario(), api_key=KEY) as server:
        yield server


async def opened(stt: STTProvider, audio_format: str = "ulaw_8000") -> tuple[STTStream, Reader]:
    stream = stt.open_stream(audio_format=audio_format)  # type: ignore[arg-type]
    await stream.connect()
    return stream, Reader(stream)


class Reader:
    """Reads a stream's results on a task; ``next()`` waits for the next one."""

    def __init__(self, stream: STTStream) -> None:
        self._queue: asyncio.Queue[Transcript | BaseException] = asyncio.Queue()
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: STTStream) -> None:
        try:
            async for event in stream.receive_transcripts():
                assert isinstance(event, Transcript)
                self._queue.put_nowait(event)
        except Exception as exc:
            self._queue.put_nowait(exc)

    async def next(self) -> Transcript:
        async with asyncio.timeout(10):
            item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item


async def test_a_whisper_turn_goes_up_as_one_wav_and_comes_back_as_one_final(
    fake: FakeTranscriptionServer,
) -> None:
    # Back-to-back test utterances would end under 0.5 s apart: the filter has its own tests.
    stt = WhisperSTT(api_key=KEY, base_url=fake.base_url, filter_hallucinations=False)
    assert isinstance(stt, STTProvider) and stt.name == "whisper"
    assert not stt.capabilities.streaming and not stt.capabilities.endpointing
    stream, results = await opened(stt)  # Twilio's μ-law, decoded to PCM16 at 8 kHz
    await say(stream, speech_ulaw(1.2))
    final = await results.next()
    assert (final.text, final.is_final, final.speech_final) == (LINES[0], True, True)
    assert final.audio_seconds == pytest.approx(1.2)
    assert final.confidence == pytest.approx(math.exp(-0.2), abs=1e-3)  # the segment's
    (request,) = fake.requests
    assert (request.model, request.language, request.response_format) == (
        "whisper-1",
        "en",
        "verbose_json",
    )
    assert (request.filename, request.content_type) == ("utterance.wav", "audio/wav")
    assert (request.sample_rate, request.channels, request.sample_width) == (8000, 1, 2)
    assert request.duration == pytest.approx(1.2) and request.rms > 1000
    assert request.file_bytes == 44 + 2 * 8000 * 1.2 == stream.uploaded_bytes  # type: ignore[attr-defined]
    await say(stream, speech_ulaw(0.8, seed=1))
    assert (await results.next()).text == LINES[1]
    await stream.close()
    await results.task
    await stt.close()


async def test_openai_transcribe_detects_the_language_and_gets_confidence_from_logprobs(
    fake: FakeTranscriptionServer,
) -> None:
    stt = OpenAITranscribeSTT(api_key=KEY, base_url=fake.base_url, model="gpt-4o-mini-transcribe")
    assert stt.name == "openai_transcribe" and stt.language is None
    stream, results = await opened(stt, "pcm16_16000")  # Telnyx's PCM goes up as it is
    await say(stream, speech_pcm16(1.0), frame=640)
    final = await results.next()
    assert final.text == LINES[0] and final.speech_final
    assert final.confidence == pytest.approx(math.exp(-0.1), abs=1e-3)
    (request,) = fake.requests
    assert (request.model, request.language, request.response_format, request.include) == (
        "gpt-4o-mini-transcribe",
        "",
        "json",
        ("logprobs",),
    )
    assert (request.sample_rate, request.duration) == (16000, pytest.approx(1.0))
    await stream.close()
    await stt.close()


class Clock:
    """Stands in for ``time`` in the utterance module: each utterance ends at the next time."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def monotonic(self) -> float:
        return self.times.pop(0)


async def test_whisper_drops_made_up_fillers_repeats_and_finals_too_soon_but_ends_the_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = [
        (0.0, "you"),
        (10.0, "Thank you."),
        (20.0, " . "),
        (30.0, "Book a table."),
        (31.0, "book a table"),  # the same words 1 s later: a repeat
        (31.2, "Two people"),  # 1.2 s after the last kept final
        (31.5, "At eight"),  # 0.3 s after it: too soon
        (40.0, "book a table"),  # not the last kept text: heard
    ]
    monkeypatch.setattr("getpatter.stt.utterance.time", Clock(*(t for t, _ in said)))
    async with FakeTranscriptionServer(scenario(*(line for _, line in said)), api_key=KEY) as fake:
        stt = WhisperSTT(api_key=KEY, base_url=fake.base_url)
        stream, results = await opened(stt)
        finals = []
        for seed in range(len(said)):
            await say(stream, speech_ulaw(0.5, seed))
            finals.append(await results.next())
        await stream.close()
        await stt.close()
    # Every utterance still ends its turn; the dropped ones carry no text.
    assert all(f.is_final and f.speech_final for f in finals)
    assert [f.text for f in finals] == [
        "",
        "",
        "",
        "Book a table.",
        "",
        "Two people",
        "",
        "book a table",
    ]
    assert [f.confidence is not None for f in finals] == [bool(f.text) for f in finals]


async def test_the_filters_can_be_turned_off_and_are_off_for_openai_transcribe() -> None:
    lines = ("you", "you", "Thank you.")
    for make in (
        lambda url: WhisperSTT(api_key=KEY, base_url=url, filter_hallucinations=False),
        lambda url: OpenAITranscribeSTT(api_key=KEY, base_url=url),
    ):
        async with FakeTranscriptionServer(scenario(*lines), api_key=KEY) as fake:
            stt = make(fake.base_url)
            stream, results = await opened(stt)
            heard = []
            for seed in range(3):
                await say(stream, speech_ulaw(0.5, seed))
                heard.append((await results.next()).text)
            await stream.close()
            await stt.close()
        assert heard == list(lines)


async def test_an_utterance_longer_than_the_bound_goes_up_in_pieces(
    fake: FakeTranscriptionServer,
) -> None:
    stt = WhisperSTT(api_key=KEY, base_url=fake.base_url, max_utterance_seconds=1)
    stream, results = await opened(stt)
    await say(stream, speech_ulaw(2.5))
    finals = [await results.next() for _ in range(3)]
    # Each full piece is final but the turn goes on; the last piece ends it.
    assert [(f.text, f.speech_final) for f in finals] == [
        (LINES[0], False),
        (LINES[1], False),
        (LINES[2], True),
    ]
    assert [r.duration for r in fake.requests] == pytest.approx([1.0, 1.0, 0.5])
    assert finals[-1].audio_seconds == pytest.approx(2.5)
    await stream.close()
    await stt.close()


async def test_an_utterance_under_a_tenth_of_a_second_is_not_sent(
    fake: FakeTranscriptionServer,
) -> None:
    stt = WhisperSTT(api_key=KEY, base_url=fake.base_url)
    stream, results = await opened(stt)
    await say(stream, speech_ulaw(0.06))
    final = await results.next()
    assert (final.text, final.speech_final) == ("", True) and fake.requests == []
    await stream.close()
    await stt.close()


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, AuthenticationError, "WhisperSTT(api_key=...) or OPENAI_API_KEY"),
        (403, AuthenticationError, "OPENAI_API_KEY"),
        (429, RateLimitError, "retry after 1 s"),
        (500, PatterConnectionError, "HTTP 500"),
        (503, PatterConnectionError, "overloaded"),
    ],
)
async def test_refusals_raise_from_the_transcripts_as_patter_errors(
    fake: FakeTranscriptionServer, status: int, error: type[Exception], words: str
) -> None:
    stt = WhisperSTT(api_key=KEY, base_url=fake.base_url)
    stream, results = await opened(stt)
    fake.fail_next(status)
    await say(stream, speech_ulaw(0.5))
    with pytest.raises(error) as raised:
        await results.next()
    assert words in str(raised.value) and KEY not in str(raised.value)
    assert fake.requests[0].status == status
    await stream.close()
    await stt.close()


async def test_a_wrong_key_is_refused_without_showing_it() -> None:
    async with FakeTranscriptionServer(scenario(), api_key=KEY) as fake:
        wrong = "sk-CANARY-wrong-key-456"
        stt = OpenAITranscribeSTT(api_key=wrong, base_url=fake.base_url)
        stream, results = await opened(stt)
        await say(stream, speech_ulaw(0.5))
        with pytest.raises(AuthenticationError, match="OpenAITranscribeSTT") as raised:
            await results.next()
        assert wrong not in str(raised.value)
        await stream.close()
        await stt.close()


async def test_a_stalled_request_times_out_and_the_client_leaves(
    fake: FakeTranscriptionServer,
) -> None:
    stt = WhisperSTT(api_key=KEY, base_url=fake.base_url, timeout=1.0)
    stream, results = await opened(stt)
    fake.stall_next(30)
    await say(stream, speech_ulaw(0.5))
    with pytest.raises(PatterConnectionError, match=r"timeout=1 s") as raised:
        await results.next()
    assert raised.value.code is ErrorCode.TIMEOUT
    async with asyncio.timeout(5):
        while not fake.requests[0].disconnected:  # noqa: ASYNC110 - the fake's record
            await asyncio.sleep(0.02)
    await stream.close()
    # A new stream (what the pipeline opens after the error) is heard again.
    stream, results = await opened(stt)
    await say(stream, speech_ulaw(0.5, seed=3))
    assert (await results.next()).text == LINES[1]
    await stream.close()
    await stt.close()


async def test_the_key_never_reaches_a_log(
    fake: FakeTranscriptionServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        stt = WhisperSTT(api_key=KEY, base_url=fake.base_url)
        stream, results = await opened(stt)
        await say(stream, speech_ulaw(0.5))
        await results.next()
        fake.fail_next(401)
        await say(stream, speech_ulaw(0.5, seed=1))
        with pytest.raises(AuthenticationError):
            await results.next()
        await stream.close()
        await stt.close()
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in repr(stt)


async def test_the_base_url_and_key_come_from_the_sdks_environment_variables(
    fake: FakeTranscriptionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    stt = OpenAITranscribeSTT()
    assert stt.base_url == fake.base_url
    stream, results = await opened(stt)
    await say(stream, speech_ulaw(0.5))
    assert (await results.next()).text == LINES[0]
    await stream.close()
    await stt.close()


def test_a_missing_key_names_the_provider_the_argument_and_the_variable() -> None:
    for cls in (WhisperSTT, OpenAITranscribeSTT):
        with pytest.raises(ConfigError, match=rf"{cls.owner}.*api_key=.*OPENAI_API_KEY"):
            cls()


def test_options_the_api_would_refuse_are_refused_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"response_format='json'.*model='whisper-1'"):
        OpenAITranscribeSTT(api_key=KEY, response_format="verbose_json")
    with pytest.raises(ConfigError, match="'json' or 'verbose_json'"):
        OpenAITranscribeSTT(api_key=KEY, response_format="srt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="use OpenAITranscribeSTT"):
        WhisperSTT(api_key=KEY, model="gpt-4o-transcribe")
    with pytest.raises(InputValidationError, match="ISO-639-1"):
        WhisperSTT(api_key=KEY, language="english")
    with pytest.raises(InputValidationError, match="OPENAI_BASE_URL"):
        WhisperSTT(api_key=KEY, base_url="ftp://example.com")
    with pytest.raises(InputValidationError, match="max_utterance_seconds"):
        WhisperSTT(api_key=KEY, max_utterance_seconds=0.5)
    with pytest.raises(ConfigError, match="cannot take audio_format"):
        WhisperSTT(api_key=KEY).open_stream(audio_format="opus")  # type: ignore[arg-type]
    whisper_json = OpenAITranscribeSTT(
        api_key=KEY, model="whisper-1", response_format="verbose_json"
    )
    assert whisper_json.response_format == "verbose_json"


async def test_the_stream_serves_one_call_and_drops_audio_after_close() -> None:
    stt = WhisperSTT(api_key=KEY)
    stream = stt.open_stream()
    assert isinstance(stream, UtteranceStream)
    with pytest.raises(RuntimeError, match="connect"):
        stream.receive_transcripts()
    await stream.connect()
    with pytest.raises(RuntimeError, match="one call"):
        await stream.connect()
    with pytest.raises(ConfigError, match="audio bytes"):
        await stream.send_audio("hello")  # type: ignore[arg-type]
    await stream.close()
    await stream.send_audio(b"\x00" * 640)
    await stream.finalize()
    assert [event async for event in stream.receive_transcripts()] == []
    await stream.close()
