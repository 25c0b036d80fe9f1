"""Terminal test mode: one simulated call where you type as the caller (spec 08).

Nothing leaves the process: no carrier, no speech services, no server. ``on_message`` gets the
same payload and :class:`CallControl` it gets on a real call, and the lifecycle callbacks get the
same payload shapes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

from getpatter._callables import call_maybe_async, takes_two
from getpatter._validation import is_e164, require_callable
from getpatter.agent import Agent
from getpatter.call import CallControl
from getpatter.calls.events import (
    CallEnded,
    CallError,
    CallEvent,
    CallStarted,
    TranscriptFinal,
    TurnCompleted,
)
from getpatter.calls.report import CallReport
from getpatter.calls.stream import CallEventStream
from getpatter.engines.openai import Realtime
from getpatter.errors import ConfigError, PatterError
from getpatter.guardrails import apply_guardrails
from getpatter.observability.cost import CostMeter
from getpatter.observability.metrics import CallMetrics, LatencyBreakdown, TurnMetrics
from getpatter.observability.pricing import PriceTable
from getpatter.prompt import validate_variables
from getpatter.tools import SYSTEM_TOOLS

__all__ = [
    "TEST_CALLEE",
    "TEST_CALLER",
    "LineSource",
    "ScriptedLines",
    "StdinLines",
    "TerminalCall",
]

if TYPE_CHECKING:
    from getpatter.llm.base import LLMProvider


_E = TypeVar("_E", bound=CallEvent)
logger = logging.getLogger("getpatter.testing")

MAX_TOOL_ROUNDS = 10
"""LLM rounds one turn may spend on tool calls (as in pipeline mode)."""

TEST_CALLER = "+15550000001"
TEST_CALLEE = "+15550000002"
_TELEPHONY = "test"

_ENDINGS: dict[str, tuple[str, str]] = {
    "caller_hangup": ("caller", "completed"),
    "quit": ("caller", "completed"),
    "agent_hangup": ("agent", "completed"),
    "transferred": ("agent", "transferred"),
}
"""Who ended a test call and its outcome, by the ``reason`` test mode reports."""


class LineSource(Protocol):
    """Where the caller's lines come from."""

    echo: bool
    """True when the line must be printed after the prompt (it was not typed by a person)."""

    async def readline(self) -> str | None:
        """The next line without its newline, or ``None`` at end of input."""
        ...


class StdinLines:
    """Reads standard input on a daemon thread, so the event loop never blocks on it.

    Lines piped in (not typed at a terminal) are echoed, so the output reads as a conversation.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdin
        self.echo = not self._stream.isatty()
        self._queue: asyncio.Queue[str | None] | None = None

    async def readline(self) -> str | None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=self._pump, args=(loop, self._queue), name="patter-stdin", daemon=True
            ).start()
        return await self._queue.get()

    def _pump(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
        for line in self._stream:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)


class ScriptedLines:
    """Plays a fixed list of caller lines, shown as if typed (used by ``getpatter demo``)."""

    echo = True

    def __init__(self, lines: Iterable[str], *, pause: float = 0.0) -> None:
        self._lines = list(lines)
        self._pause = pause

    async def readline(self) -> str | None:
        if not self._lines:
            return None
        if self._pause:
            await asyncio.sleep(self._pause)
        return self._lines.pop(0)


class _SimulatedCall:
    """The :class:`CallActions` of a test call: records what the handler asked for."""

    def __init__(self) -> None:
        self.hangup_requested = False
        self.transfer_to: str | None = None

    async def transfer(self, number: str) -> None:
        self.transfer_to = number

    async def hangup(self) -> None:
        self.hangup_requested = True


class TerminalCall:
    """One simulated call in the terminal. ``Patter.test()`` builds and runs it."""

    def __init__(
        self,
        agent: Agent,
        *,
        on_message: Callable[..., Any] | None = None,
        on_call_start: Callable[[dict[str, Any]], Any] | None = None,
        on_call_end: Callable[[dict[str, Any]], Any] | None = None,
        pricing: PriceTable | None = None,
        events: CallEventStream | None = None,
        lines: LineSource | None = None,
        output: TextIO | None = None,
    ) -> None:
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"test() needs an Agent from phone.agent(...), got {type(agent).__name__}"
            )
        if isinstance(on_message, str):
            raise ConfigError(
                "test() takes on_message as a function; a URL on_message is for serve()"
            )
        self._agent = agent
        self._on_message = (
            None if on_message is None else require_callable("on_message", on_message)
        )
        self._llm = _llm_loop(agent) if on_message is None else None
        self._on_call_start = _optional_callable("on_call_start", on_call_start)
        self._on_call_end = _optional_callable("on_call_end", on_call_end)
        self._wants_control = on_message is not None and takes_two(on_message)
        self._events = events
        self._lines: LineSource = lines if lines is not None else StdinLines()
        self._out = output if output is not None else sys.stdout
        self._call_id = f"test_{secrets.token_hex(6)}"
        self._actions = _SimulatedCall()
        self._history: list[dict[str, Any]] = []
        self._turns: list[TurnMetrics] = []
        self._meter = CostMeter(
            pricing if pricing is not None else PriceTable(),
            stt_provider="",
            tts_provider="",
            llm_provider=self._llm.llm.name if self._llm is not None else "",
            telephony_provider=_TELEPHONY,
        )
        self._variables: dict[str, str] = {}
        self._started_at = time.monotonic()

    @property
    def call_id(self) -> str:
        """This simulated call's id: ``test_`` and 12 hex digits."""
        return self._call_id

    async def run(self) -> None:
        """Run the call until ``/quit``, ``/hangup``, a transfer, a hang-up or end of input."""
        started = (time.time(), time.monotonic())
        self._started_at = started[1]
        reason = "quit"
        try:
            self._print_banner()
            await self._start()
            if self._agent.first_message:
                self._say(self._agent.greeting(self._variables))
            reason = await self._converse()
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._write("\n")
            reason = "quit"
            raise
        finally:
            await self._end(reason, started)

    async def _start(self) -> None:
        started = self._publish(
            CallStarted,
            direction="inbound",
            custom_params={},
            provider_mode=self._agent.provider,
            agent=self._agent.describe(on_message=self._on_message),
        )
        if self._on_call_start is None:
            return
        result = await call_maybe_async(self._on_call_start, started.payload())
        if isinstance(result, dict):
            unknown = set(result) - {"variables"}
            if unknown:
                logger.warning(
                    "on_call_start returned unknown keys %s; only 'variables' is used",
                    sorted(unknown),
                )
            if "variables" in result:
                self._variables = validate_variables(
                    "on_call_start()['variables']", result["variables"]
                )

    async def _converse(self) -> str:
        while True:
            self._write("You: ")
            line = await self._lines.readline()
            if line is None:
                self._write("\n")
                return "caller_hangup"
            if self._lines.echo:
                self._write(line + "\n")
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                ended = self._command(text)
                if ended is not None:
                    return ended
                continue
            await self._turn(text)
            if self._actions.transfer_to is not None:
                self._write(f"[Call transferred to {self._actions.transfer_to}]\n")
                return "transferred"
            if self._actions.hangup_requested:
                self._write("[Agent hung up]\n")
                return "agent_hangup"

    def _command(self, text: str) -> str | None:
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name == "/quit":
            return "quit"
        if name == "/hangup":
            self._write("[You hung up]\n")
            return "caller_hangup"
        if name == "/history":
            self._print_history()
            return None
        if name == "/transfer":
            if not is_e164(arg):
                self._write("Usage: /transfer <number>, e.g. /transfer +15550001234\n")
                return None
            self._actions.transfer_to = arg
            self._write(f"[Call transferred to {arg}]\n")
            return "transferred"
        self._write(
            f"Unknown command {name}. Commands: /quit  /transfer <number>  /hangup  /history\n"
        )
        return None

    async def _turn(self, text: str) -> None:
        self._record("user", text)
        payload = {**self._identity(), "text": text, "history": [dict(e) for e in self._history]}
        self._transcribed("user", text)
        if self._llm is not None:
            await self._llm_turn(text)
            return
        assert self._on_message is not None
        args: tuple[Any, ...] = (payload,)
        if self._wants_control:
            control = CallControl(
                call_id=self._call_id,
                caller=TEST_CALLER,
                callee=TEST_CALLEE,
                telephony_provider=_TELEPHONY,
                actions=self._actions,
            )
            args = (payload, control)
        began = time.perf_counter()
        try:
            reply = await call_maybe_async(self._on_message, *args)
        except Exception as exc:
            logger.exception("on_message raised; the call goes on")
            self._write(f"[on_message raised {type(exc).__name__}: {exc}]\n")
            self._publish(CallError, error=str(exc), code="", source="on_message", fatal=False)
            return
        handler_ms = (time.perf_counter() - began) * 1000
        if reply is not None and not isinstance(reply, str):
            logger.warning(
                "on_message returned %s, not a str; nothing is spoken", type(reply).__name__
            )
            reply = None
        spoken = self._prepare(reply) if reply else ""
        if spoken:
            self._say(spoken)
        self._turns.append(
            TurnMetrics(
                turn_index=len(self._turns),
                user_text=text,
                agent_text=spoken,
                latency=LatencyBreakdown(
                    llm_ttft_ms=handler_ms, llm_total_ms=handler_ms, total_ms=handler_ms
                ),
                tts_characters=len(spoken),
                timestamp=time.time(),
            )
        )
        self._turn_completed()

    async def _llm_turn(self, text: str) -> None:
        """The built-in LLM loop (TM-7): streamed sentences, tools run as in production."""
        assert self._llm is not None
        began = time.perf_counter()
        try:
            spoken, first_token, usage = await self._llm.reply(
                text, self._speak_stream, self._run_tool
            )
        except PatterError as exc:
            self._write(f"\n[the LLM failed: {exc.message}]\n")
            self._publish(
                CallError, error=exc.message, code=exc.code.value, source="llm", fatal=False
            )
            return
        self._meter.add_llm_tokens(usage[0], usage[1])
        if spoken:
            self._write("\n")
            self._record("assistant", spoken)
            self._transcribed("assistant", spoken)
        total_ms = (time.perf_counter() - began) * 1000
        self._turns.append(
            TurnMetrics(
                turn_index=len(self._turns),
                user_text=text,
                agent_text=spoken,
                latency=LatencyBreakdown(
                    llm_ttft_ms=first_token, llm_total_ms=total_ms, total_ms=first_token
                ),
                tts_characters=len(spoken),
                timestamp=time.time(),
            )
        )
        self._turn_completed()

    def _speak_stream(self, sentence: str, first: bool) -> str:
        """Print one sentence of a streamed reply, as it is ready; returns what was said."""
        text = self._prepare(sentence)
        if text:
            self._write(("Agent: " if first else " ") + text)
        return text

    async def _run_tool(self, name: str, arguments: str) -> str:
        if name == "transfer_call":
            number = _argument(arguments, "number")
            await self._actions.transfer(number)
            return json.dumps({"status": "transferring", "to": number})
        if name == "end_call":
            await self._actions.hangup()
            return json.dumps({"status": "ending call"})
        control = CallControl(
            call_id=self._call_id,
            caller=TEST_CALLER,
            callee=TEST_CALLEE,
            telephony_provider=_TELEPHONY,
            actions=self._actions,
        )
        assert self._llm is not None
        return await self._llm.tools.run(name, arguments, {**self._identity(), "call": control})

    def _prepare(self, reply: str) -> str:
        """Apply the agent's text transforms, then its guardrails, as before speech."""
        text = reply
        for transform in self._agent.text_transforms or ():
            try:
                text = transform(text)
            except Exception:
                logger.exception("text transform %r raised; using the text unchanged", transform)
        if self._agent.guardrails:
            text = apply_guardrails(text, self._agent.guardrails).text
        return text.strip()

    async def _end(self, reason: str, started: tuple[float, float]) -> None:
        """Report the end of the call: ``started`` is its (wall clock, monotonic clock) start."""
        ended = time.time()
        duration = time.monotonic() - started[1]
        self._meter.set_duration(duration)
        metrics = CallMetrics.from_turns(
            call_id=self._call_id,
            duration_seconds=duration,
            turns=tuple(self._turns),
            cost=self._meter.breakdown(),
            provider_mode=self._agent.provider,
            telephony_provider=_TELEPHONY,
        )
        ended_by, outcome = _ENDINGS.get(reason, ("caller", "completed"))
        report = CallReport(
            call_id=self._call_id,
            caller=TEST_CALLER,
            callee=TEST_CALLEE,
            direction="inbound",
            started_at=started[0],
            ended_at=ended,
            duration_seconds=duration,
            outcome=outcome,
            ended_by=ended_by,
            transcript=tuple(dict(entry) for entry in self._history),
            metrics=metrics,
            extra={"reason": reason},
        )
        payload = self._publish(CallEnded, report=report).payload()
        self._write(f"[Call ended: {reason.replace('_', ' ')}]\n")
        if self._on_call_end is not None:
            try:
                await call_maybe_async(self._on_call_end, payload)
            except Exception:
                logger.exception("on_call_end raised")

    def _say(self, text: str) -> None:
        self._record("assistant", text)
        self._transcribed("assistant", text)
        self._write(f"Agent: {text}\n")

    def _record(self, role: str, text: str) -> None:
        self._history.append({"role": role, "text": text, "timestamp": time.time()})

    def _identity(self) -> dict[str, str]:
        return {"call_id": self._call_id, "caller": TEST_CALLER, "callee": TEST_CALLEE}

    def _transcribed(self, role: str, text: str) -> None:
        history = tuple(dict(entry) for entry in self._history)
        self._publish(TranscriptFinal, role=role, text=text, history=history)

    def _turn_completed(self) -> None:
        self._meter.set_duration(time.monotonic() - self._started_at)
        self._publish(TurnCompleted, turn=self._turns[-1], cost_so_far=self._meter.breakdown())

    def _publish(self, kind: type[_E], **fields: Any) -> _E:
        """Publish an event of ``kind`` about this call, as a real call does; returns it."""
        event = kind(call_id=self._call_id, caller=TEST_CALLER, callee=TEST_CALLEE, **fields)
        if self._events is not None:
            self._events.publish(event)
        return event

    def _print_banner(self) -> None:
        rule = "=" * 60
        self._write(
            f"{rule}\n"
            "  PATTER TEST MODE\n"
            f"  Agent: {self._agent.model} / {self._agent.voice}\n"
            f"  Provider: {self._agent.provider}\n"
            f"  Call ID: {self._call_id}\n"
            f"  Caller: {TEST_CALLER}  →  Callee: {TEST_CALLEE}\n"
            "  Commands: /quit  /transfer <number>  /hangup  /history\n"
            f"{rule}\n"
        )

    def _print_history(self) -> None:
        if not self._history:
            self._write("(no messages yet)\n")
        for entry in self._history:
            clock = time.strftime("%H:%M:%S", time.localtime(entry["timestamp"]))
            who = "You" if entry["role"] == "user" else "Agent"
            self._write(f"  [{clock}] {who}: {entry['text']}\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def _optional_callable(param: str, value: Callable[..., Any] | None) -> Callable[..., Any] | None:
    return None if value is None else require_callable(param, value)


class _LLMLoop:
    """The conversation and tools of test mode's built-in LLM loop."""

    def __init__(self, agent: Agent, llm: LLMProvider) -> None:
        from getpatter.llm.chat_context import ChatContext
        from getpatter.tool_calls import DefaultToolExecutor

        self.llm = llm
        self.tools = DefaultToolExecutor(agent.tools)
        self._declarations = (*self.tools.declarations(), *SYSTEM_TOOLS)
        self._context = ChatContext(agent.instructions())
        self._language = agent.language
        self._first_flush = agent.aggressive_first_flush

    async def reply(
        self,
        text: str,
        speak: Callable[[str, bool], str],
        run_tool: Callable[[str, str], Any],
    ) -> tuple[str, float | None, tuple[int, int]]:
        """Answer ``text``; returns what was said, ms to the first token, and token usage."""
        from getpatter.pipeline.chunker import SentenceChunker

        self._context.add_user(text)
        began = time.perf_counter()
        first_token: float | None = None
        said: list[str] = []
        tokens = [0, 0]
        for _round in range(MAX_TOOL_ROUNDS):
            chunker = SentenceChunker(self._language, aggressive_first_flush=self._first_flush)
            calls = []
            round_text: list[str] = []
            async for chunk in self.llm.stream(self._context, self._declarations):
                if chunk.type == "text" and chunk.text:
                    if first_token is None:
                        first_token = (time.perf_counter() - began) * 1000
                    for sentence in chunker.push(chunk.text):
                        round_text.append(speak(sentence, not said and not round_text))
                elif chunk.type == "tool_call" and chunk.tool_call is not None:
                    calls.append(chunk.tool_call)
                elif chunk.type == "done" and chunk.usage is not None:
                    tokens[0] += chunk.usage.input_tokens
                    tokens[1] += chunk.usage.output_tokens
            for sentence in chunker.flush():
                round_text.append(speak(sentence, not said and not round_text))
            spoken = " ".join(part for part in round_text if part)
            said.extend(part for part in round_text if part)
            if not calls:
                if spoken:
                    self._context.add_assistant(spoken)
                break
            self._context.add_assistant(spoken, calls)
            for call in calls:
                output = await run_tool(call.name, call.arguments)
                self._context.add_tool_result(call.id, call.name, output)
        return " ".join(said), first_token, (tokens[0], tokens[1])


def _llm_loop(agent: Agent) -> _LLMLoop:
    """The built-in loop's LLM: the agent's ``llm``, else OpenAI with the OpenAI Realtime
    engine's key and base URL (which fall back to the environment), else the environment's."""
    if agent.llm is not None:
        return _LLMLoop(agent, agent.llm)
    if agent.provider == "elevenlabs_convai":
        raise ConfigError(
            "test mode cannot run an ElevenLabsConvAI agent, whose conversation lives on "
            "ElevenLabs: pass on_message=<function (message) -> str> to try your call flow"
        )
    engine = agent.engine if isinstance(agent.engine, Realtime) else None
    key = engine.api_key if engine is not None else os.environ.get("OPENAI_API_KEY", "")
    if not key:
        raise ConfigError(
            "test mode needs on_message=<function (message) -> str> to produce replies, or an "
            "OpenAI key (OPENAI_API_KEY, or OpenAIRealtime(api_key=...)) for the built-in LLM "
            "loop, or an agent with llm="
        )
    from getpatter.llm.openai import LLM as OpenAILLM

    base_url = engine.base_url if engine is not None else None
    return _LLMLoop(agent, OpenAILLM(api_key=key, base_url=base_url))


def _argument(arguments: str, name: str) -> str:
    try:
        value = json.loads(arguments or "{}").get(name, "")
    except (json.JSONDecodeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""
