"""Patter: put AI agents on real phone calls, and give other agents the phone as a tool.

``import getpatter`` stays light: audio and text services load on first use, and provider SDKs
load only inside the provider that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from getpatter import _redaction
from getpatter._redaction import RedactSecrets
from getpatter.agent import Agent, STTConfig, TTSConfig
from getpatter.call import CallControl, CallEvent, IncomingMessage
from getpatter.carriers.telnyx import Carrier as Telnyx
from getpatter.carriers.twilio import Carrier as Twilio
from getpatter.client import Patter
from getpatter.dtmf import DtmfEvent, format_dtmf
from getpatter.engines.elevenlabs import ConvAI as ElevenLabsConvAI
from getpatter.engines.openai import Realtime as OpenAIRealtime
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    PatterError,
    PolicyError,
    ProvisionError,
    RateLimitError,
)
from getpatter.guardrails import Guardrail, guardrail
from getpatter.observability.events import EventBus, PatterEventType
from getpatter.observability.metrics import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
)
from getpatter.tools import Tool, tool

# Secrets stay out of every log, third-party loggers included, with nothing for the user to do.
_redaction.install()

if TYPE_CHECKING:
    from getpatter.audio import mix_pcm, resample_24k_to_16k
    from getpatter.audio.background import (
        BackgroundAudioPlayer,
        BuiltinAudioClip,
        builtin_clip_path,
        select_sound_from_list,
    )
    from getpatter.audio.filters import AudioFilter
    from getpatter.audio.highpass import HighPassFilter
    from getpatter.audio.noise_gate import NoiseGate
    from getpatter.carriers.telnyx.adapter import TelnyxAdapter
    from getpatter.carriers.twilio.adapter import TwilioAdapter
    from getpatter.integrations import PatterTool, PatterToolResult
    from getpatter.ivr import IVRActivity, IVREvent, TfidfLoopDetector
    from getpatter.llm.anthropic import AnthropicLLM
    from getpatter.llm.base import LLMChunk
    from getpatter.llm.cerebras import CerebrasLLM
    from getpatter.llm.fallback import (
        AllProvidersFailedError,
        FallbackLLMProvider,
        PartialStreamError,
    )
    from getpatter.llm.google import GoogleLLM
    from getpatter.llm.groq import GroqLLM
    from getpatter.llm.openai import OpenAILLM
    from getpatter.observability.tracing.tracer import (
        SPAN_BARGEIN,
        SPAN_CALL,
        SPAN_ENDPOINT,
        SPAN_LLM,
        SPAN_STT,
        SPAN_TOOL,
        SPAN_TTS,
        init_tracing,
        is_tracing_enabled,
        start_span,
    )
    from getpatter.pipeline import (
        ChatContext,
        ChatMessage,
        SentenceChunker,
        filter_emoji,
        filter_for_tts,
        filter_markdown,
    )
    from getpatter.pipeline.brains import MessageWebhook
    from getpatter.pipeline.hooks import HookContext, PipelineHookExecutor, PipelineHooks
    from getpatter.scheduling import (
        ScheduleHandle,
        schedule_cron,
        schedule_interval,
        schedule_once,
    )
    from getpatter.stt.assemblyai import AssemblyAISTT
    from getpatter.stt.cartesia import CartesiaSTT
    from getpatter.stt.deepgram import DeepgramSTT
    from getpatter.stt.fallback import FallbackSTTProvider
    from getpatter.stt.openai_transcribe import OpenAITranscribeSTT
    from getpatter.stt.soniox import SonioxSTT
    from getpatter.stt.speechmatics import SpeechmaticsSTT
    from getpatter.stt.whisper import WhisperSTT
    from getpatter.tool_calls import DefaultToolExecutor
    from getpatter.tts.cartesia import CartesiaTTS
    from getpatter.tts.elevenlabs import ElevenLabsTTS
    from getpatter.tts.elevenlabs_ws import ElevenLabsWebSocketTTS
    from getpatter.tts.fallback import FallbackTTSProvider
    from getpatter.tts.lmnt import LMNTTTS
    from getpatter.tts.openai import OpenAITTS
    from getpatter.tts.rime import RimeTTS
    from getpatter.vad.silero import SileroVAD

__version__ = "0.1.0"

# Names loaded on first access, so that importing getpatter does not import numpy.
_LAZY: dict[str, str] = {
    "TelnyxAdapter": "getpatter.carriers.telnyx.adapter",
    "TwilioAdapter": "getpatter.carriers.twilio.adapter",
    "mix_pcm": "getpatter.audio",
    "resample_24k_to_16k": "getpatter.audio",
    "AudioFilter": "getpatter.audio.filters",
    "HighPassFilter": "getpatter.audio.highpass",
    "NoiseGate": "getpatter.audio.noise_gate",
    "BackgroundAudioPlayer": "getpatter.audio.background",
    "BuiltinAudioClip": "getpatter.audio.background",
    "builtin_clip_path": "getpatter.audio.background",
    "select_sound_from_list": "getpatter.audio.background",
    "SentenceChunker": "getpatter.pipeline",
    "filter_markdown": "getpatter.pipeline",
    "filter_emoji": "getpatter.pipeline",
    "filter_for_tts": "getpatter.pipeline",
    "ChatContext": "getpatter.pipeline",
    "ChatMessage": "getpatter.pipeline",
    "PatterTool": "getpatter.integrations",
    "DeepgramSTT": "getpatter.stt.deepgram",
    "AssemblyAISTT": "getpatter.stt.assemblyai",
    "SonioxSTT": "getpatter.stt.soniox",
    "CartesiaSTT": "getpatter.stt.cartesia",
    "SpeechmaticsSTT": "getpatter.stt.speechmatics",
    "WhisperSTT": "getpatter.stt.whisper",
    "OpenAITranscribeSTT": "getpatter.stt.openai_transcribe",
    "OpenAILLM": "getpatter.llm.openai",
    "AnthropicLLM": "getpatter.llm.anthropic",
    "GroqLLM": "getpatter.llm.groq",
    "CerebrasLLM": "getpatter.llm.cerebras",
    "GoogleLLM": "getpatter.llm.google",
    "LLMChunk": "getpatter.llm.base",
    "DefaultToolExecutor": "getpatter.tool_calls",
    "FallbackLLMProvider": "getpatter.llm.fallback",
    "AllProvidersFailedError": "getpatter.llm.fallback",
    "PartialStreamError": "getpatter.llm.fallback",
    "FallbackSTTProvider": "getpatter.stt.fallback",
    "FallbackTTSProvider": "getpatter.tts.fallback",
    "ElevenLabsTTS": "getpatter.tts.elevenlabs",
    "ElevenLabsWebSocketTTS": "getpatter.tts.elevenlabs_ws",
    "OpenAITTS": "getpatter.tts.openai",
    "CartesiaTTS": "getpatter.tts.cartesia",
    "RimeTTS": "getpatter.tts.rime",
    "LMNTTTS": "getpatter.tts.lmnt",
    "SileroVAD": "getpatter.vad.silero",
    "PipelineHooks": "getpatter.pipeline.hooks",
    "HookContext": "getpatter.pipeline.hooks",
    "PipelineHookExecutor": "getpatter.pipeline.hooks",
    "MessageWebhook": "getpatter.pipeline.brains",
    "PatterToolResult": "getpatter.integrations",
    "ScheduleHandle": "getpatter.scheduling",
    "schedule_once": "getpatter.scheduling",
    "schedule_interval": "getpatter.scheduling",
    "schedule_cron": "getpatter.scheduling",
    "IVRActivity": "getpatter.ivr",
    "IVREvent": "getpatter.ivr",
    "TfidfLoopDetector": "getpatter.ivr",
    "init_tracing": "getpatter.observability.tracing.tracer",
    "is_tracing_enabled": "getpatter.observability.tracing.tracer",
    "start_span": "getpatter.observability.tracing.tracer",
    "SPAN_CALL": "getpatter.observability.tracing.tracer",
    "SPAN_STT": "getpatter.observability.tracing.tracer",
    "SPAN_LLM": "getpatter.observability.tracing.tracer",
    "SPAN_TTS": "getpatter.observability.tracing.tracer",
    "SPAN_TOOL": "getpatter.observability.tracing.tracer",
    "SPAN_ENDPOINT": "getpatter.observability.tracing.tracer",
    "SPAN_BARGEIN": "getpatter.observability.tracing.tracer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'getpatter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "LMNTTTS",
    "SPAN_BARGEIN",
    "SPAN_CALL",
    "SPAN_ENDPOINT",
    "SPAN_LLM",
    "SPAN_STT",
    "SPAN_TOOL",
    "SPAN_TTS",
    "Agent",
    "AllProvidersFailedError",
    "AnthropicLLM",
    "AssemblyAISTT",
    "AudioFilter",
    "AuthenticationError",
    "BackgroundAudioPlayer",
    "BuiltinAudioClip",
    "CallControl",
    "CallEvent",
    "CallMetrics",
    "CartesiaSTT",
    "CartesiaTTS",
    "CerebrasLLM",
    "ChatContext",
    "ChatMessage",
    "ConfigError",
    "CostBreakdown",
    "DeepgramSTT",
    "DefaultToolExecutor",
    "DtmfEvent",
    "ElevenLabsConvAI",
    "ElevenLabsTTS",
    "ElevenLabsWebSocketTTS",
    "ErrorCode",
    "EventBus",
    "FallbackLLMProvider",
    "FallbackSTTProvider",
    "FallbackTTSProvider",
    "GoogleLLM",
    "GroqLLM",
    "Guardrail",
    "HighPassFilter",
    "HookContext",
    "IVRActivity",
    "IVREvent",
    "IncomingMessage",
    "InputValidationError",
    "LLMChunk",
    "LatencyBreakdown",
    "MessageWebhook",
    "NoiseGate",
    "OpenAILLM",
    "OpenAIRealtime",
    "OpenAITTS",
    "OpenAITranscribeSTT",
    "PartialStreamError",
    "Patter",
    "PatterConnectionError",
    "PatterError",
    "PatterEventType",
    "PatterTool",
    "PatterToolResult",
    "PipelineHookExecutor",
    "PipelineHooks",
    "PolicyError",
    "ProvisionError",
    "RateLimitError",
    "RedactSecrets",
    "RimeTTS",
    "STTConfig",
    "ScheduleHandle",
    "SentenceChunker",
    "SileroVAD",
    "SonioxSTT",
    "SpeechmaticsSTT",
    "TTSConfig",
    "Telnyx",
    "TelnyxAdapter",
    "TfidfLoopDetector",
    "Tool",
    "TurnMetrics",
    "Twilio",
    "TwilioAdapter",
    "WhisperSTT",
    "builtin_clip_path",
    "filter_emoji",
    "filter_for_tts",
    "filter_markdown",
    "format_dtmf",
    "guardrail",
    "init_tracing",
    "is_tracing_enabled",
    "mix_pcm",
    "resample_24k_to_16k",
    "schedule_cron",
    "schedule_interval",
    "schedule_once",
    "select_sound_from_list",
    "start_span",
    "tool",
]
