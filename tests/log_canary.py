"""Canary secrets and a log scanner: the suite-wide check that no secret reaches a log.

Every key and token the tests use contains :data:`MARKER`: keys written in tests (``api_key=``,
``auth_token=``, ``monkeypatch.setenv``), the sandbox's fake keys, and the tokens Patter generates
at run time (media-stream, MCP and confirmation tokens all come from ``secrets.token_urlsafe``).
:class:`LogCanary` turns every logger on at DEBUG, whatever level it was given, and looks for the
marker in each record once the record's own logger has filtered it, which is what any handler
would print. ``conftest.py`` runs it for the whole session; run as a script, this module starts
``getpatter-mcp`` with its tokens and sandbox keys marked, for the tests that read its stderr.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable
from typing import Any

MARKER = "CANARY"
"""Part of every secret in the tests; never part of anything else."""

CREDENTIAL_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GROQ_API_KEY",
    "CEREBRAS_API_KEY",
    "DEEPGRAM_API_KEY",
    "ASSEMBLYAI_API_KEY",
    "SONIOX_API_KEY",
    "ELEVENLABS_API_KEY",
    "TELNYX_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "PATTER_MCP_TOKEN",
)
"""Read by Patter when no key is passed: the session removes them, so a developer's real key
never stands in for a canary (tests that need one set a canary with ``monkeypatch.setenv``)."""

_SANDBOX_KEYS = {
    "_FAKE_OPENAI_KEY": f"sk-sandbox-{MARKER}-openai",
    "_FAKE_KEY_SUFFIX": f"sandbox-{MARKER}",
    "_FAKE_ELEVENLABS_KEY": f"el-sandbox-{MARKER}-elevenlabs",
}
_TRACEBACKS = logging.Formatter()


def mark_generated_secrets() -> Callable[[], None]:
    """Make generated tokens and the sandbox's fake keys carry :data:`MARKER`; returns an undo."""
    from getpatter.testing import sandbox

    token_urlsafe = secrets.token_urlsafe
    keys = {name: getattr(sandbox, name) for name in _SANDBOX_KEYS}

    def marked_token_urlsafe(nbytes: int | None = None) -> str:
        return MARKER + token_urlsafe(nbytes)

    secrets.token_urlsafe = marked_token_urlsafe
    for name, value in _SANDBOX_KEYS.items():
        setattr(sandbox, name, value)

    def undo() -> None:
        secrets.token_urlsafe = token_urlsafe
        for name, value in keys.items():
            setattr(sandbox, name, value)

    return undo


def leaked_text(record: logging.LogRecord) -> str | None:
    """The record's message, exception and stack text if :data:`MARKER` is in it, else None."""
    try:
        text = record.getMessage()
    except Exception:
        text = f"{record.msg!r} % {record.args!r}"
    if record.exc_info and not record.exc_text:
        text += "\n" + _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + record.stack_info
    return text if MARKER in text else None


class LogCanary:
    """Every record of every logger at DEBUG, scanned for :data:`MARKER` after its filters.

    :meth:`start` makes every logger create its records from DEBUG up, whatever its level, and
    wraps :meth:`logging.Logger.callHandlers`, which runs once per record, after the filters of
    the logger that created it, whatever handlers and propagation follow. A record below its
    logger's level is scanned and then dropped, so handlers (pytest's too) see what they would
    without the canary. One substring test per record; a traceback is formatted only for records
    that carry one.
    """

    def __init__(self) -> None:
        self.hits: list[str] = []
        """One line per leaking record: logger, level and the text with the secret."""
        self._undo: list[Callable[[], None]] = []

    def start(self) -> None:
        """Capture from now on."""
        is_enabled_for = logging.Logger.isEnabledFor
        call_handlers = logging.Logger.callHandlers
        hits = self.hits

        def enabled_at_debug(logger: logging.Logger, level: int) -> bool:
            if logger.disabled or logger.manager.disable >= level:
                return False
            return level >= logging.DEBUG or is_enabled_for(logger, level)

        def scanned(logger: logging.Logger, record: logging.LogRecord) -> None:
            text = leaked_text(record)
            if text is not None:
                hits.append(f"{record.name} {record.levelname}: {text[:2000]}")
            # Handlers get only what the levels let through, as without the canary.
            if is_enabled_for(logger, record.levelno):
                call_handlers(logger, record)

        patched: Any = logging.Logger
        patched.isEnabledFor = enabled_at_debug
        patched.callHandlers = scanned

        def undo() -> None:
            patched.isEnabledFor = is_enabled_for
            patched.callHandlers = call_handlers

        self._undo.append(undo)

    def stop(self) -> None:
        """Stop capturing."""
        while self._undo:
            self._undo.pop()()


SESSION = LogCanary()
"""The canary of the test session (started by ``conftest.py``)."""


def _run_mcp_server() -> int:
    """``getpatter-mcp`` with its arguments, tokens and sandbox keys marked (for stderr tests)."""
    mark_generated_secrets()
    from getpatter_mcp.cli import main

    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(_run_mcp_server())
