"""The end of a call, typed: :class:`CallReport`, carried by the ``CallEnded`` event.

Every call gets exactly one, whatever ended it. ``on_call_end`` and the event bus receive it as
the documented dict (:meth:`CallReport.to_dict`, spec EV-2 and docs/decisions.md "The end
report"); subscribers of the typed stream read its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from getpatter.observability.metrics import CallMetrics

__all__ = ["CallReport"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReport:
    """How one call went, once it is over.

    ``outcome`` is ``completed``, ``voicemail``, ``transferred``, ``busy``, ``no-answer``,
    ``failed``, ``canceled`` or ``error`` (the agent could not speak or think); ``ended_by``
    says who ended it (``caller``, ``agent``, ``carrier``, ``system``...). ``transcript``
    holds the conversation's lines (``role``, ``text``, ``timestamp``, and ``heard: False``
    for agent lines the caller never heard). ``metrics`` is ``None`` only when computing them
    failed. ``end_reason`` is the reason the agent gave when it hung up with ``end_call``
    (``None`` otherwise); the transcript then ends with that system line too. ``extra`` holds keys particular to where the call ran (test mode's ``reason``).
    """

    call_id: str
    caller: str = ""
    callee: str = ""
    direction: str = ""
    started_at: float = 0.0
    ended_at: float = 0.0
    duration_seconds: float = 0.0
    outcome: str = ""
    ended_by: str = ""
    error: str | None = None
    errors: tuple[dict[str, Any], ...] = ()
    error_count: int = 0
    answered_by: str | None = None
    end_reason: str | None = None
    recording: dict[str, Any] | None = None
    transcript: tuple[dict[str, Any], ...] = ()
    metrics: CallMetrics | None = None
    malformed_frames: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        """The call's total cost (0 when metrics are missing)."""
        return self.metrics.cost.total if self.metrics is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``on_call_end`` payload: a new dict (and new transcript lists) each time."""
        transcript = [dict(line) for line in self.transcript]
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            "direction": self.direction,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": self.duration_seconds,
            "outcome": self.outcome,
            "ended_by": self.ended_by,
            "error": self.error,
            "errors": [dict(entry) for entry in self.errors],
            "error_count": self.error_count,
            "answered_by": self.answered_by,
            "end_reason": self.end_reason,
            "recording": self.recording,
            **self.extra,
            "transcript": transcript,
            "history": [dict(line) for line in transcript],
            "metrics": self.metrics,
            "malformed_frames": self.malformed_frames,
        }
