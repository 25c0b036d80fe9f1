"""CallSession: owns one call from dialing (or ringing) to its end report.

The carrier side tells the session what happens on the line (status, media, marks, key presses,
hang-up); the engine tells it what the AI does. The session relays audio between them, keeps the
transcript, metrics and cost, runs tools, handles barge-in, and reports the end of the call
exactly once, whatever ended it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from getpatter.agent import Agent
from getpatter.audio.formats import AudioFormat, choose_format, frame_size, silence
from getpatter.call import OPEN_TRANSFERS, CallControl, TransferGuard, TransferRequest
from getpatter.calls.events import (
    AgentTextChunk,
    CallEnded,
    CallError,
    CallEvent,
    CallStarted,
    CallStatusChanged,
    CallTransferred,
    KeyPressed,
    RecordingReady,
    TranscriptFinal,
    TranscriptPartial,
)
from getpatter.calls.report import CallReport
from getpatter.calls.stream import CallEventStream
from getpatter.carriers.base import TERMINAL_STATES, CarrierActions
from getpatter.dtmf import DtmfEvent, format_dtmf
from getpatter.engines.base import (
    AgentAudio,
    Engine,
    EngineClosed,
    EngineConfig,
    EngineFactory,
)
from getpatter.errors import ConfigError, PatterError
from getpatter.observability.metrics import TurnMetrics
from getpatter.observability.pricing import PriceTable
from getpatter.prompt import validate_variables
from getpatter.session.callbacks import CallbackQueue, CallCallbacks, invoke
from getpatter.session.conversation import DTMF_ITEM_PREFIX, WAIT_FOR_SPEECH, EngineEvents
from getpatter.session.health import CallHealth
from getpatter.session.keys import KeyAllowance
from getpatter.session.outbound import MediaOut, OutboundAudio
from getpatter.session.report import CallStatus, cost_meter_for, end_report, not_clean_reason
from getpatter.session.screen import OutputScreen
from getpatter.session.turns import Turn
from getpatter.tool_calls import DefaultToolExecutor
from getpatter.tools import SEND_DTMF_TOOL, SYSTEM_TOOLS

if TYPE_CHECKING:
    from getpatter.audio.convert import AudioConverter
    from getpatter.ivr.activity import IVRWatch

__all__ = ["CallCallbacks", "CallSession", "CarrierActions", "Outcome"]

logger = logging.getLogger("getpatter.session")

#: How a call ended. ``failed``, ``busy``, ``no-answer`` and ``canceled`` calls never connected;
#: ``error`` means the AI side failed (the call is not a clean completion).
Outcome = str

_E = TypeVar("_E", bound=CallEvent)

VOICEMAIL_ACTION = "leave a voicemail_message (it must be spoken verbatim): remove it"
"""What an engine that cannot speak verbatim is refused when given a voicemail message."""
_WAIT_FOR_GREETING_END = 30.0
"""How long a voicemail message waits for the machine's greeting to end (its beep)."""
_MAX_EARLY_AUDIO_FRAMES = 150
_CALLBACK_DRAIN_TIMEOUT = 10.0


class CallSession(EngineEvents):
    """One call. Built by the server when a call rings in or is dialed out.

    What its engine reports is handled by :class:`~getpatter.session.conversation.EngineEvents`.
    """

    def __init__(
        self,
        *,
        agent: Agent,
        direction: str,
        caller: str,
        callee: str,
        engine_factory: EngineFactory,
        carrier: CarrierActions,
        telephony_provider: str,
        callbacks: CallCallbacks,
        events: CallEventStream,
        pricing: PriceTable,
        call_sid: str = "",
        first_message: str | None = None,
        voicemail_message: str = "",
        transfer_guard: TransferGuard = OPEN_TRANSFERS,
        description: str = "",
    ) -> None:
        self.patter_id = f"pc_{secrets.token_hex(8)}"
        self.call_sid = call_sid
        """The call's public id: the carrier's (Twilio's CallSid, Telnyx's call_control_id);
        ``""`` for a dialed call until the carrier answers the dial request."""
        self._unnamed_events: list[CallEvent] = []
        self.direction = direction
        self.caller = caller
        self.callee = callee
        self.agent = agent
        self.description = description or agent.describe()
        """One line naming what answers the call (the engine, or the pipeline's parts)."""
        self._engine_factory = engine_factory
        self._carrier = carrier
        self._transfer_guard = transfer_guard
        self._telephony = telephony_provider
        self._callbacks = callbacks
        self._events = events
        self._first_message_override = first_message or None
        self._voicemail = voicemail_message
        self._meter = cost_meter_for(agent, pricing, telephony_provider)
        self._tools = DefaultToolExecutor(agent.tools)
        self._status = CallStatus()
        self._history: list[dict[str, Any]] = []
        self._turns: list[TurnMetrics] = []
        self._turn: Turn | None = None
        self._engine: Engine | None = None
        self._capabilities = engine_factory.capabilities
        if voicemail_message:
            engine_factory.require("speaks_verbatim", VOICEMAIL_ACTION)
        # Held weakly: a session must not refer to itself through its parts, or only a full
        # collection of the cyclic garbage collector could free a finished call.
        self._health = CallHealth(_weakly(self._health_error))
        self._screen: OutputScreen | None = None
        self._last_error = ""
        """The latest error the engine reported, for the failure of the response it ends."""
        self._listening = False
        """The session is reading the engine's events (and may take audio by ``play_now``)."""
        self._handling = asyncio.Lock()
        """Held while an engine event is handled: one at a time, in order."""
        self._outbound: OutboundAudio | None = None
        self._stream_format: AudioFormat = "ulaw_8000"
        self._engine_format: AudioFormat = "ulaw_8000"
        self._to_engine: AudioConverter | None = None
        self._to_carrier: AudioConverter | None = None
        self._greeting_end: asyncio.Event | None = None
        """Set when a machine's greeting ends, while a voicemail message waits for it."""
        self._early_audio: deque[bytes] = deque(maxlen=_MAX_EARLY_AUDIO_FRAMES)
        self._cancelled_items: set[str] = set()
        self._response_items: list[str] = []
        self._speech_started_at: float | None = None
        self._pending_bargein_ms: float | None = None
        self._responding = False
        self._dtmf_seq = 0
        self._keys = KeyAllowance()
        self._pressing = asyncio.Lock()
        """Held while keys are pressed: one press at a time, never two sets of tones mixed."""
        self._ivr: IVRWatch | None = None
        self._engine_ready = asyncio.Event()
        self._new_message = asyncio.Event()
        self._finish_task: asyncio.Future[None] | None = None
        self._barge_in_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._notices = CallbackQueue()
        self._run_task: asyncio.Task[None] | None = None
        self._created_at = time.time()
        self._connected_at: tuple[float, float] | None = None
        self._finished = asyncio.Event()
        self._finishing = False
        self.finished_at: float | None = None
        """``time.monotonic()`` when the end of the call was reported."""
        self._media_offered = False
        self.malformed_frames = 0
        """Carrier media frames that were skipped because they could not be parsed."""
        self.report_extra: dict[str, Any] = {}
        """Keys the end report adds for where the call ran (test mode's ``reason``)."""
        self.on_finished: Callable[[CallSession], None] | None = None
        """Called once, after the end has been reported (the server's registry drops the call)."""

    # ----------------------------------------------------------------- identity and state

    @property
    def call_id(self) -> str:
        """The carrier's id of the call (Twilio's CallSid, Telnyx's call_control_id)."""
        return self.call_sid

    @property
    def engine_formats(self) -> tuple[AudioFormat, ...]:
        """The audio formats this call's engine takes as they are, best first."""
        return self._engine_factory.audio_formats

    @property
    def finished(self) -> bool:
        """True once the end of the call has been reported."""
        return self._finished.is_set()

    async def wait_finished(self) -> None:
        """Wait until the end of the call has been reported."""
        await self._finished.wait()

    def control(self) -> CallControl:
        """A :class:`CallControl` for user code (tool handlers) to transfer or hang up."""
        return CallControl(
            call_id=self.call_sid,
            caller=self.caller,
            callee=self.callee,
            telephony_provider=self._telephony,
            actions=_SessionActions(self),
        )

    # ----------------------------------------------------------------- told by the carrier

    async def on_status(self, status: str, duration: int | None = None) -> None:
        """A carrier status callback (``ringing``, ``in-progress``, ``completed``, ``busy``...).

        A call that never connected ends with the carrier's status as its outcome; a connected
        call normally ends when its media stream stops, and ``completed`` then only confirms it.
        """
        self._status.carrier_status = status
        if duration is not None:
            self._status.carrier_duration = duration
        self._publish(CallStatusChanged, status=status)
        if status in TERMINAL_STATES:
            connected = self._connected_at is not None
            await self.finish(
                outcome=status if not connected else "completed",
                ended_by="caller" if connected or status == "completed" else "carrier",
            )

    def on_amd(self, answered_by: str, *, greeting_ended: bool = False) -> None:
        """The carrier's answering-machine detection: ``human``, ``machine``, ``fax`` or
        ``unknown`` (:data:`~getpatter.carriers.base.MachineResult`).

        A machine gets the voicemail message, if there is one, once its greeting has ended
        (``greeting_ended``, now or in a later report), then a hang-up. Only the first result
        counts, and then only the end of the greeting it waits for: anything else is a replay.
        """
        waiting = self._greeting_end
        if greeting_ended and waiting is not None and not waiting.is_set():
            waiting.set()
            return
        if self._status.answered_by:
            logger.warning("call %s: a second AMD result (%s) ignored", self.call_sid, answered_by)
            return
        self._status.answered_by = answered_by
        if answered_by in ("machine", "fax") and not self._finishing:
            if self._voicemail and not greeting_ended:
                self._greeting_end = asyncio.Event()
            self._spawn(self._machine_answered(answered_by))

    async def _machine_answered(self, answered_by: str) -> None:
        if self._callbacks.on_machine is not None:
            await invoke(
                self.call_sid,
                "on_machine",
                self._callbacks.on_machine,
                {**self._identity(), "answered_by": answered_by},
            )
        if self._voicemail:
            # The result can arrive before the AI side is connected: give it time to be.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._engine_ready.wait(), WAIT_FOR_SPEECH)
            if self._greeting_end is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._greeting_end.wait(), _WAIT_FOR_GREETING_END)
        if self._voicemail and self._engine is not None:
            await self._leave_voicemail()
        else:
            await self._end_by_agent("machine", hangup=True)

    def on_recording(self, details: dict[str, Any]) -> None:
        """The carrier finished a recording of this call: kept for the end report, and emitted."""
        self._status.recording = details
        self._publish(RecordingReady, details=dict(details), call_ended=self._finishing)

    def start_media(
        self,
        media: MediaOut,
        custom_params: dict[str, str],
        audio_format: AudioFormat = "ulaw_8000",
    ) -> bool:
        """The media stream connected, in ``audio_format``: start the AI side of the call.

        The engine gets the stream's format when it takes it, else its own best one through a
        converter each way. Returns False (and does nothing) for a second start, or once the
        call has ended.
        """
        if self._outbound is not None or self._finishing:
            return False
        self._connected_at = (time.time(), time.monotonic())
        self._stream_format = audio_format
        self._engine_format = choose_format(audio_format, self.engine_formats)
        if self._engine_format != audio_format:
            from getpatter.audio.convert import AudioConverter

            self._to_engine = AudioConverter(audio_format, self._engine_format)
            self._to_carrier = AudioConverter(self._engine_format, audio_format)
        # Frames are padded with one repeated byte: PCM16's zero sample is the byte 0 twice.
        player = self.agent.background_audio
        self._outbound = OutboundAudio(
            media,
            frame_size=frame_size(audio_format),
            silence=silence(audio_format)[:1],
            background=player.mix_for(audio_format) if player is not None else None,
        )
        self._outbound.start()
        self._run_task = asyncio.create_task(
            self._run(custom_params), name=f"patter-call-{self.call_sid}"
        )
        return True

    @property
    def media_offered(self) -> bool:
        """True once the carrier has been told where this call's media stream goes."""
        return self._media_offered

    def expect_media(self, within: float) -> None:
        """The carrier was told where to stream: if no stream starts in ``within`` s, end the call."""
        self._media_offered = True
        self._spawn(self._media_watchdog(within))

    async def _media_watchdog(self, within: float) -> None:
        await asyncio.sleep(within)
        if self._outbound is None:
            logger.warning("call %s: no media stream arrived; ending the call", self.call_sid)
            await self.finish(outcome="failed", ended_by="carrier", error="no media stream")

    def run_in_background(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` as part of this call: cancelled when the call ends."""
        self._spawn(coro)

    async def on_media(self, audio: bytes) -> None:
        """One frame of caller audio, in the stream's format."""
        if self._outbound is not None:
            self._outbound.on_caller_frame()
        if self._to_engine is not None:
            audio = self._to_engine.convert(audio)
        engine = self._engine
        if engine is None:
            self._early_audio.append(audio)
            return
        await engine.send_audio(audio)

    def on_mark(self, name: str) -> None:
        """The carrier played the audio up to mark ``name``."""
        if self._outbound is not None:
            self._outbound.on_mark(name)

    async def on_dtmf(self, digit: str) -> None:
        """The caller pressed a key: it enters the conversation as ``[DTMF: N]``."""
        event = DtmfEvent(digit=digit, call_id=self.call_sid)
        self._publish(KeyPressed, digit=event.digit, event=event)
        text = format_dtmf(event.digit)
        self._record("user", text)
        if self._engine is not None:
            self._responding = True
            self._health.owe()
            await self._engine.send_user_text(text)

    async def media_failed(self, reason: str) -> None:
        """The media stream broke (it had to be closed): hang up and report an error."""
        if self._finishing:
            return
        self._health.error("media", reason, fatal=True)
        self._fail(reason, recorded=True)
        await self._abort_call()

    async def on_media_stopped(self) -> None:
        """The media stream ended: the caller hung up, or the call left the agent."""
        await self.finish(
            outcome=self._status.outcome or "completed", ended_by=self._status.ended_by or "caller"
        )

    # ----------------------------------------------------------------- asked by user code

    async def transfer(self, number: str, *, by: str = "call_control") -> None:
        """Let the agent finish its sentence, then transfer the call to ``number``.

        The server's transfer guard (the safety policy, when the call-control service runs
        the server) allows it first, or raises :class:`~getpatter.errors.PolicyError`. ``by``
        says who asked (see :class:`~getpatter.call.TransferRequest`).
        """
        request = TransferRequest(
            self.call_sid, self.caller, self.callee, self.direction, number, by
        )
        # The carrier may stop the media stream (ending this call and cancelling its tasks)
        # before it answers the transfer request: the transfer and its record still finish.
        done = asyncio.ensure_future(self._transfer(request))
        done.add_done_callback(_retrieve)
        await asyncio.shield(done)

    async def _transfer(self, request: TransferRequest) -> None:
        from getpatter.audio.background.player import hold_music

        async with self._transfer_guard.transfer(request) as permit:
            await self._wait_played()
            music = await asyncio.to_thread(hold_music, self._stream_format)  # first: ~50 ms
            before = (self._status.outcome, self._status.ended_by)
            # Set first: the carrier may stop the stream before its REST answer arrives.
            self._status.outcome, self._status.ended_by = "transferred", "agent"
            outbound = self._outbound
            # The caller hears hold music until the carrier moves the call (spec XF-2).
            background = outbound.play_background(music) if outbound is not None else None
            try:
                await self._carrier.transfer(
                    self.call_sid, permit.number, time_limit=permit.seconds_left()
                )
            except BaseException:
                self._status.outcome, self._status.ended_by = before
                if outbound is not None:
                    outbound.play_background(background)
                raise
        self._publish(CallTransferred, to=permit.number)

    async def hangup(self) -> None:
        """Let the agent finish its sentence, then hang up (a call still ringing is canceled)."""
        outcome = "completed" if self._connected_at is not None else "canceled"
        await self._end_by_agent(outcome, hangup=True)

    async def say(self, text: str) -> None:
        """Speak ``text`` verbatim once the agent has finished its current sentence.

        Refused with :class:`~getpatter.errors.ConfigError` when the engine cannot speak a
        text verbatim (``EngineCapabilities.speaks_verbatim``).
        """
        self._require_ability("speaks_verbatim", "speak a text verbatim")
        engine = self._live_engine()
        await self._wait_played()
        self._responding = True
        self._health.owe()
        await engine.say(text)

    async def instruct(self, instruction: str) -> None:
        """Give the in-call agent a new instruction; it applies from its next reply.

        Refused with :class:`~getpatter.errors.ConfigError` when the engine takes no
        instruction mid-call (``EngineCapabilities.takes_instructions``).
        """
        self._require_ability("takes_instructions", "take a new instruction mid-call")
        engine = self._live_engine()
        self._history.append({"role": "system", "text": instruction, "timestamp": time.time()})
        await engine.instruct(instruction)

    async def send_dtmf(self, digits: str) -> None:
        """Press keys on the line once the agent has finished its sentence.

        A carrier that presses keys itself (``CarrierActions.sends_dtmf``) is asked to; on
        others the tones are played into the call's audio, after what the agent is saying.
        """
        from getpatter.audio.dtmf_tones import check_digits

        check_digits(digits)
        self._live_engine()
        if self._outbound is None:
            raise PatterError(f"call {self.call_sid} has no media stream to send keys on")
        await self._wait_played()
        await self._press(digits)

    async def _agent_presses(self, arguments: str) -> str:
        """The agent's ``send_dtmf`` tool: press the keys once its speech has played, wait
        until they have played too, and return the tool result (``{"error": ...}`` when
        refused, see :mod:`getpatter.session.keys`)."""
        import json

        try:
            if not self.agent.send_dtmf:
                raise ConfigError(
                    "send_dtmf is not enabled for this agent: build it with "
                    "phone.agent(..., send_dtmf=True)"
                )
            digits = self._keys.take(arguments)
            self._live_engine()
            outbound = self._outbound
            if outbound is None:
                raise PatterError(f"call {self.call_sid} has no media stream to send keys on")
            for item in self._response_items:
                outbound.end_item(item)  # the last words go out before the tones
            await self._wait_quiet(WAIT_FOR_SPEECH)
            seconds = await self._press(digits)
            await self._wait_quiet(seconds + WAIT_FOR_SPEECH)
        except PatterError as exc:
            logger.info("call %s: send_dtmf refused: %s", self.call_sid, exc.message)
            return json.dumps({"error": exc.message})
        self._history.append(
            {"role": "system", "text": f"send_dtmf: {digits}", "timestamp": time.time()}
        )
        return json.dumps({"pressed": digits})

    async def _press(self, digits: str) -> float:
        """Press ``digits`` now: by the carrier, or as tones queued after the agent's audio.

        Returns how long the tones last in seconds (0 when the carrier presses the keys).
        """
        from getpatter.audio.dtmf_tones import dtmf_ulaw

        async with self._pressing:
            outbound = self._outbound
            if outbound is None:
                raise PatterError(f"call {self.call_sid} has no media stream to send keys on")
            if self._carrier.sends_dtmf:
                await self._carrier.send_dtmf(self.call_sid, digits)
                return 0.0
            tones = dtmf_ulaw(digits)
            seconds = len(tones) / 8000
            if self._stream_format != "ulaw_8000":
                from getpatter.audio.convert import AudioConverter

                converter = AudioConverter("ulaw_8000", self._stream_format)
                tones = converter.convert(tones) + converter.flush()
            self._dtmf_seq += 1
            item = f"{DTMF_ITEM_PREFIX}{self._dtmf_seq}"
            outbound.push_whole(item, tones)
            await outbound.send_now()
            return seconds

    async def _wait_quiet(self, limit: float) -> None:
        """Wait (at most ``limit`` s) until the agent's queued audio has all been played."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self._finishing:
            outbound = self._outbound
            if outbound is None or not outbound.speaking:
                return
            await asyncio.sleep(0.05)

    def _require_ability(self, ability: str, action: str) -> None:
        self._engine_factory.require(ability, action, whose=f" of call {self.call_sid}")

    def _live_engine(self) -> Engine:
        """The engine of a connected call, or a clear error saying why there is none."""
        if self._finishing:
            raise PatterError(f"call {self.call_sid} has ended")
        if self._engine is None:
            raise PatterError(
                f"call {self.call_sid} is not connected yet: wait until it is answered"
            )
        return self._engine

    async def shutdown(self) -> None:
        """The server is stopping: hang up this call and report its end."""
        connected = self._connected_at is not None
        if not self._finishing:
            self._status.outcome = self._status.outcome or (
                "completed" if connected else "canceled"
            )
            self._status.ended_by = self._status.ended_by or "system"
            if self.call_sid:
                with contextlib.suppress(Exception):
                    await self._carrier.hangup(self.call_sid)
        await self.finish(outcome="completed" if connected else "canceled", ended_by="system")

    # ----------------------------------------------------------------- the call itself

    async def _run(self, custom_params: dict[str, str]) -> None:
        try:
            variables = await self._call_started(custom_params)
            engine = self._engine_factory()
            self._screen = self._output_screen()
            greeting = self.agent.greeting(variables, self._first_message_override)
            greets_itself = self._capabilities.greets_itself
            config = EngineConfig(
                instructions=self.agent.instructions(variables),
                voice=self.agent.voice,
                model=self.agent.model,
                language=self.agent.language,
                audio_format=self._engine_format,
                tools=(
                    *self._tools.declarations(),
                    *SYSTEM_TOOLS,
                    *((SEND_DTMF_TOOL,) if self.agent.send_dtmf else ()),
                ),
                call_id=self.call_sid,
                caller=self.caller,
                callee=self.callee,
                control=self.control(),
                play_now=self._play_now,
                # Subscribers present now (e.g. added in on_call_start) get these streams.
                stream_agent_text=self._screen is not None or self._events.wants(AgentTextChunk),
                stream_partial_transcripts=self._events.wants(TranscriptPartial),
                greeting=greeting if greets_itself else "",
                variables={**(self.agent.variables or {}), **variables},
                has_system_prompt=bool(self.agent.system_prompt),
            )
            await engine.connect(config)
            while self._early_audio:  # frames arriving meanwhile join the queue, in order
                await engine.send_audio(self._early_audio.popleft())
            self._engine = engine
            self._engine_ready.set()
            if self.agent.ivr is not None:
                self._ivr = self.agent.ivr.start(
                    self.call_sid, note=self.instruct, spawn=self._spawn
                )
            if greeting:
                self._responding = True
                self._health.owe()
                if not greets_itself:
                    await engine.say(greeting)
            self._listening = True
            async for event in engine.events():
                async with self._handling:
                    await self._handle(event)
                if isinstance(event, EngineClosed):
                    break
        except asyncio.CancelledError:
            raise
        except PatterError as exc:
            logger.error("call %s: the AI session failed: %s", self.call_sid, exc)
            self._fail(str(exc))
        except Exception as exc:
            logger.exception("call %s: unexpected error", self.call_sid)
            self._fail(f"internal error: {type(exc).__name__}")
        finally:
            self._listening = False
        if not self._finishing:
            await self._abort_call()

    async def _play_now(self, event: AgentAudio) -> bool:
        """Agent audio handed over by the engine's own task (``EngineConfig.play_now``).

        Handled at once only while the session waits for its next event, so events the engine
        emitted earlier are never overtaken; otherwise False, and the engine emits it.
        """
        if not self._listening or self._handling.locked():
            return False
        async with self._handling:
            await self._handle(event)
        return True

    def _fail(self, error: str, *, recorded: bool = False) -> None:
        """The AI side failed for good; ``recorded`` when the error is already in the health."""
        self._status.error = self._status.error or error
        if not recorded:
            self._health.error("engine", error, fatal=True)

    def _health_error(self, entry: dict[str, Any]) -> None:
        self._publish(
            CallError,
            error=entry["message"],
            code=entry["code"],
            source=entry["source"],
            fatal=entry["fatal"],
        )

    def _output_screen(self) -> OutputScreen | None:
        """How the agent's guardrails are applied: by the engine, or here on its streamed text."""
        guardrails = self.agent.guardrails
        if not guardrails or self._capabilities.screens_output:
            return None
        if not self._capabilities.streams_agent_text:
            raise ConfigError(
                "this engine neither applies guardrails nor streams the text it speaks, so "
                "guardrails= cannot be enforced on it: remove guardrails= or use another engine"
            )
        return OutputScreen(guardrails, self.agent.language)

    async def _abort_call(self) -> None:
        """The AI side is gone: hang up so the caller is not left in silence, and report."""
        self._status.outcome = self._status.outcome or "error"
        self._status.ended_by = self._status.ended_by or "system"
        with contextlib.suppress(Exception):
            await self._carrier.hangup(self.call_sid)
        await self.finish(outcome=self._status.outcome, ended_by=self._status.ended_by or "system")

    async def _call_started(self, custom_params: dict[str, str]) -> dict[str, str]:
        started = self._publish(
            CallStarted,
            direction=self.direction,
            custom_params=dict(custom_params),
            provider_mode=self.agent.provider,
            agent=self.description,
            telephony_provider=self._telephony,
        )
        if self._callbacks.on_call_start is None:
            return {}
        result = await invoke(
            self.call_sid, "on_call_start", self._callbacks.on_call_start, started.payload()
        )
        if isinstance(result, dict) and "variables" in result:
            try:
                return validate_variables("on_call_start()['variables']", result["variables"])
            except PatterError:
                logger.exception("on_call_start returned bad variables; ignoring them")
        return {}

    # ----------------------------------------------------------------- the end

    async def finish(self, *, outcome: str, ended_by: str, error: str = "") -> None:
        """Report the end of the call, exactly once, and release everything it holds.

        The work runs in a task of its own, so cancelling a caller (a tool, a shutdown with a
        deadline) never leaves the report half done.
        """
        if self._finish_task is None:
            self._finishing = True
            self._health.close()
            status = self._status
            status.outcome = status.outcome or outcome
            status.ended_by = status.ended_by or ended_by
            if error:
                status.error = status.error or error
            if status.outcome == "completed":
                reason = not_clean_reason(
                    connected=self._connected_at is not None,
                    ai_ready=self._engine is not None,
                    ended_by=status.ended_by,
                    failing=self._health.failing,
                )
                if reason:
                    status.outcome, status.error = "error", status.error or reason
            self._finish_task = asyncio.ensure_future(self._finish_once())
        await asyncio.shield(self._finish_task)

    async def _finish_once(self) -> None:
        for task in [*self._tasks, self._run_task]:
            if task is not None and not task.done():
                task.cancel()
        if self._engine is not None:
            with contextlib.suppress(Exception):
                await self._engine.close()
        if self._outbound is not None:
            await self._outbound.stop()
        report = self._end_report()
        await self._notices.drain(_CALLBACK_DRAIN_TIMEOUT)
        ended = self._publish(CallEnded, report=report)
        try:
            if self._callbacks.on_call_end is not None:
                await invoke(
                    self.call_sid, "on_call_end", self._callbacks.on_call_end, ended.payload()
                )
        finally:
            self.finished_at = time.monotonic()
            self._finished.set()
            self._release()
            on_finished, self.on_finished = self.on_finished, None
            if on_finished is not None:
                on_finished(self)

    def _release(self) -> None:
        """Let go of what the call used, so that reference counting frees it at once.

        A cancelled task keeps its ``CancelledError``, whose traceback holds the task's frames
        and so this session: session -> task -> session, a cycle only a (late, costly) full
        collection would free. The engine and the outbound audio hold sockets and buffers that
        must not live on with a session that user code still references.
        """
        self._engine = None
        self._outbound = None
        self._early_audio.clear()
        self._run_task = None
        self._barge_in_task = None

    def _end_report(self) -> CallReport:
        connected = self._connected_at
        return end_report(
            identity=self._identity(),
            direction=self.direction,
            status=self._status,
            started_at=connected[0] if connected else self._created_at,
            ended_at=time.time(),
            duration=time.monotonic() - connected[1] if connected else 0.0,
            meter=self._meter,
            turns=self._turns,
            provider=self.agent.provider,
            telephony_provider=self._telephony,
            history=self._history,
            health=self._health.summary(),
            malformed_frames=self.malformed_frames,
            extra=self.report_extra,
        )

    # ----------------------------------------------------------------- helpers

    def _record(
        self,
        role: str,
        text: str,
        *,
        heard: bool = True,
        confidence: float | None = None,
        generated_chars: int | None = None,
    ) -> None:
        """Add a line to the transcript; agent lines the caller never heard are marked so."""
        entry: dict[str, Any] = {"role": role, "text": text, "timestamp": time.time()}
        if not heard:
            entry["heard"] = False
        self._history.append(entry)
        history = tuple(dict(e) for e in self._history if e["role"] in ("user", "assistant"))
        line = self._publish(
            TranscriptFinal,
            role=role,
            text=text,
            history=history,
            heard=heard,
            confidence=confidence,
            generated_chars=generated_chars,
        )
        if self._callbacks.on_transcript is not None:
            self._notices.put("on_transcript", self._callbacks.on_transcript, line.payload())

    def _identity(self) -> dict[str, Any]:
        return {"call_id": self.call_sid, "caller": self.caller, "callee": self.callee}

    def _publish(self, kind: type[_E], **fields: Any) -> _E:
        """Publish an event of ``kind`` about this call; returns it.

        Until the carrier has named a dialed call (:meth:`bind`), its events are held back,
        so that every event on the stream carries the call's one public id.
        """
        event = kind(call_id=self.call_sid, caller=self.caller, callee=self.callee, **fields)
        if self.call_sid:
            self._events.publish(event)
        else:
            self._unnamed_events.append(event)
        return event

    def bind(self, call_sid: str) -> None:
        """The carrier named this (dialed) call: publish the events held until now with it."""
        self.call_sid = call_sid
        held, self._unnamed_events = self._unnamed_events, []
        for event in held:
            self._events.publish(dataclasses.replace(event, call_id=call_sid))

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        if self._finishing:
            task.cancel()
            return task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "call %s: background task failed", self.call_sid, exc_info=task.exception()
            )


class _SessionActions:
    """The :class:`~getpatter.call.CallActions` of a live call, for :class:`CallControl`."""

    def __init__(self, session: CallSession) -> None:
        self._session = session

    async def transfer(self, number: str) -> None:
        await self._session.transfer(number)

    async def hangup(self) -> None:
        await self._session.hangup()


def _weakly(method: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """``method``, called through a weak reference to its object (a no-op once it is gone)."""
    ref = weakref.WeakMethod(method)

    def call(entry: dict[str, Any]) -> None:
        target = ref()
        if target is not None:
            target(entry)

    return call


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of a shielded task as seen (its awaiter may have been cancelled)."""
    if not task.cancelled():
        task.exception()
