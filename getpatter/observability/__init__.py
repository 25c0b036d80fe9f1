"""Observing calls: the event bus, per-call metrics, and cost from usage and prices (spec 06)."""

from getpatter.observability.cost import (
    CostMeter,
    RealtimeUsage,
    llm_cost,
    realtime_cost,
    stt_cost,
    telephony_cost,
    tts_cost,
)
from getpatter.observability.events import (
    EventBus,
    EventHandler,
    PatterEventType,
    default_event_bus,
)
from getpatter.observability.metrics import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
    percentile,
    summarize_latency,
)
from getpatter.observability.pricing import (
    DEFAULT_PRICING,
    PRICING_LAST_UPDATED,
    PRICING_VERSION,
    PriceTable,
    PriceUnit,
)
from getpatter.observability.tracing import init_tracing, is_enabled, shutdown_tracing

__all__ = [
    "DEFAULT_PRICING",
    "PRICING_LAST_UPDATED",
    "PRICING_VERSION",
    "CallMetrics",
    "CostBreakdown",
    "CostMeter",
    "EventBus",
    "EventHandler",
    "LatencyBreakdown",
    "PatterEventType",
    "PriceTable",
    "PriceUnit",
    "RealtimeUsage",
    "TurnMetrics",
    "default_event_bus",
    "init_tracing",
    "is_enabled",
    "llm_cost",
    "percentile",
    "realtime_cost",
    "shutdown_tracing",
    "stt_cost",
    "summarize_latency",
    "telephony_cost",
    "tts_cost",
]
