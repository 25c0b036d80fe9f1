"""Reading credentials from the environment (spec X-1: explicit arguments win)."""

from __future__ import annotations

import os

from getpatter._redaction import register_secret


def env_fallback(value: str, *env_vars: str) -> str:
    """Return ``value`` if it is non-empty, else the first non-empty of ``env_vars``, else ""."""
    if value:
        return value
    for name in env_vars:
        found = os.environ.get(name, "").strip()
        if found:
            return found
    return ""


def env_secret(value: str, *env_vars: str) -> str:
    """:func:`env_fallback` for a key or token: the value found is also kept out of every log."""
    return register_secret(env_fallback(value, *env_vars))
