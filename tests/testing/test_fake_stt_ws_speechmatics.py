"""The fake Speechmatics real-time API holds a real session with the official ``speechmatics-rt``
SDK: what the SDK sends is what the fake parses, and what the fake sends the SDK understands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from speechmatics.rt import (
    AsyncClient,
    AudioEncoding,
    AudioFormat,
    ConversationConfig,
    ServerMessageType,
    TranscriptionConfig,
    TranscriptResult,
)
from speechmatics.rt import ConnectionError as SMConnectionError
from speechmatics.rt import TranscriptionError as SMTranscriptionError

from getpatter.audio import ulaw_to_pcm16
from getpatter.testing.fake_stt_ws.speechmatics import FakeSpeechmaticsServer
from getpatter.testing.phone_network.sound import SILENCE, speech
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "sm-CANARY-sdk-key-123"
LINES = ("Book a table for two, please.", "Thanks")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))
PCM_FRAME = 640  # 20 ms of PCM16 at 16 kHz


def pcm16k(audio_ulaw: bytes) -> bytes:
    pcm8k = ulaw_to_pcm16(audio_ulaw)
    return b"".join(pcm8k[i : i + 2] * 2 for i in range(0, len(pcm8k), 2))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSpeechmaticsServer]:
    async with FakeSpeechmaticsServer(SCENARIO, api_key=KEY) as server:
        yield server


async def test_the_sdk_streams_audio_and_parses_the_final_transcript(
    fake: FakeSpeechmaticsServer,
) -> None:
    finals: list[TranscriptResult] = []
    partials: list[TranscriptResult] = []
    ends: list[dict[str, Any]] = []
    audio = pcm16k(speech(800) + bytes([SILENCE]) * 8 * 900)
    async with asyncio.timeout(10), AsyncClient(api_key=KEY, url=fake.base_url) as client:
        client.on(
            ServerMessageType.ADD_TRANSCRIPT,
            lambda m: finals.append(TranscriptResult.from_message(m)),
        )
        client.on(
            ServerMessageType.ADD_PARTIAL_TRANSCRIPT,
            lambda m: partials.append(TranscriptResult.from_message(m)),
        )
        client.on(ServerMessageType.END_OF_UTTERANCE, ends.append)
        await client.start_session(
            transcription_config=TranscriptionConfig(
                language="en",
                enable_partials=True,
                max_delay=1.0,
                conversation_config=ConversationConfig(end_of_utterance_silence_trigger=0.5),
            ),
            audio_format=AudioFormat(encoding=AudioEncoding.PCM_S16LE, sample_rate=16000),
        )
        assert client.session_id == fake.sessions[0].id
        for offset in range(0, len(audio), PCM_FRAME):
            await client.send_audio(audio[offset : offset + PCM_FRAME])
        await client.stop_session()  # EndOfStream, then waits for EndOfTranscript
    assert [f.metadata.transcript.strip() for f in finals] == [LINES[0]]
    final = finals[0]
    assert final.is_final and final.format == "2.9"
    words = [r for r in final.results if r.type == "word"]
    assert [w.alternatives[0].content for w in words if w.alternatives] == [
        "Book", "a", "table", "for", "two", "please"
    ]  # fmt: skip
    assert [r.attaches_to for r in final.results if r.type == "punctuation"] == [
        "previous",
        "previous",
    ]
    assert 0 <= final.metadata.start_time < final.metadata.end_time <= 0.85
    assert partials and all(not p.is_final for p in partials)
    assert len(ends) == 1
    session = fake.sessions[0]
    assert session.query["sm-sdk"].startswith("python-rt-sdk")
    assert session.headers["authorization"] == "***"
    assert session.config is not None
    assert session.config["audio_format"] == {
        "type": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
    }
    assert session.audio_bytes == len(audio)
    assert session.controls == ["Configure", "Terminate"]
    assert session.sent[-1] == {"message": "EndOfTranscript"}


async def test_the_sdk_forces_the_end_of_utterance(fake: FakeSpeechmaticsServer) -> None:
    finals: list[str] = []
    ended = asyncio.Event()
    async with asyncio.timeout(10), AsyncClient(api_key=KEY, url=fake.base_url) as client:
        client.on(
            ServerMessageType.ADD_TRANSCRIPT, lambda m: finals.append(m["metadata"]["transcript"])
        )
        client.on(ServerMessageType.END_OF_UTTERANCE, lambda m: ended.set())
        await client.start_session(
            transcription_config=TranscriptionConfig(language="en"),
            audio_format=AudioFormat(encoding=AudioEncoding.MULAW, sample_rate=8000),
        )
        for offset in range(0, 8 * 600, 160):
            await client.send_audio(speech(600)[offset : offset + 160])
        await client.force_end_of_utterance()
        await ended.wait()
        await client.stop_session()
    assert [f.strip() for f in finals] == [LINES[0]]
    assert fake.sessions[0].settings is not None
    assert fake.sessions[0].settings.encoding == "mulaw"
    assert "Finalize" in fake.sessions[0].controls


async def test_the_sdk_sees_a_bad_key_refused(fake: FakeSpeechmaticsServer) -> None:
    async with asyncio.timeout(10), AsyncClient(api_key="sm-CANARY-wrong", url=fake.base_url) as c:
        with pytest.raises(SMConnectionError, match="401"):
            await c.start_session(transcription_config=TranscriptionConfig(language="en"))
    assert fake.sessions == []


async def test_the_sdk_reads_an_in_band_error(fake: FakeSpeechmaticsServer) -> None:
    fake.refuse_next("rate_limit", "Concurrent session limit reached")
    async with asyncio.timeout(10), AsyncClient(api_key=KEY, url=fake.base_url) as client:
        with pytest.raises(SMTranscriptionError, match="Concurrent session limit"):
            await client.start_session(
                transcription_config=TranscriptionConfig(language="en"),
                audio_format=AudioFormat(encoding=AudioEncoding.MULAW, sample_rate=8000),
            )
    assert fake.sessions[0].refused == "rate_limit"
    assert fake.sessions[0].sent == [
        {"message": "Error", "type": "quota_exceeded", "reason": "Concurrent session limit reached"}
    ]


async def test_a_bad_start_recognition_is_refused_in_band(fake: FakeSpeechmaticsServer) -> None:
    async with asyncio.timeout(10), AsyncClient(api_key=KEY, url=fake.base_url) as client:
        with pytest.raises(SMTranscriptionError, match="max_delay"):
            await client.start_session(
                transcription_config=TranscriptionConfig(language="en", max_delay=9.0),
                audio_format=AudioFormat(encoding=AudioEncoding.PCM_S16LE, sample_rate=16000),
            )
    sent = fake.sessions[0].sent
    assert [m["type"] for m in sent] == ["invalid_config"]
    assert json.dumps(sent)  # plain JSON, as on the wire


async def test_end_of_stream_needs_last_seq_no_and_audio_needs_a_session(
    fake: FakeSpeechmaticsServer,
) -> None:
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {KEY}"}
    start = {
        "message": "StartRecognition",
        "audio_format": {"type": "raw", "encoding": "mulaw", "sample_rate": 8000},
        "transcription_config": {"language": "en"},
    }
    async with asyncio.timeout(10):
        async with connect(fake.base_url, additional_headers=headers) as ws:
            await ws.send(b"\xff" * 160)  # audio before StartRecognition
            first = json.loads(await ws.recv())
            await ws.wait_closed()
        async with connect(fake.base_url, additional_headers=headers) as ws:
            await ws.send(json.dumps(start))
            started = json.loads(await ws.recv())
            await ws.send(json.dumps({"message": "EndOfStream"}))
            second = json.loads(await ws.recv())
            await ws.wait_closed()
    assert (first["message"], first["type"]) == ("Error", "invalid_message")
    assert started["message"] == "RecognitionStarted"
    assert (second["type"], ws.close_code) == ("invalid_message", 1003)
    assert "last_seq_no" in second["reason"]
