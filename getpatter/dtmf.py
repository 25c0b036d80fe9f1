"""Caller key presses (DTMF) and how they enter the conversation (spec 10, DT)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from getpatter.errors import InputValidationError

__all__ = ["DTMF_DIGITS", "DtmfEvent", "format_dtmf"]

#: The keys a caller can press (A-D exist on some keypads and carriers).
DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class DtmfEvent:
    """One key press during a call."""

    digit: str
    call_id: str = ""
    timestamp: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.digit not in DTMF_DIGITS:
            raise InputValidationError(
                f"DTMF digit {self.digit!r} is not a key: use one of 0-9, '*', '#' or A-D"
            )


def format_dtmf(digit: str) -> str:
    """The conversation text of a key press: ``[DTMF: 5]``, exactly (spec DT-2)."""
    if digit not in DTMF_DIGITS:
        raise InputValidationError(
            f"DTMF digit {digit!r} is not a key: use one of 0-9, '*', '#' or A-D"
        )
    return f"[DTMF: {digit}]"
