"""The exceptions of the HTTP libraries under the provider SDKs (httpx, and httpx2 in newer ones).

Kept apart from :mod:`getpatter.providers.errors` so that importing the error mapping does not
import httpx (``import getpatter`` stays light).
"""

from __future__ import annotations

import contextlib

import httpx

__all__ = ["TIMEOUT_ERRORS", "TRANSPORT_ERRORS"]


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    failures: list[type[Exception]] = [httpx.TransportError]
    timeouts: list[type[Exception]] = [httpx.TimeoutException]
    with contextlib.suppress(ImportError):  # newer SDKs stream through httpx2
        import httpx2

        failures.append(httpx2.TransportError)
        timeouts.append(httpx2.TimeoutException)
    return tuple(failures), tuple(timeouts)


TRANSPORT_ERRORS, TIMEOUT_ERRORS = _transport_errors()
"""What httpx and httpx2, the HTTP libraries under the SDKs, raise when a connection fails or
times out. Some SDK streams let these through unwrapped, mid-stream."""
