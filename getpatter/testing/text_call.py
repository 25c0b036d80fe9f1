"""One test-mode call: the real call session and pipeline, on a text line (spec 08).

:class:`TextCall` builds the same :class:`~getpatter.session.session.CallSession` a phone call
gets, with a pipeline engine whose speech ends are text (:mod:`getpatter.testing.text_line`).
The lifecycle callbacks, ``on_call_start``'s variables, ``on_message``, the LLM's tool loop,
tools, guardrails, text transforms and pipeline hooks therefore run the code they run on a call.

What answers (TM-6, TM-7): ``on_message`` when given; else the agent's ``llm=``; else OpenAI
(``gpt-4o-mini``) with the OpenAI Realtime engine's key and base URL or ``OPENAI_API_KEY``.
An engine agent (OpenAI Realtime) is run as a pipeline with that LLM, with its prompt, tools
and guardrails; an ElevenLabs ConvAI agent, whose conversation lives on ElevenLabs, needs
``on_message``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from getpatter._validation import require_callable
from getpatter.agent import Agent
from getpatter.calls.events import CallError, CallEvent, TranscriptFinal
from getpatter.calls.stream import CallEventStream
from getpatter.engines.base import EngineFactory
from getpatter.engines.openai import Realtime
from getpatter.errors import ConfigError
from getpatter.observability.pricing import PriceTable
from getpatter.pipeline.brains import Brain, CallInfo, MessageHandlerBrain
from getpatter.pipeline.engine import PipelineEngine, PipelineSettings
from getpatter.pipeline.factory import llm_brain_factory, refuse_unused_llm
from getpatter.session.callbacks import CallCallbacks
from getpatter.session.session import CallSession
from getpatter.testing.text_line import (
    LINE_FORMAT,
    TextCarrier,
    TextEngine,
    TextLine,
    TextMedia,
    TextSTT,
    TextTTS,
)

if TYPE_CHECKING:
    from getpatter.llm.base import LLMProvider

__all__ = ["TEST_CALLEE", "TEST_CALLER", "TEST_TELEPHONY", "TextCall"]

TEST_CALLER = "+15550000001"
TEST_CALLEE = "+15550000002"
TEST_TELEPHONY = "test"
"""The telephony provider of a test call (no price: it costs nothing)."""


class TextCall:
    """One simulated call on a text line; :class:`~getpatter.testing.terminal.TerminalCall`
    is its terminal.

    ``on_sentence(text)`` gets each sentence the agent says, as it is ready; ``on_notice(text)``
    what happened on the line (``[Agent hung up]``, ``[on_message raised ...]``);
    ``on_reply_end()`` is called when a reply is complete (it is in the transcript).
    """

    def __init__(
        self,
        agent: Agent,
        *,
        on_message: Callable[..., Any] | None = None,
        on_call_start: Callable[[dict[str, Any]], Any] | None = None,
        on_call_end: Callable[[dict[str, Any]], Any] | None = None,
        pricing: PriceTable | None = None,
        events: CallEventStream | None = None,
        on_sentence: Callable[[str], None],
        on_notice: Callable[[str], None],
        on_reply_end: Callable[[], None] | None = None,
    ) -> None:
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"test() needs an Agent from phone.agent(...), got {type(agent).__name__}"
            )
        if isinstance(on_message, str):
            raise ConfigError(
                "test() takes on_message as a function; a URL on_message is for serve()"
            )
        handler = None if on_message is None else require_callable("on_message", on_message)
        for name, value in (("on_call_start", on_call_start), ("on_call_end", on_call_end)):
            if value is not None:
                require_callable(name, value)
        self.call_id = f"test_{secrets.token_hex(6)}"
        self.line = line = TextLine(on_sentence, on_notice)
        self._on_notice = on_notice
        self._on_reply_end = on_reply_end
        self._events = events if events is not None else CallEventStream()
        self.history: tuple[dict[str, Any], ...] = ()
        """The conversation so far (``role``, ``text``, ``timestamp``), as its events tell."""
        settings = PipelineSettings(
            stt=TextSTT(line),
            tts=TextTTS(line),
            brain_for=_brain_factory(agent, handler),
            hooks=agent.hooks if agent.provider == "pipeline" else None,
            guardrails=tuple(agent.guardrails or ()),
            text_transforms=tuple(agent.text_transforms or ()),
            aggressive_first_flush=agent.aggressive_first_flush,
            parallel_tools=agent.llm is None or agent.llm.capabilities.parallel_tool_calls,
        )
        factory = EngineFactory(
            lambda: TextEngine(PipelineEngine(settings), line),
            (LINE_FORMAT,),
            PipelineEngine.capabilities,
            name="test mode",
        )
        self.session = _TextCallSession(
            line,
            agent=_on_text_line(agent, settings),
            direction="inbound",
            caller=TEST_CALLER,
            callee=TEST_CALLEE,
            engine_factory=factory,
            carrier=TextCarrier(line),
            telephony_provider=TEST_TELEPHONY,
            callbacks=CallCallbacks(on_call_start=on_call_start, on_call_end=on_call_end),
            events=self._events,
            pricing=pricing if pricing is not None else PriceTable(),
            call_sid=self.call_id,
            description=agent.describe(on_message=handler),
        )
        line.session = self.session
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Connect the call; returns once the agent has said its first message, if any."""
        self._unsubscribe = self._events.subscribe(
            self._seen, kinds=(TranscriptFinal, CallError), inline=True, name="test mode"
        )
        self.session.start_media(TextMedia(self.line), {}, LINE_FORMAT)
        await self.line.ready()
        await self.line.settled()

    async def say(self, text: str) -> None:
        """The caller says ``text``; returns once the agent has answered (and done what it
        asked for, such as hanging up)."""
        if self.ended:
            return
        await self.line.type(text)
        await self.line.settled()

    async def transfer(self, number: str) -> None:
        """Transfer the call to ``number`` (simulated), as a transfer asked by user code is."""
        await self.session.transfer(number)
        await self.session.wait_finished()

    async def hang_up(self, reason: str = "caller_hangup") -> None:
        """The caller's side ends the call; ``reason`` goes to the end report."""
        self.line.end(reason)
        self.line.end_of_input()
        await self.session.on_media_stopped()

    @property
    def ended(self) -> bool:
        """True once the end of the call has been reported."""
        return self.session.finished

    @property
    def reason(self) -> str:
        """Why the call ended (``""`` while it goes on)."""
        return self.line.reason

    async def wait_finished(self) -> None:
        """Wait until the end of the call has been reported (``on_call_end`` included)."""
        await self.session.wait_finished()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _seen(self, event: CallEvent) -> None:
        if event.call_id != self.call_id:
            return
        if isinstance(event, TranscriptFinal):
            self.history = event.history
            if event.role == "assistant" and self._on_reply_end is not None:
                self._on_reply_end()
        elif isinstance(event, CallError):
            self._on_notice(_error_notice(event))


class _TextCallSession(CallSession):
    """A call session whose hang-ups and transfers the text line waits for."""

    def __init__(self, line: TextLine, **session: Any) -> None:
        super().__init__(**session)
        self._text_line = line

    async def transfer(self, number: str, *, by: str = "call_control") -> None:
        self._text_line.action_started()
        try:
            await super().transfer(number, by=by)
        finally:
            self._text_line.action_finished()

    async def hangup(self) -> None:
        self._text_line.action_started()
        try:
            await super().hangup()
        finally:
            self._text_line.action_finished()

    async def _abort_call(self) -> None:
        self._text_line.end("error")
        await super()._abort_call()


def _error_notice(event: CallError) -> str:
    if event.source == "on_message":
        return f"[{event.error}]"
    if event.source == "llm":
        return f"[the LLM failed: {event.error}]"
    return f"[{event.source} error: {event.error}]"


def _on_text_line(agent: Agent, settings: PipelineSettings) -> Agent:
    """``agent`` as its session sees it on a text line, where there is no audio: no background
    audio or audio filter, and a pipeline agent's speech goes through the line (so no speech
    service is priced). The agent's description is its own (the banner, ``CallStarted``)."""
    quiet = dataclasses.replace(agent, background_audio=None, audio_filter=None)
    if agent.provider != "pipeline":
        return quiet
    return dataclasses.replace(quiet, stt=settings.stt, tts=settings.tts, vad=None)


def _brain_factory(
    agent: Agent, on_message: Callable[..., Any] | None
) -> Callable[[CallInfo], Brain]:
    if on_message is not None:
        # As serve() refuses them for a pipeline call: neither would be used.
        refuse_unused_llm(agent, instead="leave on_message= out to test with the built-in LLM loop")
        handler = on_message
        return lambda call: MessageHandlerBrain(handler, call)
    return llm_brain_factory(agent, _llm(agent))


def _llm(agent: Agent) -> LLMProvider:
    """The built-in loop's LLM: the agent's ``llm``, else OpenAI with the OpenAI Realtime
    engine's key and base URL (which fall back to the environment), else the environment's."""
    if agent.llm is not None:
        llm: LLMProvider = agent.llm
        return llm
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
    return OpenAILLM(api_key=key, base_url=base_url)
