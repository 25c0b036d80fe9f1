"""Phone numbers as call logs and other records keep them: masked, hashed or in full (spec LG-7).

One setting, ``PATTER_LOG_REDACT_PHONE``, governs every place Patter writes a caller's or a
callee's number to disk or shows it from there (the call logs, the MCP server's call history):

- ``mask`` (the default): ``***`` and the last 4 digits (``+15550001234`` -> ``***1234``). A
  number of fewer than :data:`MASK_MIN_DIGITS` digits (a short code, an extension, a SIP user)
  becomes ``***`` alone, so a mask never shows more than half of a number.
- ``full``: the number as received (E.164 from the carriers).
- ``hash_only``: the first :data:`HASH_CHARS` hex characters of the SHA-256 of the number as
  received, unsalted, so the same number gives the same hash in every log and process (calls
  from one number can be grouped without keeping it). This is a pseudonym, not anonymity: the
  few billion numbers of a country can be hashed by anyone in minutes.

An empty number stays empty. An unknown setting is refused with a :class:`ConfigError`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Literal, cast, get_args

from getpatter.errors import ConfigError

__all__ = [
    "DEFAULT_PHONE_REDACTION",
    "HASH_CHARS",
    "MASK_MIN_DIGITS",
    "PHONE_REDACTION_ENV",
    "PhoneRedaction",
    "phone_redaction_from_env",
    "redact_number",
    "require_phone_redaction",
]

PhoneRedaction = Literal["mask", "full", "hash_only"]
"""How a phone number is kept: see the module docstring."""

PHONE_REDACTION_ENV = "PATTER_LOG_REDACT_PHONE"
"""The environment variable that chooses the :data:`PhoneRedaction` mode."""

DEFAULT_PHONE_REDACTION: PhoneRedaction = "mask"

HASH_CHARS = 16
"""Hex characters of the SHA-256 kept by ``hash_only`` (64 bits: no collision in practice)."""

MASK_MIN_DIGITS = 8
"""``mask`` shows the last 4 digits only of numbers with at least this many digits."""

_MODES: tuple[str, ...] = get_args(PhoneRedaction)


def require_phone_redaction(param: str, value: object) -> PhoneRedaction:
    """``value`` if it is a :data:`PhoneRedaction` mode, else a :class:`ConfigError` naming
    ``param`` and the modes."""
    if not isinstance(value, str) or value not in _MODES:
        raise ConfigError(
            f"{param} must be one of {', '.join(_MODES)} (how phone numbers are kept in call "
            f"logs), got {value!r}"
        )
    return cast(PhoneRedaction, value)


def phone_redaction_from_env(environ: Mapping[str, str] | None = None) -> PhoneRedaction:
    """The mode ``PATTER_LOG_REDACT_PHONE`` sets (``mask`` when unset or empty).

    Case and surrounding spaces are ignored; any other value raises :class:`ConfigError`.
    """
    env = os.environ if environ is None else environ
    raw = env.get(PHONE_REDACTION_ENV, "").strip().lower()
    return require_phone_redaction(PHONE_REDACTION_ENV, raw or DEFAULT_PHONE_REDACTION)


def redact_number(number: str, mode: PhoneRedaction = DEFAULT_PHONE_REDACTION) -> str:
    """``number`` as ``mode`` keeps it (see the module docstring); ``""`` stays ``""``."""
    mode = require_phone_redaction("mode", mode)
    if not number or mode == "full":
        return number
    if mode == "hash_only":
        return hashlib.sha256(number.encode("utf-8")).hexdigest()[:HASH_CHARS]
    digits = [c for c in number if c.isascii() and c.isdigit()]
    if len(digits) < MASK_MIN_DIGITS:
        return "***"
    return "***" + "".join(digits[-4:])
