"""The fake ElevenLabs ConvAI server, driven by a raw WebSocket client and the official SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import Any
from urllib.error import HTTPError

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from getpatter.audio import pcm16_to_ulaw
from getpatter.testing.fake_convai import FakeConvAIServer, ToolResult
from getpatter.testing.scenario import Callee, Reply, Say, Scenario, ToolCall

KEY = "xi-CANARY-fake-convai"
SCENARIO = Scenario(
    callee=Callee(steps=(Say("Where is my order?"), Say("Thanks, bye."))),
    replies=(
        Reply("Let me check.", tool_call=ToolCall("order_status", {"order": "42"})),
        Reply("Goodbye {{name}}!"),
    ),
)


def voice(ms: int, rate: int = 8000) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (3000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


def silence(ms: int, rate: int = 8000) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)


class Client:
    """A bare ConvAI client: sends messages, keeps every server message it reads."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def say(self, pcm: bytes, ulaw: bool = True) -> None:
        audio = pcm16_to_ulaw(pcm) if ulaw else pcm
        for start in range(0, len(audio), 160):
            chunk = base64.b64encode(audio[start : start + 160]).decode()
            await self.send(user_audio_chunk=chunk)

    async def until(self, event_type: str) -> dict[str, Any]:
        while True:
            event: dict[str, Any] = json.loads(await self.ws.recv())
            self.events.append(event)
            if event["type"] == event_type:
                return event

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]


async def test_a_turn_is_heard_answered_with_a_tool_call_and_spoken() -> None:
    async with FakeConvAIServer(SCENARIO) as fake, asyncio.timeout(10):
        fake.add_agent("agent-1", allow_overrides=("agent.first_message",))
        async with connect(f"{fake.url}?agent_id=agent-1") as ws:
            client = Client(ws)
            await client.send(
                type="conversation_initiation_client_data",
                conversation_config_override={"agent": {"first_message": "Hi {{name}}."}},
                dynamic_variables={"name": "Jane"},
            )
            meta = (await client.until("conversation_initiation_metadata"))[
                "conversation_initiation_metadata_event"
            ]
            assert meta["agent_output_audio_format"] == "ulaw_8000"
            assert meta["user_input_audio_format"] == "ulaw_8000"
            greeting = await client.until("agent_response")
            assert greeting["agent_response_event"]["agent_response"] == "Hi Jane."
            await client.say(voice(600) + silence(600))
            transcript = await client.until("user_transcript")
            assert transcript["user_transcription_event"]["user_transcript"] == "Where is my order?"
            call = (await client.until("client_tool_call"))["client_tool_call"]
            assert call["tool_name"] == "order_status" and call["parameters"] == {"order": "42"}
            await client.send(
                type="client_tool_result",
                tool_call_id=call["tool_call_id"],
                result="ships tomorrow",
                is_error=False,
            )
            response = await client.until("agent_response")
            assert response["agent_response_event"]["agent_response"] == "Let me check."
            await client.send(type="contextual_update", text="VIP customer")
            await client.send(type="user_message", text="And the invoice?")
            await client.until("agent_response")
        ids = [event["audio_event"]["event_id"] for event in client.of("audio")]
        assert ids == sorted(set(ids)) and len(ids) > 3
        record = fake.conversations[0]
        assert record.first_message == "Hi Jane." and record.dynamic_variables == {"name": "Jane"}
        assert record.tool_results == [
            ToolResult(call["tool_call_id"], "order_status", "ships tomorrow", False)
        ]
        assert record.contextual_updates == ["VIP customer"]
        assert record.user_messages == ["And the invoice?"]
        assert [reply.text for reply in record.replies][-1] == "Goodbye Jane!"


async def test_result_placeholder_is_replaced() -> None:
    scenario = Scenario(
        callee=Callee(steps=(Say("Status?"),)),
        replies=(Reply("It {result}.", tool_call=ToolCall("status")),),
    )
    async with FakeConvAIServer(scenario) as fake, asyncio.timeout(10):
        fake.add_agent("a", audio_format="pcm_16000")
        async with connect(f"{fake.url}?agent_id=a") as ws:
            client = Client(ws)
            await client.say(voice(600, 16000) + silence(600, 16000), ulaw=False)
            call = (await client.until("client_tool_call"))["client_tool_call"]
            await client.send(
                type="client_tool_result", tool_call_id=call["tool_call_id"], result="ships"
            )
            response = await client.until("agent_response")
            assert response["agent_response_event"]["agent_response"] == "It ships."
            audio = await client.until("audio")
            assert len(base64.b64decode(audio["audio_event"]["audio_base_64"])) == 3200


async def test_talking_over_the_agent_interrupts_and_corrects_the_reply() -> None:
    text = "one two three four five six seven eight nine ten"
    scenario = Scenario(callee=Callee(steps=(Say("Hi"),)), replies=(Reply(text),))
    async with FakeConvAIServer(scenario, speedup=0.05) as fake, asyncio.timeout(10):
        fake.add_agent("a")
        async with connect(f"{fake.url}?agent_id=a") as ws:
            client = Client(ws)
            await client.say(voice(600) + silence(600))
            await client.until("audio")
            # The caller hears 60 ms a character of the reply: 1 s of 2.94 s is 3 of 10 words.
            await client.say(silence(1000) + voice(300))
            interruption = await client.until("interruption")
            correction = (await client.until("agent_response_correction"))[
                "agent_response_correction_event"
            ]
        last_audio = client.of("audio")[-1]["audio_event"]["event_id"]
        assert interruption["interruption_event"]["event_id"] == last_audio
        assert correction["original_agent_response"] == text
        assert correction["corrected_agent_response"] == "one two three"
        assert fake.conversations[0].replies[0].interrupted


async def test_ping_expects_a_pong() -> None:
    async with FakeConvAIServer() as fake, asyncio.timeout(10):
        fake.add_agent("a")
        async with connect(f"{fake.url}?agent_id=a") as ws:
            client = Client(ws)
            await client.send(type="user_activity")
            await client.until("conversation_initiation_metadata")
            ping = asyncio.create_task(fake.ping())
            event = (await client.until("ping"))["ping_event"]
            await client.send(type="pong", event_id=event["event_id"])
            assert await ping == event["event_id"] == 1
        assert fake.conversations[0].pongs == [1]


async def test_a_forbidden_override_closes_the_conversation_with_1008() -> None:
    async with FakeConvAIServer() as fake, asyncio.timeout(10):
        fake.add_agent("a", allow_overrides=("agent.first_message",))
        async with connect(f"{fake.url}?agent_id=a") as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "conversation_initiation_client_data",
                        "conversation_config_override": {"agent": {"prompt": {"prompt": "x"}}},
                    }
                )
            )
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        assert ws.close_code == 1008
        assert fake.conversations[0].refused == (
            "Override for field 'agent.prompt.prompt' is not allowed by config."
        )


def _get(url: str, key: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"xi-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


async def test_private_agents_need_a_single_use_signed_url() -> None:
    async with FakeConvAIServer(api_key=KEY) as fake, asyncio.timeout(10):
        fake.add_agent("secret-agent", private=True)
        base = f"{fake.base_url}/v1/convai/conversation/get-signed-url?agent_id="
        status, _ = await asyncio.to_thread(_get, base + "secret-agent", None)
        assert status == 401
        status, _ = await asyncio.to_thread(_get, base + "secret-agent", "xi-CANARY-wrong")
        assert status == 401
        status, _ = await asyncio.to_thread(_get, base + "nobody", KEY)
        assert status == 404
        status, body = await asyncio.to_thread(_get, base + "secret-agent", KEY)
        assert status == 200 and body["signed_url"].startswith(fake.url)
        with pytest.raises(InvalidStatus):
            await connect(f"{fake.url}?agent_id=secret-agent")
        async with connect(body["signed_url"]) as ws:
            await ws.send(json.dumps({"type": "user_activity"}))
            await ws.recv()
        with pytest.raises(InvalidStatus):
            await connect(body["signed_url"])
        assert fake.conversations[0].signed


async def test_faults_refuse_drop_and_silence() -> None:
    async with FakeConvAIServer(SCENARIO) as fake, asyncio.timeout(10):
        fake.add_agent("a", first_message="Hello")
        fake.fail_next_connect(503)
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{fake.url}?agent_id=a")
        assert refused.value.response.status_code == 503
        async with connect(f"{fake.url}?agent_id=a") as ws:
            await ws.send(json.dumps({"type": "user_activity"}))
            await Client(ws).until("conversation_initiation_metadata")
            await fake.drop()
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
        assert fake.conversations[0].dropped
        fake.silence_next()
        async with connect(f"{fake.url}?agent_id=a") as ws:
            client = Client(ws)
            await client.send(type="user_activity")
            await client.until("conversation_initiation_metadata")
            await client.say(voice(600) + silence(600))
            await client.send(type="user_message", text="hello?")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await client.until("agent_response")
        assert fake.conversations[1].replies == []


async def test_the_official_sdk_holds_a_conversation_with_a_private_agent() -> None:
    from elevenlabs.client import ElevenLabs
    from elevenlabs.conversational_ai.conversation import (
        AudioInterface,
        ClientTools,
        Conversation,
        ConversationInitiationData,
    )

    loop = asyncio.get_running_loop()
    responses: asyncio.Queue[str] = asyncio.Queue()
    heard: list[bytes] = []

    class Line(AudioInterface):
        def start(self, input_callback: Any) -> None:
            self.send = input_callback

        def stop(self) -> None:
            """Nothing to release: the test owns no device."""

        def output(self, audio: bytes) -> None:
            heard.append(audio)

        def interrupt(self) -> None:
            """Nothing is buffered: every chunk was kept in ``heard`` as it came."""

    def on_response(text: str) -> None:
        loop.call_soon_threadsafe(responses.put_nowait, text)

    tools = ClientTools()
    tools.register("order_status", lambda parameters: f"order {parameters['order']} ships")
    line = Line()
    async with FakeConvAIServer(SCENARIO, api_key=KEY) as fake, asyncio.timeout(20):
        fake.add_agent(
            "private-agent", private=True, audio_format="pcm_16000", first_message="Hi {{name}}."
        )
        conversation = Conversation(
            ElevenLabs(api_key=KEY, base_url=fake.base_url),
            "private-agent",
            requires_auth=True,
            audio_interface=line,
            client_tools=tools,
            config=ConversationInitiationData(dynamic_variables={"name": "Jane"}),
            callback_agent_response=on_response,
        )
        await asyncio.to_thread(conversation.start_session)
        try:
            assert await responses.get() == "Hi Jane."
            for start in range(0, 16000 * 2 * 12 // 10, 8000):
                pcm = (voice(600, 16000) + silence(600, 16000))[start : start + 8000]
                await asyncio.to_thread(line.send, pcm)
            assert await responses.get() == "Let me check."
            assert await fake.ping() == 1
        finally:
            await asyncio.to_thread(conversation.end_session)
            conversation_id = await asyncio.to_thread(conversation.wait_for_session_end)
        record = fake.conversations[0]
        assert record.signed and conversation_id == record.conversation_id
        assert record.dynamic_variables == {"name": "Jane"}
        assert [result.result for result in record.tool_results] == ["order 42 ships"]
        assert record.transcripts == ["Where is my order?"] and record.pongs == [1]
        assert heard
