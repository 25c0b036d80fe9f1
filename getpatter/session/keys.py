"""What the agent may press with its ``send_dtmf`` tool: checked keys, within a call's budget.

The tool acts on the call the agent is in and on nothing else: it takes no number and no call
id, so it cannot dial anyone or reach another call. What it sends is bounded:

- each press is at most :data:`~getpatter.audio.dtmf_tones.MAX_KEYS` (32) keys and pauses,
  only ``0-9 * # A-D`` and the pauses ``w`` (0.5 s) and ``W`` (1 s);
- a call presses at most :data:`MAX_KEYS_PER_CALL` keys in all (pauses not counted): enough
  for several menus and an account number, not for a model pressing keys without end;
- presses play one at a time, after what the agent was saying, never over it.

Anything else is refused with a tool result ``{"error": "..."}`` naming the fix; the call goes
on. A refusal for the budget is a :class:`~getpatter.errors.PolicyError` with rule
``"dtmf_keys"``.
"""

from __future__ import annotations

import json

from getpatter.audio.dtmf_tones import DTMF_PAUSES_MS, check_digits
from getpatter.errors import InputValidationError, PolicyError

__all__ = ["MAX_KEYS_PER_CALL", "KeyAllowance"]

MAX_KEYS_PER_CALL = 64
"""The most keys (pauses not counted) the agent's ``send_dtmf`` tool presses on one call."""


class KeyAllowance:
    """One call's key presses by the agent: checks each request and counts what was pressed."""

    def __init__(self, limit: int = MAX_KEYS_PER_CALL) -> None:
        self.limit = limit
        self.pressed = 0
        """Keys pressed so far on the call (pauses not counted)."""

    def take(self, arguments: str) -> str:
        """The digits the tool call ``arguments`` (its JSON) asks for, counted against the budget.

        Raises ``InputValidationError`` for anything but a ``digits`` string of allowed keys,
        ``PolicyError`` (rule ``"dtmf_keys"``) once the call's budget would be exceeded.
        """
        try:
            parsed = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            parsed = None
        digits = parsed.get("digits") if isinstance(parsed, dict) else None
        if not isinstance(digits, str):
            raise InputValidationError(
                'send_dtmf needs {"digits": "..."}: a string of keys such as "2" or "1234#"'
            )
        check_digits(digits)
        keys = sum(1 for char in digits if char not in DTMF_PAUSES_MS)
        if self.pressed + keys > self.limit:
            raise PolicyError(
                f"send_dtmf refused: this call has pressed {self.pressed} keys and may press "
                f"at most {self.limit}; end the call with end_call if the menu cannot be passed",
                rule="dtmf_keys",
            )
        self.pressed += keys
        return digits
