"""RimeTTS (HTTP streaming) against the loopback Rime fake."""

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
from getpatter.testing.fake_tts import FakeRimeServer
from getpatter.testing.scenario import Scenario
from getpatter.tts.base import TTSProvider
from getpatter.tts.rime import TTS, RimeTTS

KEY = "rime-CANARY-test-key"
SENTENCE = "Your table for four is booked at eight."
SPEECH_MS = Scenario().speech_ms(SENTENCE)


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in chunks]


@pytest.fixture
async def fake() -> AsyncIterator[FakeRimeServer]:
    async with FakeRimeServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeRimeServer) -> AsyncIterator[TTS]:
    provider = RimeTTS(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_flat_and_namespaced_names_are_one_class() -> None:
    assert getpatter.RimeTTS is TTS is RimeTTS


def test_defaults_match_the_spec() -> None:
    tts = RimeTTS(api_key=KEY)
    assert isinstance(tts, TTSProvider)
    assert (tts.name, tts.model, tts.voice, tts.lang, tts.sample_rate) == (
        "rime",
        "arcana",
        "astra",
        "eng",
        16000,
    )
    assert RimeTTS(api_key=KEY, model="mistv2").voice == "cove"
    assert tts.capabilities.output_formats[0] == "pcm16_16000"
    assert "ulaw_8000" in tts.capabilities.output_formats
    assert tts.base_url == "https://users.rime.ai"
    assert "CANARY" not in repr(tts)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"RimeTTS\(api_key=...\).*RIME_API_KEY"):
        RimeTTS()
    monkeypatch.setenv("RIME_API_KEY", KEY)
    monkeypatch.setenv("RIME_BASE_URL", "http://127.0.0.1:9")
    assert RimeTTS().base_url == "http://127.0.0.1:9"


async def test_pcm_by_default(fake: FakeRimeServer, tts: TTS) -> None:
    chunks = await collect(tts.synthesize(SENTENCE))
    (request,) = fake.requests
    assert request.output_format == "audio/pcm"
    assert (request.voice, request.model, request.language_code) == ("astra", "arcana", "eng")
    assert request.options == {"samplingRate": 16000}
    assert sum(map(len, chunks)) == 32 * SPEECH_MS
    assert all(len(chunk) % 2 == 0 for chunk in chunks)


async def test_twilio_gets_mulaw_natively(fake: FakeRimeServer, tts: TTS) -> None:
    audio = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    (request,) = fake.requests
    assert request.output_format == "audio/x-mulaw"
    assert request.options["samplingRate"] == 8000
    assert len(audio) == 8 * SPEECH_MS


async def test_arcana_options_on_the_wire(fake: FakeRimeServer) -> None:
    tts = RimeTTS(
        api_key=KEY,
        base_url=fake.base_url,
        speaker="luna",
        temperature=0.5,
        top_p=0.9,
        max_tokens=1200,
        repetition_penalty=1.5,
        sample_rate=24000,
    )
    audio = b"".join(await collect(tts.synthesize(SENTENCE)))
    assert len(audio) == 48 * SPEECH_MS
    (request,) = fake.requests
    assert request.voice == "luna"
    assert request.options == {
        "samplingRate": 24000,
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 1200,
        "repetition_penalty": 1.5,
    }
    await tts.close()


async def test_mist_options_on_the_wire(fake: FakeRimeServer) -> None:
    tts = RimeTTS(
        api_key=KEY,
        base_url=fake.base_url,
        model="mistv2",
        speed_alpha=0.9,
        reduce_latency=True,
        pause_between_brackets=True,
        phonemize_between_brackets=False,
    )
    await collect(tts.synthesize(SENTENCE))
    (request,) = fake.requests
    assert request.model == "mistv2"
    assert request.voice == "cove"
    assert request.options == {
        "samplingRate": 16000,
        "speedAlpha": 0.9,
        "reduceLatency": True,
        "pauseBetweenBrackets": True,
        "phonemizeBetweenBrackets": False,
    }
    await tts.close()


def test_options_of_the_other_model_are_refused() -> None:
    for option in ("temperature", "top_p", "repetition_penalty"):
        with pytest.raises(ConfigError, match="Arcana-only"):
            RimeTTS(api_key=KEY, model="mist", **{option: 0.5})
    with pytest.raises(ConfigError, match="Arcana-only"):
        RimeTTS(api_key=KEY, model="mistv2", max_tokens=100)
    with pytest.raises(ConfigError, match="Mist-only"):
        RimeTTS(api_key=KEY, speed_alpha=1.1)
    for flag in ("reduce_latency", "pause_between_brackets", "phonemize_between_brackets"):
        with pytest.raises(ConfigError, match="Mist-only"):
            RimeTTS(api_key=KEY, **{flag: True})
    with pytest.raises(ConfigError, match="'arcana' or a Mist model"):
        RimeTTS(api_key=KEY, model="coda")
    with pytest.raises(InputValidationError, match="between 0 and 1"):
        RimeTTS(api_key=KEY, top_p=1.5)
    with pytest.raises(ConfigError, match="not supported"):
        RimeTTS(api_key=KEY, sample_rate=44100)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (429, RateLimitError), (503, PatterConnectionError)],
)
async def test_http_errors_map(
    fake: FakeRimeServer, tts: TTS, status: int, error: type[PatterError]
) -> None:
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize(SENTENCE))
    assert "CANARY" not in str(caught.value)


async def test_a_wrong_key_names_where_it_came_from(fake: FakeRimeServer) -> None:
    tts = RimeTTS(api_key="wrong-CANARY-key", base_url=fake.base_url)
    with pytest.raises(AuthenticationError, match="RIME_API_KEY"):
        await collect(tts.synthesize(SENTENCE))
    await tts.close()


async def test_a_stall_times_out(fake: FakeRimeServer) -> None:
    tts = RimeTTS(api_key=KEY, base_url=fake.base_url, stall_timeout=0.3)
    fake.stall_next(after_bytes=3200, seconds=3)
    received = []
    with pytest.raises(PatterConnectionError, match="stalled") as caught:
        async for chunk in tts.synthesize(SENTENCE):
            received.append(chunk)
    assert caught.value.code == ErrorCode.TIMEOUT
    assert sum(map(len, received)) == 3200
    await tts.close()


async def test_a_connection_dropped_mid_audio_raises(fake: FakeRimeServer, tts: TTS) -> None:
    fake.drop_next(after_bytes=3200)
    with pytest.raises(PatterConnectionError, match="connection"):
        await collect(tts.synthesize(SENTENCE))


async def test_barge_in_abandons_the_request(fake: FakeRimeServer, tts: TTS) -> None:
    chunks = tts.synthesize(SENTENCE)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    (request,) = fake.requests
    async with asyncio.timeout(5):
        await request.wait_finished()
    assert request.disconnected
    assert request.audio_bytes < 32 * SPEECH_MS


async def test_the_key_is_never_logged(
    fake: FakeRimeServer, tts: TTS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await collect(tts.synthesize(SENTENCE))
    fake.fail_next(401)
    with pytest.raises(AuthenticationError):
        await collect(tts.synthesize(SENTENCE))
    assert "CANARY" not in caplog.text


async def test_blank_text_sends_nothing(fake: FakeRimeServer, tts: TTS) -> None:
    assert await collect(tts.synthesize("  ")) == []
    assert fake.requests == []
