"""The event bus: fire-and-forget notifications about what happens on calls (spec 06, EB).

``phone.events`` is the process-wide :class:`EventBus` (:func:`default_event_bus`). Code that
observes calls subscribes with ``bus.on(PatterEventType.X, handler)``; the call session emits with
``bus.emit(PatterEventType.X, payload)`` and never waits for, nor hears from, the handlers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from getpatter._validation import require_callable
from getpatter.errors import ConfigError

__all__ = ["EventBus", "EventHandler", "PatterEventType", "default_event_bus"]

logger = logging.getLogger("getpatter.events")

#: A subscriber: ``handler(payload)``, either a plain function or an ``async def``.
EventHandler = Callable[[dict[str, Any]], Awaitable[Any] | Any]


class PatterEventType(StrEnum):
    """What happened. Values are lower-case snake strings (``"llm_chunk"``)."""

    CALL_PLACED = "call_placed"
    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"
    CALL_STATUS = "call_status"
    CALL_TRANSFERRED = "call_transferred"
    TRANSFER_ENDED = "transfer_ended"
    RECORDING = "recording"
    DTMF = "dtmf"
    TRANSCRIPT_PARTIAL = "transcript_partial"
    TRANSCRIPT_FINAL = "transcript_final"
    LLM_CHUNK = "llm_chunk"
    TTS_CHUNK = "tts_chunk"
    AGENT_SPEECH_STARTED = "agent_speech_started"
    TOOL_CALL_STARTED = "tool_call_started"
    TOOL_CALL_COMPLETED = "tool_call_completed"
    TURN_COMPLETED = "turn_completed"
    BARGE_IN = "barge_in"
    GUARDRAIL_BLOCKED = "guardrail_blocked"
    ERROR = "error"


class _Subscription:
    """One ``on()`` registration; compared by identity so one handler may be added twice."""

    __slots__ = ("handler", "is_async")

    def __init__(self, handler: EventHandler) -> None:
        self.handler = handler
        self.is_async = inspect.iscoroutinefunction(handler)


class EventBus:
    """Delivers events to subscribed handlers without ever blocking or failing the emitter.

    With a running event loop, each handler runs on the loop after :meth:`emit` returns: an
    ``async def`` handler as its own task, a plain function through ``loop.call_soon``. A sync
    handler that returns an awaitable has it run as a task too. Each handler receives its own
    shallow copy of the payload. A handler that raises is logged on the ``getpatter.events``
    logger and the other handlers still run.

    Without a running loop (e.g. a plain script or another thread), sync handlers are called
    directly and async handlers are skipped with a debug log.
    """

    def __init__(self) -> None:
        self._subscriptions: dict[str, tuple[_Subscription, ...]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_calls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
            weakref.WeakKeyDictionary()
        )

    def on(self, event_type: PatterEventType | str, handler: EventHandler) -> Callable[[], None]:
        """Subscribe ``handler`` to ``event_type``; return a function that unsubscribes it.

        Subscribing the same handler twice delivers each event to it twice; the returned
        function removes only its own registration and may be called more than once.
        """
        key = _event_type(event_type)
        require_callable(f"EventBus.on({key.value!r}) handler", handler)
        subscription = _Subscription(handler)
        self._subscriptions[key] = (*self._subscriptions.get(key, ()), subscription)

        def unsubscribe() -> None:
            self._remove(key, lambda s: s is subscription)

        return unsubscribe

    def off(self, event_type: PatterEventType | str, handler: EventHandler) -> None:
        """Remove every registration of ``handler`` for ``event_type`` (no-op if none)."""
        key = _event_type(event_type)
        self._remove(key, lambda s: s.handler == handler)

    def has_subscribers(self, event_type: PatterEventType | str) -> bool:
        """True when ``event_type`` has a handler, so emitters can skip building a payload."""
        return event_type in self._subscriptions

    def emit(self, event_type: PatterEventType | str, payload: dict[str, Any]) -> None:
        """Schedule every handler of ``event_type`` with ``payload``; never blocks or raises."""
        subscriptions = self._subscriptions.get(event_type)
        if not subscriptions:
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for subscription in subscriptions:
            try:
                self._dispatch(loop, subscription, str(event_type), dict(payload))
            except Exception:
                logger.exception(
                    "could not deliver %s event to %r", event_type, subscription.handler
                )

    async def wait_idle(self) -> None:
        """Wait until the handlers scheduled on the current loop have finished.

        Handlers that emit further events are waited for as well. Useful in tests and at
        shutdown; wrap in ``asyncio.timeout(...)`` to bound the wait.
        """
        loop = asyncio.get_running_loop()
        while True:
            tasks = [task for task in self._tasks if task.get_loop() is loop]
            if tasks:
                await asyncio.wait(tasks)
            elif self._pending_calls.get(loop, 0):
                await asyncio.sleep(0)
            else:
                return

    def _remove(self, key: str, matches: Callable[[_Subscription], bool]) -> None:
        remaining = tuple(s for s in self._subscriptions.get(key, ()) if not matches(s))
        if remaining:
            self._subscriptions[key] = remaining
        else:
            self._subscriptions.pop(key, None)

    def _dispatch(
        self,
        loop: asyncio.AbstractEventLoop | None,
        subscription: _Subscription,
        event_type: str,
        payload: dict[str, Any],
    ) -> None:
        if loop is None:
            if subscription.is_async:
                logger.debug(
                    "no running event loop: skipped async handler %r for %s",
                    subscription.handler,
                    event_type,
                )
            else:
                self._call_sync(None, subscription.handler, event_type, payload)
            return
        if subscription.is_async:
            self._start_task(loop, subscription.handler, event_type, subscription.handler(payload))
            return
        self._pending_calls[loop] = self._pending_calls.get(loop, 0) + 1
        loop.call_soon(self._run_soon, loop, subscription.handler, event_type, payload)

    def _run_soon(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: EventHandler,
        event_type: str,
        payload: dict[str, Any],
    ) -> None:
        left = self._pending_calls.get(loop, 1) - 1
        if left:
            self._pending_calls[loop] = left
        else:
            self._pending_calls.pop(loop, None)
        self._call_sync(loop, handler, event_type, payload)

    def _call_sync(
        self,
        loop: asyncio.AbstractEventLoop | None,
        handler: EventHandler,
        event_type: str,
        payload: dict[str, Any],
    ) -> None:
        try:
            result = handler(payload)
        except Exception:
            logger.exception("event handler %r for %s raised", handler, event_type)
            return
        if not inspect.isawaitable(result):
            return
        if loop is not None:
            self._start_task(loop, handler, event_type, result)
            return
        logger.debug("no running event loop: skipped awaitable from %r for %s", handler, event_type)
        if inspect.iscoroutine(result):
            result.close()

    def _start_task(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: EventHandler,
        event_type: str,
        awaitable: Awaitable[Any],
    ) -> None:
        task = loop.create_task(_guarded(handler, event_type, awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _guarded(handler: EventHandler, event_type: str, awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("event handler %r for %s raised", handler, event_type)


_EVENT_VALUES = frozenset(member.value for member in PatterEventType)


def _event_type(value: object) -> PatterEventType:
    if isinstance(value, PatterEventType):
        return value
    if isinstance(value, str) and value in _EVENT_VALUES:
        return PatterEventType(value)
    known = ", ".join(f"PatterEventType.{member.name}" for member in PatterEventType)
    raise ConfigError(f"event_type must be a PatterEventType ({known}), got {value!r}")


_DEFAULT_BUS = EventBus()


def default_event_bus() -> EventBus:
    """The process-wide bus exposed as ``phone.events`` (spec EB-1)."""
    return _DEFAULT_BUS
