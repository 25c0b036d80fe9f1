"""What the call-control service knows about one call, and the result envelope it hands out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from getpatter.calls.report import CallReport
    from getpatter.calls.store import StoredCall

__all__ = ["FINAL_STATUSES", "CallRecord", "CallStatus", "TranscriptLine", "final_status"]

CallStatus = Literal[
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "no-answer",
    "busy",
    "failed",
    "timeout",
]

FINAL_STATUSES: frozenset[str] = frozenset({"completed", "no-answer", "busy", "failed", "timeout"})
"""The statuses of an ended call (spec PT-9); ``outcome`` tells the carrier's detail."""

_ROLES = {"assistant": "agent", "user": "user"}


def final_status(outcome: str, *, timed_out: bool = False) -> CallStatus:
    """The status of an ended call from the session's ``outcome``.

    ``busy`` and ``no-answer`` stay themselves; ``failed``, ``error`` (the AI side failed) and
    ``canceled`` (hung up before it was answered) are ``failed``; every call that was answered
    (``completed``, ``voicemail``, ``transferred``) is ``completed``. A call ended because it
    reached its time limit is ``timeout`` whatever the carrier said.
    """
    if timed_out:
        return "timeout"
    if outcome in ("busy", "no-answer"):
        return outcome  # type: ignore[return-value]
    if outcome in ("failed", "error", "canceled"):
        return "failed"
    return "completed"


@dataclass(frozen=True)
class TranscriptLine:
    """One utterance: ``role`` is ``"agent"`` (the AI on the call) or ``"user"`` (the person)."""

    role: Literal["agent", "user"]
    text: str
    at: float


@dataclass
class CallRecord:
    """One call, as the service tracks it. Read it through :meth:`to_dict`.

    The service updates it from the call's events; ``version`` grows with every change so a
    waiter can tell whether anything happened.
    """

    call_id: str
    mode: Literal["live", "sandbox"]
    direction: Literal["outbound", "inbound"]
    to: str
    from_: str
    goal: str = ""
    first_message: str = ""
    client_ref: str = ""
    max_duration_sec: int = 0
    status: CallStatus = "queued"
    outcome: str = ""
    ended_by: str = ""
    error: str = ""
    transcript: list[TranscriptLine] = field(default_factory=list)
    keys_sent: str = ""
    instructions: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    duration_seconds: float = 0.0
    cost_usd: float = 0.0
    cost: dict[str, float] = field(default_factory=dict)
    p95_latency_ms: float | None = None
    timed_out: bool = False
    version: int = 0

    @property
    def ended(self) -> bool:
        """True once the call is over and its final figures are in."""
        return self.status in FINAL_STATUSES

    def add_line(self, role: str, text: str, *, heard: bool = True) -> None:
        """Record an utterance reported by the call (``assistant`` is stored as ``agent``).

        An agent line the person never heard (its audio never reached the line) is left out.
        """
        who = _ROLES.get(role)
        if who is not None and text and heard:
            self.transcript.append(TranscriptLine(who, text, time.time()))  # type: ignore[arg-type]

    def end(self, report: CallReport) -> None:
        """Take the call's end report."""
        self.outcome = report.outcome
        self.ended_by = report.ended_by
        self.error = report.error or ""
        self.duration_seconds = report.duration_seconds
        self.ended_at = report.ended_at or time.time()
        if len(report.transcript) >= len(self.transcript):
            self.transcript = []
            for line in report.transcript:
                self.add_line(
                    str(line.get("role", "")),
                    str(line.get("text", "")),
                    heard=line.get("heard", True) is not False,
                )
        metrics = report.metrics
        if metrics is not None:
            cost = metrics.cost
            self.cost = {
                "stt": cost.stt,
                "tts": cost.tts,
                "llm": cost.llm,
                "telephony": cost.telephony,
            }
            self.cost_usd = cost.total
            self.p95_latency_ms = metrics.latency_p95.total_ms
        self.status = final_status(self.outcome, timed_out=self.timed_out)

    @classmethod
    def from_stored(
        cls, call: StoredCall, transcript: list[dict[str, Any]], *, mode: str
    ) -> CallRecord:
        """The record of an ended call kept by a :class:`~getpatter.calls.store.CallStore`
        (one from before a restart). Its numbers are as the store keeps them (masked, by
        default); the keys it sent and the instructions it was given are not kept."""
        placed = call.placed
        outbound = call.direction == "outbound"
        record = cls(
            call_id=call.call_id,
            mode="sandbox" if placed.get("mode", mode) == "sandbox" else "live",
            direction="outbound" if outbound else "inbound",
            to=call.callee,
            from_=call.caller,
            goal=str(placed.get("goal", "")),
            client_ref=str(placed.get("client_ref", "")),
            max_duration_sec=int(placed.get("max_duration_sec", 0) or 0),
            outcome=call.outcome,
            ended_by=call.ended_by,
            error=call.error or "",
            created_at=call.started_at,
            ended_at=call.ended_at,
            duration_seconds=call.duration_seconds or 0.0,
            cost_usd=float(call.cost.get("total", 0.0)),
            cost={k: float(v) for k, v in call.cost.items() if k != "total"},
            p95_latency_ms=call.latency_p95_ms,
        )
        for line in transcript:
            who = _ROLES.get(str(line["role"]))
            if who is not None and line["text"] and line["heard"]:
                record.transcript.append(TranscriptLine(who, str(line["text"]), float(line["at"])))  # type: ignore[arg-type]
        record.status = final_status(call.outcome) if call.outcome else "failed"
        return record

    def to_dict(self) -> dict[str, Any]:
        """The result envelope every integration returns (JSON-able)."""
        return {
            "call_id": self.call_id,
            "mode": self.mode,
            "status": self.status,
            "outcome": self.outcome or None,
            "direction": self.direction,
            "to": self.to,
            "from": self.from_,
            "goal": self.goal,
            "client_ref": self.client_ref or None,
            "transcript": [{"role": line.role, "text": line.text} for line in self.transcript],
            "keys_sent": self.keys_sent,
            "duration_seconds": round(self.duration_seconds, 3),
            "cost_usd": round(self.cost_usd, 6),
            "metrics": {
                "p95_latency_ms": self.p95_latency_ms,
                "cost": {name: round(value, 6) for name, value in self.cost.items()},
            },
            "ended_by": self.ended_by or None,
            "error": self.error or None,
            "max_duration_sec": self.max_duration_sec,
            "created_at": self.created_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
        }

    def summary(self) -> str:
        """One line for a model to read: who, status, length, cost."""
        state = (
            self.status
            if not self.outcome or self.outcome == self.status
            else (f"{self.status} ({self.outcome})")
        )
        text = f"Call {self.call_id} to {self.to}: {state}"
        if self.ended:
            text += f", {self.duration_seconds:.0f} s, ${self.cost_usd:.4f}"
        return text
