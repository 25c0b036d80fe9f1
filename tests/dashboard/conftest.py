"""Shared pieces of the dashboard tests: a served sandbox with its dashboard, an SSE reader and
calls built from events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from getpatter.calls.events import (
    CallEnded,
    CallStarted,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.observability.metrics import (
    CallMetrics,
    CostBreakdown,
    LatencyBreakdown,
    TurnMetrics,
)
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

TOKEN = "CANARY-dashboard-token-0001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GREETING = "Hello, Bright Smile Dental."


def one_question(pause_ms: int = 2500) -> Scenario:
    """A caller asks one question, hears the answer, and hangs up."""
    return Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=pause_ms))),
        replies=(Reply("We are open nine to five."),),
    )


@dataclass
class Served:
    """A sandbox serving an agent with its dashboard, and a client carrying the token."""

    sandbox: Sandbox
    client: httpx.AsyncClient
    base_url: str


@contextlib.asynccontextmanager
async def served(
    scenario: Scenario | None = None, *, token: str = TOKEN, **serve_options: Any
) -> AsyncIterator[Served]:
    """Serve an OpenAI Realtime agent in a sandbox with the dashboard behind ``token``."""
    async with Sandbox(scenario or one_question()) as sandbox:
        await sandbox.serve(
            sandbox.phone.agent("You are the receptionist.", first_message=GREETING),
            dashboard_token=token,
            **serve_options,
        )
        base_url = f"http://127.0.0.1:{sandbox.port}"
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            yield Served(sandbox, client, base_url)


@dataclass
class EventReader:
    """Reads a dashboard's event stream in the background; ``messages`` are (name, data)."""

    response: httpx.Response
    messages: list[tuple[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: str = ""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        name = ""
        async for line in self.response.aiter_lines():
            if line.startswith("retry: "):
                self.retry = line.removeprefix("retry: ")
                self._subscribed.set()
            elif line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                self.messages.append((name, json.loads(line.removeprefix("data: "))))
                self._arrived.set()

    async def subscribed(self) -> None:
        """Wait for the stream's first line (sent once the browser is subscribed)."""
        await self._subscribed.wait()

    async def until(self, name: str, **expected: Any) -> dict[str, Any]:
        """The first message ``name`` whose data has ``expected`` (nested ``call``/``line``
        dicts are searched too), waiting for it."""
        while True:
            for got, data in self.messages:
                if got == name and _has(data, expected):
                    return data  # type: ignore[no-any-return]
            self._arrived.clear()
            await self._arrived.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task


def _has(data: dict[str, Any], expected: dict[str, Any]) -> bool:
    flat = {**data, **data.get("call", {}), **data.get("line", {})}
    return all(flat.get(key) == value for key, value in expected.items())


@contextlib.asynccontextmanager
async def events(
    client: httpx.AsyncClient, url: str = "/api/v1/events"
) -> AsyncIterator[EventReader]:
    """Open the event stream; yields once subscribed."""
    async with client.stream("GET", url) as response:
        reader = EventReader(response)
        reader.start()
        try:
            await reader.subscribed()
            yield reader
        finally:
            await reader.stop()


def call_events(
    call_id: str,
    *,
    at: float,
    direction: str = "inbound",
    caller: str = "+15550100001",
    callee: str = "+15550009999",
    said: str = "What are your hours?",
    answered: str = "We are open nine to five.",
    total_ms: float | None = 400.0,
    cost: CostBreakdown | None = None,
    duration: float | None = 30.0,
) -> list[Any]:
    """The events of a call of one turn starting at ``at`` (ended after ``duration`` seconds;
    ``None``: still active)."""
    cost = cost or CostBreakdown(stt=0.01, tts=0.02, llm=0.03, telephony=0.04)
    who = {"call_id": call_id, "caller": caller, "callee": callee}
    turn = TurnMetrics(
        turn_index=0,
        user_text=said,
        agent_text=answered,
        latency=LatencyBreakdown(stt_ms=100.0, llm_ttft_ms=150.0, tts_ms=50.0, total_ms=total_ms),
        timestamp=at + 5,
    )
    found: list[Any] = [
        CallStarted(**who, direction=direction, at=at, provider_mode="pipeline", agent="test"),
        TranscriptFinal(**who, role="user", text=said, history=(), at=at + 4),
        TranscriptFinal(**who, role="assistant", text=answered, history=(), at=at + 5),
        TurnCompleted(**who, turn=turn, cost_so_far=cost, at=at + 5),
    ]
    if duration is not None:
        metrics = CallMetrics.from_turns(
            call_id=call_id, duration_seconds=duration, turns=(turn,), cost=cost
        )
        found.append(
            CallEnded(
                **who,
                at=at + duration,
                report={
                    **who,
                    "direction": direction,
                    "started_at": at,
                    "ended_at": at + duration,
                    "duration_seconds": duration,
                    "outcome": "completed",
                    "ended_by": "caller",
                    "error": None,
                    "metrics": metrics,
                    "custom_params": {"auth_token": "CANARY-custom-secret"},
                },
            )
        )
    return found
