"""Speechmatics real-time STT through its real client code against the loopback fake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import numpy as np
import pytest
from json_ws_kit import eventually, is_final, opened, send, utterance

from getpatter.audio import ulaw_to_pcm16
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.stt import speechmatics
from getpatter.stt.base import STTProvider, Transcript, UtteranceEnd
from getpatter.stt.speechmatics import STT, SpeechmaticsSTT
from getpatter.testing.fake_stt_ws.speechmatics import FakeSpeechmaticsServer
from getpatter.testing.phone_network.sound import speech
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "sm-CANARY-secret-key-123"
LINES = ("I want to book a table for two.", "At eight tonight")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSpeechmaticsServer]:
    async with FakeSpeechmaticsServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
def stt(fake: FakeSpeechmaticsServer) -> STT:
    return SpeechmaticsSTT(api_key=KEY, base_url=fake.base_url)


async def test_a_turn_gives_partials_a_final_and_the_end_of_utterance(
    fake: FakeSpeechmaticsServer, stt: STT
) -> None:
    audio = utterance()
    async with opened(stt) as (stream, events):
        await send(stream, audio)
        await events.until(lambda e: isinstance(e, UtteranceEnd))
    seen = events.seen
    partials = [e for e in seen if isinstance(e, Transcript) and not e.is_final]
    assert len(partials) >= 2
    assert all(e.text and LINES[0].startswith(e.text) for e in partials)
    final, end = seen[-2:]
    assert isinstance(final, Transcript) and isinstance(end, UtteranceEnd)
    assert (final.text, final.is_final) == (LINES[0], True)
    assert final.confidence is not None and 0 < final.confidence <= 1
    assert final.speech_end is not None and 0.5 < final.speech_end <= 0.85
    session = fake.sessions[0]
    # Twilio's μ-law went up untouched, announced as such, every frame acknowledged.
    assert session.audio_bytes == len(audio)
    assert session.settings is not None and session.settings.encoding == "mulaw"
    acks = [m["seq_no"] for m in session.sent if m["message"] == "AudioAdded"]
    assert acks == list(range(1, len(audio) // 160 + 1))


async def test_start_recognition_carries_the_configuration(
    fake: FakeSpeechmaticsServer, stt: STT
) -> None:
    async with opened(stt):
        await eventually(lambda: len(fake.sessions) == 1)
    session = fake.sessions[0]
    assert session.path == "/v2"
    assert session.headers["authorization"] == "***"
    assert session.key_source == "header"
    assert session.config == {
        "message": "StartRecognition",
        "audio_format": {"type": "raw", "encoding": "mulaw", "sample_rate": 8000},
        "transcription_config": {
            "language": "en",
            "model": "enhanced",
            "enable_partials": True,
            "max_delay": 1.0,
            "conversation_config": {"end_of_utterance_silence_trigger": 0.5},
        },
    }


async def test_default_format_is_pcm16_16k_and_endpointing_can_be_off(
    fake: FakeSpeechmaticsServer,
) -> None:
    stt = SpeechmaticsSTT(
        api_key=KEY,
        base_url=fake.base_url,
        enable_partials=False,
        end_of_utterance_silence_trigger=None,
    )
    assert not stt.capabilities.endpointing and not stt.capabilities.interim_results
    pcm8k = np.frombuffer(ulaw_to_pcm16(utterance(600, 500)), dtype="<i2")
    pcm16k = np.repeat(pcm8k, 2).astype("<i2").tobytes()
    async with opened(stt, audio_format=None) as (stream, events):
        await send(stream, pcm16k, frame=640)
        final = await events.until(is_final)
        await eventually(lambda: fake.sessions[0].audio_bytes == len(pcm16k))
    assert isinstance(final, Transcript) and final.text == LINES[0]
    assert events.seen == [final]  # no partials, no end of utterance
    config = fake.sessions[0].config
    assert config is not None
    assert config["audio_format"] == {"type": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}
    assert "conversation_config" not in config["transcription_config"]


async def test_finalize_forces_the_end_of_utterance(fake: FakeSpeechmaticsServer, stt: STT) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, speech(500))
        await events.until(lambda e: isinstance(e, Transcript))  # a partial: speech is pending
        await stream.finalize()
        final = await events.until(is_final)
        await events.until(lambda e: isinstance(e, UtteranceEnd))
    assert isinstance(final, Transcript) and final.text == LINES[0]
    assert "Finalize" in fake.sessions[0].controls


async def test_close_sends_end_of_stream_and_ends_the_iterator(
    fake: FakeSpeechmaticsServer, stt: STT
) -> None:
    audio = utterance(400, 600)
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
    assert session.controls == ["Configure", "Terminate"]
    assert session.sent[-1] == {"message": "EndOfTranscript"}
    assert session.audio_frames == len(audio) // 160


async def test_a_refused_key_raises_authentication_error_without_the_key(
    fake: FakeSpeechmaticsServer,
) -> None:
    wrong = "sm-CANARY-wrong-key-456"
    stream = SpeechmaticsSTT(api_key=wrong, base_url=fake.base_url).open_stream()
    with pytest.raises(AuthenticationError) as raised:
        async with asyncio.timeout(5):
            await stream.connect()
    assert "HTTP 401" in str(raised.value) and "SPEECHMATICS_API_KEY" in str(raised.value)
    assert wrong not in str(raised.value)


async def test_in_band_refusals_map_to_their_errors(fake: FakeSpeechmaticsServer, stt: STT) -> None:
    fake.refuse_next("auth")
    fake.refuse_next("rate_limit")
    fake.refuse_next("server", "Engine unavailable")
    async with asyncio.timeout(5):
        with pytest.raises(AuthenticationError, match="not_authorised"):
            await stt.open_stream().connect()
        with pytest.raises(RateLimitError, match="quota_exceeded"):
            await stt.open_stream().connect()
        with pytest.raises(PatterConnectionError, match="Engine unavailable") as raised:
            await stt.open_stream().connect()
        assert raised.value.code is ErrorCode.PROVIDER_ERROR
        fake.fail_next_connect(503)
        with pytest.raises(PatterConnectionError, match="HTTP 503"):
            await stt.open_stream().connect()
    async with opened(stt):  # the provider still serves the next call
        pass


async def test_no_recognition_started_times_out(
    fake: FakeSpeechmaticsServer, stt: STT, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speechmatics, "_CONNECT_TIMEOUT_S", 0.2)
    fake.stall_next_connect()
    with pytest.raises(PatterConnectionError) as raised:
        async with asyncio.timeout(5):
            await stt.open_stream().connect()
    assert raised.value.code is ErrorCode.TIMEOUT


async def test_a_dropped_socket_raises_from_the_iterator(
    fake: FakeSpeechmaticsServer, stt: STT
) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000")
    async with asyncio.timeout(5):
        await stream.connect()
        await send(stream, speech(300))
        await fake.drop()
        with pytest.raises(PatterConnectionError, match="closed the stream unexpectedly"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.send_audio(speech(100))  # mid-call audio after a drop is dropped quietly
        await stream.finalize()
        await stream.close()


async def test_an_error_message_mid_stream_raises_from_the_iterator(
    fake: FakeSpeechmaticsServer, stt: STT
) -> None:
    stream = stt.open_stream(audio_format="ulaw_8000")
    async with asyncio.timeout(5):
        await stream.connect()
        await fake.send_error(kind="server", message="Transcription failed")
        with pytest.raises(PatterConnectionError, match="Transcription failed"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()


async def test_one_provider_serves_concurrent_calls(fake: FakeSpeechmaticsServer, stt: STT) -> None:
    async with opened(stt) as (first, first_events), opened(stt) as (second, second_events):
        await asyncio.gather(send(first, utterance(800, 700)), send(second, utterance(500, 700)))
        await send(first, utterance(500, 700))
        await first_events.until(lambda e: is_final(e) and e.text == LINES[1])  # type: ignore[union-attr]
        await second_events.until(is_final)
    assert first_events.finals() == list(LINES)
    assert second_events.finals() == [LINES[0]]


def test_missing_key_names_the_env_var_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPEECHMATICS_API_KEY", raising=False)
    with pytest.raises(ValueError) as raised:
        SpeechmaticsSTT()
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert "Speechmatics" in message and "api_key=" in message
    assert "SPEECHMATICS_API_KEY" in message


async def test_key_and_url_come_from_the_environment(
    fake: FakeSpeechmaticsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPEECHMATICS_API_KEY", KEY)
    monkeypatch.setenv("SPEECHMATICS_RT_URL", fake.base_url)
    async with opened(SpeechmaticsSTT()):
        await eventually(lambda: len(fake.sessions) == 1)


async def test_the_key_stays_out_of_repr_and_debug_logs(
    fake: FakeSpeechmaticsServer, stt: STT, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with opened(stt) as (stream, events):
            await send(stream, utterance(400, 600))
            await events.until(is_final)
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("getpatter.stt")
    )
    assert "Authorization" in client_log
    assert KEY not in caplog.text
    assert KEY not in repr(stt)


def test_capabilities_list_twilio_mulaw_first() -> None:
    stt: STTProvider = SpeechmaticsSTT(api_key=KEY)
    assert isinstance(stt, STTProvider)
    assert stt.name == "speechmatics"
    assert stt.capabilities.streaming and stt.capabilities.endpointing
    assert stt.capabilities.interim_results
    assert stt.capabilities.input_formats[:2] == ("ulaw_8000", "pcm16_16000")
    assert "alaw_8000" not in stt.capabilities.input_formats
    assert SpeechmaticsSTT is STT


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"encoding": "mulaw", "sample_rate": 16000}, ConfigError),
        ({"encoding": "alaw"}, ConfigError),
        ({"model": "turbo"}, ConfigError),
        ({"max_delay": 0.2}, ConfigError),
        ({"max_delay": "1"}, ConfigError),
        ({"end_of_utterance_silence_trigger": 0}, ConfigError),
        ({"end_of_utterance_silence_trigger": 3}, ConfigError),
        ({"enable_partials": "yes"}, ConfigError),
        ({"base_url": "eu2.rt.speechmatics.com/v2"}, InputValidationError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        SpeechmaticsSTT(api_key=KEY, **options)  # type: ignore[arg-type]


def test_open_stream_refuses_a_format_speechmatics_does_not_take() -> None:
    with pytest.raises(ConfigError, match="alaw_8000"):
        SpeechmaticsSTT(api_key=KEY).open_stream(audio_format="alaw_8000")


@pytest.mark.parametrize(
    ("code", "error"), [(4001, AuthenticationError), (4005, RateLimitError), (1011, None)]
)
async def test_a_close_without_its_error_message_maps_by_its_code(
    code: int, error: type[Exception] | None
) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def refuse(ws: ServerConnection) -> None:
        await ws.recv()  # StartRecognition
        await ws.close(code, "refused")

    async with serve(refuse, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        stt = SpeechmaticsSTT(api_key=KEY, base_url=f"ws://127.0.0.1:{port}/v2")
        with pytest.raises(PatterConnectionError if error is None else error) as raised:
            async with asyncio.timeout(5):
                await stt.open_stream().connect()
    assert error is not None or "closed the stream unexpectedly" in str(raised.value)


async def test_pointed_at_keeps_every_option(fake: FakeSpeechmaticsServer) -> None:
    stt = SpeechmaticsSTT(
        api_key="sm-CANARY-user-key-789",
        base_url="wss://speechmatics.invalid/v2",
        language="de",
        max_delay=2.0,
        end_of_utterance_silence_trigger=None,
    )
    moved = stt._pointed_at(KEY, fake.base_url)
    async with opened(moved):
        await eventually(lambda: len(fake.sessions) == 1)
    config = fake.sessions[0].config
    assert config is not None
    assert config["transcription_config"] == {
        "language": "de",
        "model": "enhanced",
        "enable_partials": True,
        "max_delay": 2.0,
    }
    assert moved.capabilities == stt.capabilities and not moved.capabilities.endpointing
