"""The suite's canary (tests/log_canary.py) really sees secrets, on any logger, at any level."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from log_canary import MARKER, SESSION


@pytest.fixture
def taken_back() -> Iterator[list[str]]:
    """The session canary's hits made during the test, removed so that the test does not fail."""
    start = len(SESSION.hits)
    seen: list[str] = []
    yield seen
    del SESSION.hits[start:]


def test_a_secret_on_a_quiet_third_party_logger_is_seen_but_not_printed(
    taken_back: list[str],
) -> None:
    logger = logging.getLogger("tests.some_library")
    printed: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = printed.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR)
    start = len(SESSION.hits)
    try:
        logger.debug("sent %s", {"x-key": f"sk-{MARKER}-quiet"})
        try:
            raise RuntimeError(f"refused {MARKER}-in-a-traceback")
        except RuntimeError:
            logger.debug("failed", exc_info=True)
        logger.debug("nothing secret here")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    taken_back.extend(SESSION.hits[start:])
    assert len(taken_back) == 2
    assert taken_back[0].startswith("tests.some_library DEBUG: sent {'x-key': 'sk-CANARY-quiet'}")
    assert "RuntimeError: refused CANARY-in-a-traceback" in taken_back[1]
    assert printed == []  # the ERROR level still decides what handlers get


def test_a_record_redacted_by_its_logger_is_not_a_hit(taken_back: list[str]) -> None:
    start = len(SESSION.hits)
    logging.getLogger("websockets.client").debug("> %s: %s", "xi-api-key", f"xi-{MARKER}-key")
    assert SESSION.hits[start:] == []
