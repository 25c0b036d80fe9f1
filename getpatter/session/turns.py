"""Turn timing: from the caller's end of speech to the agent's first audio on the line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from getpatter.observability.metrics import LatencyBreakdown, TurnMetrics

__all__ = ["Turn", "turn_metrics"]


@dataclass
class Turn:
    """One caller turn being answered (``time.monotonic()`` times)."""

    index: int
    stopped_at: float
    """When the caller stopped speaking."""
    user_text: str = ""
    agent_text: str = ""
    first_audio_at: float | None = None
    """When the engine produced the answer's first audio."""
    first_item: str = ""
    """The agent message that answered."""
    stt_audio_seconds: float = 0.0
    """Caller audio sent to the STT for this turn (pipelines)."""


def turn_metrics(
    turn: Turn,
    *,
    first_sent_at: float | None,
    bargein_ms: float | None,
    stages: LatencyBreakdown | None = None,
) -> TurnMetrics:
    """The metrics of ``turn``, whose first frame reached the carrier at ``first_sent_at``.

    ``stages`` are the latencies a pipeline measured itself; an engine's turn gets the time to
    its first audio as ``llm_ttft_ms``. ``total_ms`` is always end of speech to first frame sent.
    """
    total_ms = _ms(first_sent_at, turn.stopped_at)
    if stages is not None:
        latency = dataclasses.replace(stages, total_ms=total_ms, bargein_ms=bargein_ms)
    else:
        latency = LatencyBreakdown(
            llm_ttft_ms=_ms(turn.first_audio_at, turn.stopped_at),
            total_ms=total_ms,
            bargein_ms=bargein_ms,
        )
    return TurnMetrics(
        turn_index=turn.index,
        user_text=turn.user_text,
        agent_text=turn.agent_text,
        latency=latency,
        stt_audio_seconds=turn.stt_audio_seconds,
        tts_characters=len(turn.agent_text),
    )


def _ms(later: float | None, earlier: float) -> float | None:
    return None if later is None else (later - earlier) * 1000
