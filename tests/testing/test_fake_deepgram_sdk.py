"""The fake Deepgram server holds real exchanges with the official ``deepgram-sdk`` client.

The SDK's listen v1 types are generated from Deepgram's API spec. Every message the fake sends is
validated (not just constructed) against them, with no field the spec does not know, and the
SDK's own socket client parses the stream into those types. So the fake speaks the real
protocol, and DeepgramSTT, which is tested against the fake, does too.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.socket_client import AsyncV1SocketClient
from deepgram.listen.v1.types import (
    ListenV1Configure,
    ListenV1ConfigureFailure,
    ListenV1ConfigureSuccess,
    ListenV1Error,
    ListenV1Metadata,
    ListenV1Results,
    ListenV1SpeechStarted,
    ListenV1UtteranceEnd,
)
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosedError

from getpatter.testing.fake_deepgram import FakeDeepgramServer
from getpatter.testing.phone_network.sound import SILENCE, speech
from getpatter.testing.scenario import Callee, Say, Scenario

# The SDK still uses websockets' deprecated API: its warnings are not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning"
)

KEY = "dg-sdk-CANARY-key"
LINE = "I need a plumber today."
SCENARIO = Scenario(callee=Callee(steps=(Say(LINE),)))
SDK_TYPES: dict[str, type[BaseModel]] = {
    "Results": ListenV1Results,
    "SpeechStarted": ListenV1SpeechStarted,
    "UtteranceEnd": ListenV1UtteranceEnd,
    "Metadata": ListenV1Metadata,
    "Error": ListenV1Error,
    "ConfigureSuccess": ListenV1ConfigureSuccess,
    "ConfigureFailure": ListenV1ConfigureFailure,
}


def silence(ms: int) -> bytes:
    return bytes([SILENCE]) * 8 * ms


def client_for(fake: FakeDeepgramServer, key: str = KEY) -> AsyncDeepgramClient:
    """The SDK's async client with its websocket environment pointed at the fake."""
    unused = "http://127.0.0.1:9"  # REST and agent hosts: this test never reaches them
    environment = DeepgramClientEnvironment(
        base=unused, production=fake.base_url, agent=unused, agent_rest=unused
    )
    return AsyncDeepgramClient(api_key=key, environment=environment)


@asynccontextmanager
async def listen(fake: FakeDeepgramServer, **options: Any) -> AsyncIterator[AsyncV1SocketClient]:
    query: dict[str, Any] = {
        "model": "nova-3",
        "encoding": "mulaw",
        "sample_rate": 8000,
        "interim_results": "true",
        "vad_events": "true",
        "utterance_end_ms": "1000",
        "endpointing": 300,
    }
    async with client_for(fake).listen.v1.connect(**{**query, **options}) as socket:
        yield socket


async def receive_until(
    socket: AsyncV1SocketClient, kind: type[BaseModel], **fields: Any
) -> list[Any]:
    """SDK-parsed messages up to and including the first of type ``kind`` with ``fields``."""
    messages: list[Any] = []

    def done() -> bool:
        last = messages[-1] if messages else None
        return isinstance(last, kind) and all(getattr(last, k) == v for k, v in fields.items())

    async with asyncio.timeout(10):
        while not done():
            messages.append(await socket.recv())
    return messages


def extra_fields(model: BaseModel, where: str = "") -> Iterator[str]:
    """Every field of ``model`` (recursively) that the SDK's spec-generated type does not declare."""
    for name in model.model_extra or {}:
        yield f"{where}{name}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                yield from extra_fields(item, f"{where}{name}[{i}].")


def check_against_spec(fake: FakeDeepgramServer, parsed: list[Any]) -> None:
    """What the fake sent validates strictly as the SDK's types, and matches what it parsed."""
    sent = fake.sessions[0].sent
    assert len(parsed) == len(sent)
    for raw, message in zip(sent, parsed, strict=True):
        kind = SDK_TYPES[raw["type"]]
        validated = kind.model_validate(raw)  # required fields, field types: raises on drift
        assert list(extra_fields(validated)) == [], raw["type"]
        assert type(message) is kind
        assert message == validated


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgramServer]:
    async with FakeDeepgramServer(SCENARIO, api_key=KEY) as server:
        yield server


async def test_the_sdk_parses_a_whole_turn_and_closes_the_stream(fake: FakeDeepgramServer) -> None:
    audio = speech(800) + silence(1500)
    async with listen(fake) as socket:
        await socket.send_media(audio)
        turn = await receive_until(socket, ListenV1UtteranceEnd)
        await socket.send_keep_alive()
        await socket.send_close_stream()
        rest = [message async for message in socket]  # ends (no raise) on a normal close

    started, *interims, final, utterance_end = turn
    assert isinstance(started, ListenV1SpeechStarted)
    assert (started.channel, started.timestamp) == ([0, 1], 0.0)
    assert interims and all(isinstance(m, ListenV1Results) for m in interims)
    assert [m.is_final for m in interims] == [False] * len(interims)
    transcripts = [m.channel.alternatives[0].transcript for m in interims]
    assert transcripts[0] == "I" and all(LINE.startswith(t) for t in transcripts)

    assert isinstance(final, ListenV1Results)
    assert (final.is_final, final.speech_final, final.from_finalize) == (True, True, False)
    assert final.channel_index == [0, 1] and final.start == 0.0
    best = final.channel.alternatives[0]
    assert best.transcript == LINE and best.confidence > 0.9
    assert [w.punctuated_word for w in best.words] == LINE.split()
    assert [w.word for w in best.words] == ["i", "need", "a", "plumber", "today"]
    assert best.words[-1].end == pytest.approx(0.8, abs=0.03)  # where the speech stopped
    assert all(a.end <= b.start + 1e-9 for a, b in zip(best.words, best.words[1:], strict=False))
    assert final.metadata.model_info.name == "nova-3"
    assert {m.metadata.request_id for m in [*interims, final]} == {final.metadata.request_id}

    assert isinstance(utterance_end, ListenV1UtteranceEnd)
    assert utterance_end.channel == [0, 1]
    assert utterance_end.last_word_end == pytest.approx(0.8, abs=0.03)

    (metadata,) = rest  # nothing was pending: no final before the Metadata
    assert isinstance(metadata, ListenV1Metadata)
    assert metadata.request_id == final.metadata.request_id
    assert metadata.duration == pytest.approx(len(audio) / 8000)
    assert metadata.sha256 == hashlib.sha256(audio).hexdigest()
    assert metadata.channels == 1

    check_against_spec(fake, [*turn, *rest])
    session = fake.sessions[0]
    assert session.controls == ["KeepAlive", "CloseStream"]
    assert session.query["model"] == "nova-3" and session.query["endpointing"] == "300"
    assert not session.timed_out


async def test_finalize_from_the_sdk_ends_the_utterance_at_once(fake: FakeDeepgramServer) -> None:
    async with listen(fake) as socket:
        await socket.send_media(speech(500))
        heard = await receive_until(socket, ListenV1Results)  # an interim: speech is pending
        await socket.send_finalize()
        more = await receive_until(socket, ListenV1Results, is_final=True)
        await socket.send_close_stream()
        rest = [message async for message in socket]

    *interims, final = more
    assert all(m.is_final is False for m in interims)
    assert (final.is_final, final.speech_final, final.from_finalize) == (True, False, True)
    assert final.channel.alternatives[0].transcript == LINE
    assert [type(m) for m in rest] == [ListenV1Metadata]
    check_against_spec(fake, [*heard, *more, *rest])
    assert fake.sessions[0].controls == ["Finalize", "CloseStream"]
    assert fake.sessions[0].transcripts == [LINE]


async def test_a_server_error_reaches_the_sdk_as_its_error_type(fake: FakeDeepgramServer) -> None:
    async with listen(fake) as socket:
        await socket.send_media(speech(100))
        started = await receive_until(socket, ListenV1SpeechStarted)  # the fake has the socket
        await fake.send_error(description="Internal server error")
        messages = await receive_until(socket, ListenV1Error)
        with pytest.raises(ConnectionClosedError) as closed:
            await socket.recv()
    (error,) = messages
    assert isinstance(error, ListenV1Error)
    assert (error.variant, error.description) == ("InternalError", "Internal server error")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    check_against_spec(fake, [*started, *messages])


async def test_an_unknown_message_from_the_client_is_a_schema_error(
    fake: FakeDeepgramServer,
) -> None:
    async with listen(fake) as socket:
        await socket._send({"type": "NoSuchMessage"})  # the SDK has no public raw send
        messages = await receive_until(socket, ListenV1Error)
        with pytest.raises(ConnectionClosedError):
            await socket.recv()
    (error,) = messages
    assert isinstance(error, ListenV1Error)
    assert error.variant == "SchemaError"
    assert error.message == '{"type": "NoSuchMessage"}'
    check_against_spec(fake, messages)


async def test_a_refused_key_is_the_sdks_api_error(fake: FakeDeepgramServer) -> None:
    with pytest.raises(ApiError) as refused:
        async with asyncio.timeout(10):
            async with client_for(fake, "wrong-CANARY-key").listen.v1.connect(
                model="nova-3", encoding="mulaw", sample_rate=8000
            ):
                pass
    assert refused.value.status_code == 401
    assert "CANARY" not in f"{refused.value} {refused.value.headers}"
    assert fake.sessions == []


async def test_a_rate_limited_handshake_is_the_sdks_api_error(fake: FakeDeepgramServer) -> None:
    fake.fail_next_connect(429)
    with pytest.raises(ApiError) as refused:
        async with asyncio.timeout(10), listen(fake):
            pass
    assert refused.value.status_code == 429
    async with listen(fake) as socket:  # the next handshake is accepted again
        await socket.send_close_stream()
        assert [type(m) for m in [m async for m in socket]] == [ListenV1Metadata]


async def test_configure_from_the_sdk_replaces_keyterms_mid_stream(
    fake: FakeDeepgramServer,
) -> None:
    async with listen(fake, keyterm="drain") as socket:
        await socket.send_configure(
            ListenV1Configure(keyterms=["plumber", "water heater"], features={"numerals": True})
        )
        (success,) = await receive_until(socket, ListenV1ConfigureSuccess)
        await socket.send_configure(ListenV1Configure(features={"numerals": False}))
        (kept,) = await receive_until(socket, ListenV1ConfigureSuccess)
        await socket.send_media(speech(500) + silence(800))
        turn = await receive_until(socket, ListenV1Results, is_final=True)  # the stream goes on
        await socket.send_close_stream()
        rest = [message async for message in socket]

    assert success.keyterms == ["plumber", "water heater"]
    assert kept.keyterms is None  # present only when the Configure replaced them
    assert success.request_id == kept.request_id == turn[-1].metadata.request_id
    assert turn[-1].channel.alternatives[0].transcript == LINE
    check_against_spec(fake, [success, kept, *turn, *rest])
    session = fake.sessions[0]
    assert session.controls == ["Configure", "Configure", "CloseStream"]
    assert session.keyterms == ["plumber", "water heater"]
    assert session.features == {"numerals": False}


async def test_keyterms_on_a_model_that_is_not_nova_3_are_a_configure_failure(
    fake: FakeDeepgramServer,
) -> None:
    async with listen(fake, model="nova-2") as socket:
        await socket.send_configure(ListenV1Configure(keyterms=["plumber"]))
        (failure,) = await receive_until(socket, ListenV1ConfigureFailure)
        await socket.send_close_stream()
        rest = [message async for message in socket]
    assert failure.code == "CONFIGURE_KEYTERMS_NOT_SUPPORTED" and failure.description
    assert [type(m) for m in rest] == [ListenV1Metadata]  # the stream was not closed by it
    check_against_spec(fake, [failure, *rest])
    assert fake.sessions[0].keyterms == []
