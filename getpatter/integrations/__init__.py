"""Patter as a tool for other agents: :class:`PatterTool` (also ``getpatter.PatterTool``).

The MCP server lives in ``getpatter_mcp`` and the LangChain tools in ``getpatter_langchain``;
all of them share :class:`~getpatter.control.CallService`.
"""

from getpatter.integrations.patter_tool import PatterTool, PatterToolResult, call_arguments_schema

__all__ = ["PatterTool", "PatterToolResult", "call_arguments_schema"]
