"""Per-turn and per-call metrics: latency, usage and cost (spec 06, MT-1..MT-5).

All metrics are frozen dataclasses with a ``to_dict()`` that returns plain JSON-ready values.
:func:`summarize_latency` turns the per-turn latencies of a call into its mean and percentiles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from getpatter._validation import require_amount, require_number
from getpatter.errors import InputValidationError

__all__ = [
    "CallMetrics",
    "CostBreakdown",
    "LatencyBreakdown",
    "TurnMetrics",
    "percentile",
    "summarize_latency",
]

# The keys of summarize_latency()'s result and their percentile (None = the mean).
_SUMMARY_QUANTILES: dict[str, float | None] = {
    "avg": None,
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
}


@dataclass(frozen=True)
class LatencyBreakdown:
    """Latencies of one turn (or a summary over turns), in milliseconds; ``None`` = not measured.

    ``stt_ms``: speech to transcript. ``endpoint_ms``: endpointer wait after the last word.
    ``llm_ttft_ms``: end of utterance to first LLM token; ``llm_total_ms``: to the last token.
    ``tts_ms``: first token to first audio byte; ``tts_total_ms``: to the last audio byte.
    ``bargein_ms``: caller voice to playback cancelled (barge-in turns only).
    ``total_ms``: user speech to first agent audio.
    """

    stt_ms: float | None = None
    endpoint_ms: float | None = None
    llm_ttft_ms: float | None = None
    llm_total_ms: float | None = None
    tts_ms: float | None = None
    tts_total_ms: float | None = None
    bargein_ms: float | None = None
    total_ms: float | None = None

    @property
    def llm_ms(self) -> float | None:
        """Alias of ``llm_ttft_ms``, kept for older code."""
        return self.llm_ttft_ms

    def to_dict(self) -> dict[str, float | None]:
        """Every field plus the ``llm_ms`` alias."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["llm_ms"] = self.llm_ttft_ms
        return data


@dataclass(frozen=True)
class TurnMetrics:
    """One user-agent exchange. ``timestamp`` is Unix seconds (default: when created)."""

    turn_index: int
    user_text: str
    agent_text: str
    latency: LatencyBreakdown = field(default_factory=LatencyBreakdown)
    stt_audio_seconds: float = 0.0
    tts_characters: int = 0
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The turn as plain values, with ``latency`` as a nested dict."""
        return {
            "turn_index": self.turn_index,
            "user_text": self.user_text,
            "agent_text": self.agent_text,
            "latency": self.latency.to_dict(),
            "stt_audio_seconds": self.stt_audio_seconds,
            "tts_characters": self.tts_characters,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True)
class CostBreakdown:
    """A cost in USD by category. ``total`` is computed: always ``stt + tts + llm + telephony``.

    Engine (speech-to-speech) cost is counted under ``llm``. Add two breakdowns with ``+``.
    ``unpriced`` names the providers (price-table keys) that were used but have no price in
    the table: their share is unknown, not free, so ``total`` is then a lower bound. Give them
    a price with ``Patter(pricing={...})``.
    """

    stt: float = 0.0
    tts: float = 0.0
    llm: float = 0.0
    telephony: float = 0.0
    total: float = field(init=False)
    unpriced: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("stt", "tts", "llm", "telephony"):
            object.__setattr__(
                self, name, require_amount(f"CostBreakdown.{name}", getattr(self, name))
            )
        object.__setattr__(self, "total", self.stt + self.tts + self.llm + self.telephony)
        object.__setattr__(self, "unpriced", tuple(dict.fromkeys(self.unpriced)))

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        if not isinstance(other, CostBreakdown):
            return NotImplemented
        return CostBreakdown(
            stt=self.stt + other.stt,
            tts=self.tts + other.tts,
            llm=self.llm + other.llm,
            telephony=self.telephony + other.telephony,
            unpriced=self.unpriced + other.unpriced,
        )

    def to_dict(self) -> dict[str, Any]:
        """The four categories and ``total``, plus ``unpriced`` (a list) when it is not empty."""
        data: dict[str, Any] = {
            "stt": self.stt,
            "tts": self.tts,
            "llm": self.llm,
            "telephony": self.telephony,
            "total": self.total,
        }
        if self.unpriced:
            data["unpriced"] = list(self.unpriced)
        return data


@dataclass(frozen=True)
class CallMetrics:
    """Everything measured on one call; ``latency_*`` summarise the turns' latencies.

    Build it with :meth:`from_turns` to have the summaries computed.
    """

    call_id: str
    duration_seconds: float
    turns: tuple[TurnMetrics, ...] = ()
    cost: CostBreakdown = field(default_factory=CostBreakdown)
    latency_avg: LatencyBreakdown = field(default_factory=LatencyBreakdown)
    latency_p50: LatencyBreakdown = field(default_factory=LatencyBreakdown)
    latency_p90: LatencyBreakdown = field(default_factory=LatencyBreakdown)
    latency_p95: LatencyBreakdown = field(default_factory=LatencyBreakdown)
    latency_p99: LatencyBreakdown = field(default_factory=LatencyBreakdown)
    provider_mode: str = ""
    stt_provider: str = ""
    tts_provider: str = ""
    llm_provider: str = ""
    telephony_provider: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "turns", tuple(self.turns))

    @classmethod
    def from_turns(
        cls,
        call_id: str,
        duration_seconds: float,
        turns: Iterable[TurnMetrics],
        *,
        cost: CostBreakdown | None = None,
        provider_mode: str = "",
        stt_provider: str = "",
        tts_provider: str = "",
        llm_provider: str = "",
        telephony_provider: str = "",
    ) -> CallMetrics:
        """Build the call's metrics, with ``latency_avg`` and ``latency_pNN`` from ``turns``."""
        turn_tuple = tuple(turns)
        summary = summarize_latency(turn_tuple)
        return cls(
            call_id=call_id,
            duration_seconds=duration_seconds,
            turns=turn_tuple,
            cost=cost if cost is not None else CostBreakdown(),
            latency_avg=summary["avg"],
            latency_p50=summary["p50"],
            latency_p90=summary["p90"],
            latency_p95=summary["p95"],
            latency_p99=summary["p99"],
            provider_mode=provider_mode,
            stt_provider=stt_provider,
            tts_provider=tts_provider,
            llm_provider=llm_provider,
            telephony_provider=telephony_provider,
        )

    def to_dict(self) -> dict[str, Any]:
        """The call's metrics as nested plain values (turns as a list)."""
        return {
            "call_id": self.call_id,
            "duration_seconds": self.duration_seconds,
            "turns": [turn.to_dict() for turn in self.turns],
            "cost": self.cost.to_dict(),
            "latency_avg": self.latency_avg.to_dict(),
            "latency_p50": self.latency_p50.to_dict(),
            "latency_p90": self.latency_p90.to_dict(),
            "latency_p95": self.latency_p95.to_dict(),
            "latency_p99": self.latency_p99.to_dict(),
            "provider_mode": self.provider_mode,
            "stt_provider": self.stt_provider,
            "tts_provider": self.tts_provider,
            "llm_provider": self.llm_provider,
            "telephony_provider": self.telephony_provider,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolating linearly between ranks.

    Same result as ``numpy.percentile(values, q)`` with its default method.
    """
    q = require_number("q", q)
    if not 0.0 <= q <= 100.0:
        raise InputValidationError(f"q must be between 0 and 100, got {q}")
    if not values:
        raise InputValidationError("percentile() needs at least one value, got an empty sequence")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_latency(turns: Iterable[TurnMetrics]) -> dict[str, LatencyBreakdown]:
    """Mean (``"avg"``) and percentiles (``"p50"``, ``"p90"``, ``"p95"``, ``"p99"``) per field.

    Each latency field is summarised on its own, over the turns that measured it, so a
    ``bargein_ms`` summary covers barge-in turns only. A field no turn measured stays ``None``.
    """
    latencies = [turn.latency for turn in turns]
    per_field: dict[str, list[float]] = {
        f.name: [v for v in (getattr(lat, f.name) for lat in latencies) if v is not None]
        for f in fields(LatencyBreakdown)
    }
    summary: dict[str, LatencyBreakdown] = {}
    for key, q in _SUMMARY_QUANTILES.items():
        values: dict[str, float | None] = {}
        for name, samples in per_field.items():
            if not samples:
                values[name] = None
            elif q is None:
                values[name] = math.fsum(samples) / len(samples)
            else:
                values[name] = percentile(samples, q)
        summary[key] = LatencyBreakdown(**values)
    return summary
