"""LMNTTTS (HTTP streaming) against the loopback LMNT fake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

import getpatter
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.testing.fake_tts import FakeLMNTServer
from getpatter.testing.fake_tts.lmnt import wav_header
from getpatter.testing.scenario import Scenario
from getpatter.tts.base import TTSProvider
from getpatter.tts.lmnt import LMNTTTS, TTS, _WavStripper

KEY = "lmnt-CANARY-test-key"
SENTENCE = "Your table for four is booked at eight."
SPEECH_MS = Scenario().speech_ms(SENTENCE)


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in chunks]


@pytest.fixture
async def fake() -> AsyncIterator[FakeLMNTServer]:
    async with FakeLMNTServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeLMNTServer) -> AsyncIterator[TTS]:
    provider = LMNTTTS(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_flat_and_namespaced_names_are_one_class() -> None:
    assert getpatter.LMNTTTS is TTS is LMNTTTS


def test_defaults_match_the_spec() -> None:
    tts = LMNTTTS(api_key=KEY)
    assert isinstance(tts, TTSProvider)
    assert (tts.name, tts.model, tts.voice, tts.format, tts.sample_rate) == (
        "lmnt",
        "blizzard",
        "leah",
        "raw",
        16000,
    )
    assert (tts.temperature, tts.top_p, tts.language) == (1.0, 0.8, "auto")
    assert LMNTTTS(api_key=KEY, model="aurora").language == "en"
    assert LMNTTTS(api_key=KEY, language="it").language == "it"
    assert tts.output_format == "pcm16_16000"
    assert tts.base_url == "https://api.lmnt.com"
    assert "CANARY" not in repr(tts)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"LMNTTTS\(api_key=...\).*LMNT_API_KEY"):
        LMNTTTS()
    monkeypatch.setenv("LMNT_API_KEY", KEY)
    monkeypatch.setenv("LMNT_BASE_URL", "http://127.0.0.1:9")
    assert LMNTTTS().base_url == "http://127.0.0.1:9"


async def test_raw_pcm_with_options_on_the_wire(fake: FakeLMNTServer, tts: TTS) -> None:
    chunks = await collect(tts.synthesize(SENTENCE))
    (request,) = fake.requests
    assert (request.output_format, request.voice, request.model, request.language_code) == (
        "pcm_s16le",
        "leah",
        "blizzard",
        "auto",
    )
    assert request.options == {
        "sample_rate": 16000,
        "temperature": 1.0,
        "top_p": 0.8,
        "lmnt-version": "1.2",
    }
    assert sum(map(len, chunks)) == 32 * SPEECH_MS
    assert all(len(chunk) % 2 == 0 for chunk in chunks)


async def test_twilio_gets_mulaw_natively_without_the_wav_header(
    fake: FakeLMNTServer, tts: TTS
) -> None:
    audio = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    (request,) = fake.requests
    assert request.output_format == "ulaw"
    assert request.options["sample_rate"] == 8000
    assert len(audio) == 8 * SPEECH_MS
    assert not audio.startswith(b"RIFF")


async def test_mulaw_as_the_constructor_format(fake: FakeLMNTServer) -> None:
    tts = LMNTTTS(api_key=KEY, base_url=fake.base_url, format="mulaw", sample_rate=8000)
    assert tts.output_format == "ulaw_8000"
    audio = b"".join(await collect(tts.synthesize("Hi.")))
    assert len(audio) == 8 * Scenario().speech_ms("Hi.")
    await tts.close()


def test_the_wav_header_is_removed_however_the_stream_is_cut() -> None:
    body = wav_header(8000, 400) + bytes(range(200)) * 2
    for size in (1, 3, 7, 44, 45, 1000):
        stripper = _WavStripper()
        out = b"".join(stripper.feed(body[i : i + size]) for i in range(0, len(body), size))
        assert out == bytes(range(200)) * 2
    assert _WavStripper().feed(b"\xff\xfe") == b"\xff\xfe"


def test_option_refusals() -> None:
    for container in ("aac", "mp3", "wav"):
        with pytest.raises(ConfigError, match="cannot play"):
            LMNTTTS(api_key=KEY, format=container)
    with pytest.raises(ConfigError, match="not an LMNT format"):
        LMNTTTS(api_key=KEY, format="flac")
    with pytest.raises(ConfigError, match="not supported"):
        LMNTTTS(api_key=KEY, format="mulaw", sample_rate=16000)
    with pytest.raises(InputValidationError, match="sample_rate"):
        LMNTTTS(api_key=KEY, sample_rate=44100)
    with pytest.raises(ConfigError, match="'blizzard' or 'aurora'"):
        LMNTTTS(api_key=KEY, model="sonic")
    with pytest.raises(InputValidationError, match="top_p"):
        LMNTTTS(api_key=KEY, top_p=2)
    with pytest.raises(InputValidationError, match="temperature"):
        LMNTTTS(api_key=KEY, temperature=0)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (429, RateLimitError), (500, PatterConnectionError)],
)
async def test_http_errors_map(
    fake: FakeLMNTServer, tts: TTS, status: int, error: type[PatterError]
) -> None:
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize(SENTENCE))
    assert "CANARY" not in str(caught.value)


async def test_a_wrong_key_names_where_it_came_from(fake: FakeLMNTServer) -> None:
    tts = LMNTTTS(api_key="wrong-CANARY-key", base_url=fake.base_url)
    with pytest.raises(AuthenticationError, match="LMNT_API_KEY"):
        await collect(tts.synthesize(SENTENCE))
    await tts.close()


async def test_a_stall_times_out(fake: FakeLMNTServer) -> None:
    tts = LMNTTTS(api_key=KEY, base_url=fake.base_url, stall_timeout=0.3)
    fake.stall_next(after_bytes=3200, seconds=3)
    with pytest.raises(PatterConnectionError, match="stalled") as caught:
        await collect(tts.synthesize(SENTENCE))
    assert caught.value.code == ErrorCode.TIMEOUT
    await tts.close()


async def test_a_connection_dropped_mid_audio_raises(fake: FakeLMNTServer, tts: TTS) -> None:
    fake.drop_next(after_bytes=3200)
    with pytest.raises(PatterConnectionError, match="connection"):
        await collect(tts.synthesize(SENTENCE))


async def test_barge_in_abandons_the_request(fake: FakeLMNTServer, tts: TTS) -> None:
    chunks = tts.synthesize(SENTENCE)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    (request,) = fake.requests
    async with asyncio.timeout(5):
        await request.wait_finished()
    assert request.disconnected


async def test_the_key_is_never_logged(
    fake: FakeLMNTServer, tts: TTS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await collect(tts.synthesize(SENTENCE))
    fake.fail_next(401)
    with pytest.raises(AuthenticationError):
        await collect(tts.synthesize(SENTENCE))
    assert "CANARY" not in caplog.text
