"""Validation of the public hostname carriers call back (``webhook_url``, tunnels)."""

from __future__ import annotations

import re

from getpatter._validation import require_str
from getpatter.errors import InputValidationError

_HOST = re.compile(
    r"^(?=.{1,253}(:|$))([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::\d{1,5})?$"
)


def require_hostname(param: str, value: object) -> str:
    """Return ``value`` if it is a bare hostname (optionally ``:port``), with no scheme or path."""
    host = require_str(param, value, allow_empty=False).strip()
    if "://" in host:
        bare = host.split("://", 1)[1].rstrip("/")
        raise InputValidationError(
            f"{param}={host!r} must be a hostname without a scheme: use {bare!r}; "
            "Patter builds https:// URLs itself"
        )
    if "/" in host or not _HOST.fullmatch(host):
        raise InputValidationError(
            f"{param}={host!r} is not a bare hostname: give only the host, such as "
            "'api.example.com' (no path, spaces or query)"
        )
    return host
