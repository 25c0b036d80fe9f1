"""MCP server for Patter: the phone as a tool for any MCP client.

``build_server(service)`` turns a :class:`getpatter.control.service.CallService` into an
official ``mcp`` SDK ``MCPServer`` with tools to place, follow and steer calls and resources
that notify subscribers of every change. The ``getpatter-mcp`` command runs it over stdio or
streamable HTTP. Needs ``pip install 'getpatter[mcp]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from getpatter_mcp.server import build_server

__all__ = ["build_server"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `getpatter-mcp --help` works (and says what to install) without the extra.
    if name != "build_server":
        raise AttributeError(f"module 'getpatter_mcp' has no attribute {name!r}")
    try:
        from getpatter_mcp.server import build_server
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mcp"):
            raise
        raise ImportError(
            "the Patter MCP server needs the official MCP SDK: pip install 'getpatter[mcp]'"
        ) from exc
    return build_server
