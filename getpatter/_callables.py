"""Calling user code that may be sync or async, with one or two positional parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import lru_cache
from typing import Any

__all__ = ["call_maybe_async", "takes_two"]


def takes_two(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` accepts a second positional argument (a context or ``CallControl``)."""
    try:
        return _positional_arity(fn) >= 2
    except TypeError:  # unhashable callables are rare: inspect them each time
        return _arity(fn) >= 2


async def call_maybe_async(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, awaited when it returns an awaitable."""
    result = fn(*args)
    if inspect.isawaitable(result):
        return await result
    return result


@lru_cache(maxsize=256)
def _positional_arity(fn: Callable[..., Any]) -> int:
    return _arity(fn)


def _arity(fn: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds)
