"""What every carrier's media-stream parser starts with: one JSON object per text frame."""

from __future__ import annotations

import json
from typing import Any

from getpatter.carriers.base import MalformedFrame

__all__ = ["MAX_FRAME_CHARS", "load_frame", "show"]

MAX_FRAME_CHARS = 64 * 1024
"""Longest text frame accepted. A 20 ms media frame is at most about 1 KiB and a ``start``
frame with a few custom parameters under 2 KiB, so 64 KiB leaves ample room while refusing
frames built to waste memory and CPU."""


def load_frame(message: str | bytes, carrier: str) -> dict[str, Any]:
    """The JSON object of one WebSocket message; :class:`MalformedFrame` for a binary frame,
    one longer than :data:`MAX_FRAME_CHARS`, or text that is not a JSON object."""
    if not isinstance(message, str):
        raise MalformedFrame(f"binary frame: {carrier} sends JSON text frames only")
    if len(message) > MAX_FRAME_CHARS:
        raise MalformedFrame(f"frame of {len(message)} characters, over {MAX_FRAME_CHARS}")
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):
        raise MalformedFrame("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedFrame("not a JSON object")
    return data


def show(value: object) -> str:
    """``value`` as quoted in an error message, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
