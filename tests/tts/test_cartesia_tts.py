"""CartesiaTTS (the /tts/websocket WebSocket) against the loopback Cartesia fake."""

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
from getpatter.testing.fake_tts import FakeCartesiaServer
from getpatter.testing.scenario import Scenario
from getpatter.tts.base import TTSProvider
from getpatter.tts.cartesia import TTS, CartesiaTTS, CartesiaTTSError

KEY = "sk_car-CANARY-test-key"
SENTENCE = "Your table for four is booked at eight."
SPEECH_MS = Scenario().speech_ms(SENTENCE)


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in chunks]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCartesiaServer]:
    async with FakeCartesiaServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeCartesiaServer) -> AsyncIterator[TTS]:
    provider = CartesiaTTS(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_flat_and_namespaced_names_are_one_class() -> None:
    assert getpatter.CartesiaTTS is TTS is CartesiaTTS


def test_defaults_match_the_spec() -> None:
    tts = CartesiaTTS(api_key=KEY)
    assert isinstance(tts, TTSProvider)
    assert tts.name == "cartesia_tts"
    assert (tts.model, tts.voice, tts.language, tts.sample_rate) == (
        "sonic-2",
        "f786b574-daa5-4673-aa0c-cbe3e8534c02",
        "en",
        16000,
    )
    assert tts.output_format == "pcm16_16000"
    assert set(tts.capabilities.output_formats) == {
        "pcm16_16000",
        "pcm16_24000",
        "ulaw_8000",
        "alaw_8000",
    }
    assert tts.base_url == "https://api.cartesia.ai"
    assert "CANARY" not in repr(tts)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"CartesiaTTS\(api_key=...\).*CARTESIA_API_KEY"):
        CartesiaTTS()
    monkeypatch.setenv("CARTESIA_API_KEY", KEY)
    monkeypatch.setenv("CARTESIA_BASE_URL", "http://127.0.0.1:9")
    assert CartesiaTTS().base_url == "http://127.0.0.1:9"


async def test_twilio_gets_mulaw_natively(fake: FakeCartesiaServer) -> None:
    tts = CartesiaTTS.for_twilio(api_key=KEY, base_url=fake.base_url)
    assert tts.output_format == "ulaw_8000"
    audio = b"".join(await collect(tts.synthesize(SENTENCE)))
    (request,) = fake.requests
    assert request.output_format == "pcm_mulaw_8000"
    assert len(audio) == 8 * SPEECH_MS
    assert request.completed
    assert (request.text, request.model, request.voice, request.language_code) == (
        SENTENCE,
        "sonic-2",
        "f786b574-daa5-4673-aa0c-cbe3e8534c02",
        "en",
    )
    assert request.options["continue"] is False
    await tts.close()


@pytest.mark.parametrize(
    ("audio_format", "wire", "per_ms"),
    [
        ("pcm16_16000", "pcm_s16le_16000", 32),
        ("pcm16_24000", "pcm_s16le_24000", 48),
        ("alaw_8000", "pcm_alaw_8000", 8),
    ],
)
async def test_each_format_is_asked_for_natively(
    fake: FakeCartesiaServer, tts: TTS, audio_format: str, wire: str, per_ms: int
) -> None:
    chunks = await collect(tts.synthesize(SENTENCE, audio_format=audio_format))  # type: ignore[arg-type]
    assert fake.requests[0].output_format == wire
    assert sum(map(len, chunks)) == per_ms * SPEECH_MS
    if wire.startswith("pcm_s16le"):
        assert all(len(chunk) % 2 == 0 for chunk in chunks)


def test_telnyx_gets_pcm_16000() -> None:
    assert CartesiaTTS.for_telnyx(api_key=KEY).output_format == "pcm16_16000"


async def test_sentences_reuse_one_socket(fake: FakeCartesiaServer, tts: TTS) -> None:
    for text in ("One.", "Two.", "Three."):
        await collect(tts.synthesize(text))
    assert fake.connections == 1
    assert len({r.options.get("context_id") for r in fake.requests}) == 1  # not an option
    assert [r.text for r in fake.requests] == ["One.", "Two.", "Three."]


async def test_concurrent_sentences_get_sockets_of_their_own(
    fake: FakeCartesiaServer, tts: TTS
) -> None:
    first, second = await asyncio.gather(
        collect(tts.synthesize("First one.")), collect(tts.synthesize("Second one."))
    )
    assert sum(map(len, first)) == 32 * Scenario().speech_ms("First one.")
    assert sum(map(len, second)) == 32 * Scenario().speech_ms("Second one.")
    assert fake.connections == 2


async def test_barge_in_cancels_the_context_and_keeps_the_socket(
    fake: FakeCartesiaServer, tts: TTS
) -> None:
    chunks = tts.synthesize(SENTENCE)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    (request,) = fake.requests
    async with asyncio.timeout(5):
        await request.wait_finished()
    assert request.cancelled
    assert not request.completed
    # The next sentence uses the same socket and hears none of the cancelled audio.
    audio = b"".join(await collect(tts.synthesize("Hi.")))
    assert len(audio) == 32 * Scenario().speech_ms("Hi.")
    assert fake.connections == 1


async def test_options_go_on_the_wire(fake: FakeCartesiaServer) -> None:
    tts = CartesiaTTS(
        api_key=KEY,
        base_url=fake.base_url,
        model="sonic-3",
        speed=1.2,
        emotion="happy",
        volume=1.5,
        language="it",
    )
    await collect(tts.synthesize(SENTENCE))
    (request,) = fake.requests
    assert request.options["generation_config"] == {"speed": 1.2, "emotion": "happy", "volume": 1.5}
    assert request.language_code == "it"
    named = CartesiaTTS(api_key=KEY, base_url=fake.base_url, speed="slowest")
    await collect(named.synthesize(SENTENCE))
    assert fake.requests[1].options["speed"] == "slowest"
    assert "generation_config" not in fake.requests[1].options
    await tts.close()
    await named.close()


def test_option_refusals() -> None:
    with pytest.raises(ConfigError, match="Sonic-3"):
        CartesiaTTS(api_key=KEY, volume=1.0)
    with pytest.raises(ConfigError, match="Sonic-3"):
        CartesiaTTS(api_key=KEY, emotion="happy")
    with pytest.raises(ConfigError, match="Sonic-3"):
        CartesiaTTS(api_key=KEY, speed=1.1)
    with pytest.raises(InputValidationError, match=r"between 0\.5 and 2\.0"):
        CartesiaTTS(api_key=KEY, model="sonic-3", volume=3)
    with pytest.raises(InputValidationError, match=r"between 0\.6 and 2\.0"):
        CartesiaTTS(api_key=KEY, model="sonic-3", speed=0.1)
    with pytest.raises(InputValidationError, match="fastest"):
        CartesiaTTS(api_key=KEY, speed="warp")
    with pytest.raises(ConfigError, match="not supported"):
        CartesiaTTS(api_key=KEY, sample_rate=44100)


async def test_a_format_cartesia_does_not_make_is_refused(tts: TTS) -> None:
    with pytest.raises(ConfigError, match="cannot handle"):
        await collect(tts.synthesize("Hi.", audio_format="pcm16_8000"))


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (429, RateLimitError), (500, PatterConnectionError)],
)
async def test_refused_handshakes_map(
    fake: FakeCartesiaServer, tts: TTS, status: int, error: type[PatterError]
) -> None:
    fake.fail_next(status)
    with pytest.raises(error) as caught:
        await collect(tts.synthesize(SENTENCE))
    assert "CANARY" not in str(caught.value)


async def test_a_wrong_key_names_where_it_came_from(fake: FakeCartesiaServer) -> None:
    tts = CartesiaTTS(api_key="wrong-CANARY-key", base_url=fake.base_url)
    with pytest.raises(AuthenticationError, match="CARTESIA_API_KEY") as caught:
        await collect(tts.synthesize(SENTENCE))
    assert "CANARY" not in str(caught.value)


async def test_error_frames_raise(fake: FakeCartesiaServer, tts: TTS) -> None:
    fake.error_next("Voice not found", error="voice_not_found", status_code=None)
    with pytest.raises(CartesiaTTSError, match="Voice not found"):
        await collect(tts.synthesize(SENTENCE))
    fake.error_next("Too many requests", status_code=429)
    with pytest.raises(RateLimitError, match="Too many requests"):
        await collect(tts.synthesize(SENTENCE))
    fake.error_next("Bad voice", status_code=400)
    with pytest.raises(PatterError, match="Bad voice") as caught:
        await collect(tts.synthesize(SENTENCE))
    assert caught.value.code == ErrorCode.PROVIDER_ERROR


async def test_a_stall_times_out(fake: FakeCartesiaServer) -> None:
    tts = CartesiaTTS(api_key=KEY, base_url=fake.base_url, frame_timeout=0.3)
    fake.stall_next(after_bytes=3200, seconds=5)
    received = []
    with pytest.raises(CartesiaTTSError, match="stalled") as caught:
        async for chunk in tts.synthesize(SENTENCE):
            received.append(chunk)
    assert caught.value.code == ErrorCode.TIMEOUT
    assert sum(map(len, received)) == 3200
    await tts.close()


async def test_a_socket_dropped_mid_audio_raises(fake: FakeCartesiaServer, tts: TTS) -> None:
    fake.drop_next(after_bytes=3200)
    received = []
    with pytest.raises(CartesiaTTSError, match="closed the TTS socket mid-sentence"):
        async for chunk in tts.synthesize(SENTENCE):
            received.append(chunk)
    assert sum(map(len, received)) == 3200
    # The next sentence opens a fresh socket.
    audio = b"".join(await collect(tts.synthesize("Hi.")))
    assert len(audio) == 32 * Scenario().speech_ms("Hi.")
    assert fake.connections == 2


async def test_a_pooled_socket_closed_by_the_server_is_replaced(
    fake: FakeCartesiaServer, tts: TTS
) -> None:
    await collect(tts.synthesize("One."))
    fake.drop_next(after_bytes=0)  # the reused socket dies before any audio
    audio = b"".join(await collect(tts.synthesize("Two.")))
    assert len(audio) == 32 * Scenario().speech_ms("Two.")
    assert fake.connections == 2


async def test_the_key_is_never_logged(
    fake: FakeCartesiaServer, tts: TTS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await collect(tts.synthesize(SENTENCE))
    wrong = CartesiaTTS(api_key="wrong-CANARY-key", base_url=fake.base_url)
    with pytest.raises(AuthenticationError):
        await collect(wrong.synthesize(SENTENCE, audio_format="ulaw_8000"))
    assert caplog.records
    assert "CANARY" not in caplog.text


async def test_closed_provider_refuses(tts: TTS) -> None:
    await tts.close()
    with pytest.raises(PatterError, match="closed"):
        await collect(tts.synthesize(SENTENCE))
