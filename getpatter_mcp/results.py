"""What the Patter MCP tools return: pydantic models, so clients get ``structuredContent`` and an
``outputSchema``. :class:`CallResult` is the call-control service's result envelope
(:meth:`getpatter.control.record.CallRecord.to_dict`) field for field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from getpatter.control.plans import CallPlan
from getpatter.control.record import CallRecord, CallStatus

__all__ = ["CallList", "CallMetrics", "CallReceipt", "CallResult", "CallSummary", "TranscriptLine"]

Mode = Literal["live", "sandbox"]
Direction = Literal["outbound", "inbound"]


class _Result(BaseModel):
    # "from" is a Python keyword: the field is ``from_`` in code and "from" on the wire.
    model_config = ConfigDict(
        serialize_by_alias=True, validate_by_name=True, validate_by_alias=True
    )


class TranscriptLine(_Result):
    """One utterance on the call."""

    role: Literal["agent", "user"] = Field(
        description="agent: the AI on the call; user: the person called (or calling)"
    )
    text: str


class CallMetrics(_Result):
    """Latency and cost figures, known once the call has ended."""

    p95_latency_ms: float | None = Field(
        description="95th percentile of the agent's response latency, ms"
    )
    cost: dict[str, float] = Field(
        description="Cost in US dollars by part: stt, tts, llm, telephony"
    )


class CallResult(_Result):
    """A call: where it stands, what was said so far, and (once ended) what it cost."""

    call_id: str
    mode: Mode = Field(
        description="sandbox: a simulated call, nobody was dialed; live: a real call"
    )
    status: CallStatus = Field(
        description="queued, ringing or in-progress while the call runs; completed, no-answer, "
        "busy, failed or timeout once it has ended"
    )
    outcome: str | None = Field(
        description="The carrier's detail for an ended call (e.g. voicemail, transferred)"
    )
    direction: Direction
    to: str
    from_: str = Field(alias="from")
    goal: str
    client_ref: str | None
    transcript: list[TranscriptLine] = Field(description="What was said so far, in order")
    keys_sent: str = Field(description="Keys pressed on the call with send_dtmf")
    duration_seconds: float
    cost_usd: float = Field(description="Total cost in US dollars (0 until the call has ended)")
    metrics: CallMetrics
    ended_by: str | None
    error: str | None
    max_duration_sec: int = Field(description="The call is hung up when it lasts this long")
    created_at: float = Field(description="Unix time")
    answered_at: float | None
    ended_at: float | None

    @classmethod
    def of(cls, record: CallRecord) -> CallResult:
        """The envelope of ``record``."""
        return cls.model_validate(record.to_dict())


class CallSummary(_Result):
    """One line of :class:`CallList`."""

    call_id: str
    status: CallStatus
    direction: Direction
    to: str
    from_: str = Field(alias="from")
    created_at: float = Field(description="Unix time")

    @classmethod
    def of(cls, record: CallRecord) -> CallSummary:
        """The summary of ``record``."""
        envelope = record.to_dict()
        return cls.model_validate({name: envelope[name] for name in _SUMMARY_FIELDS})


_SUMMARY_FIELDS = ("call_id", "status", "direction", "to", "from", "created_at")


class CallList(_Result):
    """The calls this server knows, newest first: placed, and answered by the agent."""

    mode: Mode
    count: int
    calls: list[CallSummary]


class CallReceipt(_Result):
    """A planned call: show it to the person; once they agree, pass ``token`` to confirm_call."""

    mode: Mode
    token: str = Field(description="Pass to confirm_call once the person has agreed")
    to: str = Field(description="The number that will be dialed, in E.164 form")
    goal: str
    first_message: str = Field(description="What the agent says first, AI disclosure included")
    max_duration_sec: int
    voicemail_message: str
    expires_at: float = Field(description="Unix time after which the token no longer works")
    needs_person: bool = Field(
        description="True when a person must confirm the call before confirm_call places it"
    )
    confirm_url: str = Field(
        description="The page on the user's machine where they confirm or refuse the call; "
        "empty when no confirmation is needed"
    )
    next_step: str = Field(description="What to do with this receipt")

    @classmethod
    def of(cls, plan: CallPlan, mode: Mode, *, confirm_url: str = "") -> CallReceipt:
        """The receipt of ``plan``; ``confirm_url`` when a person must confirm it."""
        if confirm_url:
            step = (
                "Show this receipt to the user and ask them to open confirm_url and press "
                "Confirm (confirm_call asks them itself if your client can). Then call "
                "confirm_call with the token. You cannot confirm the call for them."
            )
        else:
            step = (
                "Show this receipt to the user; call confirm_call with the token once they agree."
            )
        return cls.model_validate(
            {
                "mode": mode,
                **plan.receipt(),
                "needs_person": bool(confirm_url),
                "confirm_url": confirm_url,
                "next_step": step,
            }
        )
