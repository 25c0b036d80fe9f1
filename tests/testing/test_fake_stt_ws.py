"""The JSON-over-WebSocket STT fakes, checked with the vendors' official SDKs and raw sockets."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from assemblyai.streaming.v3 import (
    AsyncRealTimeTranscriber,
    RealTimeEvents,
    RealTimeParameters,
    RealTimeTranscriberOptions,
)
from soniox import AsyncSonioxClient
from soniox.types import RealtimeSTTConfig
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from getpatter.audio import pcm16_to_ulaw
from getpatter.errors import InputValidationError
from getpatter.testing.fake_stt_ws import UNSCRIPTED_TEXT
from getpatter.testing.fake_stt_ws.assemblyai import FakeAssemblyAIServer
from getpatter.testing.fake_stt_ws.soniox import FakeSonioxServer
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "stt-CANARY-fake-key-123"
LINE = "Hello, I need a table."
SCENARIO = Scenario(callee=Callee(steps=(Say(LINE), Say("Thanks!"))))


def tone(ms: int, rate: int) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (3000.0 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def utterance(rate: int, speech_ms: int = 1000, silence_ms: int = 800) -> bytes:
    """PCM16: a tone, then silence."""
    return tone(speech_ms, rate) + bytes(2 * rate * silence_ms // 1000)


def chunks(audio: bytes, size: int) -> list[bytes]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


# AssemblyAI, through the official v3 streaming client.


async def run_assemblyai_sdk(
    fake: FakeAssemblyAIServer, key: str, ulaw: bytes, **params: Any
) -> list[tuple[str, Any]]:
    """μ-law 8 kHz audio in 100 ms chunks through the SDK; the events it dispatched."""
    seen: list[tuple[str, Any]] = []
    client = AsyncRealTimeTranscriber(
        RealTimeTranscriberOptions(api_key=key, api_host=fake.base_url, max_connection_retries=0)
    )
    for event in RealTimeEvents:
        client.on(event, lambda _c, payload, name=event.name: seen.append((name, payload)))
    async with asyncio.timeout(10):
        await client.connect(RealTimeParameters(sample_rate=8000, encoding="pcm_mulaw", **params))
        for chunk in chunks(ulaw, 800):
            await client.stream(chunk)
        await asyncio.sleep(0.3)
        await client.disconnect(terminate=True)
    return seen


async def test_the_assemblyai_sdk_holds_a_turn_with_the_fake() -> None:
    async with FakeAssemblyAIServer(SCENARIO, api_key=KEY) as fake:
        seen = await run_assemblyai_sdk(
            fake,
            KEY,
            pcm16_to_ulaw(utterance(8000)),
            speech_model="universal-streaming-english",
            format_turns=True,
        )
    names = [name for name, _ in seen]
    assert names[0] == "Begin" and names[-1] == "Termination"
    turns = [payload for name, payload in seen if name == "Turn"]
    assert any(not t.end_of_turn and t.words for t in turns)  # interims
    ends = [t for t in turns if t.end_of_turn]
    assert [(t.turn_is_formatted, t.transcript) for t in ends] == [
        (False, "hello i need a table"),
        (True, LINE),
    ]
    assert all(w.word_is_final for w in ends[0].words)
    termination = seen[-1][1]
    assert termination.audio_duration_seconds == 1
    session = fake.sessions[0]
    assert session.controls == ["Terminate"]
    assert session.query["speech_model"] == "universal-streaming-english"
    assert session.headers["user-agent"].startswith("AssemblyAI/1.0")
    assert session.transcripts == [LINE]


async def test_the_assemblyai_sdk_sees_a_refused_key_as_error_1008() -> None:
    async with FakeAssemblyAIServer(SCENARIO, api_key=KEY) as fake:
        seen = await run_assemblyai_sdk(
            fake,
            "stt-CANARY-wrong-key-9",
            b"\xff" * 1600,
        )
    errors = [payload for name, payload in seen if name == "Error"]
    assert errors and errors[0].code == 1008
    assert "Unauthorized Connection" in str(errors[0])


# Soniox, through the official real-time client.


async def test_the_soniox_sdk_holds_a_turn_with_the_fake() -> None:
    async with FakeSonioxServer(SCENARIO, api_key=KEY) as fake:
        client = AsyncSonioxClient(
            api_key=KEY, websocket_base_url=f"{fake.base_url}/transcribe-websocket"
        )
        config = RealtimeSTTConfig(
            model="stt-rt-v5",
            audio_format="pcm_s16le",
            sample_rate=16000,
            num_channels=1,
            enable_endpoint_detection=True,
        )
        events = []
        async with asyncio.timeout(10), client.realtime.stt.connect(config=config) as session:
            for chunk in chunks(utterance(16000), 640):
                await session.send_byte_chunk(chunk)
            await session.finalize()
            await session.finish()
            async for event in session.receive_events():
                events.append(event)
    final_tokens = [t for e in events for t in e.tokens if t.is_final]
    # finalize() in the silence after the endpoint: nothing pending, only <fin>.
    assert "".join(t.text for t in final_tokens) == f"{LINE}<end><fin>"
    assert any(t.is_final is False for e in events for t in e.tokens)
    assert events[-1].finished and events[-1].total_audio_proc_ms == 1800
    record = fake.sessions[0]
    assert record.key_source == "header"
    assert record.controls == ["Configure", "Finalize", "Terminate"]
    assert record.config is not None and record.config["model"] == "stt-rt-v5"


async def test_the_soniox_sdk_reads_an_error_response() -> None:
    async with FakeSonioxServer(SCENARIO, api_key=KEY) as fake:
        client = AsyncSonioxClient(
            api_key="stt-CANARY-wrong-key-9",
            websocket_base_url=f"{fake.base_url}/transcribe-websocket",
        )
        config = RealtimeSTTConfig(
            model="stt-rt-v5", audio_format="mulaw", sample_rate=8000, num_channels=1
        )
        async with asyncio.timeout(10), client.realtime.stt.connect(config=config) as session:
            events = [event async for event in session.receive_events()]
    assert [(e.error_code, e.error_message) for e in events] == [(401, "Invalid API key.")]


# The deprecated key in the start request, and the rest of the core, over raw sockets.


@pytest.fixture
async def soniox() -> AsyncIterator[FakeSonioxServer]:
    async with FakeSonioxServer(api_key=KEY) as fake:
        yield fake


async def soniox_socket(fake: FakeSonioxServer, **headers: str) -> ClientConnection:
    return await connect(f"{fake.base_url}/transcribe-websocket", additional_headers=headers)


START = {"model": "stt-rt-v5", "audio_format": "mulaw", "sample_rate": 8000, "num_channels": 1}


@pytest.fixture
def key_in_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """These raw clients send the key inside a text frame (Soniox's deprecated way, which
    Patter never uses), and websockets logs frames at DEBUG cut short, where no redaction can
    find the key: silence websockets' own loggers for these tests only."""
    for name in ("websockets.client", "websockets.server"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", True)


@pytest.mark.usefixtures("key_in_frames")
async def test_the_deprecated_key_in_the_start_request_still_works(
    soniox: FakeSonioxServer,
) -> None:
    async with await soniox_socket(soniox) as ws:
        await ws.send(json.dumps({**START, "api_key": KEY}))
        for chunk in chunks(pcm16_to_ulaw(utterance(8000, 400, 400)), 160):
            await ws.send(chunk)
        await ws.send("")
        responses = [json.loads(m) async for m in ws]
    text = "".join(t["text"] for r in responses for t in r["tokens"] if t["is_final"])
    assert text == UNSCRIPTED_TEXT  # the fixture's fake has no script
    record = soniox.sessions[0]
    assert record.key_source == "config"
    assert record.config is not None and "api_key" not in record.config


@pytest.mark.usefixtures("key_in_frames")
async def test_a_key_in_both_places_is_refused(soniox: FakeSonioxServer) -> None:
    async with await soniox_socket(soniox, Authorization=f"Bearer {KEY}") as ws:
        await ws.send(json.dumps({**START, "api_key": KEY}))
        error = json.loads(await ws.recv())
        await ws.wait_closed()
    assert error["error_code"] == 400
    assert soniox.sessions[0].refused == "bad_request"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ({**START, "audio_format": "auto"}, "raw audio"),
        ({**START, "num_channels": 2}, "num_channels=1"),
        ({**START, "model": ""}, "Missing model"),
    ],
)
async def test_bad_start_requests_are_refused(
    soniox: FakeSonioxServer, first: dict[str, Any], expected: str
) -> None:
    async with await soniox_socket(soniox, Authorization=f"Bearer {KEY}") as ws:
        await ws.send(json.dumps(first))
        error = json.loads(await ws.recv())
    assert error["error_code"] == 400 and expected in error["error_message"]


async def test_audio_before_the_start_request_is_refused(soniox: FakeSonioxServer) -> None:
    async with await soniox_socket(soniox, Authorization=f"Bearer {KEY}") as ws:
        await ws.send(b"\xff" * 160)
        error = json.loads(await ws.recv())
        await ws.wait_closed()
    assert error["error_code"] == 400
    assert ws.close_code == 1008


async def test_unscripted_utterances_are_heard_as_hello() -> None:
    async with FakeAssemblyAIServer() as fake:
        url = f"{fake.base_url}/v3/ws?sample_rate=8000&encoding=pcm_mulaw"
        async with connect(url, additional_headers={"Authorization": KEY}) as ws:
            await ws.recv()  # Begin
            for chunk in chunks(pcm16_to_ulaw(utterance(8000, 400, 600)), 800):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "Terminate"}))
            messages = [json.loads(m) async for m in ws]
    finals = [m["transcript"] for m in messages if m.get("end_of_turn")]
    assert finals == [UNSCRIPTED_TEXT]
    assert messages[-1]["type"] == "Termination"


async def test_a_stalled_session_reads_but_never_answers() -> None:
    async with FakeAssemblyAIServer(SCENARIO) as fake:
        fake.stall_next_connect()
        url = f"{fake.base_url}/v3/ws?sample_rate=8000&encoding=pcm_mulaw"
        async with connect(url, additional_headers={"Authorization": KEY}) as ws:
            for chunk in chunks(pcm16_to_ulaw(utterance(8000, 400, 600)), 800):
                await ws.send(chunk)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await ws.recv()
        record = fake.sessions[0]
        assert record.stalled and record.sent == [] and record.audio_bytes == 8000


async def test_an_unknown_message_closes_with_the_vendor_code() -> None:
    async with FakeAssemblyAIServer(SCENARIO) as fake:
        url = f"{fake.base_url}/v3/ws?sample_rate=16000"
        async with connect(url, additional_headers={"Authorization": KEY}) as ws:
            await ws.recv()  # Begin
            await ws.send(json.dumps({"type": "Dance"}))
            error = json.loads(await ws.recv())
            await ws.wait_closed()
    assert error == {"type": "Error", "error_code": 3006, "error": "Invalid Message Type: Dance"}
    assert ws.close_code == 3006


async def test_http_failures_and_unknown_paths() -> None:
    async with FakeAssemblyAIServer(SCENARIO) as fake:
        fake.fail_next_connect(500)
        for path in ("/v3/ws?sample_rate=8000", "/v2/realtime/ws"):
            with pytest.raises(InvalidStatus) as raised:
                await connect(f"{fake.base_url}{path}", additional_headers={"Authorization": KEY})
            assert raised.value.response.status_code in (500, 404)
            assert "error" in json.loads(raised.value.response.body or b"")
        assert fake.sessions == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InputValidationError):
        FakeSonioxServer(idle_timeout=0)
    fake = FakeAssemblyAIServer()
    with pytest.raises(InputValidationError):
        fake.refuse_next("idle")  # type: ignore[arg-type]
    with pytest.raises(InputValidationError):
        asyncio.run(fake.drop(0))
