"""Cartesia ink-whisper streaming STT through its real client code against the loopback fake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import numpy as np
import pytest
from json_ws_kit import Events, eventually, is_final, opened, send, silence, utterance

from getpatter.audio import ulaw_to_pcm16
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.stt.base import STTProvider, Transcript
from getpatter.stt.cartesia import STT, CartesiaStream, CartesiaSTT
from getpatter.testing.fake_stt_ws.cartesia import FakeCartesiaSTTServer
from getpatter.testing.phone_network.sound import speech
from getpatter.testing.scenario import Callee, Say, Scenario
from getpatter.tts.cartesia import CARTESIA_VERSION

KEY = "ca-CANARY-secret-key-123"
LINES = ("I want to book a table for two.", "At eight tonight")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))


@pytest.fixture
async def fake() -> AsyncIterator[FakeCartesiaSTTServer]:
    async with FakeCartesiaSTTServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
def stt(fake: FakeCartesiaSTTServer) -> STT:
    return CartesiaSTT(api_key=KEY, base_url=fake.base_url)


async def test_a_turn_gives_interims_then_one_final_answering_finalize(
    fake: FakeCartesiaSTTServer, stt: STT
) -> None:
    audio = speech(800) + silence(100)
    async with opened(stt) as (stream, events):
        await send(stream, audio)
        await stream.finalize()  # the local VAD heard the end of the turn
        final = await events.until(is_final)
    interims = [e for e in events.seen if isinstance(e, Transcript) and not e.is_final]
    assert len(interims) >= 2
    assert all(e.text and LINES[0].startswith(e.text) for e in interims)
    assert isinstance(final, Transcript) and (final.text, final.is_final) == (LINES[0], True)
    assert events.finals() == [LINES[0]]
    session = fake.sessions[0]
    assert session.controls[:1] == ["Finalize"]
    assert [m["type"] for m in session.sent[-3:]] == ["transcript", "flush_done", "done"]
    # Twilio's μ-law went up untouched, announced as such.
    assert session.audio_bytes == len(audio)
    assert session.settings is not None and session.settings.encoding == "mulaw"


async def test_the_handshake_carries_the_settings_key_and_version(
    fake: FakeCartesiaSTTServer, stt: STT
) -> None:
    async with opened(stt):
        await eventually(lambda: len(fake.sessions) == 1)
    session = fake.sessions[0]
    assert session.path == "/stt/websocket"
    assert session.query == {
        "model": "ink-whisper",
        "language": "en",
        "encoding": "pcm_mulaw",
        "sample_rate": "8000",
    }
    assert session.headers["authorization"] == "***"
    assert session.headers["cartesia-version"] == CARTESIA_VERSION


async def test_finals_cartesia_makes_by_itself_pass_through_and_finalize_still_answers(
    fake: FakeCartesiaSTTServer,
) -> None:
    stt = CartesiaSTT(api_key=KEY, base_url=fake.base_url, max_silence_duration_secs=0.3)
    async with opened(stt) as (stream, events):
        await send(stream, utterance(800, 500))
        final = await events.until(is_final)  # Cartesia finalized after 300 ms of silence
        assert isinstance(final, Transcript) and final.text == LINES[0]
        await stream.finalize()  # nothing is pending: the answer is an empty final
        empty = await events.until(is_final)
    assert isinstance(empty, Transcript) and empty.text == ""
    assert fake.sessions[0].query["max_silence_duration_secs"] == "0.3"
    assert events.finals() == [LINES[0], ""]


async def test_default_format_is_pcm16_16k(fake: FakeCartesiaSTTServer, stt: STT) -> None:
    pcm8k = np.frombuffer(ulaw_to_pcm16(speech(600)), dtype="<i2")
    pcm16k = np.repeat(pcm8k, 2).astype("<i2").tobytes()
    async with opened(stt, audio_format=None) as (stream, events):
        await send(stream, pcm16k, frame=640)
        await stream.finalize()
        final = await events.until(is_final)
    assert isinstance(final, Transcript) and final.text == LINES[0]
    query = fake.sessions[0].query
    assert (query["encoding"], query["sample_rate"]) == ("pcm_s16le", "16000")


async def test_a_spec_rate_without_a_patter_format_is_announced_as_configured(
    fake: FakeCartesiaSTTServer,
) -> None:
    stt = CartesiaSTT(api_key=KEY, base_url=fake.base_url, sample_rate=48000)
    pcm48k = np.repeat(np.frombuffer(ulaw_to_pcm16(speech(400)), dtype="<i2"), 6)
    async with opened(stt, audio_format=None) as (stream, events):
        await send(stream, pcm48k.astype("<i2").tobytes(), frame=1920)
        await stream.finalize()
        final = await events.until(is_final)
    assert isinstance(final, Transcript) and final.text == LINES[0]
    assert fake.sessions[0].query["sample_rate"] == "48000"
    assert stt.capabilities.input_formats[0] == "ulaw_8000"


async def test_close_sends_close_and_ends_the_iterator(
    fake: FakeCartesiaSTTServer, stt: STT
) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, speech(500))
        await events.until(lambda e: isinstance(e, Transcript))
        await stream.close()
        await stream.close()
        await stream.send_audio(speech(100))  # after close: dropped
        await stream.finalize()
        async with asyncio.timeout(5):
            await events.task  # ended without raising
    session = fake.sessions[0]
    assert session.controls == ["Terminate"]
    assert session.sent[-1]["type"] == "done"
    # The pending words still arrived as a final before done.
    assert events.finals() == [LINES[0]]


async def test_a_refused_key_raises_authentication_error_without_the_key(
    fake: FakeCartesiaSTTServer,
) -> None:
    wrong = "ca-CANARY-wrong-key-456"
    stream = CartesiaSTT(api_key=wrong, base_url=fake.base_url).open_stream()
    with pytest.raises(AuthenticationError) as raised:
        async with asyncio.timeout(5):
            await stream.connect()
    message = str(raised.value)
    assert "HTTP 401" in message and "Invalid API key" in message
    assert "CARTESIA_API_KEY" in message and wrong not in message


async def test_rate_limits_server_errors_and_in_band_errors(
    fake: FakeCartesiaSTTServer, stt: STT
) -> None:
    fake.refuse_next("rate_limit")
    async with asyncio.timeout(5):
        with pytest.raises(RateLimitError, match="HTTP 429"):
            await stt.open_stream().connect()
        fake.fail_next_connect(502)
        with pytest.raises(PatterConnectionError, match="HTTP 502"):
            await stt.open_stream().connect()
        fake.refuse_next("bad_request", "Unsupported language")
        stream = stt.open_stream()
        await stream.connect()  # Cartesia refuses a bad setting in-band, after the handshake
        with pytest.raises(Exception, match="Unsupported language") as raised:
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()
    assert "HTTP 400" in str(raised.value)
    async with opened(stt):  # the provider still serves the next call
        pass


async def test_a_dropped_socket_raises_from_the_iterator(
    fake: FakeCartesiaSTTServer, stt: STT
) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000")
    async with asyncio.timeout(5):
        await stream.connect()
        await send(stream, speech(300))
        await eventually(lambda: len(fake.sessions) == 1)
        await fake.drop()
        with pytest.raises(PatterConnectionError, match="closed the stream unexpectedly"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.send_audio(speech(100))  # mid-call audio after a drop is dropped quietly
        await stream.finalize()
        await stream.close()


async def test_an_error_message_mid_stream_raises_from_the_iterator(
    fake: FakeCartesiaSTTServer, stt: STT
) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000")
    async with asyncio.timeout(5):
        await stream.connect()
        await eventually(lambda: len(fake.sessions) == 1)
        await fake.send_error(kind="server", message="Transcription failed")
        with pytest.raises(PatterConnectionError, match="Transcription failed"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()


async def test_one_provider_serves_concurrent_calls(fake: FakeCartesiaSTTServer, stt: STT) -> None:
    async def turn(stream: CartesiaStream, events: Events, ms: int, text: str) -> None:
        await send(stream, speech(ms) + silence(100))
        await stream.finalize()
        await events.until(lambda e: is_final(e) and e.text == text)  # type: ignore[union-attr]

    async with opened(stt) as (first, first_events), opened(stt) as (second, second_events):
        assert isinstance(first, CartesiaStream) and isinstance(second, CartesiaStream)
        await asyncio.gather(
            turn(first, first_events, 800, LINES[0]), turn(second, second_events, 500, LINES[0])
        )
        await turn(first, first_events, 500, LINES[1])
    assert first_events.finals() == list(LINES)
    assert second_events.finals() == [LINES[0]]


def test_missing_key_names_the_env_var_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    with pytest.raises(ValueError) as raised:
        CartesiaSTT()
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert "Cartesia" in message and "api_key=" in message and "CARTESIA_API_KEY" in message


async def test_key_and_base_url_come_from_the_environment(
    fake: FakeCartesiaSTTServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARTESIA_API_KEY", KEY)
    monkeypatch.setenv("CARTESIA_BASE_URL", fake.base_url)
    async with opened(CartesiaSTT()):
        await eventually(lambda: len(fake.sessions) == 1)


async def test_the_key_stays_out_of_repr_and_debug_logs(
    fake: FakeCartesiaSTTServer, stt: STT, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with opened(stt) as (stream, events):
            await send(stream, speech(400))
            await stream.finalize()
            await events.until(is_final)
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("getpatter.stt")
    )
    assert "Authorization" in client_log
    assert KEY not in caplog.text
    assert KEY not in repr(stt)


def test_capabilities_need_a_local_vad_and_list_twilio_mulaw_first() -> None:
    stt: STTProvider = CartesiaSTT(api_key=KEY)
    assert isinstance(stt, STTProvider)
    assert stt.name == "cartesia_stt"
    assert stt.capabilities.streaming and stt.capabilities.interim_results
    assert not stt.capabilities.endpointing  # no turn detection on this endpoint
    assert stt.capabilities.input_formats[:2] == ("ulaw_8000", "pcm16_16000")
    assert "alaw_8000" in stt.capabilities.input_formats
    assert CartesiaSTT is STT


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"sample_rate": 22050}, ConfigError),
        ({"sample_rate": True}, ConfigError),
        ({"encoding": "pcm_f32le"}, ConfigError),
        ({"model": ""}, ConfigError),
        ({"max_silence_duration_secs": 0}, ConfigError),
        ({"min_volume": -1}, ConfigError),
        ({"base_url": "api.cartesia.ai"}, InputValidationError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        CartesiaSTT(api_key=KEY, **options)  # type: ignore[arg-type]


def test_open_stream_refuses_an_unknown_format() -> None:
    with pytest.raises(ConfigError, match="audio_format"):
        CartesiaSTT(api_key=KEY).open_stream(audio_format="mp3")  # type: ignore[arg-type]


async def test_pointed_at_keeps_every_option(fake: FakeCartesiaSTTServer) -> None:
    stt = CartesiaSTT(
        api_key="ca-CANARY-user-key-789",
        base_url="https://cartesia.invalid",
        language="es",
        max_silence_duration_secs=0.4,
    )
    moved = stt._pointed_at(KEY, fake.base_url)
    async with opened(moved):
        await eventually(lambda: len(fake.sessions) == 1)
    query = fake.sessions[0].query
    assert (query["language"], query["max_silence_duration_secs"]) == ("es", "0.4")
    assert moved.capabilities == stt.capabilities
