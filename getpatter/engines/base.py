"""What a call session needs from an end-to-end (speech-to-speech) engine.

An engine connection serves one call. The session tells it what the caller says (audio in the
carrier's native format, DTMF as text) and what to do (greet, stop talking, return a tool
result); the engine reports what happens as :data:`EngineEvent` values from :meth:`events`.
Nothing outside the engine's module knows its wire protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from getpatter.audio.formats import AudioFormat
from getpatter.call import CallControl
from getpatter.engines.capabilities import EngineCapabilities
from getpatter.errors import ConfigError
from getpatter.observability.cost import PipelineUsage, RealtimeUsage
from getpatter.observability.metrics import LatencyBreakdown

__all__ = [
    "VERBATIM_PREFIX",
    "AgentAudio",
    "AgentInterrupted",
    "AgentTextDelta",
    "AgentTranscript",
    "AudioFormat",
    "Engine",
    "EngineCapabilities",
    "EngineClosed",
    "EngineConfig",
    "EngineError",
    "EngineEvent",
    "EngineFactory",
    "ResponseDone",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCallRequest",
    "UserTranscript",
    "UserTranscriptPartial",
]

#: How an engine asks its model to speak a text verbatim (greeting, voicemail, ``say``). The
#: sandbox's fake model, like an obedient real one, says exactly the text after this prefix.
VERBATIM_PREFIX = "Say exactly the following text, word for word, and nothing else: "


@dataclass(frozen=True)
class EngineConfig:
    """Everything an engine needs to run one call."""

    instructions: str
    voice: str
    model: str
    language: str = "en"
    audio_format: AudioFormat = "ulaw_8000"
    tools: tuple[dict[str, Any], ...] = ()
    """Tool declarations for the model: dicts with ``name``, ``description``, ``parameters``."""
    call_id: str = ""
    caller: str = ""
    callee: str = ""
    control: CallControl | None = None
    """The call's :class:`CallControl`, for user code the engine runs (``on_message``)."""
    play_now: Callable[[AgentAudio], Awaitable[bool]] | None = None
    """The call session's shortcut for agent audio. An engine whose :meth:`Engine.events` has
    nothing waiting may ``await play_now(audio)`` from its own task instead of emitting the
    audio: the session handles it at once and returns True, or returns False (it is busy with
    an event) and the engine emits it as usual. It spares the event-loop iteration the
    session's task needs to wake up: under load, the time other calls' work takes."""
    stream_agent_text: bool = False
    """Emit :class:`AgentTextDelta` events (engines that declare ``streams_agent_text``, and
    pipelines: one per LLM chunk)."""
    stream_partial_transcripts: bool = False
    """Emit :class:`UserTranscriptPartial` events (pipelines: each interim STT result). Off
    unless someone listens: each event costs the session a wakeup."""
    greeting: str = ""
    """The first message, for engines that declare ``greets_itself`` ("" for none)."""
    variables: dict[str, str] = field(default_factory=dict)
    """The agent's variables for this call (already substituted into ``instructions``)."""
    has_system_prompt: bool = True
    """False when the user gave no system prompt: an engine whose agent is configured
    elsewhere then keeps that agent's own prompt."""


@dataclass(frozen=True)
class AgentAudio:
    """A chunk of the agent's speech, in the configured audio format."""

    item_id: str
    audio: bytes


@dataclass(frozen=True)
class SpeechStarted:
    """The engine's VAD heard the caller start speaking."""


@dataclass(frozen=True)
class SpeechStopped:
    """The engine's VAD heard the caller stop speaking (end of the caller's turn).

    ``ago_ms``: how long before this event the caller actually stopped (a pipeline learns the
    end of speech from its STT's word timings only once the final transcript arrives).
    """

    ago_ms: float = 0.0


@dataclass(frozen=True)
class UserTranscript:
    """The final transcript of one caller utterance."""

    text: str
    confidence: float | None = None
    """The STT's confidence in it (0-1) when it gives one: the lowest of the finals joined."""


@dataclass(frozen=True)
class UserTranscriptPartial:
    """What the caller is saying so far (an interim speech-to-text result; it may change)."""

    text: str


@dataclass(frozen=True)
class AgentTranscript:
    """The final transcript of one agent message (``item_id`` matches its audio)."""

    item_id: str
    text: str
    generated_chars: int | None = None
    """How many characters the model generated for the message, when the engine knows: more
    than ``text`` holds when a barge-in cut the message short (``text`` is then what the
    caller heard). ``None`` when the engine cannot tell."""


@dataclass(frozen=True)
class AgentTextDelta:
    """More text of the agent message ``item_id``, as the model generates it (ahead of or
    alongside its audio)."""

    item_id: str
    text: str


@dataclass(frozen=True)
class AgentInterrupted:
    """The engine stopped the agent because the caller talked over it (engines that
    declare ``decides_interruptions``): what it already sent is not to be played."""

    item_id: str = ""


@dataclass(frozen=True)
class ToolCallRequest:
    """The model asks to run a tool; answer with :meth:`Engine.send_tool_result`."""

    call_id: str
    name: str
    arguments: str
    """The arguments as the model produced them: a JSON object, as text."""


@dataclass(frozen=True)
class ResponseDone:
    """The model finished (or abandoned) one response."""

    status: str
    """``completed``, ``cancelled``, ``failed`` or ``incomplete``."""
    usage: RealtimeUsage | None = None
    pipeline_usage: PipelineUsage | None = None
    """What a pipeline response used (STT audio, LLM tokens, TTS characters)."""
    latency: LatencyBreakdown | None = None
    """Stage latencies a pipeline measured for this turn; the session adds ``total_ms``."""


@dataclass(frozen=True)
class EngineError:
    """The provider reported an error. ``fatal`` errors end the session.

    ``source`` names the part that failed: ``engine`` (a speech-to-speech model), or a
    pipeline's ``stt``, ``llm`` (or ``on_message``) and ``tts``.
    """

    message: str
    fatal: bool = False
    code: str = ""
    source: str = "engine"


@dataclass(frozen=True)
class EngineClosed:
    """The connection ended. Always the last event; ``error`` is set when it ended abnormally."""

    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    """The engine ended the conversation on purpose (its agent said goodbye): the call is
    complete, and the session hangs up."""


EngineEvent = (
    AgentAudio
    | AgentInterrupted
    | AgentTextDelta
    | SpeechStarted
    | SpeechStopped
    | UserTranscript
    | UserTranscriptPartial
    | AgentTranscript
    | ToolCallRequest
    | ResponseDone
    | EngineError
    | EngineClosed
)


class Engine(Protocol):
    """One call's connection to a speech-to-speech engine."""

    capabilities: EngineCapabilities
    """What the engine does by itself (see :class:`EngineCapabilities`)."""

    async def connect(self, config: EngineConfig) -> None:
        """Open the connection and configure the session; raise ``PatterError`` on failure."""
        ...

    async def send_audio(self, audio: bytes) -> None:
        """Forward caller audio, in ``config.audio_format``."""
        ...

    async def send_user_text(self, text: str) -> None:
        """Add caller text (such as ``[DTMF: 5]``) to the conversation and ask for a reply."""
        ...

    async def say(self, text: str) -> None:
        """Make the agent speak ``text`` verbatim now (greeting, voicemail)."""
        ...

    async def instruct(self, instruction: str) -> None:
        """Add a system instruction to the conversation; it shapes the agent's next replies."""
        ...

    async def interrupt(self, item_id: str, played_ms: int) -> None:
        """Barge-in: stop the current response; the caller heard ``played_ms`` of ``item_id``."""
        ...

    async def send_tool_result(self, call_id: str, output: str) -> None:
        """Return a tool's result to the model and let it continue."""
        ...

    def events(self) -> AsyncIterator[EngineEvent]:
        """The engine's events in order, ending with exactly one :class:`EngineClosed`."""
        ...

    async def close(self) -> None:
        """Close the connection. Safe to call more than once."""
        ...


class EngineFactory:
    """How to open each call's engine: the audio formats it takes as they are, and what it
    can do (:class:`EngineCapabilities`, known before any call so callers can act on it).

    ``audio_formats`` (best first) is known before any engine is built, so a carrier can
    choose the format it streams a call in when it answers; an engine given another format
    is fed through a converter.
    """

    __slots__ = ("_create", "audio_formats", "capabilities", "name")

    def __init__(
        self,
        create: Callable[[], Engine],
        audio_formats: tuple[AudioFormat, ...],
        capabilities: EngineCapabilities | None = None,
        *,
        name: str = "engine",
    ) -> None:
        if not audio_formats:
            raise ValueError("an engine takes at least one audio format")
        self._create = create
        self.audio_formats = audio_formats
        self.capabilities = capabilities if capabilities is not None else EngineCapabilities()
        self.name = name
        """How errors name the engine, e.g. ``"OpenAI Realtime"``."""

    def __call__(self) -> Engine:
        """A new, unconnected engine for one call."""
        return self._create()

    def require(self, ability: str, action: str, *, whose: str = "") -> None:
        """Raise :class:`ConfigError` when the engine lacks ``ability`` (a capability name).

        The message names the engine and ``action`` (what was asked, e.g. "speak a text
        verbatim"); ``whose`` ends the engine's description (e.g. " of call CA12").
        """
        if not getattr(self.capabilities, ability):
            raise ConfigError(f"the {self.name} engine{whose} cannot {action}")
