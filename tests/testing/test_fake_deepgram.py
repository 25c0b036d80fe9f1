"""The fake Deepgram server, driven by a plain WebSocket client speaking the listen protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from getpatter.audio import pcm16_to_alaw
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing.fake_deepgram import FakeDeepgramServer
from getpatter.testing.phone_network.sound import speech
from getpatter.testing.scenario import Callee, Say, Scenario

SCENARIO = Scenario(callee=Callee(steps=(Say("where is my order"),)))
HEADERS = {"Authorization": "Token any-key-CANARY"}
MULAW = "encoding=mulaw&sample_rate=8000"


def tone(ms: int, rate: int, amplitude: float = 3000.0) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    return (amplitude * np.sin(2 * np.pi * 300 * t)).astype("<i2")


def pcm(ms: int, rate: int, voiced: bool = True) -> bytes:
    return tone(ms, rate, 3000.0 if voiced else 0.0).tobytes()


@asynccontextmanager
async def listen(fake: FakeDeepgramServer, query: str) -> AsyncIterator[ClientConnection]:
    async with asyncio.timeout(10):
        async with connect(f"{fake.base_url}/v1/listen?{query}", additional_headers=HEADERS) as ws:
            yield ws


async def read_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while not messages or messages[-1]["type"] != kind:
            messages.append(json.loads(await ws.recv()))
    return messages


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgramServer]:
    async with FakeDeepgramServer(SCENARIO) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (f"/v1/listen?{MULAW}", {}, 401),
        (f"/v1/listen?{MULAW}", {"Authorization": "Bearer any-key-CANARY"}, 401),
        (f"/v2/listen?{MULAW}", HEADERS, 404),
        ("/v1/listen?encoding=mulaw", HEADERS, 400),
        ("/v1/listen?encoding=opus&sample_rate=16000", HEADERS, 400),
        (f"/v1/listen?{MULAW}&utterance_end_ms=1000", HEADERS, 400),
        (f"/v1/listen?{MULAW}&interim_results=maybe", HEADERS, 400),
    ],
)
async def test_bad_handshakes_are_refused_with_deepgram_bodies(
    fake: FakeDeepgramServer, path: str, headers: dict[str, str], status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with asyncio.timeout(5):
            await connect(fake.base_url + path, additional_headers=headers)
    assert refused.value.response.status_code == status
    body = json.loads(refused.value.response.body or b"{}")
    assert set(body) == {"err_code", "err_msg", "request_id"}
    assert fake.sessions == []


async def test_only_the_configured_key_is_accepted() -> None:
    async with FakeDeepgramServer(api_key="right-CANARY") as fake:
        with pytest.raises(InvalidStatus):
            async with asyncio.timeout(5):
                await connect(f"{fake.base_url}/v1/listen?{MULAW}", additional_headers=HEADERS)
        async with asyncio.timeout(5):
            ws = await connect(
                f"{fake.base_url}/v1/listen?{MULAW}",
                additional_headers={"Authorization": "Token right-CANARY"},
            )
            await ws.close()


async def test_linear16_24k_without_endpointing_gives_a_final_that_is_not_speech_final(
    fake: FakeDeepgramServer,
) -> None:
    query = "encoding=linear16&sample_rate=24000&endpointing=false"
    async with listen(fake, query) as ws:
        await ws.send(pcm(600, 24000) + pcm(400, 24000, voiced=False))
        messages = await read_until(ws, "Results")
    final = messages[-1]
    assert [m["type"] for m in messages] == ["Results"]  # no vad_events, no interim_results
    assert (final["is_final"], final["speech_final"]) == (True, False)
    assert final["channel"]["alternatives"][0]["transcript"] == "where is my order"


async def test_alaw_audio_is_decoded(fake: FakeDeepgramServer) -> None:
    audio = pcm16_to_alaw(pcm(400, 8000)) + pcm16_to_alaw(pcm(100, 8000, voiced=False))
    async with listen(fake, "encoding=alaw&sample_rate=8000&vad_events=true") as ws:
        await ws.send(audio)
        messages = await read_until(ws, "Results")
    assert [m["type"] for m in messages] == ["SpeechStarted", "Results"]
    assert messages[-1]["speech_final"] is True


async def test_closestream_flushes_the_pending_utterance_then_sends_metadata(
    fake: FakeDeepgramServer,
) -> None:
    async with listen(fake, MULAW + "&interim_results=true") as ws:
        await ws.send(speech(500))
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = await read_until(ws, "Metadata")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1000
    final = messages[-2]
    assert final["is_final"] is True and final["speech_final"] is False
    assert messages[-1]["duration"] == pytest.approx(0.5)
    assert fake.sessions[0].transcripts == ["where is my order"]


async def test_unknown_control_message_gets_an_error_and_a_close(fake: FakeDeepgramServer) -> None:
    async with listen(fake, MULAW) as ws:
        await ws.send(json.dumps({"type": "Reconfigure"}))
        messages = await read_until(ws, "Error")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert {"description", "message", "variant"} <= set(messages[-1])
    assert messages[-1]["variant"] == "SchemaError"
    assert messages[-1]["message"] == '{"type": "Reconfigure"}'
    assert ws.close_code == 1011


async def test_unscripted_utterances_are_heard_as_hello() -> None:
    async with FakeDeepgramServer() as fake, listen(fake, MULAW) as ws:
        await ws.send(speech(300) + b"\xff" * 800)
        messages = await read_until(ws, "Results")
    assert messages[-1]["channel"]["alternatives"][0]["transcript"] == "hello"


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError):
        FakeDeepgramServer("hi")  # type: ignore[arg-type]
    with pytest.raises(InputValidationError):
        FakeDeepgramServer(idle_timeout=0)
    server = FakeDeepgramServer()
    with pytest.raises(ConfigError, match="async with"):
        _ = server.base_url
    with pytest.raises(InputValidationError):
        server.fail_next_connect(499)
    async with server:
        with pytest.raises(InputValidationError, match="out of range"):
            await server.drop()
