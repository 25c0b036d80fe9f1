""":class:`PatterCallTool`: a LangChain tool that places a phone call and returns how it went.

```python
from langchain.agents import create_agent
from getpatter.control import CallService
from getpatter_langchain import PatterCallTool

service = CallService.sandbox()                # or CallService(phone, agent, policy=...)
agent = create_agent(model, tools=[PatterCallTool(service=service)])
result = await agent.ainvoke({"messages": [("user", "Call +15550101234 to confirm Friday")]})
```

While it waits, the tool dispatches a ``patter_progress`` custom event on every update of the
call (``astream_events``) and, inside a LangGraph graph, writes the same data to the custom
stream (``stream_mode="custom"``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field

from getpatter._validation import E164_PATTERN
from getpatter.control.policy import MAX_CALL_SECONDS
from getpatter.control.record import CallRecord
from getpatter.control.service import CallService
from getpatter.errors import PatterError
from getpatter_langchain.base import PatterServiceTool, ToolResult, call_content, progress_report
from getpatter_langchain.runner import Emit

__all__ = ["MakeCallInput", "PatterCallTool"]

logger = logging.getLogger("getpatter_langchain")

DEFAULT_CALL_SECONDS = 180
END_REPORT_GRACE_SECONDS = 30.0
"""How long past a call's time limit the tool waits for the call's end report."""


_abandoned_hangups: set[asyncio.Task[CallRecord]] = set()
"""Hang-ups of calls whose waiting tool was cancelled, kept referenced until they finish."""


class MakeCallInput(BaseModel):
    """The arguments of ``patter_make_call``."""

    to: str = Field(
        description="The number to call, in E.164 format: '+', country code, number (e.g. +14155550123).",
        pattern=E164_PATTERN,
    )
    goal: str = Field(
        default="",
        description="What the call should achieve; the voice agent on the call pursues it.",
    )
    first_message: str = Field(
        default="", description="The first sentence spoken when the call is answered."
    )
    max_duration_sec: int = Field(
        default=DEFAULT_CALL_SECONDS,
        ge=1,
        le=MAX_CALL_SECONDS,
        description="Hang up after this many seconds.",
    )
    client_ref: str = Field(
        default="",
        description=(
            "Optional idempotency key: calling again with the same value returns the first "
            "call instead of dialing twice."
        ),
    )


class PatterCallTool(PatterServiceTool):
    """Place a call with a goal, wait for it, return ``(summary + transcript, envelope)``.

    ``wait_seconds=None`` waits until the call ends (at most its time limit plus 30 s); a
    number returns after that many seconds with the call still going, for the model to follow
    with ``patter_get_call``. If the tool run is cancelled while waiting, the call is hung up.
    """

    name: str = "patter_make_call"
    description: str = (
        "Place a phone call. An AI voice agent talks to whoever answers, pursuing `goal`; the "
        "tool returns when the call ends, with its status, cost and transcript. Calls reach "
        "real people and cost money: only call numbers the user asked you to call. Pass the "
        "number in E.164 format: '+', country code and number, no spaces (e.g. +14155550123)."
    )
    args_schema: ArgsSchema | None = MakeCallInput
    wait_seconds: float | None = Field(default=None, gt=0)

    async def _act(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        request = MakeCallInput.model_validate(arguments)
        await self.service.start()
        record = await self.service.place_call(
            request.to,
            goal=request.goal,
            first_message=request.first_message,
            max_duration_sec=request.max_duration_sec,
            client_ref=request.client_ref,
        )
        await emit(progress_report(record))
        limit = record.max_duration_sec + END_REPORT_GRACE_SECONDS
        timeout = limit if self.wait_seconds is None else min(self.wait_seconds, limit)

        async def on_update(update: CallRecord) -> None:
            await emit(progress_report(update))

        waiting = asyncio.ensure_future(
            self.service.wait(record.call_id, timeout, on_update=on_update)
        )
        try:
            # Shielded: on Python 3.11 a wait_for inside wait() can swallow a cancellation that
            # lands with an update, and a cancelled run must not go on waiting.
            record = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            waiting.cancel()
            _hang_up_abandoned(self.service, record)
            raise
        return call_content(record), record.to_dict()


def _hang_up_abandoned(service: CallService, record: CallRecord) -> None:
    """Hang up a call nobody waits for any more (the agent run was cancelled)."""
    if record.ended:
        return
    task = asyncio.get_running_loop().create_task(service.hangup(record.call_id))
    _abandoned_hangups.add(task)
    task.add_done_callback(_hung_up)


def _hung_up(task: asyncio.Task[CallRecord]) -> None:
    _abandoned_hangups.discard(task)
    if task.cancelled():
        return
    error = task.exception()
    if isinstance(error, PatterError):
        logger.info("could not hang up an abandoned call: %s", error.message)
    elif error is not None:
        logger.error("hanging up an abandoned call failed", exc_info=error)
