"""The text-to-speech providers in the sandbox, each pointed at the fake of its API."""

from __future__ import annotations

from getpatter.testing.fake_tts.elevenlabs import FakeElevenLabsServer
from getpatter.testing.fake_tts.openai import FakeOpenAITTSServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget
from getpatter.testing.scenario import Scenario
from getpatter.tts.elevenlabs import ElevenLabsTTS
from getpatter.tts.elevenlabs_ws import ElevenLabsWebSocketTTS
from getpatter.tts.openai import OpenAITTS

__all__ = ["OFFLINE"]


def _elevenlabs(tts: ElevenLabsTTS, target: SandboxTarget) -> ElevenLabsTTS:
    return ElevenLabsTTS(
        api_key=target.api_key,
        base_url=target.base_url,
        voice_id=tts.voice,
        model_id=tts.model_id,
        output_format=tts.output_format,
        voice_settings=tts.voice_settings,
        language_code=tts.language_code,
        stall_timeout=target.tts_stall_timeout,
    )


def _elevenlabs_ws(tts: ElevenLabsWebSocketTTS, target: SandboxTarget) -> ElevenLabsWebSocketTTS:
    return ElevenLabsWebSocketTTS(
        api_key=target.api_key,
        base_url=target.base_url,
        voice_id=tts.voice,
        model_id=tts.model_id,
        output_format=tts.output_format,
        voice_settings=tts.voice_settings,
        language_code=tts.language_code,
        auto_mode=tts.auto_mode,
        chunk_length_schedule=tts.chunk_length_schedule,
        frame_timeout=target.tts_stall_timeout,
    )


def _openai(tts: OpenAITTS, target: SandboxTarget) -> OpenAITTS:
    return OpenAITTS(
        api_key=target.api_key,
        base_url=target.base_url,
        voice=tts.voice,
        model=tts.model,
        speed=tts.speed,
        instructions=tts.instructions,
        stall_timeout=target.tts_stall_timeout,
    )


def _elevenlabs_fake(scenario: Scenario, key: str) -> FakeElevenLabsServer:
    return FakeElevenLabsServer(scenario, api_key=key)


OFFLINE = (
    OfflineProvider(ElevenLabsTTS, "elevenlabs", _elevenlabs_fake, _elevenlabs),
    OfflineProvider(ElevenLabsWebSocketTTS, "elevenlabs", _elevenlabs_fake, _elevenlabs_ws),
    OfflineProvider(
        OpenAITTS,
        "openai_tts",
        lambda scenario, key: FakeOpenAITTSServer(scenario, api_key=key),
        _openai,
    ),
)
