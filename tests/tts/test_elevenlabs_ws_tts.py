"""ElevenLabsWebSocketTTS (stream-input WebSocket) against the loopback ElevenLabs fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.testing.fake_tts import FakeElevenLabsServer
from getpatter.testing.scenario import Scenario
from getpatter.tts.base import TTSProvider
from getpatter.tts.elevenlabs_ws import TTS, ElevenLabsTTSError, ElevenLabsWebSocketTTS

KEY = "xi-CANARY-test-key"
SENTENCE = "Your table for four is booked at eight."
SPEECH_MS = Scenario().speech_ms(SENTENCE)


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in chunks]


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabsServer]:
    async with FakeElevenLabsServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
def tts(fake: FakeElevenLabsServer) -> TTS:
    return ElevenLabsWebSocketTTS(api_key=KEY, base_url=fake.base_url)


def test_defaults_match_the_spec() -> None:
    tts = ElevenLabsWebSocketTTS(api_key=KEY)
    assert isinstance(tts, TTSProvider)
    assert (tts.voice, tts.model_id, tts.output_format) == (
        "21m00Tcm4TlvDq8ikWAM",
        "eleven_flash_v2_5",
        "pcm_16000",
    )
    assert (tts.auto_mode, tts.inactivity_timeout, tts.chunk_length_schedule) == (True, 60, None)
    assert tts.capabilities.output_formats[0] == "ulaw_8000"
    assert tts.base_url == "wss://api.elevenlabs.io"


async def test_twilio_gets_ulaw_natively_over_one_socket(fake: FakeElevenLabsServer) -> None:
    tts = ElevenLabsWebSocketTTS.for_twilio(api_key=KEY, base_url=fake.base_url)
    audio = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    (request,) = fake.requests
    assert request.transport == "websocket"
    assert request.output_format == "ulaw_8000"
    assert len(audio) == 8 * SPEECH_MS
    assert request.completed
    assert request.text == SENTENCE
    assert request.model == "eleven_flash_v2_5"
    assert request.options["auto_mode"] == "true"
    assert request.options["inactivity_timeout"] == "60"
    assert request.voice_settings is not None
    assert request.voice_settings["use_speaker_boost"] is False


async def test_pcm16_16000_with_a_chunk_schedule(fake: FakeElevenLabsServer) -> None:
    tts = ElevenLabsWebSocketTTS(
        api_key=KEY,
        base_url=fake.base_url,
        output_format="ulaw_8000",
        auto_mode=False,
        chunk_length_schedule=[50, 120],
        language_code="en",
    )
    chunks = await collect(tts.synthesize(SENTENCE, audio_format="pcm16_16000"))
    (request,) = fake.requests
    assert request.output_format == "pcm_16000"
    assert sum(map(len, chunks)) == 32 * SPEECH_MS
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert request.options["auto_mode"] == "false"
    assert request.options["generation_config"] == {"chunk_length_schedule": [50, 120]}
    assert request.language_code == "en"


async def test_without_audio_format_the_constructor_format_is_used(
    fake: FakeElevenLabsServer, tts: TTS
) -> None:
    audio = b"".join(await collect(tts.synthesize("Hi.")))
    assert fake.requests[0].output_format == "pcm_16000"
    assert len(audio) == 32 * Scenario().speech_ms("Hi.")


def test_eleven_v3_models_are_refused() -> None:
    for model in ("eleven_v3", "eleven_v3_alpha"):
        with pytest.raises(ConfigError, match="eleven_v3"):
            ElevenLabsWebSocketTTS(api_key=KEY, model_id=model)


async def test_server_error_frame_raises(fake: FakeElevenLabsServer, tts: TTS) -> None:
    fake.error_next("Voice not found", error="voice_not_found")
    with pytest.raises(ElevenLabsTTSError, match="Voice not found") as caught:
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert isinstance(caught.value, PatterError)
    (request,) = fake.requests
    async with asyncio.timeout(5):
        await request.wait_finished()


async def test_no_frame_within_frame_timeout_raises(fake: FakeElevenLabsServer) -> None:
    tts = ElevenLabsWebSocketTTS(api_key=KEY, base_url=fake.base_url, frame_timeout=0.3)
    fake.stall_next(after_bytes=800, seconds=5)
    received = []
    with pytest.raises(ElevenLabsTTSError, match="stalled") as caught:
        async with asyncio.timeout(3):
            async for chunk in tts.synthesize(SENTENCE, audio_format="ulaw_8000"):
                received.append(chunk)
    assert caught.value.code == ErrorCode.TIMEOUT
    assert sum(map(len, received)) == 800
    async with asyncio.timeout(5):
        await fake.requests[0].wait_finished()
    assert fake.requests[0].disconnected


async def test_audio_frame_over_512_kb_raises(fake: FakeElevenLabsServer, tts: TTS) -> None:
    fake.huge_frame_next(600 * 1024)
    with pytest.raises(ElevenLabsTTSError, match="512 KB"):
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))


async def test_audio_frame_of_500_kb_is_accepted(fake: FakeElevenLabsServer, tts: TTS) -> None:
    fake.huge_frame_next(500 * 1024)
    audio = b"".join(await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000")))
    assert len(audio) == 500 * 1024 + 8 * SPEECH_MS


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, AuthenticationError, ErrorCode.AUTH),
        (429, RateLimitError, ErrorCode.RATE_LIMIT),
        (500, PatterConnectionError, ErrorCode.CONNECTION),
    ],
)
async def test_refused_handshakes_map_to_patter_errors(
    fake: FakeElevenLabsServer, tts: TTS, status: int, error: type[PatterError], code: ErrorCode
) -> None:
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert caught.value.code == code
    assert fake.requests == []


async def test_wrong_key_is_an_authentication_error_without_the_key(
    fake: FakeElevenLabsServer,
) -> None:
    tts = ElevenLabsWebSocketTTS(api_key="wrong-CANARY-secret-key", base_url=fake.base_url)
    with pytest.raises(AuthenticationError) as caught:
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert "wrong-CANARY-secret-key" not in str(caught.value)


async def test_unreachable_server_is_a_connection_error() -> None:
    tts = ElevenLabsWebSocketTTS(api_key=KEY, base_url="http://127.0.0.1:9", open_timeout=2)
    with pytest.raises(PatterConnectionError):
        await collect(tts.synthesize(SENTENCE, audio_format="ulaw_8000"))


async def test_leaving_the_loop_closes_the_socket(fake: FakeElevenLabsServer, tts: TTS) -> None:
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
    third = await collect(tts.synthesize(long, audio_format="pcm16_16000"))
    assert len(b"".join(first)) == 8 * Scenario().speech_ms(short)
    assert b"".join(third) == b"".join(second)
    assert len(b"".join(second)) == 32 * SPEECH_MS
    assert len(fake.requests) == 3
    assert all(request.completed for request in fake.requests)


def test_missing_key_names_the_argument_and_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    with pytest.raises(ValueError, match="ELEVENLABS_API_KEY") as caught:
        ElevenLabsWebSocketTTS()
    assert "api_key=" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {"inactivity_timeout": 181},
        {"inactivity_timeout": 0},
        {"chunk_length_schedule": [4]},
        {"chunk_length_schedule": [120, 501]},
        {"chunk_length_schedule": []},
        {"frame_timeout": -1},
        {"auto_mode": "yes"},
    ],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ElevenLabsWebSocketTTS(api_key=KEY, **options)  # type: ignore[arg-type]


def test_a_chunk_schedule_needs_auto_mode_off() -> None:
    with pytest.raises(ConfigError, match="auto_mode=False"):
        ElevenLabsWebSocketTTS(api_key=KEY, chunk_length_schedule=[50, 120])


async def test_the_environment_proxy_is_looked_up_once_and_used(
    fake: FakeElevenLabsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpatter.tts.elevenlabs_ws as module

    lookups: list[str] = []
    real = module.get_proxy

    def counted(uri: object) -> str | None:
        lookups.append(str(uri))
        return real(uri)  # type: ignore[arg-type]

    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(module, "get_proxy", counted)
    tts = ElevenLabsWebSocketTTS(api_key=KEY, base_url=fake.base_url)
    for _ in range(2):
        assert await collect(tts.synthesize("Hi.", audio_format="ulaw_8000"))
    assert len(lookups) == 1
    # A proxy in the environment is honoured: this one listens nowhere.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    proxied = ElevenLabsWebSocketTTS(api_key=KEY, base_url=fake.base_url)
    with pytest.raises(PatterConnectionError):
        await collect(proxied.synthesize("Hi.", audio_format="ulaw_8000"))
