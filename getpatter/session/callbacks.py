"""The user's callbacks of a call, and how they run: in order, off the audio path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CallCallbacks", "Callback", "CallbackQueue", "invoke"]

logger = logging.getLogger("getpatter.session")

Callback = Callable[[dict[str, Any]], Awaitable[Any] | Any]
"""A user callback: ``callback(payload)``, sync or async."""


@dataclass(frozen=True)
class CallCallbacks:
    """The user's lifecycle callbacks (any may be ``None``; sync or async)."""

    on_call_start: Callback | None = None
    on_call_end: Callback | None = None
    on_transcript: Callback | None = None
    on_metrics: Callback | None = None
    on_machine: Callback | None = None


async def invoke(call_id: str, name: str, callback: Callback, payload: dict[str, Any]) -> Any:
    """Run ``callback(payload)``; an exception is logged (naming ``name``) and gives ``None``."""
    try:
        result = callback(payload)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        return result
    except Exception:
        logger.exception("call %s: %s raised", call_id, name)
        return None


class CallbackQueue:
    """Delivers one call's callbacks one after another, in a task of their own, so a slow
    callback never holds up the audio. The payload's ``call_id`` names the call in log lines."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[str, Callback, dict[str, Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def put(self, name: str, callback: Callback, payload: dict[str, Any]) -> None:
        """Run ``callback(payload)`` after the callbacks queued before it."""
        self._queue.put_nowait((name, callback, payload))
        if self._worker is None:
            self._worker = asyncio.create_task(self._deliver(), name="patter-callbacks")

    async def drain(self, within: float) -> None:
        """Let the queued callbacks finish (at most ``within`` seconds), then stop."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), within)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    async def _deliver(self) -> None:
        while True:
            name, callback, payload = await self._queue.get()
            await invoke(str(payload.get("call_id", "")), name, callback, payload)
            self._queue.task_done()
