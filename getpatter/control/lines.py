"""Where the call-control service's calls go: a real carrier, or the sandbox's phone network.

A line starts ``phone.serve(...)`` with the service's callbacks, scripts the far end of sandbox
calls, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Literal, Protocol

from getpatter.agent import Agent
from getpatter.client import Patter

if TYPE_CHECKING:
    from getpatter.testing.sandbox import Sandbox
    from getpatter.testing.scenario import Callee, Scenario

__all__ = ["Line", "LiveLine", "SandboxLine", "sandbox_callee"]

_STOP_TIMEOUT = 30.0


class Line(Protocol):
    """What the service needs from a phone network."""

    mode: Literal["live", "sandbox"]

    @property
    def phone(self) -> Patter:
        """The :class:`Patter` whose server takes the calls."""
        ...

    async def prepare_agent(self, agent: Agent) -> Agent:
        """``agent`` as this line runs it (the sandbox starts the fakes ``agent`` needs and
        points its engine at them)."""
        ...

    async def serve(self, agent: Agent, options: dict[str, Any]) -> None:
        """Start answering with ``agent`` (``options`` go to ``phone.serve()``: callbacks, the
        transfer guard) in the background; return once calls can be placed."""
        ...

    def before_dial(self, to: str) -> None:
        """Called just before each outbound call to ``to``."""
        ...

    async def aclose(self) -> None:
        """Hang up live calls (each reports its end) and stop serving."""
        ...


class LiveLine:
    """A real carrier: ``phone.serve(agent, port=..., host=...)`` runs as a background task."""

    mode: Literal["live", "sandbox"] = "live"

    def __init__(
        self, phone: Patter, *, port: int = 8000, host: str = "0.0.0.0", recording: bool = False
    ) -> None:
        self._phone = phone
        self._options: dict[str, Any] = {"port": port, "host": host, "recording": recording}
        self._task: asyncio.Task[None] | None = None

    @property
    def phone(self) -> Patter:
        return self._phone

    async def prepare_agent(self, agent: Agent) -> Agent:
        return agent

    async def serve(self, agent: Agent, options: dict[str, Any]) -> None:
        self._task = asyncio.create_task(
            self._phone.serve(agent, **self._options, **options), name="patter-control-serve"
        )
        await _wait_ready(self._phone, self._task)

    def before_dial(self, to: str) -> None:
        """Nothing to prepare: the person at ``to`` is real."""

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        await self._phone.disconnect()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, _STOP_TIMEOUT)


class SandboxLine:
    """The sandbox's loopback phone network: a carrier simulator and a scripted fake model.

    Every number answers as :func:`sandbox_callee` says. ``ms_per_char`` sets how fast both
    simulated sides talk (60 is about natural speed; tests use less). ``scenario`` replaces the
    scripted model's replies (its ``callee`` is unused: each number answers as above).
    ``carrier`` is the simulated network, ``"twilio"`` or ``"telnyx"``. The fake model speaks
    the agent's engine's protocol: OpenAI Realtime, or ElevenLabs ConvAI for an agent with
    ``engine=ElevenLabsConvAI(...)``.
    """

    mode: Literal["live", "sandbox"] = "sandbox"

    def __init__(
        self,
        *,
        ms_per_char: int = 60,
        scenario: Scenario | None = None,
        carrier: Literal["twilio", "telnyx"] = "twilio",
    ) -> None:
        from getpatter.testing.sandbox import Sandbox

        self._ms_per_char = ms_per_char
        self._sandbox: Sandbox = Sandbox(
            scenario if scenario is not None else sandbox_scenario(ms_per_char), carrier=carrier
        )
        self._entered = False

    @property
    def phone(self) -> Patter:
        return self._sandbox.phone

    @property
    def sandbox(self) -> Sandbox:
        """The underlying :class:`~getpatter.testing.Sandbox` (simulator, fake model)."""
        return self._sandbox

    async def start(self) -> None:
        """Start the simulator and the fake model (idempotent)."""
        if not self._entered:
            await self._sandbox.__aenter__()
            self._entered = True

    async def prepare_agent(self, agent: Agent) -> Agent:
        """Start the sandbox and the fakes ``agent`` needs; return it pointed at them."""
        await self.start()
        await self._sandbox.start_fakes(agent)
        return self._sandbox.offline(agent)

    async def serve(self, agent: Agent, options: dict[str, Any]) -> None:
        await self.start()
        await self._sandbox.serve(agent, **options)

    def before_dial(self, to: str) -> None:
        self._sandbox.network.callee_for(to, sandbox_callee(to, self._ms_per_char))

    async def aclose(self) -> None:
        if self._entered:
            self._entered = False
            await self._sandbox.aclose()


_SANDBOX_ANSWERS: dict[str, Literal["busy", "no-answer", "voicemail", "fail"]] = {
    "0002": "busy",
    "0003": "no-answer",
    "0004": "voicemail",
    "0005": "fail",
}
"""Sandbox numbers whose last four digits pick how the call goes; every other number answers."""

_SANDBOX_LINES = ("Hi. Sure, go ahead.", "Okay, that works for me. Bye!")

_SANDBOX_REPLIES = (
    "Thanks. I'm calling with a short message from the person I assist.",
    "Great, I'll pass that on. Goodbye!",
)


def sandbox_callee(number: str, ms_per_char: int = 60) -> Callee:
    """Who answers a sandbox call to ``number``.

    Numbers ending in 0002 are busy, 0003 never answer, 0004 reach voicemail and 0005 fail;
    any other number is a person who listens, answers twice, then hangs up.
    """
    from getpatter.testing.scenario import Callee, HangUp, Say

    answer = _SANDBOX_ANSWERS.get(number[-4:])
    if answer is not None:
        return Callee(number=number, answer=answer)
    # Pauses stay natural whatever the speed: a pause shorter than the model's end-of-turn
    # silence (500 ms) would run two lines together.
    steps = tuple(
        Say(line, pause_ms=800, duration_ms=max(100, ms_per_char * len(line)))
        for line in _SANDBOX_LINES
    )
    return Callee(number=number, steps=(*steps, HangUp(pause_ms=600)))


def sandbox_scenario(ms_per_char: int = 60) -> Scenario:
    """The sandbox's scripted in-call agent: one reply per caller turn."""
    from getpatter.testing.scenario import Reply, Scenario

    # The fake model "hears" the n-th thing the callee says as the n-th line of this callee.
    return Scenario(
        callee=sandbox_callee("+15550100001", ms_per_char),
        replies=tuple(Reply(text) for text in _SANDBOX_REPLIES),
        ms_per_char=ms_per_char,
    )


async def _wait_ready(phone: Patter, serving: asyncio.Task[None]) -> None:
    """Wait until ``phone`` takes calls; raise the server's own error if it stopped first."""
    ready = asyncio.create_task(phone.ready())
    done, _ = await asyncio.wait({ready, serving}, return_when=asyncio.FIRST_COMPLETED)
    if serving in done:
        ready.cancel()
        await serving
    await ready
