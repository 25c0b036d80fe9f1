"""The dashboard: calls live and past, in the browser, served by ``serve()`` or on its own.

:class:`Dashboard` holds the routes (page, JSON API under ``/api/v1/``, exports, Server-Sent
Events) over a :class:`~getpatter.calls.store.CallStore`. Starlette is imported only when the
routes are built.
"""

from getpatter.dashboard.app import PAGE_PATH, Dashboard, page_url
from getpatter.dashboard.auth import generate_token, validate_token

__all__ = ["PAGE_PATH", "Dashboard", "generate_token", "page_url", "validate_token"]
