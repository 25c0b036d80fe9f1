"""Reading credentials from the environment (spec X-1: explicit arguments win)."""

from __future__ import annotations

import os


def env_fallback(value: str, *env_vars: str) -> str:
    """Return ``value`` if it is non-empty, else the first non-empty of ``env_vars``, else ""."""
    if value:
        return value
    for name in env_vars:
        found = os.environ.get(name, "").strip()
        if found:
            return found
    return ""
