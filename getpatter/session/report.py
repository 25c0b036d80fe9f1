"""The end-of-call report: the one ``on_call_end`` payload every call gets, whatever ended it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from getpatter.agent import Agent
from getpatter.calls.report import CallReport
from getpatter.observability.cost import CostMeter
from getpatter.observability.metrics import CallMetrics, TurnMetrics
from getpatter.observability.pricing import PriceTable

__all__ = ["CallStatus", "cost_meter_for", "end_report", "not_clean_reason"]

logger = logging.getLogger("getpatter.session")


@dataclass
class CallStatus:
    """How the call stands with the carrier and how it ended (filled in as it happens)."""

    outcome: str = ""
    ended_by: str = ""
    error: str = ""
    carrier_status: str = ""
    carrier_duration: int | None = None
    answered_by: str = ""
    end_reason: str = ""
    """The reason the agent gave when it ended the call with ``end_call``."""
    recording: dict[str, Any] = field(default_factory=dict)


def not_clean_reason(*, connected: bool, ai_ready: bool, ended_by: str, failing: str) -> str:
    """Why a call that would end ``completed`` must be reported as an ``error``, or ``""``.

    A connected call that the caller (or the carrier) ended before its AI became ready, or whose
    agent was failing to answer when the call ended, did not complete: the caller did not get an
    agent that could speak or think. A server stopping (``system``) is the operator's doing.
    """
    if connected and not ai_ready and ended_by in ("caller", "carrier"):
        who = "the caller hung up" if ended_by == "caller" else "the call ended"
        return f"{who} while the AI connection was being set up"
    if failing:
        return f"the agent could not answer: {failing}"
    return ""


def end_report(
    *,
    identity: dict[str, Any],
    direction: str,
    status: CallStatus,
    started_at: float,
    ended_at: float,
    duration: float,
    meter: CostMeter,
    turns: Sequence[TurnMetrics],
    provider: str,
    telephony_provider: str,
    history: Sequence[dict[str, Any]],
    health: dict[str, Any],
    malformed_frames: int,
    extra: dict[str, Any] | None = None,
) -> CallReport:
    """The call's end report (see docs/decisions.md, "The end report")."""
    billed = status.carrier_duration if status.carrier_duration is not None else duration
    meter.set_duration(billed)
    metrics: CallMetrics | None
    try:
        metrics = CallMetrics.from_turns(
            call_id=identity["call_id"],
            duration_seconds=duration,
            turns=tuple(turns),
            cost=meter.breakdown(),
            provider_mode=provider,
            stt_provider=meter.stt_provider,
            tts_provider=meter.tts_provider,
            llm_provider=meter.llm_provider,
            telephony_provider=telephony_provider,
        )
    except Exception:
        logger.exception("call %s: metrics could not be computed", identity["call_id"])
        metrics = None
    return CallReport(
        **identity,
        direction=direction,
        started_at=started_at,
        ended_at=ended_at,
        duration_seconds=duration,
        outcome=status.outcome,
        ended_by=status.ended_by,
        error=status.error or None,
        errors=tuple(health["errors"]),
        error_count=health["error_count"],
        answered_by=status.answered_by or None,
        end_reason=status.end_reason or None,
        recording=status.recording or None,
        transcript=tuple(dict(e) for e in history if _in_transcript(e)),
        metrics=metrics,
        malformed_frames=malformed_frames,
        extra=dict(extra or {}),
    )


def _in_transcript(line: dict[str, Any]) -> bool:
    """The caller's and the agent's lines, and the agent's ``end_call`` with its reason (ST-2);
    not the instructions given mid-call (system lines too, but not part of the conversation)."""
    return line["role"] in ("user", "assistant") or line.get("tool") == "end_call"


def cost_meter_for(agent: Agent, pricing: PriceTable, telephony_provider: str) -> CostMeter:
    """A meter priced for the agent's providers (an engine bills under ``llm``)."""
    if agent.provider != "pipeline":
        return CostMeter(
            pricing, llm_provider=agent.provider, telephony_provider=telephony_provider
        )
    return CostMeter(
        pricing,
        stt_provider=_price_key(agent.stt),
        tts_provider=_price_key(agent.tts),
        llm_provider=_price_key(agent.llm),
        telephony_provider=telephony_provider,
    )


def _price_key(provider: Any) -> str:
    name = getattr(provider, "name", "")
    return name if isinstance(name, str) else ""
