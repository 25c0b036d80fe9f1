"""Offline ways to run and test agents: terminal test mode now, the loopback sandbox later."""

from getpatter.testing.terminal import ScriptedLines, StdinLines, TerminalCall

__all__ = ["ScriptedLines", "StdinLines", "TerminalCall"]
