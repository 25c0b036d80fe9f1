"""What the fake ConvAI server knows about its agents and records about each conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from getpatter.testing.scenario import Scenario

__all__ = ["AgentReply", "FakeAgent", "FakeConversation", "ToolResult"]

AUDIO_FORMATS = ("ulaw_8000", "pcm_8000", "pcm_16000", "pcm_24000", "pcm_48000")
"""The agent audio formats the fake speaks (ElevenLabs also has ``pcm_22050`` and ``pcm_44100``)."""


@dataclass(frozen=True)
class FakeAgent:
    """An agent registered on the fake with :meth:`FakeConvAIServer.add_agent`.

    ``allow_overrides`` holds the dotted paths of ``conversation_config_override`` the agent's
    security settings allow, e.g. ``"agent.first_message"``, ``"agent.prompt.prompt"``,
    ``"agent.language"``, ``"tts.voice_id"``.
    """

    agent_id: str
    private: bool = False
    audio_format: str = "ulaw_8000"
    input_audio_format: str = "ulaw_8000"
    first_message: str = ""
    prompt: str = ""
    language: str = "en"
    voice_id: str = ""
    allow_overrides: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ToolResult:
    """A ``client_tool_result`` the client sent for one of the fake's ``client_tool_call``."""

    tool_call_id: str
    tool_name: str
    result: Any
    is_error: bool


@dataclass
class AgentReply:
    """One agent turn: ``text`` as sent in ``agent_response``, updated as it is spoken.

    ``audio_ms`` is how much audio was sent. After an interruption ``interrupted`` is set and
    ``heard`` is the ``corrected_agent_response``; otherwise ``heard`` is ``text``.
    """

    text: str
    audio_ms: int = 0
    interrupted: bool = False
    heard: str = ""


@dataclass
class FakeConversation:
    """What happened on one WebSocket conversation, for assertions.

    ``client_data`` is the ``conversation_initiation_client_data`` message (None when the client
    sent none); ``first_message``, ``prompt``, ``language`` and ``voice_id`` are the effective
    settings after overrides and ``{{dynamic_variables}}``. ``received`` holds every client
    message except ``user_audio_chunk``, whose audio is summed up in ``audio_received_ms``.
    ``refused`` is the close reason when the conversation was refused (a forbidden override).
    """

    index: int
    agent_id: str
    conversation_id: str
    path: str
    signed: bool
    scenario: Scenario = field(default_factory=Scenario)
    client_data: dict[str, Any] | None = None
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    first_message: str = ""
    prompt: str = ""
    language: str = ""
    voice_id: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    audio_received_ms: int = 0
    transcripts: list[str] = field(default_factory=list)
    replies: list[AgentReply] = field(default_factory=list)
    interruptions: list[int] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    contextual_updates: list[str] = field(default_factory=list)
    user_messages: list[str] = field(default_factory=list)
    pongs: list[int] = field(default_factory=list)
    refused: str = ""
    closed: bool = False
    dropped: bool = False
