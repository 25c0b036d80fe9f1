"""STT and TTS failover: the real Deepgram, ElevenLabs and OpenAI TTS clients against their
fakes, with one service failing."""

from __future__ import annotations

import asyncio

import pytest

from getpatter.errors import ConfigError
from getpatter.providers.fallback import ANSWERED_BY, AllProvidersFailedError, PartialStreamError
from getpatter.stt.base import Transcript
from getpatter.stt.deepgram import DeepgramSTT
from getpatter.stt.fallback import FallbackSTTProvider
from getpatter.testing.fake_deepgram import FakeDeepgramServer
from getpatter.testing.fake_tts import FakeElevenLabsServer, FakeOpenAITTSServer
from getpatter.testing.phone_network.sound import SILENCE, speech
from getpatter.testing.scenario import Callee, Say, Scenario
from getpatter.tts.elevenlabs import ElevenLabsTTS
from getpatter.tts.fallback import FallbackTTSProvider
from getpatter.tts.openai import OpenAITTS

DG_KEY = "dg-CANARY-fallback"
EL_KEY = "el-CANARY-fallback"
OA_KEY = "sk-CANARY-fallback"
LINES = ("book a table", "for two")
SCENARIO = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))


async def speak(tts: FallbackTTSProvider, text: str = "Hello there.") -> bytes:
    audio = b""
    async for chunk in tts.synthesize(text, audio_format="ulaw_8000"):
        audio += chunk
    return audio


async def test_a_tts_that_fails_before_audio_hands_the_sentence_to_the_next() -> None:
    async with (
        FakeElevenLabsServer(SCENARIO, api_key=EL_KEY) as eleven,
        FakeOpenAITTSServer(SCENARIO, api_key=OA_KEY) as openai,
    ):
        primary = ElevenLabsTTS(api_key=EL_KEY, base_url=eleven.base_url)
        backup = OpenAITTS(api_key=OA_KEY, base_url=openai.base_url)
        tts = FallbackTTSProvider([primary, backup])
        assert tts.capabilities.output_formats[0] == "ulaw_8000"
        eleven.fail_next(503)
        audio = await speak(tts)
        assert ANSWERED_BY.get() == "openai_tts"
        # OpenAI speaks 24 kHz PCM only: converted to the μ-law asked for (8 bytes a ms).
        assert openai.requests[0].output_format == "pcm"
        assert abs(len(audio) - 8 * SCENARIO.speech_ms("Hello there.")) <= 80
        # The primary is cooling down: the next sentence goes to the backup first.
        await speak(tts)
        assert eleven.requests == [] and len(openai.requests) == 2  # (refusals are not recorded)
        tts._order.succeeded(0)
        await speak(tts)
        assert (
            ANSWERED_BY.get() == "elevenlabs" and eleven.requests[-1].output_format == "ulaw_8000"
        )
        await tts.close()


async def test_tts_failures_after_audio_or_everywhere_are_reported() -> None:
    async with (
        FakeElevenLabsServer(SCENARIO, api_key=EL_KEY) as eleven,
        FakeOpenAITTSServer(SCENARIO, api_key=OA_KEY) as openai,
    ):
        primary = ElevenLabsTTS(api_key=EL_KEY, base_url=eleven.base_url, stall_timeout=0.5)
        backup = OpenAITTS(api_key=OA_KEY, base_url=openai.base_url)
        tts = FallbackTTSProvider([primary, backup], cooldown=0)
        eleven.stall_next(after_bytes=800, seconds=5)
        with pytest.raises(PartialStreamError, match="elevenlabs TTS failed mid-sentence"):
            await speak(tts)
        assert openai.requests == []  # half a sentence was heard: not repeated
        eleven.fail_next(401)
        openai.fail_next(429)
        with pytest.raises(AllProvidersFailedError, match="every TTS failed") as failed:
            await speak(tts)
        assert [name for name, _ in failed.value.errors] == ["elevenlabs", "openai_tts"]
        assert "CANARY" not in str(failed.value)
        await tts.close()


def test_fallbacks_need_two_providers_of_one_kind() -> None:
    tts = OpenAITTS(api_key=OA_KEY)
    with pytest.raises(ConfigError, match="two or more TTS providers"):
        FallbackTTSProvider([tts])
    with pytest.raises(ConfigError, match=r"providers\[1\] must be one of the STT providers"):
        FallbackSTTProvider([DeepgramSTT(api_key=DG_KEY), tts])  # type: ignore[list-item]


def utterance() -> bytes:
    return speech(900) + bytes([SILENCE]) * 8 * 1300


async def test_a_call_moves_to_the_next_stt_when_its_stream_drops() -> None:
    async with (
        FakeDeepgramServer(SCENARIO, api_key=DG_KEY) as first,
        FakeDeepgramServer(SCENARIO, api_key=DG_KEY) as second,
    ):
        stt = FallbackSTTProvider(
            [
                DeepgramSTT(api_key=DG_KEY, base_url=first.base_url),
                DeepgramSTT(api_key=DG_KEY, base_url=second.base_url),
            ]
        )
        stream = stt.open_stream(audio_format="ulaw_8000")
        await stream.connect()
        finals: list[str] = []
        got_final = asyncio.Event()

        async def read() -> None:
            async for event in stream.receive_transcripts():
                if isinstance(event, Transcript) and event.is_final and event.text:
                    finals.append(event.text)
                    got_final.set()

        reader = asyncio.create_task(read())
        audio = utterance()
        half = len(audio) // 4  # the caller is mid-word when the first service drops
        for offset in range(0, half, 160):
            await stream.send_audio(audio[offset : offset + 160])
        await first.drop()
        async with asyncio.timeout(5):
            while stream.provider_name == "" or not second.sessions:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        for offset in range(half, len(audio), 160):
            await stream.send_audio(audio[offset : offset + 160])
        async with asyncio.timeout(5):
            await got_final.wait()
        # The second service heard the replayed start of the utterance, so the words were kept.
        assert finals == [LINES[0]]
        assert second.sessions[0].audio_bytes >= len(audio) - half
        await stream.close()
        await asyncio.wait_for(reader, 5)


async def test_the_stream_raises_when_every_stt_is_down() -> None:
    async with FakeDeepgramServer(SCENARIO, api_key=DG_KEY) as fake:
        stt = FallbackSTTProvider(
            [
                DeepgramSTT(api_key="dg-CANARY-wrong", base_url=fake.base_url),
                DeepgramSTT(api_key="dg-CANARY-wrong-too", base_url=fake.base_url),
            ]
        )
        stream = stt.open_stream(audio_format="ulaw_8000")
        with pytest.raises(AllProvidersFailedError, match="every STT failed"):
            await stream.connect()
