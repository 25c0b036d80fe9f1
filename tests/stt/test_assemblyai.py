"""AssemblyAI v3 streaming STT through its real client code against the loopback fake."""

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
    opened,
    pcm16k,
    send,
    silence,
    utterance,
)

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
from getpatter.stt import assemblyai
from getpatter.stt.assemblyai import STT, AssemblyAISTT
from getpatter.stt.base import STTProvider, Transcript
from getpatter.testing.fake_stt_ws.assemblyai import FakeAssemblyAIServer
from getpatter.testing.phone_network.sound import speech

KEY = "aai-CANARY-secret-key-123"


def plain(line: str) -> str:
    """A line as AssemblyAI's unformatted turns write it."""
    return " ".join(w.strip(".,!?").lower() for w in line.split())


@pytest.fixture
async def fake() -> AsyncIterator[FakeAssemblyAIServer]:
    async with FakeAssemblyAIServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
def stt(fake: FakeAssemblyAIServer) -> STT:
    return AssemblyAISTT.for_twilio(api_key=KEY, base_url=fake.base_url)


async def test_a_twilio_turn_end_to_end_interims_then_the_final(
    fake: FakeAssemblyAIServer, stt: STT
) -> None:
    audio = utterance()
    async with opened(stt) as (stream, events):
        await send(stream, audio)
        final = await events.until(is_final)
    assert isinstance(final, Transcript)
    assert (final.text, final.is_final, final.speech_final) == (plain(LINES[0]), True, True)
    assert final.confidence is not None and 0 < final.confidence <= 1
    assert final.speech_end is not None and 0.6 < final.speech_end <= 0.8
    interims = events.interims()
    assert len(interims) >= 2
    assert all(plain(LINES[0]).startswith(text) for text in interims)
    session = fake.sessions[0]
    # μ-law went up untouched (byte for byte), in chunks AssemblyAI accepts (50-1000 ms).
    assert session.audio_bytes == len(audio)
    assert session.refused is None
    assert session.query == {
        "sample_rate": "8000",
        "encoding": "pcm_mulaw",
        "speech_model": "universal-streaming-english",
        "format_turns": "false",
    }
    assert session.headers["authorization"] == "***"
    assert session.headers["assemblyai-version"] == "2025-05-12"
    assert stream.session_id == session.id


async def test_format_turns_reports_the_formatted_turn_only(fake: FakeAssemblyAIServer) -> None:
    stt = AssemblyAISTT(api_key=KEY, base_url=fake.base_url, format_turns=True)
    async with opened(stt, "pcm16_16000") as (stream, events):
        await send(stream, pcm16k(utterance(800, 600)), frame=640)
        await events.until(is_final)
        await stream.close()
        await events.task
    assert events.finals() == [LINES[0]]
    assert fake.sessions[0].query["format_turns"] == "true"
    assert fake.sessions[0].settings is not None
    assert fake.sessions[0].settings.encoding == "pcm_s16le"


async def test_turn_tuning_goes_in_the_query(fake: FakeAssemblyAIServer) -> None:
    stt = AssemblyAISTT.for_twilio(
        api_key=KEY,
        base_url=fake.base_url,
        min_turn_silence_ms=200,
        max_turn_silence_ms=1500,
        end_of_turn_confidence_threshold=0.6,
    )
    async with opened(stt) as (stream, events):
        await send(stream, utterance(600, 300))  # 300 ms of silence ends a 200 ms-silence turn
        await events.until(is_final)
    query = fake.sessions[0].query
    assert query["min_turn_silence"] == "200"
    assert query["max_turn_silence"] == "1500"
    assert query["end_of_turn_confidence_threshold"] == "0.6"


async def test_finalize_pads_the_last_chunk_and_forces_the_endpoint(
    fake: FakeAssemblyAIServer, stt: STT
) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, speech(500) + silence(20))  # 520 ms: 8 chunks of 60 ms, 40 ms left
        await events.until(lambda e: isinstance(e, Transcript))  # an interim: a turn is open
        await stream.finalize()
        final = await events.until(is_final)
    assert isinstance(final, Transcript)
    assert (final.text, final.speech_final) == (plain(LINES[0]), True)
    session = fake.sessions[0]
    assert session.controls[:1] == ["Finalize"]
    assert session.audio_bytes == 8 * 480 + 400  # the last 40 ms padded to 50 ms
    assert session.refused is None


async def test_close_terminates_and_the_iterator_ends_quietly(
    fake: FakeAssemblyAIServer, stt: STT
) -> None:
    async with opened(stt) as (stream, events):
        await send(stream, utterance(600, 600))
        await events.until(is_final)
        await stream.close()
        await stream.close()
        await stream.send_audio(speech(100))  # after close: dropped
        await stream.finalize()
        async with asyncio.timeout(5):
            await events.task
    session = fake.sessions[0]
    assert session.controls == ["Terminate"]
    assert session.sent[-1]["type"] == "Termination"


async def test_keepalive_is_sent_while_no_audio_flows() -> None:
    async with FakeAssemblyAIServer(SCENARIO, idle_timeout=0.5) as fake:
        stt = AssemblyAISTT.for_twilio(api_key=KEY, base_url=fake.base_url, keepalive_interval=0.1)
        async with opened(stt) as (stream, events):
            await eventually(lambda: fake.sessions[0].controls.count("KeepAlive") >= 8)
            await send(stream, utterance(600, 600))
            final = await events.until(is_final)
        assert isinstance(final, Transcript) and final.text == plain(LINES[0])
        assert not fake.sessions[0].timed_out


async def test_a_refused_key_raises_authentication_error_from_connect(
    fake: FakeAssemblyAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "aai-CANARY-wrong-key-456"
    stream = AssemblyAISTT(api_key=wrong, base_url=fake.base_url).open_stream()
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as raised:
        async with asyncio.timeout(5):
            await stream.connect()
    message = str(raised.value)
    assert "Unauthorized" in message and "ASSEMBLYAI_API_KEY" in message
    assert wrong not in message and wrong not in caplog.text
    assert fake.sessions[0].refused == "auth"
    assert fake.sessions[0].sent[0]["error_code"] == 1008


async def test_rate_limits_and_server_failures(fake: FakeAssemblyAIServer, stt: STT) -> None:
    fake.refuse_next("rate_limit")  # AssemblyAI's in-band 3009 (too many concurrent sessions)
    fake.fail_next_connect(429)  # HTTP refusals come first
    fake.fail_next_connect(503)
    async with asyncio.timeout(5):
        with pytest.raises(RateLimitError, match="HTTP 429"):
            await stt.open_stream().connect()
        with pytest.raises(PatterConnectionError, match="HTTP 503") as raised:
            await stt.open_stream().connect()
        with pytest.raises(RateLimitError, match="concurrent sessions"):
            await stt.open_stream().connect()
    assert not isinstance(raised.value, RateLimitError)
    assert fake.sessions[0].sent[0]["error_code"] == 3009
    async with opened(stt):  # the provider still serves the next call
        pass


async def test_a_stalled_handshake_times_out(
    fake: FakeAssemblyAIServer, stt: STT, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assemblyai, "CONNECT_TIMEOUT_S", 0.2)
    fake.stall_next_connect()
    with pytest.raises(PatterConnectionError) as raised:
        async with asyncio.timeout(5):
            await stt.open_stream().connect()
    assert raised.value.code is ErrorCode.TIMEOUT


async def test_a_drop_mid_stream_raises_from_the_iterator(
    fake: FakeAssemblyAIServer, stt: STT
) -> None:
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


async def test_an_error_mid_stream_raises_from_the_iterator(
    fake: FakeAssemblyAIServer, stt: STT
) -> None:
    stream = stt.open_stream()
    async with asyncio.timeout(5):
        await stream.connect()
        await fake.send_error(kind="server", message="An error occurred")
        with pytest.raises(PatterConnectionError, match="Session Cancelled: An error occurred"):
            async for _ in stream.receive_transcripts():
                pass
        await stream.close()


async def test_chunks_too_short_for_assemblyai_are_refused_by_the_fake(
    fake: FakeAssemblyAIServer,
) -> None:
    """The fake holds AssemblyAI's 50 ms minimum, which the stream's buffering respects."""
    from websockets.asyncio.client import connect

    url = f"{fake.base_url}/v3/ws?sample_rate=8000&encoding=pcm_mulaw"
    async with connect(url, additional_headers={"Authorization": KEY}) as ws:
        await ws.recv()  # Begin
        await ws.send(silence(20))
        error = await ws.recv()
        await ws.wait_closed()
    assert "Input duration violation" in str(error)
    assert ws.close_code == 3007
    with pytest.raises(PatterError) as raised:
        stream = AssemblyAISTT(api_key=KEY, base_url=fake.base_url).open_stream()
        await stream.connect()
        stream._parse({"type": "Error", "error_code": 3007, "error": "Input duration violation"})
    assert raised.value.code is ErrorCode.PROVIDER_ERROR
    await stream.close()


def test_missing_key_names_the_env_var_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    with pytest.raises(ValueError) as raised:
        AssemblyAISTT()
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert "AssemblyAI" in message and "api_key=" in message and "ASSEMBLYAI_API_KEY" in message


async def test_key_and_base_url_come_from_the_environment(
    fake: FakeAssemblyAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    monkeypatch.setenv("ASSEMBLYAI_BASE_URL", fake.base_url)
    async with opened(AssemblyAISTT()):
        await eventually(lambda: len(fake.sessions) == 1)
    assert fake.sessions[0].key_source == "header"


async def test_the_key_stays_out_of_repr_and_debug_logs(
    fake: FakeAssemblyAIServer, stt: STT, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with opened(stt) as (stream, events):
            await send(stream, utterance(600, 600))
            await events.until(is_final)
    client_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("getpatter.stt")
    )
    assert "Authorization" in client_log
    assert KEY not in client_log and KEY not in caplog.text
    assert KEY not in repr(stt) and KEY not in stream.url


def test_capabilities_and_names() -> None:
    stt: STTProvider = AssemblyAISTT(api_key=KEY)
    assert isinstance(stt, STTProvider)
    assert stt.name == "assemblyai"
    caps = stt.capabilities
    assert caps.streaming and caps.interim_results and caps.endpointing
    assert caps.input_formats[:2] == ("ulaw_8000", "pcm16_16000")
    assert AssemblyAISTT.for_telnyx(api_key=KEY).capabilities.input_formats[:2] == (
        "ulaw_8000",
        "pcm16_16000",
    )
    assert AssemblyAISTT is STT
    assert getpatter.AssemblyAISTT is STT  # flat and namespaced names are one class
    assert AssemblyAISTT(api_key=KEY).language == "en"
    assert AssemblyAISTT(api_key=KEY, model="universal-streaming-multilingual").language is None


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"encoding": "pcm_mulaw", "sample_rate": 16000}, ConfigError),
        ({"encoding": "opus"}, ConfigError),
        ({"model": "nova-3"}, ConfigError),
        ({"min_turn_silence_ms": "100"}, ConfigError),
        ({"end_of_turn_confidence_threshold": 2}, ConfigError),
        ({"keepalive_interval": 0}, ConfigError),
        ({"format_turns": "yes"}, ConfigError),
        ({"base_url": "streaming.assemblyai.com"}, InputValidationError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        AssemblyAISTT(api_key=KEY, **options)  # type: ignore[arg-type]


def test_for_twilio_refuses_a_format_of_its_own() -> None:
    with pytest.raises(ConfigError, match="for_twilio"):
        AssemblyAISTT.for_twilio(api_key=KEY, encoding="pcm_s16le")


def test_open_stream_refuses_an_unknown_format_and_a_language_the_model_lacks() -> None:
    stt = AssemblyAISTT(api_key=KEY)
    with pytest.raises(ConfigError, match="audio_format"):
        stt.open_stream(audio_format="alaw_8000")
    with pytest.raises(ConfigError, match="universal-streaming-multilingual"):
        stt.open_stream(language="it")
    assert stt.open_stream(language="en-US").url.endswith("format_turns=false")


def test_the_sandbox_copy_keeps_every_option() -> None:
    stt = AssemblyAISTT.for_twilio(api_key=KEY, format_turns=True, min_turn_silence_ms=300)
    copy = stt._pointed_at("aai-CANARY-other-key-789", "ws://127.0.0.1:9")
    assert type(copy) is AssemblyAISTT and copy._api_key == "aai-CANARY-other-key-789"
    original, moved = stt.open_stream().url, copy.open_stream().url
    assert moved == "ws://127.0.0.1:9/v3/ws?" + original.split("?", 1)[1]
    assert copy.capabilities == stt.capabilities
