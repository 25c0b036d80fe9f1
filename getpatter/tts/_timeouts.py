"""The check shared by every TTS client's timeout options."""

from __future__ import annotations

from getpatter._validation import require_amount
from getpatter.errors import ConfigError


def require_seconds(param: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds > 0."""
    seconds = require_amount(param, value)
    if seconds == 0:
        raise ConfigError(f"{param} must be > 0 seconds, got {value!r}")
    return seconds
