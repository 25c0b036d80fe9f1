"""Live updates for the browser: call events as Server-Sent Events.

Each connected browser gets ``retry: 2000``, then messages ``event: <name>`` / ``data: <json>``:

- ``call``: ``{"call": summary}`` whenever a call's summary changes (placed, started, status,
  turn, error, ended);
- ``transcript``: ``{"call_id", "line": {"role", "text", "heard", "at"}}``;
- ``partial``: ``{"call_id", "role", "text"}``: what the caller is saying so far (pipeline
  calls that started while a browser was connected: only then do they ask for interim results);
- ``turn``: ``{"call_id", "turn": turn}``;

and a ``: ping`` comment every 15 seconds. A browser's messages wait in a bounded queue of its
own: one that falls behind loses the oldest, and never slows anything else.

Two sources feed them. In a serving process (:class:`StreamFeed`) each browser is its own
subscriber of the :class:`~getpatter.calls.stream.CallEventStream` and keeps its own copy of the
summaries of the calls it hears about, updated with
:func:`~getpatter.calls.store.apply_event` (the store is fed by another task and may lag behind
the event being sent). Standalone, over a store another process writes (:class:`StorePoller`),
the store is read once a second and the same messages are sent for what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from getpatter.calls.events import (
    CallEnded,
    CallError,
    CallEvent,
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TranscriptPartial,
    TurnCompleted,
)
from getpatter.calls.store import (
    CallStore,
    StoredCall,
    apply_event,
    jsonable,
    latency_percentiles,
    transcript_line,
    turn_entry,
)
from getpatter.calls.stream import CallEventStream
from getpatter.dashboard.records import summary

__all__ = ["MAX_QUEUED", "PING_SECONDS", "LiveFeed", "Outbox", "StorePoller", "StreamFeed"]

logger = logging.getLogger("getpatter.dashboard")

MAX_QUEUED = 1000
"""How many messages (and stream events) one browser may fall behind before losing the oldest."""

PING_SECONDS = 15.0
"""How often an idle event stream sends a ``: ping`` comment (keeps proxies from closing it)."""

POLL_SECONDS = 1.0
"""How often :class:`StorePoller` reads the store."""

_SUMMARY_KINDS: tuple[type[CallEvent], ...] = (
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    TurnCompleted,
    CallError,
    CallEnded,
)
_KINDS: tuple[type[CallEvent], ...] = (*_SUMMARY_KINDS, TranscriptFinal, TranscriptPartial)

Message = tuple[str, dict[str, Any]]
"""An event name and its JSON data."""


def encode(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Events message (JSON has no raw newlines, so one ``data:`` line);
    non-finite numbers are sent as ``null``, which browsers' JSON can read."""
    return f"event: {name}\ndata: {json.dumps(jsonable(data), separators=(',', ':'))}\n\n"


class Outbox:
    """One browser's messages waiting to be sent: at most ``size``, the oldest dropped first."""

    def __init__(self, size: int = MAX_QUEUED) -> None:
        self._messages: deque[Message] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = 0

    def put(self, message: Message) -> None:
        """Queue ``message``; never waits (ignored once closed)."""
        if self.closed:
            return
        if len(self._messages) == self._messages.maxlen:
            self.dropped += 1
        self._messages.append(message)
        self._ready.set()

    def close(self) -> None:
        """End the browser's stream once what is queued is sent (the server is stopping)."""
        self.closed = True
        self._ready.set()

    async def get(self, wait: float) -> Message | None:
        """The next message, or ``None`` after ``wait`` seconds with none (at once when closed
        and empty)."""
        if not self._messages and not self.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._ready.wait()
        if not self._messages:
            self._ready.clear()
            return None
        message = self._messages.popleft()
        if not self._messages and not self.closed:
            self._ready.clear()
        return message


class LiveFeed(Protocol):
    """Where a browser's messages come from: :class:`StreamFeed` or :class:`StorePoller`."""

    def connect(self, outbox: Outbox) -> Callable[[], None]:
        """Start filling ``outbox``; return what stops it (called when the browser leaves)."""
        ...

    async def ready(self) -> None:
        """Return once every change from now on reaches the outboxes connected so far."""
        ...


async def event_stream(outbox: Outbox, feed: LiveFeed) -> AsyncIterator[str]:
    """The text of one browser's event stream, until it leaves or ``outbox`` is closed."""
    disconnect = feed.connect(outbox)
    try:
        await feed.ready()  # a browser told it is subscribed misses nothing after that
        yield "retry: 2000\n\n"
        while True:
            message = await outbox.get(PING_SECONDS)
            if message is not None:
                yield encode(*message)
            elif outbox.closed:
                return  # what was queued has been sent
            else:
                yield ": ping\n\n"
    finally:
        disconnect()
        if outbox.dropped:
            logger.info("dashboard: a slow browser missed %d live updates", outbox.dropped)


@dataclass
class _LiveCall:
    call: StoredCall | None
    """``None``: the store does not hold the call yet."""
    totals: dict[int, float | None] = field(default_factory=dict)
    """Each turn's ``latency.total_ms`` by ``turn_index``."""


class _Summaries:
    """One browser's copy of the summaries of the calls it heard about, kept with the events."""

    def __init__(self, store: CallStore) -> None:
        self._store = store
        self._calls: dict[str, _LiveCall] = {}

    async def messages(self, event: CallEvent) -> list[Message]:
        """What ``event`` changes, as messages."""
        if isinstance(event, TranscriptFinal):
            return [("transcript", {"call_id": event.call_id, "line": transcript_line(event)})]
        if isinstance(event, TranscriptPartial):
            return [("partial", {"call_id": event.call_id, "role": event.role, "text": event.text})]
        live = self._calls.get(event.call_id)
        if live is None:
            live = self._calls[event.call_id] = await self._known(event.call_id)
        sent: list[Message] = []
        call = apply_event(live.call, event)
        if isinstance(event, TurnCompleted):
            live.totals[event.turn.turn_index] = event.turn.latency.total_ms
            p50, p95 = latency_percentiles(list(live.totals.values()))
            call = dataclasses.replace(
                call,
                turns=max(len(live.totals), event.turn.turn_index + 1),
                latency_p50_ms=p50,
                latency_p95_ms=p95,
            )
            sent.append(("turn", {"call_id": event.call_id, "turn": turn_entry(event)}))
        live.call = call
        sent.append(("call", {"call": summary(call)}))
        if isinstance(event, CallEnded):
            del self._calls[event.call_id]
        return sent

    async def _known(self, call_id: str) -> _LiveCall:
        # What the store has so far: the call may have started before this browser connected.
        call = await self._store.get(call_id)
        if call is None:
            return _LiveCall(None)
        totals: dict[int, float | None] = {}
        for index, turn in enumerate(await self._store.turns(call_id)):
            latency = turn.get("latency")
            turn_index = turn.get("turn_index", index)
            totals[turn_index if isinstance(turn_index, int) else index] = (
                latency.get("total_ms") if isinstance(latency, dict) else None
            )
        return _LiveCall(call, totals)


class StreamFeed:
    """Messages from a serving process's event stream; each browser subscribes on its own."""

    def __init__(self, stream: CallEventStream, store: CallStore) -> None:
        self._stream = stream
        self._store = store

    def connect(self, outbox: Outbox) -> Callable[[], None]:
        """Subscribe a new browser (its own queue, at most :data:`MAX_QUEUED` events behind)."""
        summaries = _Summaries(self._store)

        async def deliver(event: CallEvent) -> None:
            for message in await summaries.messages(event):
                outbox.put(message)

        return self._stream.subscribe(
            deliver, kinds=_KINDS, max_pending=MAX_QUEUED, name="dashboard browser"
        )

    async def ready(self) -> None:
        """At once: a subscriber gets every event published after it subscribed."""


@dataclass
class _Seen:
    summary: dict[str, Any]
    lines: int | None
    """Transcript lines already sent (``None``: not counted yet, nothing to send for)."""
    turns: int | None


class StorePoller:
    """Messages from a store another process writes: read once a second while a browser is
    connected, and every change sent to every connected browser."""

    def __init__(self, store: CallStore, *, interval: float = POLL_SECONDS) -> None:
        self._store = store
        self._interval = interval
        self._outboxes: set[Outbox] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, _Seen] | None = None
        self._baseline = asyncio.Event()
        """Set once the first read of the store (what is there before any change) is done."""

    def connect(self, outbox: Outbox) -> Callable[[], None]:
        """Add a browser; the polling runs while at least one is connected."""
        self._outboxes.add(outbox)
        if self._task is None or self._task.done():
            self._seen = None
            self._baseline = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="patter-dashboard-poll"
            )

        def disconnect() -> None:
            self._outboxes.discard(outbox)
            if not self._outboxes and self._task is not None:
                self._task.cancel()
                self._task = None

        return disconnect

    async def ready(self) -> None:
        """Once the first read of the store is done: a change written before it would be taken
        for what was already there, and never sent."""
        await self._baseline.wait()

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:
                logger.exception("dashboard: reading the call store failed")
            self._baseline.set()
            await asyncio.sleep(self._interval)

    async def poll(self) -> None:
        """Read the store once and send what changed since the last read (the first read only
        notes what is there)."""
        calls = {call.call_id: call for call in await self._store.list(limit=100)}
        for call in await self._store.list(active=True, limit=500):
            calls[call.call_id] = call
        first = self._seen is None
        seen = self._seen or {}
        now: dict[str, _Seen] = {}
        for call_id, call in calls.items():
            current = summary(call)
            before = seen.get(call_id)
            if before is None and first:
                before = _Seen(current, None, None)
            elif before is None:
                before = _Seen({}, 0, 0)
            messages: list[Message] = []
            if before.summary != current:
                messages.append(("call", {"call": current}))
            lines, turns = before.lines, before.turns
            if call.active or before.summary != current:
                transcript = await self._store.transcript(call_id)
                messages.extend(
                    ("transcript", {"call_id": call_id, "line": line})
                    for line in transcript[(len(transcript) if lines is None else lines) :]
                )
                kept_turns = await self._store.turns(call_id)
                messages.extend(
                    ("turn", {"call_id": call_id, "turn": turn})
                    for turn in kept_turns[(len(kept_turns) if turns is None else turns) :]
                )
                lines, turns = len(transcript), len(kept_turns)
            now[call_id] = _Seen(current, lines, turns)
            for message in messages:
                for outbox in tuple(self._outboxes):
                    outbox.put(message)
        self._seen = now

    def close(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
