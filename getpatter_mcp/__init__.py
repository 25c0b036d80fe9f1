"""MCP server for Patter."""
