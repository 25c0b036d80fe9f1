"""The fake ElevenLabs TTS server holds real exchanges with the official ``elevenlabs`` SDK.

The HTTP stream goes through ``AsyncElevenLabs.text_to_speech.stream``; the stream-input
WebSocket through the SDK's only client for it, the synchronous
``ElevenLabs.text_to_speech.convert_realtime`` (run in a thread: the fake serves on the test's
event loop). Every frame the fake sends is validated against the SDK's types, which are generated
from ElevenLabs' API spec, with no field the spec does not know.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import elevenlabs.realtime_tts
import pytest
from elevenlabs import AsyncElevenLabs, AudioOutput, ElevenLabs, FinalOutput, VoiceSettings
from elevenlabs.core.api_error import ApiError
from elevenlabs.errors import UnprocessableEntityError
from elevenlabs.types import HttpValidationError
from pydantic import BaseModel

from getpatter.testing.fake_tts import FakeElevenLabsServer
from getpatter.testing.fake_tts._audio import speech
from getpatter.testing.scenario import Scenario

# The SDK still uses websockets' deprecated API: its warnings are not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:ConnectionClosed.code is deprecated:DeprecationWarning"
)

KEY = "xi-sdk-CANARY-test-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"
MODEL = "eleven_flash_v2_5"
SETTINGS = VoiceSettings(stability=0.4, similarity_boost=0.8)


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabsServer]:
    async with FakeElevenLabsServer(api_key=KEY, speedup=20) as server:
        yield server


def extra_fields(model: BaseModel, where: str = "") -> Iterator[str]:
    """Every field of ``model`` (recursively) that the SDK's spec-generated type does not declare."""
    for name in model.model_extra or {}:
        yield f"{where}{name}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, BaseModel):
                yield from extra_fields(item, f"{where}{name}[{i}].")


def strictly(kind: type[BaseModel], raw: Any) -> Any:
    """``raw`` validated (not just constructed) as ``kind``, with no undeclared field."""
    parsed = kind.model_validate(raw)
    assert list(extra_fields(parsed)) == [], raw
    return parsed


async def stream(client: AsyncElevenLabs, text: str, output_format: str = "ulaw_8000") -> bytes:
    audio = b""
    async with asyncio.timeout(10):
        async for chunk in client.text_to_speech.stream(
            VOICE,
            text=text,
            model_id=MODEL,
            output_format=output_format,  # type: ignore[arg-type]
            voice_settings=SETTINGS,
        ):
            audio += chunk
    return audio


async def test_the_sdk_streams_speech_from_the_fake(fake: FakeElevenLabsServer) -> None:
    client = AsyncElevenLabs(api_key=KEY, base_url=fake.base_url)
    text = "Your plumber arrives at three."
    audio = await stream(client, text)
    assert audio == speech("ulaw_8000", Scenario().speech_ms(text))
    assert len(audio) == 8 * Scenario().speech_ms(text)
    (request,) = fake.requests
    assert (request.transport, request.path) == ("http", f"/v1/text-to-speech/{VOICE}/stream")
    assert (request.voice, request.model, request.output_format) == (VOICE, MODEL, "ulaw_8000")
    assert request.text == text
    assert request.voice_settings == {"stability": 0.4, "similarity_boost": 0.8}
    assert request.completed and request.audio_bytes == len(audio)


async def test_a_refused_key_is_the_sdks_api_error(fake: FakeElevenLabsServer) -> None:
    client = AsyncElevenLabs(api_key="wrong-CANARY-key", base_url=fake.base_url)
    with pytest.raises(ApiError) as refused:
        await stream(client, "Hello.")
    assert refused.value.status_code == 401
    assert refused.value.body == {
        "detail": {"status": "invalid_api_key", "message": "Invalid API key"}
    }
    assert "CANARY" not in str(refused.value.body)
    assert fake.requests == []


@pytest.mark.parametrize("status", [429, 500])
async def test_an_error_status_is_the_sdks_api_error(
    fake: FakeElevenLabsServer, status: int
) -> None:
    fake.fail_next(status)
    client = AsyncElevenLabs(api_key=KEY, base_url=fake.base_url)
    with pytest.raises(ApiError) as failed:
        await stream(client, "Hello.")
    assert failed.value.status_code == status
    assert not isinstance(failed.value, UnprocessableEntityError)
    assert failed.value.body["detail"]["message"] == f"HTTP {status} injected by fail_next"
    assert len(await stream(client, "Hello.")) == 8 * Scenario().speech_ms("Hello.")


async def test_a_422_is_the_sdks_validation_error(fake: FakeElevenLabsServer) -> None:
    client = AsyncElevenLabs(api_key=KEY, base_url=fake.base_url)
    with pytest.raises(UnprocessableEntityError) as refused:
        await stream(client, "Hello.", output_format="mp3_44100_128")  # the fake cannot make MP3
    body = strictly(HttpValidationError, refused.value.body)
    (error,) = body.detail
    assert error.loc == ["query", "output_format"]
    assert "output_format=mp3_44100_128" in error.msg

    fake.fail_next(422)
    with pytest.raises(UnprocessableEntityError) as injected:
        await stream(client, "Hello.")
    assert strictly(HttpValidationError, injected.value.body).detail[0].loc == ["body"]


class _Spy:
    """The SDK's stream-input socket, recording every frame the SDK receives."""

    def __init__(self, connection: Any, frames: list[str]) -> None:
        self._connection = connection
        self._frames = frames

    def __enter__(self) -> _Spy:
        self._connection.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._connection.__exit__(*exc_info)

    def send(self, message: str) -> None:
        self._connection.send(message)

    def recv(self, timeout: float | None = None) -> Any:
        frame = self._connection.recv(timeout)
        self._frames.append(frame)
        return frame


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The frames the SDK's stream-input client receives, in order."""
    frames: list[str] = []
    connect = elevenlabs.realtime_tts.connect
    monkeypatch.setattr(
        elevenlabs.realtime_tts, "connect", lambda *a, **kw: _Spy(connect(*a, **kw), frames)
    )
    return frames


def realtime_client(fake: FakeElevenLabsServer) -> ElevenLabs:
    client = ElevenLabs(api_key=KEY, base_url=fake.base_url)
    # The SDK always dials wss://; the loopback fake has no TLS, so dial ws:// to it.
    client.text_to_speech._ws_base_url = "ws" + fake.base_url.removeprefix("http")
    return client


async def speak_realtime(client: ElevenLabs, parts: list[str]) -> list[bytes]:
    def run() -> list[bytes]:
        return list(
            client.text_to_speech.convert_realtime(
                VOICE,
                text=iter(parts),
                model_id=MODEL,
                output_format="ulaw_8000",
                voice_settings=SETTINGS,
            )
        )

    async with asyncio.timeout(15):
        return await asyncio.to_thread(run)


async def test_the_sdk_speaks_over_the_stream_input_socket(
    fake: FakeElevenLabsServer, received: list[str]
) -> None:
    chunks = await speak_realtime(realtime_client(fake), ["Hello there. ", "How are you?"])

    (request,) = fake.requests
    assert (request.transport, request.path) == (
        "websocket",
        f"/v1/text-to-speech/{VOICE}/stream-input",
    )
    assert (request.voice, request.model, request.output_format) == (VOICE, MODEL, "ulaw_8000")
    assert request.text == "Hello there. How are you?"
    assert request.voice_settings == SETTINGS.dict()
    assert request.options["generation_config"] == {"chunk_length_schedule": [50]}
    assert request.completed

    audio = b"".join(chunks)
    assert audio == speech("ulaw_8000", Scenario().speech_ms(request.text))
    *frames, last = [json.loads(frame) for frame in received]
    outputs = [strictly(AudioOutput, frame) for frame in frames]
    assert b"".join(base64.b64decode(output.audio) for output in outputs) == audio
    assert strictly(FinalOutput, last).is_final is True


async def test_a_stream_input_error_frame_is_the_sdks_api_error(
    fake: FakeElevenLabsServer,
) -> None:
    fake.error_next("A voice with that id does not exist", error="voice_not_found")
    with pytest.raises(ApiError) as failed:
        await speak_realtime(realtime_client(fake), ["Hello there."])
    # The SDK reports the policy-violation close that follows the error frame: with the frame
    # as the body when it read it first, else with the close reason (the frame's error).
    assert failed.value.status_code == 1008
    assert "voice_not_found" in str(failed.value.body)
    (request,) = fake.requests
    assert not request.completed and request.audio_bytes == 0
