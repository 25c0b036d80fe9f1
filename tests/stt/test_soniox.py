"""Soniox real-time STT through its real client code against the loopback fake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from json_ws_kit import (
    LINES,
    SCENARIO,
    Events,
    eventually,
    is_final,
    is_speech_final,
    opened,
    pcm16k,
    send,
    utterance,
)

import getpatter
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.stt.base import STTProvider, Transcript
from getpatter.stt.soniox import STT, SonioxStream, SonioxSTT
from getpatter.testing.fake_stt_ws.soniox import FakeSonioxServer
from getpatter.testing.phone_network.sound import speech

KEY = "snx-CANARY-secret-key-123"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSonioxServer]:
    async with FakeSonioxServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
def stt(fake: FakeSonioxServer) -> STT:
    return SonioxSTT.for_twilio(api_key=KEY, base_url=fake.base_url)


async def test_a_twilio_turn_end_to_end_interims_then_the_endpoint(
    fake: FakeSonioxServer, stt: STT
) -> None:
    audio = utterance()
    async with opened(stt) as (stream, events):
        await send(stream, audio)
        final = await events.until(is_final)
    assert isinstance(final, Transcript)
    assert (final.text, final.is_final, final.speech_final) == (LINES[0], True, True)
    assert final.confidence is not None and 0 < final.confidence <= 1
    assert final.speech_end is not None and 0.6 < final.speech_end <= 0.8
    assert final.audio_seconds is not None and 1.0 < final.audio_seconds < 1.6
    interims = events.interims()
    assert len(interims) >= 2
    assert all(LINES[0].startswith(text) for text in interims)
    session = fake.sessions[0]
    assert session.audio_bytes == len(audio)  # μ-law went up untouched
    assert session.key_source == "header"
    assert session.headers["authorization"] == "***"
    assert session.config == {
        "model": "stt-rt-v5",
        "audio_format": "mulaw",
        "sample_rate": 8000,
        "num_channels": 1,
        "enable_endpoint_detection": True,
        "language_hints": ["en"],
    }
    assert "api_key" not in stream.config


async def test_two_turns_on_pcm16_and_the_endpoint_delay(fake: FakeSonioxServer) -> None:
    stt = SonioxSTT(api_key=KEY, base_url=fake.base_url, language=None, max_endpoint_delay_ms=800)
    async with opened(stt, "pcm16_16000") as (stream, events):
        await send(stream, pcm16k(utterance(800, 700) + utterance(500, 700)), frame=640)
        await events.until(lambda e: is_final(e) and e.text == LINES[1])  # type: ignore[union-attr]
    assert events.finals() == list(LINES)
    config = fake.sessions[0].config
    assert config is not None
    assert (config["audio_format"], config["sample_rate"]) == ("pcm_s16le", 16000)
    assert config["max_endpoint_delay_ms"] == 800
    assert "language_hints" not in config


async def test_without_endpoint_detection_finals_are_not_speech_final(
    fake: FakeSonioxServer,
) -> None:
    stt = SonioxSTT.for_twilio(api_key=KEY, base_url=fake.base_url, endpoint_detection=False)
    assert not stt.capabilities.endpointing
    async with opened(stt) as (stream, events):
        await send(stream, utterance(600, 400))
        final = await events.until(is_final)
    assert isinstance(final, Transcript)
    assert (final.text, final.speech_final) == (LINES[0], False)
    assert not any(is_speech_final(e) for e in events.seen)


async def test_finalize_makes_the_pending_words_final(fake: FakeSonioxServer, stt: STT) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, speech(500))
        await events.until(lambda e: isinstance(e, Transcript))  # an interim: words are pending
        await stream.finalize()
        final = await events.until(is_final)
    assert isinstance(final, Transcript)
    assert (final.text, final.speech_final) == (LINES[0], False)
    session = fake.sessions[0]
    assert session.controls[:2] == ["Configure", "Finalize"]
    assert session.sent[-2]["tokens"][-1]["text"] == "<fin>"


async def test_final_tokens_inside_a_word_wait_for_its_end() -> None:
    """Soniox tokens may be pieces of words: a final is reported on a word boundary."""
    stream = SonioxSTT(api_key=KEY).open_stream()

    def response(*tokens: tuple[str, bool]) -> dict[str, object]:
        return {
            "tokens": [{"text": t, "is_final": f, "confidence": 0.9} for t, f in tokens],
            "total_audio_proc_ms": 900,
        }

    first = stream._parse(response(("Hel", True), ("lo", False)))
    assert first == [Transcript(text="Hello", is_final=False, audio_seconds=0.9)]
    second = stream._parse(response(("lo", True), (" there", False)))
    assert [(e.text, e.is_final) for e in second if isinstance(e, Transcript)] == [
        ("Hello", True),
        ("there", False),
    ]
    third = stream._parse(response((" there", True), ("<end>", True)))
    assert [(e.text, e.is_final, e.speech_final) for e in third if isinstance(e, Transcript)] == [
        ("there", True, True)
    ]


async def test_close_sends_the_empty_frame_and_the_iterator_ends_quietly(
    fake: FakeSonioxServer, stt: STT
) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, utterance(600, 700))
        await events.until(is_final)
        await stream.close()
        await stream.close()
        await stream.send_audio(speech(100))  # after close: dropped
        await stream.finalize()
        async with asyncio.timeout(5):
            await events.task
    session = fake.sessions[0]
    assert session.controls == ["Configure", "Terminate"]
    assert session.sent[-1]["finished"] is True


async def test_keepalive_is_sent_while_no_audio_flows() -> None:
    async with FakeSonioxServer(SCENARIO, idle_timeout=0.5) as fake:
        stt = SonioxSTT.for_twilio(api_key=KEY, base_url=fake.base_url, keepalive_interval=0.1)
        async with opened(stt) as (stream, events):
            await eventually(lambda: fake.sessions[0].controls.count("KeepAlive") >= 8)
            await send(stream, utterance(600, 700))
            final = await events.until(is_final)
        assert isinstance(final, Transcript) and final.text == LINES[0]
        assert not fake.sessions[0].timed_out


async def test_idle_close_raises_from_the_iterator() -> None:
    async with FakeSonioxServer(SCENARIO, idle_timeout=0.2) as fake:
        stt = SonioxSTT.for_twilio(api_key=KEY, base_url=fake.base_url, keepalive_interval=9)
        stream = stt.open_stream()
        async with asyncio.timeout(5):
            await stream.connect()
            with pytest.raises(PatterConnectionError, match="error 408"):
                async for _ in stream.receive_transcripts():
                    pass
            await stream.close()
        assert fake.sessions[0].timed_out


async def test_a_refused_key_raises_authentication_error(
    fake: FakeSonioxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """From connect() when the refusal has arrived by then, else from the iterator."""
    wrong = "snx-CANARY-wrong-key-456"
    stream = SonioxSTT(api_key=wrong, base_url=fake.base_url).open_stream()
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as raised:
        async with asyncio.timeout(5):
            await stream.connect()
            async for _ in stream.receive_transcripts():
                pass
    await stream.close()
    message = str(raised.value)
    assert "error 401" in message and "SONIOX_API_KEY" in message
    assert wrong not in message and wrong not in caplog.text
    assert fake.sessions[0].refused == "auth"


async def test_rate_limits_and_server_failures(fake: FakeSonioxServer, stt: STT) -> None:
    fake.fail_next_connect(429)
    fake.fail_next_connect(502)
    fake.refuse_next("rate_limit")
    async with asyncio.timeout(5):
        with pytest.raises(RateLimitError, match="HTTP 429"):
            await stt.open_stream().connect()
        with pytest.raises(PatterConnectionError, match="HTTP 502") as raised:
            await stt.open_stream().connect()
        assert not isinstance(raised.value, RateLimitError)
        stream = stt.open_stream()
        await stream.connect()  # Soniox refuses in-band, after the start request
        with pytest.raises(RateLimitError, match="error 429"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()
    async with opened(stt):  # the provider still serves the next call
        pass


async def test_a_drop_mid_stream_raises_from_the_iterator(fake: FakeSonioxServer, stt: STT) -> None:
    stream = stt.open_stream()
    async with asyncio.timeout(5):
        await stream.connect()
        events = Events(stream)
        await send(stream, speech(400))
        await events.until(lambda e: isinstance(e, Transcript))
        await fake.drop()
        with pytest.raises(PatterConnectionError, match="closed the stream unexpectedly"):
            await events.task
        await stream.send_audio(speech(100))  # audio after a drop is dropped quietly
        await stream.finalize()
        await stream.close()


async def test_a_server_error_mid_stream_raises_from_the_iterator(
    fake: FakeSonioxServer, stt: STT
) -> None:
    stream = stt.open_stream()
    async with asyncio.timeout(5):
        await stream.connect()
        await eventually(lambda: fake.sessions and fake.sessions[0].settings is not None)
        await fake.send_error(kind="server", message="Cannot continue request (code 7).")
        with pytest.raises(PatterConnectionError, match="Cannot continue request") as raised:
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()
    assert raised.value.code is ErrorCode.CONNECTION


def test_missing_key_names_the_env_var_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONIOX_API_KEY", raising=False)
    with pytest.raises(ValueError) as raised:
        SonioxSTT()
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert "Soniox" in message and "api_key=" in message and "SONIOX_API_KEY" in message


async def test_key_and_base_url_come_from_the_environment(
    fake: FakeSonioxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SONIOX_API_KEY", KEY)
    monkeypatch.setenv("SONIOX_BASE_URL", fake.base_url)
    async with opened(SonioxSTT()):
        await eventually(lambda: bool(fake.sessions) and fake.sessions[0].settings is not None)


async def test_the_key_stays_out_of_repr_config_and_debug_logs(
    fake: FakeSonioxServer, stt: STT, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with opened(stt) as (stream, events):
            await send(stream, utterance(600, 700))
            await events.until(is_final)
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("getpatter.stt")
    )
    assert "Authorization" in client_log
    assert KEY not in client_log and KEY not in caplog.text
    assert KEY not in repr(stt) and KEY not in str(stream.config)


def test_capabilities_and_names() -> None:
    stt: STTProvider = SonioxSTT(api_key=KEY)
    assert isinstance(stt, STTProvider)
    assert stt.name == "soniox"
    caps = stt.capabilities
    assert caps.streaming and caps.interim_results and caps.endpointing
    assert caps.input_formats[:2] == ("ulaw_8000", "pcm16_16000")
    assert set(caps.input_formats) == {
        "ulaw_8000",
        "alaw_8000",
        "pcm16_8000",
        "pcm16_16000",
        "pcm16_24000",
    }
    assert SonioxSTT is STT
    assert getpatter.SonioxSTT is STT  # flat and namespaced names are one class
    assert isinstance(SonioxSTT.for_telnyx(api_key=KEY).open_stream(), SonioxStream)
    assert SonioxSTT(api_key=KEY, language="it").language == "it"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"audio_format": "mp3"}, ConfigError),
        ({"model": ""}, ConfigError),
        ({"language": ""}, ConfigError),
        ({"max_endpoint_delay_ms": 100}, ConfigError),
        ({"endpoint_detection": False, "max_endpoint_delay_ms": 1000}, ConfigError),
        ({"keepalive_interval": 30}, ConfigError),
        ({"endpoint_detection": "yes"}, ConfigError),
        ({"base_url": "stt-rt.soniox.com"}, InputValidationError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        SonioxSTT(api_key=KEY, **options)  # type: ignore[arg-type]


def test_for_twilio_refuses_a_format_of_its_own() -> None:
    with pytest.raises(ConfigError, match="for_twilio"):
        SonioxSTT.for_twilio(api_key=KEY, audio_format="pcm16_16000")


def test_the_sandbox_copy_keeps_every_option() -> None:
    stt = SonioxSTT.for_twilio(api_key=KEY, language="es", max_endpoint_delay_ms=700)
    copy = stt._pointed_at("snx-CANARY-other-key-789", "ws://127.0.0.1:9")
    assert type(copy) is SonioxSTT and copy._api_key == "snx-CANARY-other-key-789"
    assert copy.open_stream().config == stt.open_stream().config
    assert copy.open_stream().url == "ws://127.0.0.1:9/transcribe-websocket"
    assert copy.capabilities == stt.capabilities
