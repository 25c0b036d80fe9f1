"""Whisper and OpenAI Transcribe in the sandbox, pointed at :class:`FakeTranscriptionServer`."""

from __future__ import annotations

from getpatter.stt.openai_transcribe import OpenAITranscribeSTT
from getpatter.stt.whisper import WhisperSTT
from getpatter.testing.fake_stt_http.server import FakeTranscriptionServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget
from getpatter.testing.scenario import Scenario

__all__ = ["OFFLINE"]


def _whisper(stt: WhisperSTT, target: SandboxTarget) -> WhisperSTT:
    return WhisperSTT(
        api_key=target.api_key,
        base_url=target.base_url,
        language=stt.language,
        model=stt.model,
        timeout=stt.timeout,
        max_retries=stt.max_retries,
        max_utterance_seconds=stt.max_utterance_seconds,
        filter_hallucinations=stt.filter_hallucinations,
    )


def _transcribe(stt: OpenAITranscribeSTT, target: SandboxTarget) -> OpenAITranscribeSTT:
    return OpenAITranscribeSTT(
        api_key=target.api_key,
        base_url=target.base_url,
        language=stt.language,
        model=stt.model,
        response_format=stt.response_format,  # type: ignore[arg-type]
        timeout=stt.timeout,
        max_retries=stt.max_retries,
        max_utterance_seconds=stt.max_utterance_seconds,
        filter_hallucinations=stt.filter_hallucinations,
    )


def _start(scenario: Scenario, key: str) -> FakeTranscriptionServer:
    return FakeTranscriptionServer(scenario, api_key=key)


OFFLINE = (
    OfflineProvider(WhisperSTT, "openai_transcription", _start, _whisper),
    OfflineProvider(OpenAITranscribeSTT, "openai_transcription", _start, _transcribe),
)
