"""What the fake Realtime server records about each connection, for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from getpatter.testing.scenario import Scenario, ToolCall

__all__ = ["Cancellation", "FakeRealtimeSession", "FakeResponse", "ToolOutput", "Truncation"]


@dataclass(frozen=True)
class Truncation:
    """A ``conversation.item.truncate`` the fake accepted: the caller heard ``audio_end_ms``."""

    item_id: str
    audio_end_ms: int
    content_index: int = 0


@dataclass(frozen=True)
class Cancellation:
    """A response stopped early; ``reason`` is ``client_cancelled`` or ``turn_detected``."""

    response_id: str
    reason: str


@dataclass(frozen=True)
class ToolOutput:
    """A tool result the client returned with a ``function_call_output`` item."""

    call_id: str
    name: str
    output: str


@dataclass
class FakeResponse:
    """One response of the fake model, updated as it happens.

    ``text`` is everything the response was to say (empty for a tool call or when the script
    has run out); ``audio_ms`` is how much of its audio was sent. ``status`` is ``in_progress``
    until ``response.done``, then ``completed`` or ``cancelled`` (with ``reason``).
    """

    id: str
    text: str
    tool_call: ToolCall | None = None
    item_id: str = ""
    audio_ms: int = 0
    status: str = "in_progress"
    reason: str = ""


@dataclass
class FakeRealtimeSession:
    """What happened on one connection (one call).

    ``session_config`` is the ``session`` of the last accepted ``session.update``. ``received``
    holds every client event except ``input_audio_buffer.append``, whose audio is summed up in
    ``audio_received_ms``. ``transcripts`` are the caller turns the fake "heard", in order.
    ``dropped`` is set by :meth:`FakeRealtimeServer.drop`; ``closed`` once the connection ended.
    """

    index: int
    model: str
    path: str
    beta: bool
    scenario: Scenario = field(default_factory=Scenario)
    session_config: dict[str, Any] | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    audio_received_ms: int = 0
    transcripts: list[str] = field(default_factory=list)
    responses: list[FakeResponse] = field(default_factory=list)
    truncations: list[Truncation] = field(default_factory=list)
    cancellations: list[Cancellation] = field(default_factory=list)
    tool_outputs: list[ToolOutput] = field(default_factory=list)
    closed: bool = False
    dropped: bool = False
