"""Offline ways to run and test agents: terminal test mode, and the loopback sandbox.

The sandbox names (``Sandbox``, ``TwilioSimulator``, ``TelnyxSimulator`` and the fakes of every provider, each
speaking its real wire protocol) load on first use, so that importing test mode stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from getpatter.testing.scenario import (
    Callee,
    HangUp,
    Menu,
    Press,
    Reply,
    Say,
    Scenario,
    ToolCall,
)
from getpatter.testing.terminal import ScriptedLines, StdinLines, TerminalCall

if TYPE_CHECKING:
    from getpatter.testing.fake_convai import FakeConvAIServer
    from getpatter.testing.fake_deepgram import FakeDeepgramServer
    from getpatter.testing.fake_llm import FakeAnthropicServer, FakeOpenAIServer
    from getpatter.testing.fake_realtime import FakeRealtimeServer
    from getpatter.testing.fake_tts import FakeElevenLabsServer, FakeOpenAITTSServer
    from getpatter.testing.sandbox import Sandbox, SandboxCall
    from getpatter.testing.telnyx_simulator import TelnyxSimulator
    from getpatter.testing.twilio_simulator import SimulatedCall, TwilioSimulator

_LAZY = {
    "Sandbox": "getpatter.testing.sandbox",
    "SandboxCall": "getpatter.testing.sandbox",
    "TwilioSimulator": "getpatter.testing.twilio_simulator",
    "TelnyxSimulator": "getpatter.testing.telnyx_simulator",
    "SimulatedCall": "getpatter.testing.twilio_simulator",
    "FakeRealtimeServer": "getpatter.testing.fake_realtime",
    "FakeConvAIServer": "getpatter.testing.fake_convai",
    "FakeDeepgramServer": "getpatter.testing.fake_deepgram",
    "FakeOpenAIServer": "getpatter.testing.fake_llm",
    "FakeAnthropicServer": "getpatter.testing.fake_llm",
    "FakeElevenLabsServer": "getpatter.testing.fake_tts",
    "FakeOpenAITTSServer": "getpatter.testing.fake_tts",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'getpatter.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Callee",
    "FakeAnthropicServer",
    "FakeConvAIServer",
    "FakeDeepgramServer",
    "FakeElevenLabsServer",
    "FakeOpenAIServer",
    "FakeOpenAITTSServer",
    "FakeRealtimeServer",
    "HangUp",
    "Menu",
    "Press",
    "Reply",
    "Sandbox",
    "SandboxCall",
    "Say",
    "Scenario",
    "ScriptedLines",
    "SimulatedCall",
    "StdinLines",
    "TelnyxSimulator",
    "TerminalCall",
    "ToolCall",
    "TwilioSimulator",
]
