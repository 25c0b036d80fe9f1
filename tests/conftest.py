"""The whole suite checks that no secret reaches a log, third-party loggers included.

For the whole session every logger is enabled at DEBUG and every record is scanned for the
canary marker that every key and token of the tests carries (``log_canary.py``). A test during
which a record leaked a secret fails; a leak outside any test fails the run. So does a test that
hands Patter a key or token without the marker: write keys as ``"sk-CANARY-..."``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from log_canary import CREDENTIAL_VARIABLES, MARKER, SESSION, mark_generated_secrets

from getpatter import _redaction

_CANARY = SESSION
_seen = 0
"""How many of the canary's hits have been given to a test or to :data:`_outside`."""
_outside: list[str] = []
"""Leaks logged outside any test (between tests): they fail the run at its end."""


@pytest.fixture(scope="session", autouse=True)
def _every_log_at_debug_is_checked_for_secrets() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        for name in CREDENTIAL_VARIABLES:
            env.delenv(name, raising=False)
        # A developer's own call-log settings must not make the suite write logs.
        for name in ("PATTER_LOG_DIR", "PATTER_LOG_REDACT_PHONE", "PATTER_LOG_RETENTION_DAYS"):
            env.delenv(name, raising=False)
        env.setattr(_redaction._registry, "add", _canary_only(_redaction._registry.add))
        undo = mark_generated_secrets()
        _CANARY.start()
        try:
            yield
        finally:
            _CANARY.stop()
            undo()


@pytest.fixture(autouse=True)
def _no_secret_in_this_tests_logs() -> Iterator[None]:
    global _seen
    start = len(_CANARY.hits)
    _outside.extend(_CANARY.hits[_seen:start])
    yield
    _seen = len(_CANARY.hits)
    leaks = _CANARY.hits[start:_seen]
    if leaks:
        pytest.fail(_describe(leaks), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run for leaks logged outside any test (between tests, at shutdown)."""
    leaks = _outside + _CANARY.hits[_seen:]
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(_describe(leaks), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _describe(leaks: list[str]) -> str:
    shown = "\n".join(f"  {line}" for line in leaks[:10])
    more = f"\n  ... and {len(leaks) - 10} more" if len(leaks) > 10 else ""
    return f"{len(leaks)} secret(s) leaked or not marked ({MARKER!r}):\n{shown}{more}"


def _canary_only(add: object) -> object:
    """``_Registry.add`` that records a key or token lacking the marker as a leak."""

    def checked(value: str) -> None:
        if MARKER not in value:
            _CANARY.hits.append(
                f"(not a log) a key or token without {MARKER!r} was given to Patter "
                f"({value[:4]}..., {len(value)} chars): make every key in a test a canary"
            )
        add(value)  # type: ignore[operator]

    return checked
