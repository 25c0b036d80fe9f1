"""Argument checks shared by the public constructors.

Each helper raises a :class:`ConfigError` (wrong type or missing value) or an
:class:`InputValidationError` (malformed value) whose message names the parameter and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from getpatter.errors import ConfigError, InputValidationError

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def is_e164(value: object) -> bool:
    """True when ``value`` is a phone number in E.164 form, such as ``+15550001234``."""
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def require_e164(param: str, value: object) -> str:
    """Return ``value`` if it is an E.164 number, else raise naming ``param``."""
    if not isinstance(value, str):
        raise ConfigError(
            f"{param} must be a str in E.164 form like '+15550001234', got {_kind(value)}"
        )
    if not is_e164(value):
        raise InputValidationError(
            f"{param}={value!r} is not an E.164 phone number: use '+', the country code and the "
            "number with no spaces or dashes, e.g. '+15550001234'"
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
