"""The fake OpenAI Realtime server, driven by a plain WebSocket client sending real events."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from getpatter.audio import pcm16_to_ulaw, ulaw_to_pcm16
from getpatter.engines.base import VERBATIM_PREFIX
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing.fake_realtime import FakeRealtimeServer, ToolOutput, Truncation
from getpatter.testing.scenario import Callee, Reply, Say, Scenario, ToolCall

SCENARIO = Scenario(
    callee=Callee(steps=(Say("Where is my order?"), Say("Thanks, bye."))),
    replies=(Reply("It ships tomorrow."), Reply("Goodbye!")),
)
PCMU = {"type": "audio/pcmu"}


def ga_session(**input_extra: Any) -> dict[str, Any]:
    return {
        "type": "realtime",
        "instructions": "You are a helpful phone agent.",
        "audio": {
            "input": {"format": PCMU, **input_extra},
            "output": {"format": PCMU, "voice": "marin"},
        },
    }


def ulaw_voice(ms: int) -> bytes:
    t = np.arange(8 * ms) / 8000
    return pcm16_to_ulaw((3000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes())


def ulaw_silence(ms: int) -> bytes:
    return b"\xff" * (8 * ms)


class Client:
    """A bare Realtime client: sends events, keeps every server event it reads."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": event_type, **fields}))

    async def append(self, audio: bytes, frame_ms: int = 20, bytes_per_ms: int = 8) -> None:
        step = frame_ms * bytes_per_ms
        for start in range(0, len(audio), step):
            chunk = base64.b64encode(audio[start : start + step]).decode()
            await self.send("input_audio_buffer.append", audio=chunk)

    async def until(self, event_type: str) -> dict[str, Any]:
        while True:
            event = json.loads(await self.ws.recv())
            self.events.append(event)
            if event["type"] == event_type:
                return event

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]


@asynccontextmanager
async def session(
    fake: FakeRealtimeServer, *, beta: bool = False, config: dict[str, Any] | None = None
) -> AsyncIterator[Client]:
    headers = {"Authorization": "Bearer sk-CANARY-test"}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    async with connect(
        fake.url + "?model=gpt-realtime", additional_headers=headers, proxy=None
    ) as ws:
        client = Client(ws)
        await client.until("session.created")
        if config is not None:
            await client.send("session.update", session=config)
            await client.until("session.updated")
        yield client


@asynccontextmanager
async def call(
    scenario: Scenario, *, beta: bool = False, config: dict[str, Any] | None = None
) -> AsyncIterator[tuple[FakeRealtimeServer, Client]]:
    async with FakeRealtimeServer(scenario) as fake, session(fake, beta=beta, config=config) as c:
        yield fake, c


async def speak(client: Client, voice_ms: int = 600, silence_ms: int = 600) -> None:
    await client.append(ulaw_voice(voice_ms) + ulaw_silence(silence_ms))


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(event["delta"]) for event in events)


async def test_a_caller_turn_is_heard_transcribed_and_answered_in_protocol_order():
    async with asyncio.timeout(10), call(SCENARIO, config=ga_session()) as (fake, client):
        await speak(client, voice_ms=600, silence_ms=600)
        done = await client.until("response.done")

    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
    ]
    seen = list(dict.fromkeys(client.types()))  # first occurrence of each type, in order
    assert [t for t in seen if t in order] == list(dict.fromkeys(order))
    tail = [t for t in client.types() if not t.endswith(".delta")][-6:]
    assert tail == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    started = client.of("input_audio_buffer.speech_started")[0]
    stopped = client.of("input_audio_buffer.speech_stopped")[0]
    assert started["audio_start_ms"] == 0
    assert stopped["audio_end_ms"] == 600 + 500  # voice, then the default 500 ms of silence
    assert started["item_id"] == stopped["item_id"]
    heard = client.of("conversation.item.input_audio_transcription.completed")[0]
    assert heard["transcript"] == "Where is my order?"
    assert heard["item_id"] == started["item_id"]

    transcript = "".join(e["delta"] for e in client.of("response.output_audio_transcript.delta"))
    assert transcript == "It ships tomorrow."
    done_transcript = client.of("response.output_audio_transcript.done")[0]["transcript"]
    assert done_transcript == transcript
    audio = audio_of(client.of("response.output_audio.delta"))
    assert len(audio) == 8 * Reply("It ships tomorrow.").speech_duration_ms
    pcm = np.frombuffer(ulaw_to_pcm16(audio), dtype="<i2").astype(float)
    assert np.sqrt(np.mean(pcm**2)) > 1000  # a tone, not silence

    response = done["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["content"] == [
        {"type": "output_audio", "transcript": "It ships tomorrow."}
    ]
    assert response["audio"]["output"]["format"] == PCMU
    record = fake.sessions[0]
    assert record.transcripts == ["Where is my order?"]
    assert [(r.text, r.status) for r in record.responses] == [("It ships tomorrow.", "completed")]
    assert record.audio_received_ms == 1200
    assert record.session_config == ga_session()
    assert all(e["type"] != "input_audio_buffer.append" for e in record.received)


async def test_usage_counts_heard_audio_text_output_and_caches_the_previous_input():
    instructions = ga_session()["instructions"]
    async with asyncio.timeout(10), call(SCENARIO, config=ga_session()) as (_, client):
        await speak(client, voice_ms=600, silence_ms=600)
        first = (await client.until("response.done"))["response"]["usage"]
        await speak(client, voice_ms=400, silence_ms=600)
        second = (await client.until("response.done"))["response"]["usage"]

    def tokens(text: str) -> int:
        return math.ceil(len(text) / 4)

    text_in = tokens(instructions) + tokens("Where is my order?")
    assert first["input_token_details"] == {
        "text_tokens": text_in,
        "audio_tokens": 11,  # 1100 ms heard (speech start to detected stop) at 10 tokens/s
        "image_tokens": 0,
        "cached_tokens": 0,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
    }
    reply_ms = Reply("It ships tomorrow.").speech_duration_ms
    assert first["output_token_details"] == {
        "text_tokens": tokens("It ships tomorrow."),
        "audio_tokens": math.ceil(reply_ms / 50),  # 20 tokens/s, rounded up
    }
    assert first["input_tokens"] == text_in + 11
    assert first["total_tokens"] == first["input_tokens"] + first["output_tokens"]

    second_text = text_in + tokens("It ships tomorrow.") + tokens("Thanks, bye.")
    assert second["input_token_details"]["text_tokens"] == second_text
    assert second["input_token_details"]["audio_tokens"] == 11 + 9
    assert second["input_token_details"]["cached_tokens_details"]["text_tokens"] == text_in
    assert second["input_token_details"]["cached_tokens_details"]["audio_tokens"] == 11
    assert second["input_token_details"]["cached_tokens"] == text_in + 11


async def test_vad_ignores_blips_and_waits_for_the_session_silence_duration():
    async with asyncio.timeout(10), FakeRealtimeServer(SCENARIO) as fake:
        config = ga_session(turn_detection={"type": "server_vad", "silence_duration_ms": 300})
        async with session(fake, config=config) as client:
            # 40 ms is too short to be speech; the real utterance starts at 240 ms.
            await client.append(ulaw_voice(40) + ulaw_silence(200) + ulaw_voice(500))
            await client.append(ulaw_silence(280))
            await client.send("input_audio_buffer.clear")
            await client.until("input_audio_buffer.cleared")
            assert "input_audio_buffer.speech_stopped" not in client.types()
            await client.append(ulaw_voice(200) + ulaw_silence(300))
            stopped = await client.until("input_audio_buffer.speech_stopped")

    assert [e["audio_start_ms"] for e in client.of("input_audio_buffer.speech_started")] == [
        240,
        1020,
    ]
    assert stopped["audio_end_ms"] == 1020 + 200 + 300


async def test_the_beta_dialect_uses_beta_names_and_formats():
    config = {
        "modalities": ["audio", "text"],
        "instructions": "Be brief.",
        "voice": "alloy",
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "g711_ulaw",
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
    }
    async with asyncio.timeout(10), call(SCENARIO, beta=True, config=config) as (fake, client):
        await speak(client)
        done = await client.until("response.done")

    types = set(client.types())
    assert {"response.audio.delta", "response.audio_transcript.delta"} <= types
    assert {"response.audio.done", "response.audio_transcript.done"} <= types
    assert "conversation.item.created" in types
    assert not {t for t in types if "output_audio" in t or t.startswith("conversation.item.a")}
    assert "conversation.item.done" not in types
    assert done["response"]["output_audio_format"] == "g711_ulaw"
    assert done["response"]["output"][0]["content"][0]["type"] == "audio"
    assert fake.sessions[0].beta


async def test_a_tool_call_waits_for_its_output_then_speaks_the_result():
    scenario = Scenario(
        callee=Callee(steps=(Say("Where is order 42?"),)),
        replies=(
            Reply("Order 42 is {result}.", tool_call=ToolCall("lookup_order", {"order_id": "42"})),
        ),
    )
    async with asyncio.timeout(10), call(scenario, config=ga_session()) as (fake, client):
        await speak(client)
        call_done = await client.until("response.done")
        arguments = client.of("response.function_call_arguments.done")[0]
        assert not client.of("response.output_audio.delta")
        await client.send(
            "conversation.item.create",
            item={
                "type": "function_call_output",
                "call_id": arguments["call_id"],
                "output": "shipped",
            },
        )
        await client.send("response.create")
        spoken = await client.until("response.output_audio_transcript.done")
        await client.until("response.done")

    assert arguments["name"] == "lookup_order"
    assert json.loads(arguments["arguments"]) == {"order_id": "42"}
    item = call_done["response"]["output"][0]
    assert item["type"] == "function_call"
    assert item["call_id"] == arguments["call_id"]
    assert spoken["transcript"] == "Order 42 is shipped."
    record = fake.sessions[0]
    assert record.tool_outputs == [ToolOutput(arguments["call_id"], "lookup_order", "shipped")]
    assert [r.tool_call for r in record.responses] == [
        ToolCall("lookup_order", {"order_id": "42"}),
        None,
    ]


async def test_verbatim_instructions_are_spoken_as_is_and_do_not_use_up_a_reply():
    async with asyncio.timeout(10), call(SCENARIO, config=ga_session()) as (_, client):
        await client.send(
            "response.create", response={"instructions": VERBATIM_PREFIX + "Hi, this is Ada."}
        )
        greeting = await client.until("response.output_audio_transcript.done")
        await client.until("response.done")
        await client.send(
            "conversation.item.create",
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "[DTMF: 5]"}],
            },
        )
        await client.send("response.create")
        answer = await client.until("response.output_audio_transcript.done")

    assert greeting["transcript"] == "Hi, this is Ada."
    assert answer["transcript"] == "It ships tomorrow."


async def test_response_cancel_stops_the_audio_and_reports_client_cancelled():
    long_reply = Scenario(replies=(Reply("A very long answer.", audio_ms=20_000),))
    async with asyncio.timeout(10), call(long_reply, config=ga_session()) as (fake, client):
        await client.send("response.create")
        await client.until("response.output_audio.delta")
        await client.send("response.cancel")
        done = await client.until("response.done")
        await client.send("response.cancel", event_id="evt_late")
        late = await client.until("error")

    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    assert done["response"]["output"][0]["status"] == "incomplete"
    sent_ms = len(audio_of(client.of("response.output_audio.delta"))) // 8
    assert 0 < sent_ms < 20_000
    assert done["response"]["usage"]["output_token_details"]["audio_tokens"] == sent_ms // 50
    record = fake.sessions[0]
    assert record.responses[0].status == "cancelled"
    assert record.responses[0].audio_ms == sent_ms
    assert [c.reason for c in record.cancellations] == ["client_cancelled"]
    assert late["error"]["code"] == "response_cancel_not_active"
    assert late["error"]["event_id"] == "evt_late"


async def test_barge_in_cancels_with_turn_detected_and_truncation_is_checked():
    scenario = Scenario(replies=(Reply("Let me tell you everything.", audio_ms=20_000),))
    async with asyncio.timeout(10), call(scenario, config=ga_session()) as (fake, client):
        await client.send("response.create")
        await client.until("response.output_audio.delta")
        await client.append(ulaw_voice(100))
        await client.until("input_audio_buffer.speech_started")
        done = await client.until("response.done")
        item_id = done["response"]["output"][0]["id"]
        sent_ms = len(audio_of(client.of("response.output_audio.delta"))) // 8
        await client.send(
            "conversation.item.truncate",
            item_id=item_id,
            content_index=0,
            audio_end_ms=sent_ms + 1,
        )
        too_far = await client.until("error")
        await client.send(
            "conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=0
        )
        unknown = await client.until("error")
        await client.send(
            "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=50
        )
        truncated = await client.until("conversation.item.truncated")

    assert client.types().index("input_audio_buffer.speech_started") < client.types().index(
        "response.done"
    )
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert too_far["error"]["type"] == "invalid_request_error"
    assert too_far["error"]["param"] == "audio_end_ms"
    assert unknown["error"]["code"] == "item_truncate_invalid_item_id"
    assert truncated["audio_end_ms"] == 50
    assert fake.sessions[0].truncations == [Truncation(item_id, 50)]


async def test_without_interrupt_response_speech_does_not_cancel():
    scenario = Scenario(replies=(Reply("Long.", audio_ms=4_000), Reply("Next.")))
    config = ga_session(
        turn_detection={"type": "server_vad", "interrupt_response": False, "create_response": False}
    )
    async with asyncio.timeout(10), call(scenario, config=config) as (fake, client):
        await client.send("response.create")
        await client.until("response.output_audio.delta")
        await speak(client, voice_ms=100, silence_ms=500)
        await client.until("conversation.item.input_audio_transcription.completed")
        done = await client.until("response.done")

    assert done["response"]["status"] == "completed"
    assert [r.text for r in fake.sessions[0].responses] == ["Long."]  # no automatic response


async def test_a_second_response_create_while_one_runs_is_refused():
    scenario = Scenario(replies=(Reply("Long.", audio_ms=5_000), Reply("Next.")))
    async with asyncio.timeout(10), call(scenario, config=ga_session()) as (fake, client):
        await client.send("response.create")
        await client.until("response.created")
        await client.send("response.create")
        error = await client.until("error")

    assert error["error"]["code"] == "conversation_already_has_active_response"
    assert len(fake.sessions[0].responses) == 1


async def test_manual_commit_and_an_exhausted_script():
    config = ga_session(turn_detection=None)
    async with asyncio.timeout(10), call(Scenario(), config=config) as (fake, client):
        await client.append(ulaw_voice(40))
        await client.send("input_audio_buffer.commit")
        too_short = await client.until("error")
        await client.append(ulaw_voice(200) + ulaw_silence(600))
        await client.send("input_audio_buffer.commit")
        heard = await client.until("conversation.item.input_audio_transcription.completed")
        await client.send("response.create")
        done = await client.until("response.done")

    assert too_short["error"]["code"] == "input_audio_buffer_commit_empty"
    assert "input_audio_buffer.speech_started" not in client.types()
    assert heard["transcript"] == ""  # the callee has no more lines
    assert done["response"]["status"] == "completed"
    assert done["response"]["output"] == []
    assert fake.sessions[0].transcripts == [""]


async def test_pcm_24k_sessions_hear_and_speak_pcm():
    pcm_format = {"type": "audio/pcm", "rate": 24000}
    config = {
        "type": "realtime",
        "audio": {"input": {"format": pcm_format}, "output": {"format": pcm_format}},
    }
    t = np.arange(24 * 600) / 24000
    voice = (3000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()
    async with asyncio.timeout(10), call(SCENARIO, config=config) as (fake, client):
        await client.append(voice + bytes(48 * 600), bytes_per_ms=48)
        await client.until("response.done")

    pcm = audio_of(client.of("response.output_audio.delta"))
    assert len(pcm) == 48 * Reply("It ships tomorrow.").speech_duration_ms
    assert np.abs(np.frombuffer(pcm, dtype="<i2")).max() > 3000
    assert fake.sessions[0].audio_received_ms == 1200


async def test_bad_client_events_get_error_events_and_the_connection_stays_up():
    async with asyncio.timeout(10), call(SCENARIO) as (fake, client):
        await client.send("output_audio_buffer.clear", event_id="evt_1")
        unknown = await client.until("error")
        await client.ws.send("not json")
        not_json = await client.until("error")
        await client.send("session.update", session={"instructions": "hi"})
        no_type = await client.until("error")
        await client.send("session.update", session={"type": "realtime", "voice": "alloy"})
        beta_key = await client.until("error")
        bad_format = {"type": "realtime", "audio": {"input": {"format": {"type": "mp3"}}}}
        await client.send("session.update", session=bad_format)
        format_error = await client.until("error")
        await client.send("session.update", session=ga_session())
        await client.until("session.updated")

    assert unknown["error"]["type"] == "invalid_request_error"
    assert unknown["error"]["event_id"] == "evt_1"
    assert unknown["error"]["param"] == "type"
    assert not_json["error"]["type"] == "invalid_request_error"
    assert no_type["error"]["code"] == "missing_required_parameter"
    assert beta_key["error"]["code"] == "unknown_parameter"
    assert format_error["error"]["param"] == "session.audio.input.format"
    assert fake.sessions[0].session_config == ga_session()


async def test_concurrent_connections_each_play_the_scenario_from_the_start():
    async with (
        asyncio.timeout(10),
        FakeRealtimeServer(SCENARIO) as fake,
        session(fake, config=ga_session()) as a,
        session(fake, config=ga_session()) as b,
    ):
        await asyncio.gather(speak(a), speak(b))
        done = await asyncio.gather(a.until("response.done"), b.until("response.done"))

    for response in done:
        assert response["response"]["output"][0]["content"][0]["transcript"] == "It ships tomorrow."
    assert [s.transcripts for s in fake.sessions] == [["Where is my order?"]] * 2
    assert [s.index for s in fake.sessions] == [0, 1]


async def test_scenario_for_picks_a_scenario_per_connection():
    scenarios = [Scenario(replies=(Reply("First call."),)), Scenario(replies=(Reply("Second."),))]
    async with (
        asyncio.timeout(10),
        FakeRealtimeServer(scenario_for=lambda record: scenarios[record.index]) as fake,
    ):
        for expected in ("First call.", "Second."):
            async with session(fake, config=ga_session()) as client:
                await client.send("response.create")
                spoken = await client.until("response.output_audio_transcript.done")
                assert spoken["transcript"] == expected
    assert [s.scenario for s in fake.sessions] == scenarios


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/realtime?model=gpt-realtime", {}, 401),
        ("/v1/realtime?model=gpt-realtime", {"Authorization": "Bearer sk-CANARY-wrong"}, 401),
        ("/v1/realtime", {"Authorization": "Bearer sk-CANARY-right"}, 400),
        ("/v2/other?model=gpt-realtime", {"Authorization": "Bearer sk-CANARY-right"}, 404),
    ],
)
async def test_handshakes_are_checked(path: str, headers: dict[str, str], status: int):
    async with asyncio.timeout(10), FakeRealtimeServer(api_key="sk-CANARY-right") as fake:
        url = fake.url.removesuffix("/v1/realtime") + path
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers, proxy=None):
                pass
        assert refused.value.response.status_code == status
        assert fake.sessions == []


async def test_fail_next_connect_refuses_one_handshake():
    async with asyncio.timeout(10), FakeRealtimeServer() as fake:
        fake.fail_next_connect(503)
        with pytest.raises(InvalidStatus) as refused:
            async with session(fake):
                pass
        assert refused.value.response.status_code == 503
        async with session(fake) as client:
            assert client.types() == ["session.created"]
        assert len(fake.sessions) == 1


async def test_drop_cuts_the_connection_without_a_close_frame():
    async with asyncio.timeout(10), call(SCENARIO, config=ga_session()) as (fake, client):
        await fake.drop()
        with pytest.raises(ConnectionClosedError) as closed:
            await client.ws.recv()
        assert closed.value.rcvd is None
        assert fake.sessions[0].dropped
        assert fake.sessions[0].closed


async def test_leaving_the_context_closes_calls_and_leaves_no_task_behind():
    long_reply = Scenario(replies=(Reply("Long.", audio_ms=60_000),))
    async with asyncio.timeout(10):
        async with FakeRealtimeServer(long_reply) as fake:
            headers = {"Authorization": "Bearer sk-CANARY-test"}
            ws = await connect(fake.url + "?model=m", additional_headers=headers, proxy=None)
            await ws.send(json.dumps({"type": "response.create"}))
            while json.loads(await ws.recv())["type"] != "response.output_audio.delta":
                pass
        assert fake.sessions[0].closed
        await ws.close()
        await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError):
        FakeRealtimeServer("hello")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FakeRealtimeServer(SCENARIO, scenario_for=lambda record: SCENARIO)
    with pytest.raises(InputValidationError):
        FakeRealtimeServer(speedup=0)
    with pytest.raises(ConfigError):
        FakeRealtimeServer().fail_next_connect(200)
    with pytest.raises(ConfigError):
        _ = FakeRealtimeServer().base_url
