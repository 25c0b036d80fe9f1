"""The fake Cartesia STT API holds a real session with the official ``cartesia`` SDK (4.x): what
the SDK sends is what the fake parses, and what the fake sends the SDK parses into its types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from cartesia import AsyncCartesia
from cartesia.types.stt import (
    STTManualFinalizeDoneResponse,
    STTManualFinalizeFlushDoneResponse,
    STTManualFinalizeTranscriptResponse,
)
from websockets.exceptions import InvalidStatus

from getpatter.testing.fake_stt_ws.cartesia import FakeCartesiaSTTServer
from getpatter.testing.phone_network.sound import SILENCE, speech
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "ca-CANARY-sdk-key-123"
LINES = ("Book a table for two, please.", "Thanks")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))
FRAME = 160  # 20 ms of μ-law at 8 kHz


@pytest.fixture
async def fake() -> AsyncIterator[FakeCartesiaSTTServer]:
    async with FakeCartesiaSTTServer(SCENARIO, api_key=KEY) as server:
        yield server


async def test_the_sdk_streams_audio_and_parses_the_final_transcript(
    fake: FakeCartesiaSTTServer,
) -> None:
    client = AsyncCartesia(api_key=KEY, base_url=fake.base_url)
    audio = speech(800) + bytes([SILENCE]) * 8 * 100
    events: list[object] = []
    async with asyncio.timeout(10):
        async with client.stt.manual_finalize.websocket(
            model="ink-whisper", encoding="pcm_mulaw", sample_rate=8000, language="en"
        ) as connection:
            for offset in range(0, len(audio), FRAME):
                await connection.send_raw(audio[offset : offset + FRAME])
            await connection.send("finalize")
            async for event in connection:
                events.append(event)
                if event.type == "flush_done":
                    break
            await connection.send("close")
            async for event in connection:  # until the fake closes after done
                events.append(event)
        await client.close()
    transcripts = [e for e in events if isinstance(e, STTManualFinalizeTranscriptResponse)]
    finals = [t.text for t in transcripts if t.is_final]
    assert finals == [LINES[0]]
    assert any(not t.is_final and LINES[0].startswith(t.text) for t in transcripts)
    assert all(t.request_id == fake.sessions[0].id for t in transcripts)
    assert transcripts[-1].duration is not None and transcripts[-1].duration > 0.8
    assert isinstance(events[-2], STTManualFinalizeFlushDoneResponse)
    assert isinstance(events[-1], STTManualFinalizeDoneResponse)
    session = fake.sessions[0]
    assert session.query == {
        "encoding": "pcm_mulaw",
        "model": "ink-whisper",
        "sample_rate": "8000",
        "language": "en",
    }
    assert session.headers["authorization"] == "***"
    assert session.headers["cartesia-version"]
    assert session.key_source == "header"
    assert session.audio_bytes == len(audio)
    assert session.controls == ["Finalize", "Terminate"]


async def test_the_sdk_sees_a_bad_key_refused_at_the_handshake(
    fake: FakeCartesiaSTTServer,
) -> None:
    client = AsyncCartesia(api_key="ca-CANARY-wrong-key", base_url=fake.base_url)
    with pytest.raises(InvalidStatus) as raised:
        async with (
            asyncio.timeout(10),
            client.stt.manual_finalize.websocket(
                model="ink-whisper", encoding="pcm_s16le", sample_rate=16000
            ),
        ):
            pass
    await client.close()
    assert raised.value.response.status_code == 401
    assert fake.sessions == []


async def test_the_sdk_parses_an_in_band_error(fake: FakeCartesiaSTTServer) -> None:
    client = AsyncCartesia(api_key=KEY, base_url=fake.base_url)
    fake.refuse_next("bad_request", "Unsupported language: xx")
    async with asyncio.timeout(10):
        async with client.stt.manual_finalize.websocket(
            model="ink-whisper", encoding="pcm_s16le", sample_rate=16000
        ) as connection:
            event = await connection.recv()
        await client.close()
    assert event.type == "error"
    assert (event.message, event.status_code, event.title) == (
        "Unsupported language: xx",
        400,
        "Bad Request",
    )


async def test_a_handshake_without_the_version_is_refused(fake: FakeCartesiaSTTServer) -> None:
    from websockets.asyncio.client import connect

    url = fake.base_url.replace("http://", "ws://") + "/stt/websocket?model=ink-whisper"
    with pytest.raises(InvalidStatus) as raised:
        async with asyncio.timeout(10):
            await connect(url, additional_headers={"X-API-Key": KEY})
    assert raised.value.response.status_code == 400
    assert b"Cartesia-Version" in (raised.value.response.body or b"")


@pytest.mark.parametrize(
    ("headers", "query", "source"),
    [
        ({"X-API-Key": KEY, "Cartesia-Version": "2024-06-10"}, "", "header"),
        ({}, f"&api_key={KEY}&cartesia_version=2024-06-10", "query"),
    ],
)
async def test_older_clients_key_and_version_places_and_done_are_accepted(
    fake: FakeCartesiaSTTServer, headers: dict[str, str], query: str, source: str
) -> None:
    from websockets.asyncio.client import connect

    url = (
        fake.base_url.replace("http://", "ws://")
        + "/stt/websocket?model=ink-whisper&encoding=pcm_s16le&sample_rate=16000"
        + query
    )
    async with asyncio.timeout(10), connect(url, additional_headers=headers) as ws:
        await ws.send("done")  # the command older clients close with
        reply = await ws.recv()
        await ws.wait_closed()
    assert '"done"' in str(reply)
    session = fake.sessions[0]
    assert session.key_source == source
    assert session.controls == ["Terminate"]
    assert "api_key" not in session.query or session.query["api_key"] == "***"


async def test_an_unknown_command_is_an_in_band_error(fake: FakeCartesiaSTTServer) -> None:
    from websockets.asyncio.client import connect

    url = fake.base_url.replace("http://", "ws://") + (
        "/stt/websocket?model=ink-whisper&encoding=pcm_mulaw&sample_rate=8000"
    )
    headers = {"Authorization": f"Bearer {KEY}", "Cartesia-Version": "2026-08-14"}
    async with asyncio.timeout(10), connect(url, additional_headers=headers) as ws:
        await ws.send("flush")
        reply = await ws.recv()
        await ws.wait_closed()
    assert '"type": "error"' in str(reply) and "finalize" in str(reply)
    assert fake.sessions[0].refused == "bad_request"
