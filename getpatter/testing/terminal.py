"""Terminal test mode: one simulated call where you type as the caller (spec 08).

This module is the terminal only: it reads the caller's lines and commands and prints what the
agent says. The call itself is :class:`~getpatter.testing.text_call.TextCall`: the real call
session and pipeline on a text line, so it behaves as a phone call does. Nothing leaves the
process but the built-in LLM loop's requests (OpenAI, or the agent's ``llm=``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TextIO

from getpatter._validation import is_e164
from getpatter.agent import Agent
from getpatter.calls.stream import CallEventStream
from getpatter.observability.pricing import PriceTable
from getpatter.testing.text_call import TEST_CALLEE, TEST_CALLER, TextCall

__all__ = [
    "TEST_CALLEE",
    "TEST_CALLER",
    "LineSource",
    "ScriptedLines",
    "StdinLines",
    "TerminalCall",
]


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
        self._agent = agent
        self._lines: LineSource = lines if lines is not None else StdinLines()
        self._out = output if output is not None else sys.stdout
        self._speaking = False
        """An ``Agent:`` line is open: the next sentence of the reply joins it."""
        self._call = TextCall(
            agent,
            on_message=on_message,
            on_call_start=on_call_start,
            on_call_end=on_call_end,
            pricing=pricing,
            events=events,
            on_sentence=self._sentence,
            on_notice=self._notice,
            on_reply_end=self._close_reply,
        )

    @property
    def call_id(self) -> str:
        """This simulated call's id: ``test_`` and 12 hex digits."""
        return self._call.call_id

    async def run(self) -> None:
        """Run the call until ``/quit``, ``/hangup``, a transfer, a hang-up or end of input."""
        call = self._call
        try:
            self._print_banner()
            await call.start()
            await self._converse()
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._write("\n")
            raise
        finally:
            if not call.ended:
                await call.hang_up("quit")
            await call.wait_finished()
            self._close_reply()
            self._write(f"[Call ended: {(call.reason or 'error').replace('_', ' ')}]\n")

    async def _converse(self) -> None:
        call = self._call
        while not call.ended:
            self._close_reply()
            self._write("You: ")
            line = await self._lines.readline()
            if line is None:
                self._write("\n")
                await call.hang_up("caller_hangup")
                return
            if self._lines.echo:
                self._write(line + "\n")
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                await self._command(text)
                continue
            await call.say(text)

    async def _command(self, text: str) -> None:
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name == "/quit":
            await self._call.hang_up("quit")
        elif name == "/hangup":
            self._write("[You hung up]\n")
            await self._call.hang_up("caller_hangup")
        elif name == "/history":
            self._print_history()
        elif name == "/transfer":
            if not is_e164(arg):
                self._write("Usage: /transfer <number>, e.g. /transfer +15550001234\n")
                return
            await self._call.transfer(arg)
        else:
            self._write(
                f"Unknown command {name}. Commands: /quit  /transfer <number>  /hangup  /history\n"
            )

    def _sentence(self, text: str) -> None:
        """One sentence the agent says, printed as soon as it is ready."""
        self._write(f" {text}" if self._speaking else f"Agent: {text}")
        self._speaking = True

    def _notice(self, text: str) -> None:
        self._close_reply()
        self._write(text + "\n")

    def _close_reply(self) -> None:
        if self._speaking:
            self._speaking = False
            self._write("\n")

    def _print_banner(self) -> None:
        rule = "=" * 60
        self._write(
            f"{rule}\n"
            "  PATTER TEST MODE\n"
            f"  Agent: {self._agent.model} / {self._agent.voice}\n"
            f"  Provider: {self._agent.provider}\n"
            f"  Call ID: {self.call_id}\n"
            f"  Caller: {TEST_CALLER}  →  Callee: {TEST_CALLEE}\n"
            "  Commands: /quit  /transfer <number>  /hangup  /history\n"
            f"{rule}\n"
        )

    def _print_history(self) -> None:
        history = self._call.history
        if not history:
            self._write("(no messages yet)\n")
        for entry in history:
            clock = time.strftime("%H:%M:%S", time.localtime(entry["timestamp"]))
            who = "You" if entry["role"] == "user" else "Agent"
            self._write(f"  [{clock}] {who}: {entry['text']}\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()
