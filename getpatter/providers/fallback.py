"""What the fallback wrappers for LLMs, STT and TTS share: the order in which providers are
tried, the wait for a provider's first output, and the errors when switching is not possible.

A provider that fails before it produced anything is skipped and, for ``cooldown`` seconds,
tried last, so calls do not keep paying (in latency) for a provider that is down. A failure
after output started cannot be hidden: the caller may already be hearing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from typing import TypeVar

from getpatter._validation import require_amount
from getpatter.errors import ConfigError, ErrorCode, PatterConnectionError, PatterError

__all__ = [
    "ANSWERED_BY",
    "AllProvidersFailedError",
    "FallbackOrder",
    "PartialStreamError",
    "first_item",
]

T = TypeVar("T")

ANSWERED_BY: ContextVar[str] = ContextVar("getpatter_answered_by", default="")
"""The price key of the provider a fallback TTS last switched to, in the task reading its
audio (an async generator runs in its reader's context), so the reader prices the characters
as that provider's. Empty when no fallback answered."""


class AllProvidersFailedError(PatterError):
    """Every provider of a fallback wrapper failed before answering.

    ``errors`` holds ``(provider name, error)`` in the order they were tried.
    """

    default_code = ErrorCode.PROVIDER_ERROR

    def __init__(self, errors: Sequence[tuple[str, PatterError]], kind: str = "LLM") -> None:
        self.errors = tuple(errors)
        said = "; ".join(f"{name}: {error.message}" for name, error in self.errors)
        super().__init__(f"every {kind} failed ({said})")


class PartialStreamError(PatterConnectionError):
    """A provider failed after its answer had started: what was streamed stands, the rest is
    lost (falling back then would repeat or contradict what the caller heard)."""


class FallbackOrder:
    """Which provider to try first: the given order, with those that failed within
    ``cooldown`` seconds moved last (oldest failure first)."""

    def __init__(self, count: int, cooldown: float) -> None:
        self.count = count
        self.cooldown = require_amount("cooldown", cooldown)
        self._failed_at: dict[int, float] = {}

    def order(self) -> list[int]:
        """Indexes of the providers, in the order to try them now."""
        now = time.monotonic()
        cooling = sorted((at, i) for i, at in self._failed_at.items() if now - at < self.cooldown)
        skipped = {i for _, i in cooling}
        return [i for i in range(self.count) if i not in skipped] + [i for _, i in cooling]

    def failed(self, index: int) -> None:
        """Provider ``index`` failed before producing anything."""
        self._failed_at[index] = time.monotonic()

    def succeeded(self, index: int) -> None:
        """Provider ``index`` produced output: it is healthy again."""
        self._failed_at.pop(index, None)


def check_providers(
    owner: str, providers: object, kind: type, noun: str, example: str
) -> tuple[T, ...]:
    """``providers`` as a tuple of two or more ``kind`` instances (``noun``: "LLMs"), or a
    ConfigError showing ``example``."""
    items = tuple(providers) if isinstance(providers, list | tuple) else ()
    if len(items) < 2:
        raise ConfigError(f"{owner} needs a list of two or more {noun}, e.g. {example}")
    for index, provider in enumerate(items):
        if not isinstance(provider, kind):
            raise ConfigError(
                f"{owner} providers[{index}] must be one of the {noun}, got "
                f"{type(provider).__name__}"
            )
    return items


def check_timeout(name: str, value: float | None) -> float | None:
    """A positive number of seconds, or ``None`` for no limit."""
    if value is not None and not require_amount(name, value) > 0:
        raise ConfigError(f"{name} must be more than 0 s, or None for no limit")
    return value


async def first_item(items: AsyncIterator[T], limit: float | None, option: str) -> T:
    """The first item of ``items``; a :class:`PatterError` if it ends empty or takes longer
    than ``limit`` seconds (``option`` names the setting in the message)."""
    try:
        if limit is None:
            return await anext(items)
        async with asyncio.timeout(limit):
            return await anext(items)
    except StopAsyncIteration:
        raise PatterError(
            "ended its answer without any output", code=ErrorCode.PROVIDER_ERROR
        ) from None
    except TimeoutError:
        raise PatterConnectionError(
            f"sent nothing within {option}={limit:g} s", code=ErrorCode.TIMEOUT
        ) from None
