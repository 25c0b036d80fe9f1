"""Running a :class:`~getpatter.control.CallService`'s work on the event loop it lives on.

A call-control service is bound to one event loop: its servers, sockets and timers run there.
LangChain calls a tool either with ``ainvoke`` (on the caller's loop) or with ``invoke`` (from
plain threads, one call after another). :class:`ServiceRunner` keeps both working with one
service: the first ``ainvoke`` makes its loop the service's home; ``invoke`` with no home yet
starts a background loop (a daemon thread) that stays the home for later calls. Work always
runs on the home loop; progress comes back to the caller, in order, before the result (a
``None`` in the progress queue marks the end).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from langchain_core.tools import ToolException

from getpatter.control.service import CallService

__all__ = ["Emit", "ServiceRunner", "runner_for"]

T = TypeVar("T")

Emit = Callable[[dict[str, Any]], Awaitable[None]]
"""How work on the home loop reports progress (a JSON-able dict) to whoever waits for it."""

Work = Callable[[Emit], Coroutine[Any, Any, T]]


class ServiceRunner:
    """Runs coroutines for one service on its home event loop; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._home: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def arun(
        self, work: Work[T], on_progress: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> T:
        """Run ``work(emit)`` for a caller on a running loop; ``on_progress`` runs there."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._home is None:
                self._home = loop
            home = self._home
        if home is loop:
            return await work(on_progress)
        _check_usable(home)
        progress: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def emit(report: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(progress.put_nowait, report)

        result = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work(emit), home))
        result.add_done_callback(lambda _: progress.put_nowait(None))
        try:
            while (report := await progress.get()) is not None:
                await on_progress(report)
        finally:
            result.cancel()
        return await result

    def run(self, work: Work[T], on_progress: Callable[[dict[str, Any]], None]) -> T:
        """Run ``work(emit)`` for a caller without a running loop, blocking until it is done.

        Raises :class:`ToolException` when this thread runs an event loop: blocking it would
        stall the calls themselves, so such callers must use ``ainvoke``.
        """
        if _loop_running():
            raise ToolException(
                "Patter tools cannot be invoked synchronously from inside a running event loop: "
                "use `await tool.ainvoke(...)` (or the agent's ainvoke / astream)"
            )
        home = self._home_for_threads()
        progress: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()

        async def emit(report: dict[str, Any]) -> None:
            progress.put(report)

        result = asyncio.run_coroutine_threadsafe(work(emit), home)
        result.add_done_callback(lambda _: progress.put(None))
        try:
            while (report := progress.get()) is not None:
                on_progress(report)
        finally:
            result.cancel()
        return result.result()

    def stop(self) -> None:
        """Forget the home loop (the service has closed); stop it if this runner started it."""
        with self._lock:
            thread, home = self._thread, self._home
            self._thread = self._home = None
        if thread is not None and home is not None:
            home.call_soon_threadsafe(home.stop)
            thread.join()
            home.close()

    def _home_for_threads(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._home is None:
                home = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=home.run_forever, name="patter-langchain-loop", daemon=True
                )
                thread.start()
                self._home, self._thread = home, thread
                return home
            if self._thread is not None:
                return self._home
            home = self._home
        _check_usable(home)
        return home


def _check_usable(home: asyncio.AbstractEventLoop) -> None:
    if home.is_closed() or not home.is_running():
        raise ToolException(
            "this CallService lives on an event loop that is no longer running (an asyncio.run() "
            "that has returned?). A service serves one event loop: create a new CallService, or "
            "keep the agent inside one event loop"
        )


_runners: weakref.WeakKeyDictionary[CallService, ServiceRunner] = weakref.WeakKeyDictionary()
_runners_lock = threading.Lock()


def runner_for(service: CallService) -> ServiceRunner:
    """The runner of ``service``, shared by every tool built on it."""
    with _runners_lock:
        runner = _runners.get(service)
        if runner is None:
            runner = _runners[service] = ServiceRunner()
        return runner


def _loop_running() -> bool:
    """True when this thread is running an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
