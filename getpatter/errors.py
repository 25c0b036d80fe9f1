"""Patter's exceptions.

Every exception carries a stable, machine-readable :class:`ErrorCode` on ``code``, so callers
branch on the code instead of class names. Configuration and input mistakes are also
``ValueError``s, so code written against "raises ValueError" keeps working.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ErrorCode",
    "InputValidationError",
    "PatterConnectionError",
    "PatterError",
    "PolicyError",
    "ProvisionError",
    "RateLimitError",
]


class ErrorCode(StrEnum):
    """Why a :class:`PatterError` was raised. Values equal their names (``code == "AUTH"``)."""

    CONFIG = "CONFIG"
    CONNECTION = "CONNECTION"
    AUTH = "AUTH"
    TIMEOUT = "TIMEOUT"
    RATE_LIMIT = "RATE_LIMIT"
    WEBHOOK_VERIFICATION = "WEBHOOK_VERIFICATION"
    INPUT_VALIDATION = "INPUT_VALIDATION"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    PROVISION = "PROVISION"
    POLICY = "POLICY"
    INTERNAL = "INTERNAL"


class PatterError(Exception):
    """Base class of every error Patter raises on purpose."""

    default_code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code: ErrorCode = code if code is not None else self.default_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code.value})"


class ConfigError(PatterError, ValueError):
    """Invalid or conflicting configuration, or a missing credential (``ErrorCode.CONFIG``)."""

    default_code = ErrorCode.CONFIG


class InputValidationError(PatterError, ValueError):
    """A malformed value: a phone number, a tool argument... (``ErrorCode.INPUT_VALIDATION``)."""

    default_code = ErrorCode.INPUT_VALIDATION


class PatterConnectionError(PatterError):
    """A connection to a carrier or provider failed (``ErrorCode.CONNECTION``)."""

    default_code = ErrorCode.CONNECTION


class RateLimitError(PatterConnectionError):
    """A provider answered HTTP 429 (``ErrorCode.RATE_LIMIT``)."""

    default_code = ErrorCode.RATE_LIMIT


class AuthenticationError(PatterError):
    """A provider or carrier rejected our credentials (``ErrorCode.AUTH``)."""

    default_code = ErrorCode.AUTH


class ProvisionError(PatterError):
    """Number provisioning, webhook configuration or carrier setup failed."""

    default_code = ErrorCode.PROVISION


class PolicyError(PatterError):
    """A safety policy refused an action (for example a call to a number not on the allowlist).

    ``rule`` names the rule that refused, e.g. ``"allowlist"`` or ``"daily_spend"``.
    """

    default_code = ErrorCode.POLICY

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule
