"""The JSON the dashboard sends about a call: its summary, its detail, its report.

Everything comes from a :class:`~getpatter.calls.store.CallStore` as plain values; this module
only shapes it, and takes out of end reports anything that looks like a credential.
"""

from __future__ import annotations

import re
from typing import Any

from getpatter._redaction import REDACTED, redact
from getpatter.calls.store import CallStore, StoredCall

__all__ = ["call_detail", "public_report", "summary"]

_SECRET_KEY = re.compile(
    r"(^|[_-])(token|secret|password|passwd|api_?key|authorization|signature)$", re.IGNORECASE
)


def summary(call: StoredCall) -> dict[str, Any]:
    """A call's summary: every :class:`StoredCall` field plus ``active``."""
    return {**call.to_dict(), "active": call.active}


async def call_detail(store: CallStore, call_id: str) -> dict[str, Any] | None:
    """``{"call", "transcript", "turns", "report"}`` for ``call_id`` (``None``: not held)."""
    call = await store.get(call_id)
    if call is None:
        return None
    report = await store.report(call_id)
    return {
        "call": summary(call),
        "transcript": await store.transcript(call_id),
        "turns": await store.turns(call_id),
        "report": None if report is None else public_report(report),
    }


def public_report(value: Any) -> Any:
    """``value`` (an end report as plain values) with credential-like keys' values replaced
    by ``"<redacted>"`` and registered secrets and credential patterns hidden in every string."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _SECRET_KEY.search(str(key)) else public_report(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [public_report(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value
