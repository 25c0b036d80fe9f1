"""Patter: put AI agents on real phone calls, and give other agents the phone as a tool.

``import getpatter`` stays light: audio and text services load on first use, and provider SDKs
load only inside the provider that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from getpatter.audio import mix_pcm, resample_24k_to_16k
    from getpatter.carriers.twilio.adapter import TwilioAdapter
    from getpatter.integrations import PatterTool, PatterToolResult
    from getpatter.pipeline import (
        ChatContext,
        ChatMessage,
        SentenceChunker,
        filter_emoji,
        filter_for_tts,
        filter_markdown,
    )

__version__ = "0.1.0"

# Names loaded on first access, so that importing getpatter does not import numpy.
_LAZY: dict[str, str] = {
    "TwilioAdapter": "getpatter.carriers.twilio.adapter",
    "mix_pcm": "getpatter.audio",
    "resample_24k_to_16k": "getpatter.audio",
    "SentenceChunker": "getpatter.pipeline",
    "filter_markdown": "getpatter.pipeline",
    "filter_emoji": "getpatter.pipeline",
    "filter_for_tts": "getpatter.pipeline",
    "ChatContext": "getpatter.pipeline",
    "ChatMessage": "getpatter.pipeline",
    "PatterTool": "getpatter.integrations",
    "PatterToolResult": "getpatter.integrations",
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
    "Agent",
    "AuthenticationError",
    "CallControl",
    "CallEvent",
    "CallMetrics",
    "ChatContext",
    "ChatMessage",
    "ConfigError",
    "CostBreakdown",
    "DtmfEvent",
    "ElevenLabsConvAI",
    "ErrorCode",
    "EventBus",
    "Guardrail",
    "IncomingMessage",
    "InputValidationError",
    "LatencyBreakdown",
    "OpenAIRealtime",
    "Patter",
    "PatterConnectionError",
    "PatterError",
    "PatterEventType",
    "PatterTool",
    "PatterToolResult",
    "PolicyError",
    "ProvisionError",
    "RateLimitError",
    "STTConfig",
    "SentenceChunker",
    "TTSConfig",
    "Telnyx",
    "Tool",
    "TurnMetrics",
    "Twilio",
    "TwilioAdapter",
    "filter_emoji",
    "filter_for_tts",
    "filter_markdown",
    "format_dtmf",
    "guardrail",
    "mix_pcm",
    "resample_24k_to_16k",
    "tool",
]
