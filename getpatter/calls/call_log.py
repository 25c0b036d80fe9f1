"""Call logs on disk (spec LG): one folder per call, written by a subscriber of the call stream.

:class:`CallLogger` subscribes to a :class:`~getpatter.calls.stream.CallEventStream` and writes
each call to ``<root>/calls/YYYY/MM/DD/<call_id>/`` (format: :mod:`getpatter.calls.log_format`).
It is off unless ``PATTER_LOG_DIR`` is set (:meth:`CallLogger.from_env`); ``Patter`` attaches
one to its stream when it is.

Every file operation runs on one worker thread of the logger's own, in the order the events
came, so the event loop never waits on the disk and a call's rows stay in order. A failure
(disk full, a read-only folder) is logged as a warning, once per call, and never reaches the
call. ``metadata.json`` is written when a call is first seen, when it starts and when it ends
(its ``CallEnded``, or a final carrier status before it), each time to a temporary file renamed
over it, so a reader never sees half of one.

Retention: on about one call start in 50 (``sweep_chance``), the day folders older than
``retention_days`` (UTC dates) are deleted on the worker thread; ``0`` keeps everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from getpatter._validation import require_int, require_number
from getpatter.calls import log_format
from getpatter.calls.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.phone_redaction import (
    DEFAULT_PHONE_REDACTION,
    PhoneRedaction,
    phone_redaction_from_env,
    require_phone_redaction,
)
from getpatter.calls.store import ENDED_STATUSES, StoredCall, apply_event, jsonable
from getpatter.calls.stream import CallEventStream
from getpatter.errors import ConfigError

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_SWEEP_CHANCE",
    "LOGGED_KINDS",
    "LOG_DIR_ENV",
    "RETENTION_DAYS_ENV",
    "CallLogger",
    "default_log_root",
    "log_from_env",
]

logger = logging.getLogger("getpatter.calls.log")

LOG_DIR_ENV = "PATTER_LOG_DIR"
RETENTION_DAYS_ENV = "PATTER_LOG_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
DEFAULT_SWEEP_CHANCE = 0.02
_REMEMBERED_ENDED = 1000

LOGGED_KINDS: tuple[type[CallEvent], ...] = (
    TranscriptFinal,
    *log_format.EVENT_TYPES,
)
"""The event kinds a :class:`CallLogger` writes (agent audio chunks are not among them)."""


def default_log_root(environ: Mapping[str, str] | None = None) -> Path:
    """The platform data folder ``PATTER_LOG_DIR=auto`` means (LG-2): macOS
    ``~/Library/Application Support/patter``; Windows ``%LOCALAPPDATA%/patter``; elsewhere
    ``$XDG_DATA_HOME/patter``, else ``~/.local/share/patter``."""
    env = os.environ if environ is None else environ
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "patter"
    if sys.platform == "win32":
        local = env.get("LOCALAPPDATA", "")
        return (Path(local) if local else home / "AppData" / "Local") / "patter"
    xdg = env.get("XDG_DATA_HOME", "")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share") / "patter"


@dataclass
class _OpenCall:
    """What the writer keeps about a call until it ends (on the worker thread only)."""

    folder: Path
    call: StoredCall
    voice: str | None = None
    totals: list[float] = field(default_factory=list)
    last_cost: dict[str, float] = field(default_factory=dict)
    agent_line: dict[str, Any] | None = None
    """The latest agent line, held until its turn's metrics come (or the next line)."""
    loose_turn: tuple[dict[str, Any], dict[str, float]] | None = None
    """A turn's latency and cost that came before its agent line."""
    failures: int = 0


class CallLogger:
    """Writes calls to ``root`` (``None``: disabled, every method returns at once; LG-1).

    ``redact_phone`` is how ``metadata.json`` and ``events.jsonl`` keep phone numbers
    (:mod:`getpatter.calls.phone_redaction`); transcripts are never redacted.
    ``retention_days`` (``0``: keep everything) and ``sweep_chance`` (the share of call starts
    that run the retention sweep) govern deletion. :meth:`from_env` reads the ``PATTER_LOG_*``
    variables.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        redact_phone: PhoneRedaction = DEFAULT_PHONE_REDACTION,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        sweep_chance: float = DEFAULT_SWEEP_CHANCE,
    ) -> None:
        if root is not None and not isinstance(root, str | os.PathLike):
            raise ConfigError(f"root must be a folder path or None, got {type(root).__name__}")
        self.root: Path | None = None if root is None else Path(root).expanduser().absolute()
        self.redact_phone = require_phone_redaction("redact_phone", redact_phone)
        self.retention_days = require_int("retention_days", retention_days, minimum=0)
        chance = require_number("sweep_chance", sweep_chance)
        if not 0.0 <= chance <= 1.0:
            raise ConfigError(f"sweep_chance must be between 0 and 1, got {sweep_chance}")
        self.sweep_chance = chance
        self._worker: ThreadPoolExecutor | None = None
        self._closed = False
        self._open: dict[str, _OpenCall] = {}
        self._ended: OrderedDict[str, Path] = OrderedDict()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CallLogger:
        """A logger configured by ``PATTER_LOG_DIR`` (unset or empty: disabled; ``auto``: the
        platform data folder), ``PATTER_LOG_REDACT_PHONE`` (``mask``, ``full``, ``hash_only``)
        and ``PATTER_LOG_RETENTION_DAYS`` (default 30, ``0`` keeps everything).

        A value these cannot mean raises :class:`ConfigError` naming the variable: a log that
        silently kept numbers in full, or deleted calls too early, would be worse than none.
        """
        env = os.environ if environ is None else environ
        raw_root = env.get(LOG_DIR_ENV, "").strip()
        if not raw_root:
            return cls(None)
        root = default_log_root(env) if raw_root.lower() == "auto" else Path(raw_root)
        raw_days = env.get(RETENTION_DAYS_ENV, "").strip()
        try:
            days = int(raw_days) if raw_days else DEFAULT_RETENTION_DAYS
        except ValueError:
            days = -1
        if days < 0:
            raise ConfigError(
                f"{RETENTION_DAYS_ENV} must be a whole number of days, 0 or more (0 keeps every "
                f"call log), got {raw_days!r}"
            )
        return cls(root, redact_phone=phone_redaction_from_env(env), retention_days=days)

    @property
    def enabled(self) -> bool:
        """Whether calls are written (a root is set and the logger is not closed)."""
        return self.root is not None and not self._closed

    def subscribe(self, stream: CallEventStream) -> Callable[[], None]:
        """Have ``stream`` deliver the logged kinds to :meth:`record`; return the unsubscribe."""
        if not self.enabled:
            return _nothing
        return stream.subscribe(self.record, kinds=LOGGED_KINDS, name="call log")

    def record(self, event: CallEvent) -> None:
        """Queue ``event``'s writes on the worker thread; returns at once and never raises."""
        if not self.enabled:
            return
        try:
            self._submit(self._write, event)
            if (
                isinstance(event, CallStarted)
                and self.retention_days
                and random.random() < self.sweep_chance
            ):
                self._submit(self._sweep_quietly, time.time())
        except RuntimeError as exc:  # the interpreter is shutting down: no thread can start
            logger.warning("call log of %s not written: %s", event.call_id, exc)

    async def flush(self) -> None:
        """Wait until every write queued so far is done."""
        if self._worker is not None:
            await asyncio.wrap_future(self._worker.submit(_nothing))

    async def sweep(self, now: float | None = None) -> list[Path]:
        """Delete the day folders older than ``retention_days`` (UTC dates) at ``now`` (Unix
        seconds; default: now), after the queued writes; return the folders deleted."""
        if not self.enabled or not self.retention_days:
            return []
        at = time.time() if now is None else now
        deleted: list[Path] = await asyncio.wrap_future(self._submit(self._sweep, at))
        return deleted

    async def aclose(self) -> None:
        """Finish the queued writes and stop the worker; later events are ignored."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.to_thread(worker.shutdown, wait=True)

    def run_on_worker(self, work: Callable[[], Any]) -> Future[Any]:
        """Run ``work()`` on the writer's thread after the writes queued so far (for readers
        of the same folder, which then see every event recorded before)."""
        return self._submit(work)

    def held_line(self, call_id: str) -> dict[str, Any] | None:
        """The agent line of an active call not written yet (it waits for its turn's metrics).
        Call it from :meth:`run_on_worker` work only."""
        entry = self._open.get(call_id)
        return None if entry is None or entry.agent_line is None else dict(entry.agent_line)

    # ------------------------------------------------------------------ on the worker thread

    def _submit(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="patter-call-log")
        return self._worker.submit(work, *args)

    def _write(self, event: CallEvent) -> None:
        try:
            self._apply(event)
        except Exception as exc:
            self._failed(event.call_id, exc)
        if isinstance(event, CallEnded):
            self._forget(event.call_id)

    def _apply(self, event: CallEvent) -> None:
        assert self.root is not None
        entry = self._open.get(event.call_id)
        if entry is None:
            ended = self._ended.get(event.call_id)
            if ended is not None:  # after the end (a recording): its row only
                self._append_row(ended, event)
                return
            folder = log_format.call_dir(self.root, event.call_id, event.at)
            entry = self._open[event.call_id] = _OpenCall(folder, apply_event(None, event))
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not isinstance(event, CallStarted | CallEnded):
                self._write_metadata(entry)
        else:
            entry.call = apply_event(entry.call, event)
        if isinstance(event, TranscriptFinal):
            self._line(entry, event)
            return
        if isinstance(event, CallStarted):
            entry.voice = log_format.voice_of(event.agent)
        elif isinstance(event, TurnCompleted):
            self._turn(entry, event)
        elif isinstance(event, CallEnded):
            self._end(entry, event)
        self._append_row(entry.folder, event)
        if isinstance(event, CallStarted | CallEnded) or (
            isinstance(event, CallStatusChanged) and event.status in ENDED_STATUSES
        ):
            self._write_metadata(entry)

    def _line(self, entry: _OpenCall, event: TranscriptFinal) -> None:
        self._flush_agent_line(entry)
        row: dict[str, Any] = {
            "ts": log_format.iso(event.at),
            "role": event.role,
            "text": event.text,
            "heard": event.heard,
            "latency": None,
            "cost": None,
        }
        if event.role != "assistant":
            _append(entry.folder / "transcript.jsonl", row)
        elif entry.loose_turn is not None:
            row["latency"], row["cost"] = entry.loose_turn
            entry.loose_turn = None
            _append(entry.folder / "transcript.jsonl", row)
        else:
            entry.agent_line = row

    def _turn(self, entry: _OpenCall, event: TurnCompleted) -> None:
        cost_so_far = event.cost_so_far.to_dict()
        latency: dict[str, Any] = jsonable(event.turn.latency.to_dict())
        cost = log_format.turn_cost(cost_so_far, entry.last_cost)
        entry.last_cost = cost_so_far
        if event.turn.latency.total_ms is not None:
            entry.totals.append(event.turn.latency.total_ms)
        if entry.agent_line is not None:
            entry.agent_line["latency"], entry.agent_line["cost"] = latency, cost
            self._flush_agent_line(entry)
        else:
            entry.loose_turn = (latency, cost)

    def _end(self, entry: _OpenCall, event: CallEnded) -> None:
        self._flush_agent_line(entry)
        metrics = event.report.metrics
        if metrics is not None and metrics.turns:
            entry.totals = [
                t.latency.total_ms for t in metrics.turns if t.latency.total_ms is not None
            ]

    def _flush_agent_line(self, entry: _OpenCall) -> None:
        if entry.agent_line is not None:
            line, entry.agent_line = entry.agent_line, None
            _append(entry.folder / "transcript.jsonl", line)

    def _append_row(self, folder: Path, event: CallEvent) -> None:
        row = log_format.event_row(event, self.redact_phone)
        if row is not None:
            _append(folder / "events.jsonl", row)

    def _write_metadata(self, entry: _OpenCall) -> None:
        data = log_format.metadata(
            entry.call, entry.totals, voice=entry.voice, redact=self.redact_phone
        )
        target = entry.folder / "metadata.json"
        temporary = entry.folder / ".metadata.json.tmp"
        with _private(temporary, os.O_TRUNC) as handle:
            handle.write(_dumps(data, indent=2))
        os.replace(temporary, target)

    def _forget(self, call_id: str) -> None:
        entry = self._open.pop(call_id, None)
        if entry is None:
            return
        self._ended[call_id] = entry.folder
        while len(self._ended) > _REMEMBERED_ENDED:
            self._ended.popitem(last=False)
        if entry.failures > 1:
            logger.warning(
                "call log of %s: %d writes failed in all (%s)",
                call_id,
                entry.failures,
                entry.folder,
            )

    def _failed(self, call_id: str, exc: Exception) -> None:
        entry = self._open.get(call_id)
        if entry is not None:
            entry.failures += 1
            if entry.failures > 1:
                logger.debug("call log of %s: write failed again: %s", call_id, exc)
                return
        logger.warning(
            "call log of %s could not be written (%s: %s); the call goes on unlogged where "
            "writes fail",
            call_id,
            type(exc).__name__,
            exc,
        )

    def _sweep_quietly(self, now: float) -> None:
        try:
            self._sweep(now)
        except Exception as exc:
            logger.warning("call log retention sweep failed (%s: %s)", type(exc).__name__, exc)

    def _sweep(self, now: float) -> list[Path]:
        assert self.root is not None
        calls = self.root / "calls"
        oldest_kept = log_format.day_of(now) - timedelta(days=self.retention_days)
        deleted: list[Path] = []
        for day, folder in log_format.day_folders(calls):
            if day < oldest_kept:
                shutil.rmtree(folder)
                deleted.append(folder)
        months = {p.parent for p in deleted}
        for folder in [*sorted(months), *sorted({m.parent for m in months})]:
            with contextlib.suppress(OSError):  # not empty: calls of other days are in it
                folder.rmdir()
        if deleted:
            logger.info("call log retention: %d day folders deleted", len(deleted))
        return deleted


def _nothing() -> None:
    return None


def _dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, allow_nan=False, indent=indent)


class _private:
    """A file opened for writing, created readable by its owner only (mode 0600)."""

    def __init__(self, path: Path, flags: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)

    def __enter__(self) -> _private:
        return self

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(self._fd, data) :]

    def __exit__(self, *exc_info: object) -> None:
        os.close(self._fd)


def _append(path: Path, row: dict[str, Any]) -> None:
    # One write() of one line to a file opened with O_APPEND: rows never interleave.
    with _private(path, os.O_APPEND) as handle:
        handle.write(_dumps(row) + "\n")


def log_from_env(stream: CallEventStream, store: object = None) -> CallLogger | None:
    """Subscribe a :meth:`CallLogger.from_env` logger to ``stream`` when ``PATTER_LOG_DIR`` is
    set; return it (``None`` when unset, or when ``store`` already writes that folder)."""
    call_log = CallLogger.from_env()
    if not call_log.enabled:
        return None
    writer = getattr(store, "writer", None)
    if isinstance(writer, CallLogger) and writer.root == call_log.root:
        return None
    call_log.subscribe(stream)
    return call_log
