"""OpenAITTS (official openai SDK) against the loopback OpenAI speech fake."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import AsyncIterator

import pytest

from getpatter.audio.g711 import ulaw_to_pcm16
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.testing.fake_tts import FakeOpenAITTSServer
from getpatter.testing.scenario import Scenario
from getpatter.tts.base import TTSProvider
from getpatter.tts.openai import TTS, OpenAITTS

KEY = "sk-CANARY-test-key"
SENTENCE = "I have moved your appointment to Tuesday."
SPEECH_MS = Scenario().speech_ms(SENTENCE)


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in chunks]


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples))


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAITTSServer]:
    async with FakeOpenAITTSServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeOpenAITTSServer) -> AsyncIterator[TTS]:
    provider = OpenAITTS(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_defaults_and_names() -> None:
    tts = OpenAITTS(api_key=KEY)
    assert isinstance(tts, TTSProvider)
    assert (tts.voice, tts.model, tts.name) == ("alloy", "tts-1", "openai_tts")
    assert OpenAITTS(api_key=KEY, model="tts-1-hd").name == "openai_tts_hd"
    assert tts.capabilities.output_formats[:3] == ("pcm16_24000", "pcm16_16000", "ulaw_8000")


async def test_24k_pcm_passes_through(fake: FakeOpenAITTSServer, tts: TTS) -> None:
    chunks = await collect(tts.synthesize(SENTENCE, audio_format="pcm16_24000"))
    (request,) = fake.requests
    assert (request.model, request.voice, request.output_format) == ("tts-1", "alloy", "pcm")
    assert request.text == SENTENCE
    assert sum(map(len, chunks)) == 48 * SPEECH_MS
    assert all(len(chunk) % 2 == 0 for chunk in chunks)


async def test_twilio_ulaw_is_resampled_to_8_khz(tts: TTS) -> None:
    audio = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    assert len(audio) == 8 * SPEECH_MS
    # The fake speaks a 400 Hz tone of amplitude 6000: it must survive resampling and μ-law.
    level = rms(ulaw_to_pcm16(audio[800:-800]))
    assert 6000 / math.sqrt(2) * 0.9 < level < 6000 / math.sqrt(2) * 1.1


async def test_default_format_is_16_khz_pcm(tts: TTS) -> None:
    audio = b"".join(await collect(tts.synthesize(SENTENCE)))
    assert len(audio) == 32 * SPEECH_MS


async def test_a_stream_split_inside_a_sample_converts_the_same(
    fake: FakeOpenAITTSServer, tts: TTS
) -> None:
    whole = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    fake.stall_next(after_bytes=4801, seconds=0.05)
    split = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    assert split == whole


async def test_concurrent_calls_keep_their_own_conversion_state(
    fake: FakeOpenAITTSServer, tts: TTS
) -> None:
    alone_ulaw = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    alone_16k = b"".join(await collect(tts.synthesize("Hello there.", audio_format="pcm16_16000")))
    together = await asyncio.gather(
        collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")),
        collect(tts.synthesize("Hello there.", audio_format="pcm16_16000")),
        collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")),
    )
    assert [b"".join(chunks) for chunks in together] == [alone_ulaw, alone_16k, alone_ulaw]
    assert len(fake.requests) == 5


async def test_speed_instructions_and_voice_are_sent(fake: FakeOpenAITTSServer) -> None:
    tts = OpenAITTS(
        api_key=KEY,
        base_url=fake.base_url,
        model="gpt-4o-mini-tts",
        voice="nova",
        speed=1.25,
        instructions="Speak warmly.",
    )
    try:
        await collect(tts.synthesize("Hi.", audio_format="pcm16_24000"))
    finally:
        await tts.close()
    (request,) = fake.requests
    assert (request.model, request.voice) == ("gpt-4o-mini-tts", "nova")
    assert request.options == {"speed": 1.25, "instructions": "Speak warmly."}


def test_instructions_need_a_model_that_takes_them() -> None:
    with pytest.raises(ConfigError, match="gpt-4o-mini-tts"):
        OpenAITTS(api_key=KEY, instructions="Speak warmly.")


@pytest.mark.parametrize("after_bytes", [0, 4800])
async def test_stall_raises_a_timeout(fake: FakeOpenAITTSServer, after_bytes: int) -> None:
    tts = OpenAITTS(api_key=KEY, base_url=fake.base_url, stall_timeout=0.3)
    fake.stall_next(after_bytes=after_bytes, seconds=5)
    received = []
    try:
        with pytest.raises(PatterConnectionError, match="stalled") as caught:
            async with asyncio.timeout(3):
                async for chunk in tts.synthesize(SENTENCE, audio_format="pcm16_24000"):
                    received.append(chunk)
    finally:
        await tts.close()
    assert caught.value.code == ErrorCode.TIMEOUT
    assert sum(map(len, received)) == after_bytes


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, AuthenticationError, ErrorCode.AUTH),
        (429, RateLimitError, ErrorCode.RATE_LIMIT),
        (500, PatterConnectionError, ErrorCode.CONNECTION),
        (400, PatterError, ErrorCode.PROVIDER_ERROR),
    ],
)
async def test_http_errors_map_to_patter_errors(
    fake: FakeOpenAITTSServer, tts: TTS, status: int, error: type[PatterError], code: ErrorCode
) -> None:
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert caught.value.code == code
    assert KEY not in str(caught.value)


async def test_leaving_the_loop_cancels_the_request(fake: FakeOpenAITTSServer, tts: TTS) -> None:
    async with asyncio.timeout(10):
        async for _chunk in tts.synthesize(SENTENCE * 4, audio_format="ulaw_8000"):
            break
        (request,) = fake.requests
        await request.wait_finished()
    assert request.disconnected
    assert request.audio_bytes < 48 * Scenario().speech_ms(SENTENCE * 4)


async def test_closed_provider_refuses_to_synthesize(tts: TTS) -> None:
    await tts.close()
    with pytest.raises(PatterError, match="closed"):
        await collect(tts.synthesize(SENTENCE))


async def test_key_and_base_url_come_from_the_environment(
    fake: FakeOpenAITTSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    tts = OpenAITTS()
    try:
        audio = b"".join(await collect(tts.synthesize("Hi.", audio_format="pcm16_24000")))
    finally:
        await tts.close()
    assert len(audio) == 48 * Scenario().speech_ms("Hi.")


def test_missing_key_names_the_argument_and_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY") as caught:
        OpenAITTS()
    assert "api_key=" in str(caught.value)
    assert "OpenAITTS" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [{"speed": 5}, {"speed": 0.1}, {"voice": ""}, {"timeout": 0}, {"max_retries": -1}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        OpenAITTS(api_key=KEY, **options)  # type: ignore[arg-type]
