"""One server's stream of call events: every observer subscribes here, and nobody slows a call.

A call session :meth:`~CallEventStream.publish`\\ es each :class:`~getpatter.calls.events.CallEvent`
once; the stream hands it to every subscriber that wants its kind, in publication order.
Publishing never waits: a subscriber's events queue up and its own task delivers them, so a
slow subscriber (a database write, a browser on a slow link) delays only itself. A subscriber
that falls more than ``max_pending`` events behind loses the oldest ones, and a warning says so.

An *inline* subscriber is called synchronously by :meth:`~CallEventStream.publish` instead; it
must return at once (the public :class:`~getpatter.observability.events.EventBus` is bridged
this way, since its own ``emit`` only schedules its handlers).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from getpatter._validation import require_callable, require_int
from getpatter.calls.events import CallEvent
from getpatter.observability.events import EventBus

__all__ = ["CallEventStream", "EventKinds", "Subscriber"]

logger = logging.getLogger("getpatter.calls")

Subscriber = Callable[[CallEvent], Awaitable[Any] | Any]
"""``handler(event)``: a plain function or an ``async def``."""

EventKinds = tuple[type[CallEvent], ...]

_MAX_PENDING = 10_000


class _Subscription:
    """One subscriber: its filter and, unless inline, its queue and delivering task."""

    def __init__(
        self,
        handler: Subscriber,
        wanted: Callable[[type[CallEvent]], bool],
        *,
        inline: bool,
        max_pending: int,
        name: str,
    ) -> None:
        self.handler = handler
        self.accepts = wanted
        """Whether this subscriber takes events of a kind (asked at each publish)."""
        self.inline = inline
        self.name = name
        self._max_pending = max_pending
        self._pending: deque[CallEvent] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0

    def offer(self, event: CallEvent) -> None:
        if self.inline:
            try:
                self.handler(event)
            except Exception:
                logger.exception("call event subscriber %s failed", self.name)
            return
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self._dropped += 1
            if self._dropped in (1, 100) or self._dropped % 10_000 == 0:
                logger.warning(
                    "call event subscriber %s is %d events behind: %d dropped so far",
                    self.name,
                    self._max_pending,
                    self._dropped,
                )
        self._pending.append(event)
        self._idle.clear()
        if self._task is None or self._task.get_loop().is_closed():  # closed: a past loop's
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # published from outside the event loop: kept until one runs
                return
            self._task = loop.create_task(self._deliver(), name=f"patter-events-{self.name}")

    async def _deliver(self) -> None:
        # Runs only while events are queued: no task is left waiting between bursts (a loop
        # closed without cancelling its tasks would otherwise report it destroyed).
        try:
            while self._pending:
                event = self._pending.popleft()
                try:
                    result = self.handler(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("call event subscriber %s failed on %s", self.name, event.kind)
        finally:
            self._task = None
            if not self._pending:
                self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._pending.clear()
        self._idle.set()


class CallEventStream:
    """Publishes call events to subscribers; see the module docstring."""

    def __init__(self) -> None:
        self._subscriptions: tuple[_Subscription, ...] = ()

    def subscribe(
        self,
        handler: Subscriber,
        *,
        kinds: EventKinds | None = None,
        inline: bool = False,
        max_pending: int = _MAX_PENDING,
        name: str = "",
    ) -> Callable[[], None]:
        """Deliver every event (or those of ``kinds``) to ``handler``; return an unsubscribe.

        ``inline`` handlers run inside :meth:`publish` and must not block. Others get their
        events from a task of their own, in order; ``max_pending`` bounds how far behind one
        may fall before its oldest events are dropped.
        """
        require_callable("CallEventStream.subscribe handler", handler)
        require_int("max_pending", max_pending, minimum=1)
        label = name or getattr(handler, "__qualname__", type(handler).__name__)
        wanted = _everything if kinds is None else lambda kind: issubclass(kind, kinds)
        return self._add(
            _Subscription(handler, wanted, inline=inline, max_pending=max_pending, name=label)
        )

    def _add(self, subscription: _Subscription) -> Callable[[], None]:
        self._subscriptions = (*self._subscriptions, subscription)

        def unsubscribe() -> None:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
            subscription.close()

        return unsubscribe

    def wants(self, kind: type[CallEvent]) -> bool:
        """Whether any subscriber takes events of ``kind`` (to skip building frequent ones)."""
        return any(s.accepts(kind) for s in self._subscriptions)

    def publish(self, event: CallEvent) -> None:
        """Hand ``event`` to its subscribers; returns at once and never raises."""
        kind = type(event)
        for subscription in self._subscriptions:
            if subscription.accepts(kind):
                subscription.offer(event)

    async def drain(self) -> None:
        """Wait until every subscriber has handled every event published so far."""
        for subscription in self._subscriptions:
            await subscription.idle()

    def close(self) -> None:
        """Stop every subscriber's delivery (at shutdown); queued events are dropped."""
        subscriptions, self._subscriptions = self._subscriptions, ()
        for subscription in subscriptions:
            subscription.close()

    def bridge(self, bus: EventBus) -> Callable[[], None]:
        """Deliver every event to ``bus`` as its documented dict payload; return an unsubscribe.

        Payloads are built only for the kinds the bus has handlers for at that moment.
        """

        def to_bus(event: CallEvent) -> None:
            if bus.has_subscribers(event.kind):
                bus.emit(event.kind, event.payload())

        def wanted(kind: type[CallEvent]) -> bool:
            return bus.has_subscribers(kind.kind)

        return self._add(
            _Subscription(to_bus, wanted, inline=True, max_pending=1, name="event bus")
        )


def _everything(kind: type[CallEvent]) -> bool:
    return True
