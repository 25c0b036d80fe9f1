"""Whole calls with every logger at DEBUG: no key, token or signature in what a handler prints.

websockets logs each handshake header at DEBUG, on the client (Patter's connections to OpenAI
Realtime, Deepgram and ElevenLabs; the Twilio simulator's media stream) and on the server (the
fakes). The lines must be there, with their credentials hidden.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from getpatter import DeepgramSTT, ElevenLabsTTS, OpenAILLM
from getpatter.testing import sandbox as sandbox_module
from getpatter.testing.fake_tts import FakeElevenLabsServer
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario
from getpatter.tts.elevenlabs_ws import ElevenLabsWebSocketTTS

SCENARIO = Scenario(
    callee=Callee(steps=(Say("When are you open?"), HangUp(pause_ms=1500))),
    replies=(Reply("From nine to five."),),
)
MEDIA_TOKEN = re.compile(r"/ws/(?:twilio/media|telnyx/media/(?:pcmu|pcma|l16))/(?!<redacted>)")


@contextmanager
def debug_log() -> Iterator[list[str]]:
    """The text a root handler at DEBUG prints (messages and tracebacks) while inside."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def sandbox_keys() -> list[str]:
    """The fake keys the sandbox gives its providers and fakes."""
    return [
        sandbox_module._FAKE_OPENAI_KEY,
        *(sandbox_module._fake_key(fake) for fake in ("deepgram", "openai_chat", "elevenlabs")),
        sandbox_module._FAKE_ELEVENLABS_KEY,
    ]


def assert_hidden(log: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in log
    assert not MEDIA_TOKEN.search(log), "a media-stream token was logged"
    # The simulator signs its media-stream upgrade as Twilio does.
    assert "> X-Twilio-Signature: <redacted>" in log
    assert "> GET /ws/twilio/media/<redacted> HTTP/1.1" in log


async def test_a_realtime_call_logs_its_handshakes_without_the_key() -> None:
    with debug_log() as lines:
        async with asyncio.timeout(60), Sandbox(SCENARIO) as sandbox:
            await sandbox.serve(sandbox.phone.agent("You are a receptionist.", first_message="Hi."))
            report = await (await sandbox.call_in()).ended()
            secrets = [*sandbox_keys(), sandbox.twilio.auth_token]
    assert report["outcome"] == "completed"
    log = "\n".join(lines)
    assert_hidden(log, secrets)
    assert "websockets.client DEBUG > Authorization: Bearer <redacted>" in log  # to OpenAI
    assert "websockets.server DEBUG < Authorization: Bearer <redacted>" in log  # the fake


async def test_a_telnyx_call_logs_its_requests_and_stream_without_the_key_or_token() -> None:
    with debug_log() as lines:
        async with asyncio.timeout(60), Sandbox(SCENARIO, carrier="telnyx") as sandbox:
            await sandbox.serve(sandbox.phone.agent("You are a receptionist.", first_message="Hi."))
            report = await (await sandbox.call_in()).ended()
            secrets = [*sandbox_keys(), sandbox.telnyx.api_key]
    assert report["outcome"] == "completed"
    log = "\n".join(lines)
    for secret in secrets:
        assert secret not in log
    assert not MEDIA_TOKEN.search(log), "a media-stream token was logged"
    assert "/ws/telnyx/media/pcmu/<redacted>" in log
    assert "telnyx._base_client DEBUG" in log  # the SDK's requests were logged, redacted


async def test_a_pipeline_call_logs_its_handshakes_without_the_keys() -> None:
    with debug_log() as lines:
        async with asyncio.timeout(60), Sandbox(SCENARIO) as sandbox:
            agent = sandbox.phone.agent(
                "You are a receptionist.",
                stt=DeepgramSTT(api_key="dg-CANARY-pipeline"),
                tts=ElevenLabsTTS(api_key="el-CANARY-pipeline"),
                llm=OpenAILLM(api_key="sk-CANARY-pipeline"),
                first_message="Hi.",
            )
            await sandbox.serve(agent)
            report = await (await sandbox.call_in()).ended()
            secrets = [*sandbox_keys(), sandbox.twilio.auth_token]
    assert [line["text"] for line in report["transcript"]][-1] == "From nine to five."
    log = "\n".join(lines)
    assert_hidden(log, secrets)
    assert "getpatter.stt.deepgram.websocket DEBUG > Authorization: Token <redacted>" in log
    assert "websockets.server DEBUG < Authorization: Token <redacted>" in log  # the fake
    assert "getpatter.llm.openai DEBUG POST http" in log  # the LLM's requests were logged too


async def test_the_stream_input_tts_logs_its_handshake_without_the_key() -> None:
    key = "xi-CANARY-stream-input"
    with debug_log() as lines:
        async with asyncio.timeout(30), FakeElevenLabsServer(api_key=key, speedup=20) as fake:
            tts = ElevenLabsWebSocketTTS(api_key=key, base_url=fake.base_url)
            audio = [chunk async for chunk in tts.synthesize("Hello.", audio_format="ulaw_8000")]
    assert audio
    log = "\n".join(lines)
    assert key not in log
    assert "websockets.client DEBUG > xi-api-key: <redacted>" in log


async def test_a_convai_call_logs_its_handshakes_without_the_key_or_signature() -> None:
    from getpatter import ElevenLabsConvAI

    engine = ElevenLabsConvAI(api_key="el-CANARY-convai", agent_id="agent_logs")
    with debug_log() as lines:
        async with asyncio.timeout(60), Sandbox(SCENARIO) as sandbox:
            await sandbox.serve(
                sandbox.phone.agent("You are a receptionist.", first_message="Hi.", engine=engine)
            )
            report = await (await sandbox.call_in()).ended()
            secrets = [*sandbox_keys(), sandbox.twilio.auth_token]
            path = sandbox.convai.conversations[0].path
    assert report["outcome"] == "completed"
    log = "\n".join(lines)
    assert_hidden(log, secrets)
    signature = path.split("conversation_signature=")[1].split("&")[0]
    assert len(signature) > 20 and signature not in log
    assert "GET /v1/convai/conversation?agent_id=agent_logs" in log  # the handshake was logged
