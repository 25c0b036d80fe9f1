"""The Cartesia and LMNT fakes hold real exchanges with the vendors' official Python SDKs.

If the SDKs can talk to the fakes, the fakes speak the real wire protocols (URL paths, headers,
JSON field names, frame types), and so do the Patter clients tested against them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import cartesia
import lmnt
import pytest

from getpatter.testing.fake_tts import FakeCartesiaServer, FakeLMNTServer
from getpatter.testing.scenario import Scenario

KEY = "sdk-CANARY-test-key"
VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"


@pytest.fixture
async def cartesia_fake() -> AsyncIterator[FakeCartesiaServer]:
    async with FakeCartesiaServer(api_key=KEY, speedup=20) as server:
        yield server


@pytest.fixture
async def lmnt_fake() -> AsyncIterator[FakeLMNTServer]:
    async with FakeLMNTServer(api_key=KEY, speedup=20) as server:
        yield server


def _cartesia(fake: FakeCartesiaServer, key: str = KEY) -> cartesia.AsyncCartesia:
    return cartesia.AsyncCartesia(
        api_key=key,
        base_url=fake.base_url,
        websocket_base_url="ws" + fake.base_url.removeprefix("http"),
    )


async def test_the_cartesia_sdk_streams_a_context_from_the_fake(
    cartesia_fake: FakeCartesiaServer,
) -> None:
    client = _cartesia(cartesia_fake)
    audio = b""
    kinds: list[str] = []
    async with asyncio.timeout(10):
        async with client.tts.websocket_connect() as connection:
            context = connection.context(
                model_id="sonic-2",
                voice={"mode": "id", "id": VOICE},
                output_format={"container": "raw", "encoding": "pcm_mulaw", "sample_rate": 8000},
                language="en",
            )
            await context.push("Hello there. ")
            await context.push("How are you?", flush=True)
            await context.no_more_inputs()
            async for event in context.receive():
                kinds.append(event.type)
                if event.type == "chunk" and event.audio:
                    audio += event.audio
    speech_ms = Scenario().speech_ms("Hello there.") + Scenario().speech_ms("How are you?")
    assert len(audio) == 8 * speech_ms
    assert kinds[-1] == "done"
    assert "flush_done" in kinds
    (request,) = cartesia_fake.requests
    assert request.text == "Hello there. How are you?"
    assert (request.model, request.voice, request.output_format) == (
        "sonic-2",
        VOICE,
        "pcm_mulaw_8000",
    )
    assert request.completed


async def test_the_cartesia_sdk_cancels_a_context(cartesia_fake: FakeCartesiaServer) -> None:
    client = _cartesia(cartesia_fake)
    async with asyncio.timeout(10):
        async with client.tts.websocket_connect() as connection:
            context = connection.context(
                model_id="sonic-2",
                voice={"mode": "id", "id": VOICE},
                output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000},
            )
            await context.push("A long sentence that will not be finished.", continue_=False)
            async for event in context.receive():
                assert event.type == "chunk"
                break
            await context.cancel()
            (request,) = cartesia_fake.requests
            await request.wait_finished()
    assert request.cancelled
    assert not request.completed


async def test_the_cartesia_sdk_reads_the_fakes_error_frame(
    cartesia_fake: FakeCartesiaServer,
) -> None:
    cartesia_fake.error_next("Voice not found", error="voice_not_found", status_code=404)
    client = _cartesia(cartesia_fake)
    async with asyncio.timeout(10):
        async with client.tts.websocket_connect() as connection:
            context = connection.context(
                model_id="sonic-2",
                voice={"mode": "id", "id": VOICE},
                output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
            )
            await context.push("Hi.", continue_=False)
            events = [event async for event in context.receive()]
    (error,) = events
    assert error.type == "error"
    assert (error.message, error.error_code, error.status_code) == (
        "Voice not found",
        "voice_not_found",
        404,
    )


async def test_the_fake_refuses_the_cartesia_sdk_a_wrong_key(
    cartesia_fake: FakeCartesiaServer,
) -> None:
    from websockets.exceptions import InvalidStatus

    client = _cartesia(cartesia_fake, key="wrong-CANARY-key")
    with pytest.raises(InvalidStatus) as caught:
        async with client.tts.websocket_connect():
            pass
    assert caught.value.response.status_code == 401


async def test_the_lmnt_sdk_streams_speech_bytes_from_the_fake(lmnt_fake: FakeLMNTServer) -> None:
    client = lmnt.AsyncLmnt(api_key=KEY, base_url=lmnt_fake.base_url, max_retries=0)
    text = "Your table is booked."
    async with asyncio.timeout(10):
        async with client.speech.with_streaming_response.generate(
            text=text,
            voice="leah",
            model="blizzard",
            format="pcm_s16le",
            sample_rate=16000,
            language="en",
            temperature=0.7,
            top_p=0.9,
        ) as response:
            audio = b"".join([chunk async for chunk in response.iter_bytes()])
    assert len(audio) == 32 * Scenario().speech_ms(text)
    (request,) = lmnt_fake.requests
    assert (request.voice, request.model, request.output_format, request.language_code) == (
        "leah",
        "blizzard",
        "pcm_s16le",
        "en",
    )
    assert request.options == {
        "sample_rate": 16000,
        "temperature": 0.7,
        "top_p": 0.9,
        "lmnt-version": "1.2",
    }
    await client.close()


async def test_the_lmnt_sdk_gets_mulaw_in_a_wav_header(lmnt_fake: FakeLMNTServer) -> None:
    client = lmnt.AsyncLmnt(api_key=KEY, base_url=lmnt_fake.base_url, max_retries=0)
    async with asyncio.timeout(10):
        response = await client.speech.generate(text="Hi.", voice="leah", format="ulaw")
        audio = await response.read()
    assert audio.startswith(b"RIFF")
    assert len(audio) == 44 + 8 * Scenario().speech_ms("Hi.")
    await client.close()


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, lmnt.AuthenticationError), (429, lmnt.RateLimitError), (500, lmnt.InternalServerError)],
)
async def test_the_lmnt_sdk_maps_the_fakes_errors(
    lmnt_fake: FakeLMNTServer, status: int, error: type[Exception]
) -> None:
    client = lmnt.AsyncLmnt(api_key=KEY, base_url=lmnt_fake.base_url, max_retries=0)
    lmnt_fake.fail_next(status)
    with pytest.raises(error):
        await client.speech.generate(text="Hi.", voice="leah", format="pcm_s16le")
    await client.close()
