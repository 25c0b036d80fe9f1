"""Argument checks shared by the public constructors.

Each helper raises a :class:`ConfigError` (wrong type or missing value) or an
:class:`InputValidationError` (malformed value) whose message names the parameter and the fix.
"""

from __future__ import annotations

import http
import math
import re
from collections.abc import Callable
from typing import Any

from getpatter.errors import ConfigError, InputValidationError

# [0-9], not \d: in Python (and in pydantic's Rust regex) \d also matches fullwidth,
# Arabic-Indic and every other Unicode digit, which would reach the carrier as written.
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
"""An E.164 number with ASCII digits, for JSON schemas and pydantic fields."""
_E164 = re.compile(E164_PATTERN)


def is_e164(value: object) -> bool:
    """True when ``value`` is a phone number in E.164 form with ASCII digits (``+15550001234``)."""
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def require_e164(param: str, value: object) -> str:
    """Return ``value`` if it is an E.164 number with ASCII digits, else raise naming ``param``."""
    if not isinstance(value, str):
        raise ConfigError(
            f"{param} must be a str in E.164 form like '+15550001234', got {_kind(value)}"
        )
    if not is_e164(value):
        fix = (
            "write every digit as an ASCII digit 0-9 (this one has other digits)"
            if any(c.isdigit() and not c.isascii() for c in value)
            else "use '+', the country code and the number with no spaces or dashes"
        )
        raise InputValidationError(
            f"{param}={value!r} is not an E.164 phone number: {fix}, e.g. '+15550001234'"
        )
    return value


def require_str(param: str, value: object, *, allow_empty: bool = True) -> str:
    """Return ``value`` if it is a str (non-empty unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise ConfigError(f"{param} must be a str, got {_kind(value)}")
    if not allow_empty and not value.strip():
        raise ConfigError(f"{param} must not be empty")
    return value


def require_bool(param: str, value: object) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise ConfigError(f"{param} must be True or False, got {_kind(value)}")
    return value


def require_int(
    param: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` if it is an int (not a bool) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{param} must be an int, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{param} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{param} must be <= {maximum}, got {value}")
    return value


def require_error_status(param: str, value: object) -> int:
    """Return ``value`` if it is a known HTTP error status (400 to 599)."""
    status = require_int(param, value, minimum=400, maximum=599)
    try:
        http.HTTPStatus(status)
    except ValueError:
        raise InputValidationError(
            f"{param}={status} is not a known HTTP status: use e.g. 500"
        ) from None
    return status


def require_number(param: str, value: object, *, minimum: float | None = None) -> float:
    """Return ``value`` as a float if it is an int or float (not a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{param} must be a number, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{param} must be >= {minimum}, got {value}")
    return float(value)


def require_amount(param: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0 (a duration, a price...)."""
    amount = require_number(param, value)
    if not math.isfinite(amount) or amount < 0:
        raise InputValidationError(f"{param} must be a finite number >= 0, got {value!r}")
    return amount


def require_callable(param: str, value: object) -> Callable[..., Any]:
    """Return ``value`` if it is callable."""
    if not callable(value):
        raise ConfigError(f"{param} must be a function (sync or async), got {_kind(value)}")
    return value


def require_str_list(param: str, value: object) -> list[str]:
    """Return ``value`` as a list if it is a list or tuple of str (a bare str is refused)."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{param} must be a list of str, e.g. ['word'], got {_kind(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{param}[{i}] must be a non-empty str, got {_kind(item)}")
    return list(value)


def _kind(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, str | int | float | bool):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__
