"""ElevenLabsTTS (HTTP streaming) against the loopback ElevenLabs fake."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from getpatter.errors import (
    AuthenticationError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.testing.fake_tts import FakeElevenLabsServer
from getpatter.testing.scenario import Scenario
from getpatter.tts.base import TTSProvider
from getpatter.tts.elevenlabs import TTS, ElevenLabsTTS

KEY = "xi-CANARY-test-key"
SENTENCE = "Thanks for calling, how can I help?"
SPEECH_MS = Scenario().speech_ms(SENTENCE)


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in chunks]


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabsServer]:
    async with FakeElevenLabsServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeElevenLabsServer) -> AsyncIterator[TTS]:
    provider = ElevenLabsTTS(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_is_a_tts_provider_listing_ulaw_first() -> None:
    tts = ElevenLabsTTS(api_key=KEY)
    assert isinstance(tts, TTSProvider)
    assert tts.capabilities.output_formats[0] == "ulaw_8000"
    assert {"pcm16_16000", "pcm16_24000"} <= set(tts.capabilities.output_formats)
    assert (tts.name, tts.voice, tts.model_id) == (
        "elevenlabs",
        "EXAVITQu4vr4xnSDxMaL",
        "eleven_flash_v2_5",
    )


async def test_twilio_gets_ulaw_natively(fake: FakeElevenLabsServer) -> None:
    tts = ElevenLabsTTS.for_twilio(api_key=KEY, base_url=fake.base_url)
    try:
        audio = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    finally:
        await tts.close()
    (request,) = fake.requests
    assert request.output_format == "ulaw_8000"
    assert len(audio) == 8 * SPEECH_MS
    assert request.text == SENTENCE
    assert request.model == "eleven_flash_v2_5"
    assert request.voice == "EXAVITQu4vr4xnSDxMaL"
    assert request.voice_settings is not None
    assert request.voice_settings["use_speaker_boost"] is False
    assert 0.3 <= request.voice_settings["stability"] <= 0.7


async def test_audio_format_wins_over_constructor_output_format(
    fake: FakeElevenLabsServer,
) -> None:
    tts = ElevenLabsTTS(api_key=KEY, base_url=fake.base_url, output_format="ulaw_8000")
    try:
        chunks = await collect(tts.synthesize(SENTENCE, audio_format="pcm16_16000"))
        default = b"".join(await collect(tts.synthesize("Hi.")))
    finally:
        await tts.close()
    assert [r.output_format for r in fake.requests] == ["pcm_16000", "ulaw_8000"]
    assert sum(map(len, chunks)) == 32 * SPEECH_MS
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert len(default) == 8 * Scenario().speech_ms("Hi.")


async def test_pcm_chunks_hold_whole_samples_when_the_stream_splits_one(
    fake: FakeElevenLabsServer, tts: TTS
) -> None:
    whole = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="pcm16_24000")))
    fake.stall_next(after_bytes=4801, seconds=0.05)
    chunks = await collect(tts.synthesize(SENTENCE, audio_format="pcm16_24000"))
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert b"".join(chunks) == whole


async def test_sends_voice_settings_language_and_model(fake: FakeElevenLabsServer) -> None:
    tts = ElevenLabsTTS(
        api_key=KEY,
        base_url=fake.base_url,
        voice_id="custom-voice",
        model_id="eleven_multilingual_v2",
        voice_settings={"stability": 0.3, "similarity_boost": 0.8, "speed": 1.1},
        language_code="it",
    )
    try:
        await collect(tts.synthesize("Buongiorno.", audio_format="pcm16_16000"))
    finally:
        await tts.close()
    (request,) = fake.requests
    assert request.path == "/v1/text-to-speech/custom-voice/stream"
    assert request.model == "eleven_multilingual_v2"
    assert request.voice_settings == {"stability": 0.3, "similarity_boost": 0.8, "speed": 1.1}
    assert request.language_code == "it"


async def test_blank_text_makes_no_request(fake: FakeElevenLabsServer, tts: TTS) -> None:
    assert await collect(tts.synthesize("   ", audio_format="ulaw_8000")) == []
    assert fake.requests == []


async def test_stall_raises_within_stall_timeout(fake: FakeElevenLabsServer) -> None:
    tts = ElevenLabsTTS(api_key=KEY, base_url=fake.base_url, stall_timeout=0.3)
    fake.stall_next(after_bytes=1600, seconds=5)
    received = []
    try:
        with pytest.raises(PatterConnectionError, match="stalled") as caught:
            async with asyncio.timeout(3):
                async for chunk in tts.synthesize(SENTENCE, audio_format="ulaw_8000"):
                    received.append(chunk)
    finally:
        await tts.close()
    assert caught.value.code == ErrorCode.TIMEOUT
    assert sum(map(len, received)) == 1600


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, AuthenticationError, ErrorCode.AUTH),
        (403, AuthenticationError, ErrorCode.AUTH),
        (429, RateLimitError, ErrorCode.RATE_LIMIT),
        (500, PatterConnectionError, ErrorCode.CONNECTION),
        (422, PatterError, ErrorCode.PROVIDER_ERROR),
    ],
)
async def test_http_errors_map_to_patter_errors(
    fake: FakeElevenLabsServer, tts: TTS, status: int, error: type[PatterError], code: ErrorCode
) -> None:
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert caught.value.code == code
    assert f"HTTP {status}" in str(caught.value)


async def test_a_422_says_the_validation_messages(fake: FakeElevenLabsServer, tts: TTS) -> None:
    fake.fail_next(422)  # {"detail": [{"loc": [...], "msg": ..., "type": ...}]}
    with pytest.raises(PatterError) as caught:
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert "HTTP 422 injected by fail_next" in str(caught.value)
    assert "'loc'" not in str(caught.value)


async def test_wrong_key_is_an_authentication_error_without_the_key(
    fake: FakeElevenLabsServer,
) -> None:
    tts = ElevenLabsTTS(api_key="wrong-CANARY-secret-key", base_url=fake.base_url)
    try:
        with pytest.raises(AuthenticationError) as caught:
            await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    finally:
        await tts.close()
    assert "wrong-CANARY-secret-key" not in str(caught.value)
    assert "ELEVENLABS_API_KEY" in str(caught.value)


async def test_leaving_the_loop_cancels_the_request(fake: FakeElevenLabsServer, tts: TTS) -> None:
    async with asyncio.timeout(10):
        async for _chunk in tts.synthesize(SENTENCE * 4, audio_format="ulaw_8000"):
            break
        (request,) = fake.requests
        await request.wait_finished()
    assert request.disconnected
    assert not request.completed
    assert request.audio_bytes < 8 * Scenario().speech_ms(SENTENCE * 4)


async def test_one_provider_serves_concurrent_and_sequential_calls(
    fake: FakeElevenLabsServer, tts: TTS
) -> None:
    short, long = "Hello there.", SENTENCE
    first, second = await asyncio.gather(
        collect(tts.synthesize(short, audio_format="ulaw_8000")),
        collect(tts.synthesize(long, audio_format="pcm16_16000")),
    )
    third = await collect(tts.synthesize(short, audio_format="ulaw_8000"))
    assert len(b"".join(first)) == 8 * Scenario().speech_ms(short)
    assert len(b"".join(second)) == 32 * SPEECH_MS
    assert b"".join(third) == b"".join(first)
    assert sorted(r.text for r in fake.requests) == sorted([short, long, short])


async def test_closed_provider_refuses_to_synthesize(tts: TTS) -> None:
    await tts.close()
    with pytest.raises(PatterError, match="closed"):
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))


async def test_key_and_base_url_come_from_the_environment(
    fake: FakeElevenLabsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
    monkeypatch.setenv("ELEVENLABS_BASE_URL", fake.base_url)
    tts = ElevenLabsTTS()
    try:
        audio = b"".join(await collect(tts.synthesize("Hi.", audio_format="ulaw_8000")))
    finally:
        await tts.close()
    assert len(audio) == 8 * Scenario().speech_ms("Hi.")


def test_missing_key_names_the_argument_and_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    with pytest.raises(ValueError, match="ELEVENLABS_API_KEY") as caught:
        ElevenLabsTTS()
    assert "api_key=" in str(caught.value)
    assert "ElevenLabsTTS" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {"voice_settings": {"stability": 2}},
        {"voice_settings": {"loudness": 1}},
        {"output_format": "wav"},
        {"stall_timeout": 0},
        {"voice_id": ""},
        {"base_url": "ftp://example.com"},
    ],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ElevenLabsTTS(api_key=KEY, **options)  # type: ignore[arg-type]


async def test_unsupported_audio_format_is_refused(tts: TTS) -> None:
    with pytest.raises(ValueError, match="audio_format"):
        await collect(tts.synthesize(SENTENCE, audio_format="mp3"))  # type: ignore[arg-type]


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 160\r\n\r\n" + b"\xff" * 160)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    tts = ElevenLabsTTS(api_key=KEY, base_url="http://tts.invalid")
    try:
        audio = b"".join(await collect(tts.synthesize("Hi.", audio_format="ulaw_8000")))
    finally:
        await tts.close()
        server.close()
    assert audio == b"\xff" * 160
    assert seen == [
        b"POST http://tts.invalid/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/stream"
        b"?output_format=ulaw_8000 HTTP/1.1"
    ]


async def test_no_proxy_hosts_are_reached_directly(
    fake: FakeElevenLabsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    tts = ElevenLabsTTS(api_key=KEY, base_url=fake.base_url)
    try:
        audio = b"".join(await collect(tts.synthesize("Hi.", audio_format="ulaw_8000")))
    finally:
        await tts.close()
    assert len(audio) == 8 * Scenario().speech_ms("Hi.")


_UNCLOSED = """
import asyncio
import subprocess
import sys
from getpatter.testing.fake_tts import FakeElevenLabsServer
from getpatter.tts.elevenlabs import ElevenLabsTTS

tts = ElevenLabsTTS(api_key="k-CANARY")

async def one_call() -> None:
    async with FakeElevenLabsServer(api_key="k-CANARY", speedup=50) as fake:
        tts.base_url = fake.base_url
        audio = b"".join([chunk async for chunk in tts.synthesize("Hi.", audio_format="ulaw_8000")])
        print(len(audio))

asyncio.run(one_call())
asyncio.run(one_call())
asyncio.run(tts.close())  # after the loops that used it have ended
print("closed")
"""


def test_a_provider_nobody_closes_serves_each_event_loop_and_leaves_nothing_open() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", _UNCLOSED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    length = str(8 * Scenario().speech_ms("Hi."))
    assert done.stdout.split() == [length, length, "closed"]
    assert "Unclosed" not in done.stderr
    assert "ResourceWarning" not in done.stderr
