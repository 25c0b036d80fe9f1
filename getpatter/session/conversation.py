"""What a call's engine reports, acted on: the conversation half of a :class:`CallSession`.

The engine (a speech-to-speech model or the pipeline) says what the AI does: audio to play, the
caller starting and stopping speech, transcripts, streamed text, tool calls, responses done,
errors. :class:`EngineEvents` turns each into the session's state (turns, metrics, transcript,
barge-in, guardrail screening, tool runs) and publishes the matching call events. It is mixed
into :class:`~getpatter.session.session.CallSession`, which owns that state; the attributes and
methods it uses of the session are declared at the top of the class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, TypeVar

from getpatter._validation import require_e164
from getpatter.agent import Agent
from getpatter.call import CallControl
from getpatter.calls.events import (
    AgentAudioSent,
    AgentSpeechStarted,
    AgentTextChunk,
    BargeIn,
    CallEvent,
    GuardrailBlocked,
    ToolFinished,
    ToolStarted,
    TranscriptPartial,
    TurnCompleted,
)
from getpatter.calls.stream import CallEventStream
from getpatter.carriers.base import CarrierActions
from getpatter.engines.base import (
    AgentAudio,
    AgentInterrupted,
    AgentTextDelta,
    AgentTranscript,
    Engine,
    EngineCapabilities,
    EngineClosed,
    EngineError,
    EngineEvent,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
    ToolCallRequest,
    UserTranscript,
    UserTranscriptPartial,
)
from getpatter.errors import PatterError
from getpatter.guardrails import GuardrailVerdict
from getpatter.observability.cost import CostMeter
from getpatter.observability.metrics import LatencyBreakdown, TurnMetrics
from getpatter.session.callbacks import CallbackQueue, CallCallbacks
from getpatter.session.health import CallHealth
from getpatter.session.outbound import OutboundAudio
from getpatter.session.report import CallStatus
from getpatter.session.screen import OutputScreen
from getpatter.session.turns import Turn, turn_metrics
from getpatter.tool_calls import DefaultToolExecutor

if TYPE_CHECKING:
    from getpatter.audio.convert import AudioConverter
    from getpatter.ivr.activity import IVRWatch

__all__ = ["DTMF_ITEM_PREFIX", "WAIT_FOR_SPEECH", "EngineEvents"]

logger = logging.getLogger("getpatter.session")

_E = TypeVar("_E", bound=CallEvent)

DTMF_ITEM_PREFIX = "patter-dtmf-"
"""Outbound audio items holding DTMF tones; they are not the model's, so never truncated, and
a barge-in while they play does not cut them."""
WAIT_FOR_SPEECH = 15.0
"""How long the session waits for the engine to be ready, or for the agent's next message."""
MAX_END_REASON = 500
"""Characters of the reason an agent gives ``end_call`` kept in the transcript and report."""


class EngineEvents:
    """Handles the events of the call's engine (:meth:`_handle`); see the module docstring."""

    # What this half reads and changes of the session's state (set in CallSession.__init__).
    agent: Agent
    call_sid: str
    _barge_in_task: asyncio.Task[None] | None
    _callbacks: CallCallbacks
    _cancelled_items: set[str]
    _capabilities: EngineCapabilities
    _carrier: CarrierActions
    _connected_at: tuple[float, float] | None
    _engine: Engine | None
    _events: CallEventStream
    _finishing: bool
    _health: CallHealth
    _history: list[dict[str, Any]]
    _ivr: IVRWatch | None
    _last_error: str
    _meter: CostMeter
    _new_message: asyncio.Event
    _notices: CallbackQueue
    _outbound: OutboundAudio | None
    _pending_bargein_ms: float | None
    _responding: bool
    _response_items: list[str]
    _screen: OutputScreen | None
    _speech_started_at: float | None
    _status: CallStatus
    _to_carrier: AudioConverter | None
    _tools: DefaultToolExecutor
    _turn: Turn | None
    _turns: list[TurnMetrics]
    _voicemail: str

    # What it asks of the session (defined by CallSession).
    @abstractmethod
    def control(self) -> CallControl: ...

    @abstractmethod
    async def transfer(self, number: str, *, by: str = "call_control") -> None: ...

    @abstractmethod
    async def hangup(self) -> None: ...

    @abstractmethod
    async def finish(self, *, outcome: str, ended_by: str, error: str = "") -> None: ...

    @abstractmethod
    async def _agent_presses(self, arguments: str) -> str: ...

    @abstractmethod
    async def _abort_call(self) -> None: ...

    @abstractmethod
    def _fail(self, error: str, *, recorded: bool = False) -> None: ...

    @abstractmethod
    def _record(
        self,
        role: str,
        text: str,
        *,
        heard: bool = True,
        confidence: float | None = None,
        generated_chars: int | None = None,
    ) -> None: ...

    @abstractmethod
    def _identity(self) -> dict[str, Any]: ...

    @abstractmethod
    def _publish(self, kind: type[_E], **fields: Any) -> _E: ...

    @abstractmethod
    def _spawn(self, coro: Any) -> asyncio.Task[Any]: ...

    # ----------------------------------------------------------------- the engine's events

    async def _handle(self, event: EngineEvent) -> None:
        if isinstance(event, AgentAudio):
            if self._agent_audio(event) and self._outbound is not None:
                # The first audio of a message goes on the line now, before the rest of a
                # burst of deltas is decoded: it sets the latency the caller hears.
                await self._outbound.send_now()
        elif isinstance(event, AgentTextDelta):
            if self._events.wants(AgentTextChunk):
                self._publish(AgentTextChunk, text=event.text)
            await self._agent_text(event)
        elif isinstance(event, UserTranscriptPartial):
            if self._events.wants(TranscriptPartial):
                self._publish(TranscriptPartial, role="user", text=event.text)
        elif isinstance(event, AgentInterrupted):
            await self._engine_interrupted()
        elif isinstance(event, SpeechStarted):
            self._speech_started()
        elif isinstance(event, SpeechStopped):
            self._speech_stopped(event.ago_ms)
        elif isinstance(event, UserTranscript):
            await self._user_transcript(event.text, event.confidence)
        elif isinstance(event, AgentTranscript):
            await self._agent_transcript(event)
        elif isinstance(event, ToolCallRequest):
            self._health.pause()
            if self._outbound is not None:
                self._outbound.tool_running(True)
            self._spawn(self._tool_call(event))
        elif isinstance(event, ResponseDone):
            await self._response_done(event)
        elif isinstance(event, EngineError):
            self._last_error = f"{event.source}: {event.message}"
            self._health.error(event.source, event.message, code=event.code, fatal=event.fatal)
            if event.fatal:
                self._fail(event.message, recorded=True)
                await self._abort_call()
        elif isinstance(event, EngineClosed) and not self._finishing:
            if event.error:
                self._fail(f"the AI connection dropped: {event.error}")
            elif event.finished:
                await self._end_by_agent("completed", hangup=True)

    def _agent_audio(self, event: AgentAudio) -> bool:
        """Queue agent audio; True when it starts a new message."""
        if event.item_id in self._cancelled_items or self._outbound is None:
            return False
        self._responding = True
        new_item = event.item_id not in self._response_items
        if new_item:
            self._response_items.append(event.item_id)
            self._new_message.set()
            self._health.answered()
        turn = self._turn
        if turn is not None and turn.first_audio_at is None:
            turn.first_audio_at = time.monotonic()
            turn.first_item = event.item_id
        audio = event.audio if self._to_carrier is None else self._to_carrier.convert(event.audio)
        self._outbound.push(event.item_id, audio)
        if new_item:
            self._publish(AgentSpeechStarted)
        if self._events.wants(AgentAudioSent):
            self._publish(AgentAudioSent, bytes=len(event.audio))
        return new_item

    def _speech_started(self) -> None:
        self._speech_started_at = time.monotonic()
        threshold = self.agent.barge_in_threshold_ms
        outbound = self._outbound
        if outbound is not None:
            outbound.thinking(False)
        if self._capabilities.decides_interruptions:
            return  # the engine tells us (AgentInterrupted)
        if threshold <= 0 or outbound is None or not outbound.speaking:
            return
        if self._barge_in_task is None or self._barge_in_task.done():
            self._barge_in_task = self._spawn(self._barge_in_after(threshold / 1000))

    def _speech_stopped(self, ago_ms: float = 0.0) -> None:
        if self._barge_in_task is not None:
            self._barge_in_task.cancel()
            self._barge_in_task = None
        self._speech_started_at = None
        stopped_at = time.monotonic() - ago_ms / 1000
        self._turn = Turn(index=len(self._turns), stopped_at=stopped_at)
        if self._outbound is not None:
            self._outbound.thinking(True)
        if self._capabilities.answers_speech_turns:
            self._health.owe()

    async def _barge_in_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        # Past this point the caller did talk over the agent: finish even if they stop now.
        heard_at = self._speech_started_at
        interrupted = await asyncio.shield(self._silence_agent())
        if interrupted is None:
            return
        item, played = interrupted
        bargein_ms = (time.monotonic() - heard_at) * 1000 if heard_at is not None else None
        self._pending_bargein_ms = bargein_ms
        self._publish(BargeIn, item_id=item, played_ms=played, bargein_ms=bargein_ms)

    async def _user_transcript(self, text: str, confidence: float | None = None) -> None:
        if not text:
            return
        if self._turn is not None and not self._turn.user_text:
            self._turn.user_text = text
        self._record("user", text, confidence=confidence)
        if not self._capabilities.answers_speech_turns:
            self._health.owe()
        if self._ivr is not None:
            await self._ivr.heard(text)

    async def _agent_transcript(self, event: AgentTranscript) -> None:
        if not event.text:
            return
        screen = self._screen
        if screen is not None:
            verdict = screen.finish(event.item_id, event.text)
            if verdict is not None:
                await self._block(event.item_id, verdict)
            if screen.blocked(event.item_id):
                return  # what was blocked is not in the transcript: its replacement is
        if self._turn is not None and event.item_id == self._turn.first_item:
            self._turn.agent_text = event.text
        outbound = self._outbound
        heard = outbound is not None and event.item_id in outbound.first_frame_sent_at
        self._record("assistant", event.text, heard=heard, generated_chars=event.generated_chars)

    async def _agent_text(self, event: AgentTextDelta) -> None:
        screen = self._screen
        if screen is None or event.item_id in self._cancelled_items:
            return
        verdict = screen.push(event.item_id, event.text)
        if verdict is not None:
            await self._block(event.item_id, verdict)

    async def _block(self, item: str, verdict: GuardrailVerdict) -> None:
        """A guardrail blocked message ``item``: silence it, then speak the replacement."""
        outbound, engine = self._outbound, self._engine
        if engine is None:
            return
        played = outbound.played_ms(item) if outbound is not None else 0
        self._cancelled_items.add(item)
        if outbound is not None:
            await outbound.clear()
        await engine.interrupt(item, played)
        self._publish(GuardrailBlocked, guardrail=verdict.blocked_by, heard_ms=played)
        self._responding = True
        self._health.owe()
        await engine.say(verdict.text)

    async def _response_done(self, event: ResponseDone) -> None:
        self._responding = False
        if event.usage is not None:
            self._meter.add_realtime_usage(event.usage)
        usage = event.pipeline_usage
        if usage is not None:
            if usage.llm_provider and not self._meter.llm_provider:
                self._meter.llm_provider = usage.llm_provider  # the default LLM (spec LLM-2)
            self._meter.add_stt_seconds(usage.stt_seconds, usage.stt_provider)
            self._meter.add_llm_tokens(
                usage.llm_input_tokens, usage.llm_output_tokens, usage.llm_provider
            )
            others = usage.tts_characters_by_provider
            self._meter.add_tts_characters(usage.tts_characters - sum(others.values()))
            for provider, characters in others.items():
                self._meter.add_tts_characters(characters, provider)
        outbound = self._outbound
        produced_audio = bool(self._response_items)
        if event.status == "failed" and not produced_audio:
            self._health.failed(self._last_error or "the AI's response failed")
        elif not produced_audio:
            self._health.settled()
        if outbound is not None and not produced_audio:
            outbound.thinking(False)  # no answer is coming
        self._last_error = ""
        if outbound is not None:
            for item in self._response_items:
                outbound.end_item(item)
        self._response_items = []
        turn = self._turn
        if turn is not None and usage is not None:
            turn.stt_audio_seconds += usage.stt_seconds
        if turn is None or (event.status == "completed" and not produced_audio):
            return
        self._turn = None
        await self._complete_turn(turn, event.latency)

    async def _complete_turn(self, turn: Turn, stages: LatencyBreakdown | None = None) -> None:
        first_sent = None
        if self._outbound is not None and turn.first_item:
            first_sent = self._outbound.first_frame_sent_at.get(turn.first_item)
        bargein, self._pending_bargein_ms = self._pending_bargein_ms, None
        metrics = turn_metrics(turn, first_sent_at=first_sent, bargein_ms=bargein, stages=stages)
        self._turns.append(metrics)
        if self._connected_at is not None:  # minute-priced parts cost what the call has lasted
            self._meter.set_duration(time.monotonic() - self._connected_at[1])
        completed = self._publish(
            TurnCompleted,
            turn=metrics,
            cost_so_far=self._meter.breakdown(),
            speech_ended_at=time.time() - (time.monotonic() - turn.stopped_at),
        )
        if self._callbacks.on_metrics is not None:
            self._notices.put("on_metrics", self._callbacks.on_metrics, completed.payload())

    async def _tool_call(self, request: ToolCallRequest) -> None:
        outbound = self._outbound
        try:
            await self._run_tool(request)
        finally:
            if outbound is not None:
                outbound.tool_running(False)

    async def _run_tool(self, request: ToolCallRequest) -> None:
        self._publish(ToolStarted, name=request.name, transport=self._tools.transport(request.name))
        if request.name in ("transfer_call", "end_call"):
            try:
                await self._system_tool(request)
            finally:
                self._health.resume()
            return
        try:
            if request.name == "send_dtmf":
                output = await self._agent_presses(request.arguments)
            else:
                context = {**self._identity(), "call": self.control()}
                output = await self._tools.run(request.name, request.arguments, context)
        finally:
            self._health.resume()
        self._publish(ToolFinished, name=request.name)
        if self._engine is not None and not self._finishing:
            self._responding = True
            self._health.owe()
            await self._engine.send_tool_result(request.call_id, output)

    async def _system_tool(self, request: ToolCallRequest) -> None:
        import json

        try:
            arguments = json.loads(request.arguments or "{}")
        except json.JSONDecodeError:
            arguments = {}
        if not isinstance(arguments, dict):
            arguments = {}
        if request.name == "end_call":
            reason = str(arguments.get("reason", "")).strip()[:MAX_END_REASON]
            if reason:
                self._status.end_reason = reason
                self._history.append(
                    {
                        "role": "system",
                        "text": f"end_call: {reason}",
                        "tool": "end_call",
                        "timestamp": time.time(),
                    }
                )
            await self.hangup()
            return
        number = str(arguments.get("number", ""))
        try:
            await self.transfer(require_e164("transfer number", number), by="agent")
        except PatterError as exc:
            if self._engine is not None and not self._finishing:
                self._health.owe()
                await self._engine.send_tool_result(
                    request.call_id, json.dumps({"error": exc.message})
                )

    async def _silence_agent(self) -> tuple[str, int] | None:
        """Stop the agent mid-sentence: clear the line, cancel and truncate what was not heard.

        Returns the interrupted message and how much of it was heard, or None if it was silent.
        """
        outbound, engine = self._outbound, self._engine
        if outbound is None or engine is None or not outbound.speaking:
            return None
        item = outbound.current_item()
        if item.startswith(DTMF_ITEM_PREFIX):
            # Keys being pressed are not cut: a menu talks over the keys pressed into it, and a
            # key cut short is heard twice or not at all. Speech queued after them stays too.
            return None
        played = outbound.played_ms(item)
        self._cancelled_items.add(item)
        await outbound.clear()
        if self._capabilities.truncates_to_heard:
            await engine.interrupt(item, played)
        return item, played

    async def _engine_interrupted(self) -> None:
        """The engine stopped the agent for the caller: clear the line, and report it."""
        heard_at = self._speech_started_at
        interrupted = await self._silence_agent()
        if interrupted is None:
            return
        item, played = interrupted
        bargein_ms = (time.monotonic() - heard_at) * 1000 if heard_at is not None else None
        self._publish(BargeIn, item_id=item, played_ms=played, bargein_ms=bargein_ms)

    async def _leave_voicemail(self) -> None:
        engine = self._engine
        if engine is None:
            return
        await self._silence_agent()
        self._new_message.clear()
        await engine.say(self._voicemail)
        # Wait for the voicemail itself to start: a late "done" of the interrupted greeting
        # must not be mistaken for the end of it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._new_message.wait(), WAIT_FOR_SPEECH)
        await self._end_by_agent("voicemail", hangup=True)

    async def _end_by_agent(self, outcome: str, *, hangup: bool) -> None:
        await self._wait_played()
        self._status.outcome, self._status.ended_by = outcome, "agent"
        if hangup:
            try:
                await self._carrier.hangup(self.call_sid)
            except PatterError as exc:
                logger.warning("call %s: hang-up failed: %s", self.call_sid, exc)
        await self.finish(outcome=outcome, ended_by="agent")

    async def _wait_played(self) -> None:
        """Wait (bounded) until the agent has finished its response and the caller heard it."""
        deadline = time.monotonic() + WAIT_FOR_SPEECH
        while time.monotonic() < deadline:
            outbound = self._outbound
            if not self._responding and (outbound is None or not outbound.speaking):
                return
            await asyncio.sleep(0.05)
