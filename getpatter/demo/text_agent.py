"""The agent ``getpatter demo`` runs: a small dental-clinic receptionist written as ``on_message``.

It is deliberately plain Python with no AI behind it, so the demo needs no account and no
network. Swap :func:`reception_desk` for your own handler (or an LLM) and the call flow stays
the same.
"""

from __future__ import annotations

import re
from typing import Any

from getpatter.call import CallControl

__all__ = ["DEMO_CALLER_SCRIPT", "FIRST_MESSAGE", "FRONT_DESK", "SYSTEM_PROMPT", "reception_desk"]

SYSTEM_PROMPT = "You are the receptionist of Bright Smile Dental. Be brief and friendly."
FIRST_MESSAGE = "Thanks for calling Bright Smile Dental, this is the front desk. How can I help?"
FRONT_DESK = "+15550100200"

#: What the simulated caller says in ``getpatter demo`` when no one is typing.
DEMO_CALLER_SCRIPT = (
    "Hi, what are your opening hours?",
    "I'd like to book a cleaning appointment.",
    "Thursday, please.",
    "The afternoon works.",
    "That's all, thanks. Bye!",
)

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
_bookings: dict[str, dict[str, str]] = {}


def _has(text: str, *words: str) -> bool:
    return any(re.search(rf"\b{word}", text) for word in words)


async def reception_desk(message: dict[str, Any], call: CallControl) -> str:
    """Answer one caller utterance; ``message`` is the on_message payload of a real call."""
    text = message["text"].lower()
    booking = _bookings.setdefault(message["call_id"], {})
    day = next((d for d in _DAYS if d in text), None)
    if _has(text, "bye", "that's all", "that is all"):
        _bookings.pop(message["call_id"], None)
        await call.hangup()
        return "Thanks for calling Bright Smile Dental. Goodbye!"
    if _has(text, "human", "person", "someone", "receptionist"):
        await call.transfer(FRONT_DESK)
        return "Of course, connecting you to the front desk now."
    if _has(text, "hour", "open", "close"):
        return "We're open Monday to Friday, eight in the morning to six in the evening."
    if day:
        booking["day"] = day.capitalize()
        return f"On {booking['day']} I have ten in the morning or three in the afternoon. Which suits you?"
    if "day" in booking and _has(text, "morning", "ten", "10"):
        booking["time"] = "ten in the morning"
    elif "day" in booking and _has(text, "afternoon", "three", "3"):
        booking["time"] = "three in the afternoon"
    if "time" in booking:
        return f"You're booked for {booking['day']} at {booking['time']}. Anything else?"
    if _has(text, "book", "appointment", "cleaning", "checkup", "check-up"):
        return "Happy to book that. Which weekday suits you?"
    return "I can tell you our hours, book an appointment, or connect you to a person. What would you like?"
