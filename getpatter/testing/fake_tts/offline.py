"""The text-to-speech providers in the sandbox, each pointed at the fake of its API."""

from __future__ import annotations

from getpatter.testing.fake_tts.cartesia import FakeCartesiaServer
from getpatter.testing.fake_tts.elevenlabs import FakeElevenLabsServer
from getpatter.testing.fake_tts.lmnt import FakeLMNTServer
from getpatter.testing.fake_tts.openai import FakeOpenAITTSServer
from getpatter.testing.fake_tts.rime import FakeRimeServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget
from getpatter.testing.scenario import Scenario
from getpatter.tts.cartesia import CartesiaTTS
from getpatter.tts.elevenlabs import ElevenLabsTTS
from getpatter.tts.elevenlabs_ws import ElevenLabsWebSocketTTS
from getpatter.tts.lmnt import LMNTTTS
from getpatter.tts.openai import OpenAITTS
from getpatter.tts.rime import RimeTTS

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


def _cartesia(tts: CartesiaTTS, target: SandboxTarget) -> CartesiaTTS:
    return CartesiaTTS(
        api_key=target.api_key,
        base_url=target.base_url,
        model=tts.model,
        voice=tts.voice,
        language=tts.language,
        encoding=tts.encoding,
        sample_rate=tts.sample_rate,
        speed=tts.speed,
        emotion=tts.emotion,
        volume=tts.volume,
        frame_timeout=target.tts_stall_timeout,
    )


def _rime(tts: RimeTTS, target: SandboxTarget) -> RimeTTS:
    return RimeTTS(
        api_key=target.api_key,
        base_url=target.base_url,
        model=tts.model,
        speaker=tts.voice,
        lang=tts.lang,
        sample_rate=tts.sample_rate,
        stall_timeout=target.tts_stall_timeout,
        **tts.model_options,
    )


def _lmnt(tts: LMNTTTS, target: SandboxTarget) -> LMNTTTS:
    return LMNTTTS(
        api_key=target.api_key,
        base_url=target.base_url,
        model=tts.model,
        voice=tts.voice,
        language=tts.language,
        format=tts.format,
        sample_rate=tts.sample_rate,
        temperature=tts.temperature,
        top_p=tts.top_p,
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
    OfflineProvider(
        CartesiaTTS,
        "cartesia_tts",
        lambda scenario, key: FakeCartesiaServer(scenario, api_key=key),
        _cartesia,
    ),
    OfflineProvider(
        RimeTTS, "rime", lambda scenario, key: FakeRimeServer(scenario, api_key=key), _rime
    ),
    OfflineProvider(
        LMNTTTS, "lmnt", lambda scenario, key: FakeLMNTServer(scenario, api_key=key), _lmnt
    ),
)
