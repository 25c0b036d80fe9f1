"""What happens on a call, as typed events: the one vocabulary every observer reads.

A call session publishes these on its server's :class:`~getpatter.calls.stream.CallEventStream`;
the public :class:`~getpatter.observability.events.EventBus`, user callbacks, the call-control
service and the call store subscribe to it. Each event knows its
:class:`~getpatter.observability.events.PatterEventType` and the dict ``payload()`` the bus and the
callbacks deliver (spec 06, EV and EB), so those keep their documented shapes.

Events are frozen: a subscriber cannot change what another one sees. ``at`` is when it
happened, in Unix seconds (``time.time()``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from getpatter.observability.events import PatterEventType

if TYPE_CHECKING:
    from getpatter.calls.report import CallReport
    from getpatter.dtmf import DtmfEvent
    from getpatter.observability.metrics import CostBreakdown, TurnMetrics

__all__ = [
    "AgentAudioSent",
    "AgentSpeechStarted",
    "AgentTextChunk",
    "BargeIn",
    "CallEnded",
    "CallError",
    "CallEvent",
    "CallPlaced",
    "CallStarted",
    "CallStatusChanged",
    "CallTransferred",
    "GuardrailBlocked",
    "KeyPressed",
    "RecordingReady",
    "ToolFinished",
    "ToolStarted",
    "TranscriptFinal",
    "TranscriptPartial",
    "TransferFinished",
    "TurnCompleted",
]

_NOT_IN_PAYLOAD = frozenset({"at", "speech_ended_at"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    """Something that happened on call ``call_id`` (the carrier's id: Twilio's CallSid,
    Telnyx's call_control_id), between ``caller`` and ``callee``."""

    kind: ClassVar[PatterEventType]
    """The event bus type this event is delivered as."""

    call_id: str
    caller: str = ""
    callee: str = ""
    at: float = field(default_factory=time.time)

    def payload(self) -> dict[str, Any]:
        """The dict the event bus and the callbacks deliver (a new dict each time)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IN_PAYLOAD
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStatusChanged(CallEvent):
    """The carrier reported a new call state (``ringing``, ``in-progress``, ``completed``...)."""

    kind = PatterEventType.CALL_STATUS
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallPlaced(CallEvent):
    """The call-control service dialed ``callee`` from ``caller`` for an external agent; what
    it was asked to do comes along, so the call's record outlives the process."""

    kind = PatterEventType.CALL_PLACED
    goal: str = ""
    client_ref: str = ""
    max_duration_sec: int = 0
    mode: str = "live"
    """``live`` or ``sandbox``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(CallEvent):
    """The call's media connected: the agent is about to speak (spec EV-1)."""

    kind = PatterEventType.CALL_STARTED
    direction: str
    custom_params: dict[str, str] = field(default_factory=dict)
    provider_mode: str = ""
    """What answers: ``openai_realtime``, ``elevenlabs_convai`` or ``pipeline``."""
    agent: str = ""
    """One line naming the engine and model, or the pipeline's parts (``Agent.describe()``)."""
    telephony_provider: str = ""
    """``twilio``, ``telnyx``, or ``""`` off the phone network (test mode)."""

    def payload(self) -> dict[str, Any]:
        """The ``on_call_start`` dict (spec EV-1): who, which way, and the custom parameters."""
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            "direction": self.direction,
            "custom_params": self.custom_params,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(CallEvent):
    """The call ended, for any reason; ``report`` is its end report (what ``on_call_end``
    receives, spec EV-2). Exactly one per call."""

    kind = PatterEventType.CALL_ENDED
    report: CallReport

    def payload(self) -> dict[str, Any]:
        """The end report as ``on_call_end`` receives it (a new dict each time)."""
        return self.report.to_dict()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred(CallEvent):
    """The call was handed to ``to``."""

    kind = PatterEventType.CALL_TRANSFERRED
    to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferFinished(CallEvent):
    """The dialed leg of a transfer ended; ``cost_usd`` counts both legs while bridged."""

    kind = PatterEventType.TRANSFER_ENDED
    status: str
    dial_call_id: str
    duration_seconds: float
    cost_usd: float

    def payload(self) -> dict[str, Any]:
        """Without ``caller``/``callee``: the carrier's transfer report does not name them."""
        return {
            "call_id": self.call_id,
            "status": self.status,
            "dial_call_id": self.dial_call_id,
            "duration_seconds": self.duration_seconds,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingReady(CallEvent):
    """The carrier finished a recording of the call (``call_ended``: after the call ended)."""

    kind = PatterEventType.RECORDING
    details: dict[str, Any]
    """``recording_sid``, ``url``, ``status`` and ``duration_seconds``, as the carrier gave them."""
    call_ended: bool

    def payload(self) -> dict[str, Any]:
        """The call's identity, the recording's details and ``call_ended``, flat."""
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            **self.details,
            "call_ended": self.call_ended,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPressed(CallEvent):
    """The caller pressed a key."""

    kind = PatterEventType.DTMF
    digit: str
    event: DtmfEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptFinal(CallEvent):
    """A finished line of the conversation (spec EV-3). ``history`` is the conversation so far;
    ``heard`` is False for an agent line the caller never heard."""

    kind = PatterEventType.TRANSCRIPT_FINAL
    role: str
    text: str
    history: tuple[dict[str, Any], ...]
    heard: bool = True
    confidence: float | None = None
    """The STT's confidence in a caller line (0-1), when it gives one; not in the payload."""
    generated_chars: int | None = None
    """For an agent line, the characters the model generated for it (more than ``text`` when
    a barge-in cut it short), when the engine reports it; not in the payload."""

    def payload(self) -> dict[str, Any]:
        """``heard`` appears only when False, as the documented payload has it."""
        payload: dict[str, Any] = {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            "role": self.role,
            "text": self.text,
            "history": [dict(entry) for entry in self.history],
        }
        if not self.heard:
            payload["heard"] = False
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptPartial(CallEvent):
    """What the caller is saying so far: an interim speech-to-text result, replaced by later
    ones and finally by a :class:`TranscriptFinal` (spec EB-2, pipeline mode)."""

    kind = PatterEventType.TRANSCRIPT_PARTIAL
    role: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTextChunk(CallEvent):
    """More of the agent's reply as the model streams it (spec EB-2 ``LLM_CHUNK``): each LLM
    chunk in pipeline mode; an engine's text deltas when it streams them."""

    kind = PatterEventType.LLM_CHUNK
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpeechStarted(CallEvent):
    """The agent started a message: its first audio went to the line. Whether the caller heard
    it all is the ``heard`` of its :class:`TranscriptFinal` line."""

    kind = PatterEventType.AGENT_SPEECH_STARTED


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAudioSent(CallEvent):
    """A chunk of agent audio went to the line (published only while someone listens)."""

    kind = PatterEventType.TTS_CHUNK
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolStarted(CallEvent):
    """A tool was dispatched; ``transport`` is ``handler``, ``webhook`` or ``unknown``."""

    kind = PatterEventType.TOOL_CALL_STARTED
    name: str
    transport: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolFinished(CallEvent):
    """A tool returned its result to the agent."""

    kind = PatterEventType.TOOL_CALL_COMPLETED
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCompleted(CallEvent):
    """A conversation turn ended, with its metrics and the call's cost so far (spec EV-5)."""

    kind = PatterEventType.TURN_COMPLETED
    turn: TurnMetrics
    cost_so_far: CostBreakdown
    speech_ended_at: float | None = None
    """When the caller stopped speaking (Unix seconds): where the turn's latencies start (the
    tracer places its stage spans from it). Not in the payload."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BargeIn(CallEvent):
    """The caller talked over the agent: ``played_ms`` of message ``item_id`` was heard."""

    kind = PatterEventType.BARGE_IN
    item_id: str
    played_ms: int
    bargein_ms: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardrailBlocked(CallEvent):
    """A guardrail stopped the agent's message after ``heard_ms`` of it was heard."""

    kind = PatterEventType.GUARDRAIL_BLOCKED
    guardrail: str
    heard_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallError(CallEvent):
    """A provider or the line failed; ``fatal`` errors end the call."""

    kind = PatterEventType.ERROR
    error: str
    code: str
    source: str
    fatal: bool
