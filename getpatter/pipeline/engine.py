"""The pipeline turn loop: streaming STT -> LLM (or ``on_message``) -> TTS, as an engine.

:class:`PipelineEngine` speaks the same :class:`~getpatter.engines.base.Engine` protocol as the
OpenAI Realtime engine, so the call session treats both alike: it relays audio, decides
barge-in from ``SpeechStarted`` with the agent audible, runs tools, and measures turns.

One call's flow:

- The agent's audio filter, if any, cleans the caller's audio first (in the carrier's format:
  :mod:`getpatter.audio.filters`); everything below hears the filtered audio.
- Caller audio (the carrier's format) goes to the STT stream untouched when the provider takes
  that format, and, decoded to PCM, to the local VAD when there is one. An STT that does not
  stream (it transcribes one utterance at a time) gets only the caller's speech, as the VAD
  hears it (:mod:`getpatter.pipeline.speech_gate`).
- The end of a turn is the VAD's end of speech (then ``Finalize`` asks the STT for its final
  text) or, without a VAD, the STT's own endpoint (``speech_final`` / ``UtteranceEnd``).
- The finished utterance goes to the brain (LLM or ``on_message``). Its text is cut into
  sentences as it streams; each sentence passes ``on_sentence``, the text transforms, the
  guardrails and ``before_synthesize``, then TTS, whose audio (in the carrier's format when the
  provider produces it) goes out as it arrives, while the LLM keeps streaming.
- A barge-in (``interrupt``) cancels the LLM and TTS streams and cuts the assistant message in
  the conversation to the words the caller heard, known from the audio played.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from getpatter.audio.convert import AudioConverter
from getpatter.audio.filters import AudioFilter, CallAudioFilter
from getpatter.audio.formats import bytes_per_ms, choose_format, sample_rate
from getpatter.call import CallControl
from getpatter.engines.base import (
    AgentAudio,
    AgentTextDelta,
    AgentTranscript,
    AudioFormat,
    EngineCapabilities,
    EngineClosed,
    EngineConfig,
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
from getpatter.guardrails import Guardrail, apply_guardrails
from getpatter.llm.base import LLMUsage
from getpatter.llm.chat_context import ChatContext, ChatMessage, ToolCall
from getpatter.observability.cost import PipelineUsage
from getpatter.pipeline.brains import Brain, CallInfo
from getpatter.pipeline.chunker import SentenceChunker
from getpatter.pipeline.hooks import HookContext, PipelineHookExecutor, PipelineHooks
from getpatter.pipeline.speech_gate import SpeechGate
from getpatter.pipeline.spoken import Sentence, Spoken, TurnTimings
from getpatter.providers.fallback import ANSWERED_BY
from getpatter.stt.base import STTProvider, STTSpeechStarted, STTStream, Transcript, UtteranceEnd
from getpatter.tts.base import TTSProvider
from getpatter.vad.base import VADEvent, VADProvider, VADStream

__all__ = ["PipelineEngine", "PipelineSettings"]

logger = logging.getLogger("getpatter.pipeline")

MAX_TOOL_ROUNDS = 10
"""LLM rounds one turn may spend on tool calls before it must answer."""
_STT_RECONNECTS = 1
_KEPT_RESPONSES = 4
_INTERRUPTED = '{"error": "interrupted: the caller started speaking before the tool finished"}'
_CLOSE_TIMEOUT = 5.0
_LEAVING_TOOLS = {
    "end_call": '{"status": "ending call"}',
    "transfer_call": '{"status": "transferring"}',
}
"""System tools after which the call leaves the agent, with the result the model is given: the
response ends with them (the session acts once what was said has been heard)."""


class _StageFailed(Exception):
    """A provider of one stage (``llm``, ``on_message``, ``tts``) failed during a response."""

    def __init__(self, stage: str, error: PatterError) -> None:
        super().__init__(error.message)
        self.stage = stage
        self.error = error


@dataclass(frozen=True)
class PipelineSettings:
    """What a pipeline agent is made of; shared by all its calls (providers included)."""

    stt: STTProvider
    tts: TTSProvider
    brain_for: Callable[[CallInfo], Brain]
    vad: VADProvider | None = None
    audio_filter: AudioFilter | None = None
    """Runs on caller audio before the VAD and STT (each call gets its own copy)."""
    hooks: PipelineHooks | None = None
    guardrails: Sequence[Guardrail] = ()
    text_transforms: Sequence[Callable[[str], str]] = ()
    aggressive_first_flush: bool = False
    parallel_tools: bool = True
    """Run a round's tool calls concurrently; ``False`` (an LLM whose capabilities say it makes
    one call at a time) runs them one after another, in the order the model gave them."""


class PipelineEngine:
    """One call's pipeline; see the module docstring."""

    #: It answers the turns it transcribed (emitting UserTranscript first) and applies the
    #: agent's guardrails itself, per sentence, before TTS.
    capabilities = EngineCapabilities(answers_speech_turns=False, screens_output=True)

    def __init__(self, settings: PipelineSettings) -> None:
        self._settings = settings
        self._events: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self._context = ChatContext()
        self._brain: Brain | None = None
        self._hooks = PipelineHookExecutor(settings.hooks, self._hook_context)
        self._call = CallInfo("", "", "")
        self._tools: tuple[dict[str, Any], ...] = ()
        self._language = "en"
        self._carrier: AudioFormat = "ulaw_8000"
        self._stt_format: AudioFormat = "ulaw_8000"
        self._tts_format: AudioFormat = "ulaw_8000"
        self._stt: STTStream | None = None
        self._stt_in: AudioConverter | None = None
        self._stt_reader: asyncio.Task[None] | None = None
        self._filter: CallAudioFilter | None = None
        self._vad: VADStream | None = None
        self._vad_in: AudioConverter | None = None
        self._vad_ms = 0.0
        """Caller audio the VAD has heard, in ms (its clock)."""
        self._gate: SpeechGate | None = None
        self._pcm_in: AudioConverter | None = None
        self._pcm_out: AudioConverter | None = None
        self._heard: list[str] = []
        self._confidences: list[float] = []
        """The STT's confidence in each final of the utterance being heard (when it gives one)."""
        self._user_speaking = False
        self._turn = TurnTimings()
        self._response: asyncio.Task[None] | None = None
        self._spoken: dict[str, Spoken] = {}
        """Recent responses by item id, for barge-in (the last few only)."""
        self._tool_results: dict[str, asyncio.Future[str]] = {}
        self._left: dict[str, str] = {}
        """Call-ending tool calls whose response did not wait for them, by id (their name)."""
        self._stt_bytes = 0
        self._stt_total_bytes = 0
        self._speech_end_audio: float | None = None
        self._final_at: float | None = None
        """When the last final transcript with words arrived, until the turn ends."""
        self._vad_bytes_per_ms = 32
        self._closed = False
        self._after_reply: list[Callable[[], Awaitable[None]]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._play_now: Callable[[AgentAudio], Awaitable[bool]] | None = None
        self._text_deltas = False
        self._partials = False

    @property
    def responding(self) -> bool:
        """True while a response (an answer, or a text spoken verbatim) is being produced."""
        return self._response is not None and not self._response.done()

    # ------------------------------------------------------------------ Engine protocol

    async def connect(self, config: EngineConfig) -> None:
        """Open the call's STT stream and VAD state; nothing is sent until the caller talks."""
        settings = self._settings
        self._context = ChatContext(config.instructions)
        self._tools = config.tools
        self._language = config.language
        self._carrier = config.audio_format
        self._play_now = config.play_now
        self._text_deltas = config.stream_agent_text
        self._partials = config.stream_partial_transcripts
        control = config.control
        if control is not None:
            # on_message may hang up or transfer and still return a reply: act once it is said.
            control = CallControl(
                control.call_id,
                control.caller,
                control.callee,
                control.telephony_provider,
                _AfterReply(control, self._after_reply),
            )
        self._call = CallInfo(config.call_id, config.caller, config.callee, control)
        self._brain = settings.brain_for(self._call)
        self._stt_format = choose_format(self._carrier, settings.stt.capabilities.input_formats)
        self._tts_format = choose_format(self._carrier, settings.tts.capabilities.output_formats)
        self._stt_in = AudioConverter(self._carrier, self._stt_format)
        if settings.audio_filter is not None:
            self._filter = CallAudioFilter(settings.audio_filter, self._carrier)
        pcm_format = _pcm_format(self._carrier)
        if settings.vad is not None:
            rate = sample_rate(pcm_format)
            if rate not in settings.vad.sample_rates:
                rate, pcm_format = 16000, "pcm16_16000"
            self._vad = settings.vad.open_stream(rate)
            self._vad_in = AudioConverter(self._carrier, pcm_format)
            self._vad_bytes_per_ms = bytes_per_ms(pcm_format)
            if not settings.stt.capabilities.streaming:
                # It transcribes one utterance at a time: only the caller's speech goes to it.
                self._gate = SpeechGate(self._stt_format)
        if self._hooks.filters_audio:
            hook_format = _pcm_format(self._carrier)
            self._pcm_in = AudioConverter(self._carrier, hook_format)
            self._pcm_out = AudioConverter(hook_format, self._stt_format)
        self._stt = await self._open_stt()
        self._stt_reader = asyncio.create_task(self._read_stt(), name="patter-stt")

    async def send_audio(self, audio: bytes) -> None:
        """One frame of caller audio in the carrier's format."""
        if self._closed:
            return
        if self._filter is not None:
            audio = self._filter.process(audio)
            if not audio:
                return
        if self._vad is not None and self._vad_in is not None:
            vad_pcm = self._vad_in.convert(audio)
            self._vad_ms += len(vad_pcm) / self._vad_bytes_per_ms
            for event in self._vad.process(vad_pcm):
                await self._on_vad(event)
        if self._pcm_in is not None and self._pcm_out is not None:
            pcm = self._hooks.before_send_to_stt(self._pcm_in.convert(audio))
            if pcm is None:
                return
            audio = self._pcm_out.convert(pcm)
        elif self._stt_in is not None:
            audio = self._stt_in.convert(audio)
        if self._gate is not None:
            audio = self._gate.admit(audio)
        stt = self._stt
        if stt is not None and audio:
            self._stt_bytes += len(audio)
            self._stt_total_bytes += len(audio)
            await stt.send_audio(audio)

    async def send_user_text(self, text: str) -> None:
        """Caller text that did not come through STT (``[DTMF: 5]``): answer it."""
        self._context.add_user(text)
        self._turn = TurnTimings(transcript_at=time.monotonic())
        self._start_response()

    async def say(self, text: str) -> None:
        """Speak ``text`` verbatim (greeting, voicemail); it joins the conversation."""
        self._start_response(verbatim=text)

    async def instruct(self, instruction: str) -> None:
        """Add a system message; the brain sees it from its next reply."""
        self._context.add(ChatMessage("system", instruction))

    async def interrupt(self, item_id: str, played_ms: int) -> None:
        """Barge-in: stop the response and keep only what the caller heard of ``item_id``."""
        await self._cancel_response()
        spoken = self._spoken.pop(item_id, None)
        if spoken is None:
            return
        heard = spoken.heard(played_ms, since=spoken.round_start)
        if spoken.round_in_context:
            self._context.truncate_last_assistant(heard)
        elif heard:
            self._context.add_assistant(heard)
        if not spoken.transcribed:
            # Cut off before its end: the transcript keeps what the caller heard of it.
            heard_all = spoken.heard(played_ms)
            if heard_all:
                spoken.transcribed = True
                self._emit(AgentTranscript(item_id, heard_all, spoken.generated))

    async def send_tool_result(self, call_id: str, output: str) -> None:
        """The session ran tool ``call_id``; the response waiting for it goes on.

        For a call-ending tool (whose response did not wait), the result is a failure to tell
        the model about: it answers it in a new response.
        """
        future = self._tool_results.get(call_id)
        if future is not None and not future.done():
            future.set_result(output)
            return
        name = self._left.pop(call_id, None)
        if name is not None:
            self._context.add(ChatMessage("system", f"{name} did not happen: {output}"))
            self._turn = TurnTimings(transcript_at=time.monotonic())
            self._start_response()

    def events(self) -> AsyncIterator[EngineEvent]:
        """Everything that happens on the call, until :class:`EngineClosed`."""
        return self._event_stream()

    async def close(self) -> None:
        """End the call's streams (never the shared providers)."""
        if self._closed:
            return
        self._closed = True
        await self._cancel_response()
        reader = self._stt_reader
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if self._stt is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stt.close(), _CLOSE_TIMEOUT)
        self._events.put_nowait(EngineClosed())

    # ------------------------------------------------------------------ listening

    async def _open_stt(self) -> STTStream:
        # The language is the STT provider's own (DeepgramSTT(language=...)).
        stream = self._settings.stt.open_stream(audio_format=self._stt_format)
        await stream.connect()
        return stream

    async def _read_stt(self) -> None:
        reconnects = 0
        while not self._closed:
            stream = self._stt
            if stream is None:
                return
            try:
                async for event in stream.receive_transcripts():
                    await self._on_stt(event)
                    if reconnects and self._gate is not None and isinstance(event, Transcript):
                        # One utterance per request: a failed request is no dropped socket,
                        # and once the new stream has answered, a later failure retries again.
                        reconnects = 0
                return
            except asyncio.CancelledError:
                raise
            except PatterError as exc:
                if reconnects >= _STT_RECONNECTS:
                    self._emit(
                        EngineError(
                            f"speech recognition failed: {exc.message}", fatal=True, source="stt"
                        )
                    )
                    return
                reconnects += 1
                self._emit(
                    EngineError(
                        f"speech recognition dropped ({exc.message}); reconnecting", source="stt"
                    )
                )
                with contextlib.suppress(Exception):
                    await stream.close()
                try:
                    self._stt = await self._open_stt()
                    self._stt_total_bytes = 0  # the new stream's clock starts again
                except PatterError as again:
                    self._emit(
                        EngineError(
                            f"speech recognition failed: {again.message}", fatal=True, source="stt"
                        )
                    )
                    return

    async def _on_vad(self, event: VADEvent) -> None:
        if event.kind == "speech_started":
            if self._gate is not None:
                self._gate.open(self._vad_ms - event.at_ms)
            self._user_speaking = True
            self._emit(SpeechStarted())
            return
        if self._gate is not None:
            self._gate.close()
        self._user_speaking = False
        # The VAD reports the stop after its silence window: the caller stopped that long ago.
        ago = max(0.0, self._vad_ms - event.at_ms) / 1000
        now = time.monotonic()
        self._turn = TurnTimings(speech_end=now - ago, endpoint_at=now)
        self._emit(SpeechStopped(ago_ms=ago * 1000))
        if self._stt is not None:
            await self._stt.finalize()

    async def _on_stt(self, event: Transcript | STTSpeechStarted | UtteranceEnd) -> None:
        if isinstance(event, STTSpeechStarted):
            if self._vad is None and not self._user_speaking:
                self._user_speaking = True
                self._emit(SpeechStarted())
            return
        if isinstance(event, UtteranceEnd):
            if self._heard:
                await self._end_of_turn()
            return
        if event.text and self._vad is None and not self._user_speaking:
            # An STT that sends no speech-started event (Soniox, Speechmatics): its first words
            # are the caller starting to speak, which is what barge-in listens for.
            self._user_speaking = True
            self._emit(SpeechStarted())
        if not event.is_final:
            if event.text and self._partials:
                self._emit(UserTranscriptPartial(event.text))
            return
        if event.text:
            self._heard.append(event.text)
            if event.confidence is not None:
                self._confidences.append(event.confidence)
            self._final_at = time.monotonic()
            if event.speech_end is not None:
                self._speech_end_audio = event.speech_end
        ended = event.speech_final or (self._vad is not None and not self._vad.speaking)
        if ended and self._heard:
            await self._end_of_turn()

    async def _end_of_turn(self) -> None:
        text = " ".join(self._heard).strip()
        self._heard = []
        confidences, self._confidences = self._confidences, []
        now = time.monotonic()
        if self._vad is None:
            # Without a local VAD the STT's word timings say when the caller stopped: the
            # audio sent since then is how long the final took.
            ago = 0.0
            if self._speech_end_audio is not None:
                ago = max(0.0, self._stt_seconds_sent() - self._speech_end_audio)
            self._speech_end_audio = None
            self._user_speaking = False
            self._turn = TurnTimings(speech_end=now - ago, endpoint_at=now)
            self._emit(SpeechStopped(ago_ms=ago * 1000))
        self._turn.final_at, self._final_at = self._final_at or now, None
        self._turn.transcript_at = now
        text_for_turn = await self._hooks.after_transcribe(text)
        if not text_for_turn:
            return
        self._emit(UserTranscript(text_for_turn, min(confidences, default=None)))
        self._context.add_user(text_for_turn)
        self._start_response()

    # ------------------------------------------------------------------ answering

    def _start_response(self, *, verbatim: str | None = None) -> None:
        previous = self._response
        if previous is not None and not previous.done():
            previous.cancel()
        self._response = asyncio.create_task(
            self._respond(previous, verbatim), name="patter-response"
        )

    async def _cancel_response(self) -> None:
        task, self._response = self._response, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _respond(self, previous: asyncio.Task[None] | None, verbatim: str | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.gather(previous, return_exceptions=True)
        item = f"pl_{secrets.token_hex(6)}"
        spoken = self._spoken[item] = Spoken()
        while len(self._spoken) > _KEPT_RESPONSES:
            del self._spoken[next(iter(self._spoken))]
        turn = self._turn
        usage = PipelineUsage(stt_seconds=self._take_stt_seconds(), stt_provider=self._listener())
        status = "completed"
        try:
            if verbatim is not None:
                spoken.generated = len(verbatim)
                await self._speak_all([verbatim], item, spoken, turn, filtered=False)
            else:
                usage = await self._answer(item, spoken, turn, usage)
        except asyncio.CancelledError:
            self._emit(ResponseDone("cancelled", pipeline_usage=usage))
            raise
        except (_StageFailed, PatterError) as failure:
            status = "failed"
            exc, stage = (
                (failure.error, failure.stage)
                if isinstance(failure, _StageFailed)
                else (failure, "engine")
            )
            logger.warning("call %s: the response failed: %s", self._call.call_id, exc.message)
            self._emit(EngineError(exc.message, code=exc.code.value, source=stage))
            # The transcript and the conversation hold what the caller heard, not what failed.
            spoken.keep_heard()
        if spoken.sentences:
            if not spoken.round_in_context and spoken.round_text:
                self._context.add_assistant(spoken.round_text)
                spoken.round_in_context = True
            spoken.transcribed = True
            self._emit(AgentTranscript(item, spoken.text, spoken.generated))
        usage = PipelineUsage(
            stt_seconds=usage.stt_seconds,
            stt_provider=usage.stt_provider,
            llm_input_tokens=usage.llm_input_tokens,
            llm_output_tokens=usage.llm_output_tokens,
            tts_characters=spoken.characters,
            llm_provider=usage.llm_provider,
            tts_characters_by_provider=spoken.characters_by_provider(),
        )
        self._emit(ResponseDone(status, pipeline_usage=usage, latency=turn.latency()))
        if self._after_reply:
            actions, self._after_reply = self._after_reply, []
            task = asyncio.create_task(_run_in_order(actions), name="patter-after-reply")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _answer(
        self, item: str, spoken: Spoken, turn: TurnTimings, usage: PipelineUsage
    ) -> PipelineUsage:
        """Run the brain (with tool rounds) and speak as it streams."""
        brain = self._brain
        if brain is None:
            raise PatterError("the pipeline is not connected")
        tools = self._tools if brain.uses_tools else ()
        input_tokens = output_tokens = 0
        answered_by = ""
        for _round in range(MAX_TOOL_ROUNDS):
            spoken.round_start, spoken.round_in_context = len(spoken.sentences), False
            context = await self._context_for_llm()
            reply = _BrainRound()
            sentences = self._brain_sentences(brain, context, tools, reply, turn, item, spoken)
            try:
                await self._speak_as_produced(sentences, item, spoken, turn)
            finally:
                await sentences.aclose()
            calls, round_usage = reply.calls, reply.usage
            if round_usage is not None:
                input_tokens += round_usage.input_tokens
                output_tokens += round_usage.output_tokens
                answered_by = round_usage.provider or answered_by
            if not calls or spoken.blocked:
                break
            self._context.add_assistant(spoken.round_text, calls)
            spoken.round_in_context = True
            if any(call.name in _LEAVING_TOOLS for call in calls):
                await self._leave(calls)
                break
            try:
                outputs = await self._run_tools(calls)
            except asyncio.CancelledError:
                # Every tool call needs an answer, or the next request is refused.
                for call in calls:
                    self._context.add_tool_result(call.id, call.name, _INTERRUPTED)
                raise
            for output in outputs:
                self._context.add_tool_result(*output)
        return PipelineUsage(
            stt_seconds=usage.stt_seconds,
            stt_provider=usage.stt_provider,
            llm_input_tokens=input_tokens,
            llm_output_tokens=output_tokens,
            llm_provider=answered_by or getattr(getattr(brain, "llm", None), "name", ""),
        )

    async def _leave(self, calls: list[ToolCall]) -> None:
        """The model ended or transferred the call: the round's other tools run, then the
        session is asked to act once this response (what the model said first) has been heard.
        No answer is awaited and no further round is asked for; a failure the session reports
        later (a refused transfer) starts a new response (:meth:`send_tool_result`)."""
        others = [call for call in calls if call.name not in _LEAVING_TOOLS]
        for output in await self._run_tools(others) if others else []:
            self._context.add_tool_result(*output)
        for call in calls:
            if call.name in _LEAVING_TOOLS:
                self._context.add_tool_result(call.id, call.name, _LEAVING_TOOLS[call.name])
                self._left[call.id] = call.name
                self._emit(ToolCallRequest(call.id, call.name, call.arguments))

    async def _context_for_llm(self) -> ChatContext:
        if not self._hooks.rewrites_messages:
            return self._context
        messages = self._context.to_openai()
        replaced = await self._hooks.before_llm(messages)
        if replaced is None:
            return self._context
        context = ChatContext(self._context.system_prompt)
        for message in replaced:
            role, content = message.get("role"), message.get("content")
            if role in ("user", "assistant", "system") and isinstance(content, str) and content:
                context.add(ChatMessage(role, content))
        return context

    async def _brain_sentences(
        self,
        brain: Brain,
        context: ChatContext,
        tools: Sequence[dict[str, Any]],
        reply: _BrainRound,
        turn: TurnTimings,
        item: str,
        spoken: Spoken,
    ) -> AsyncGenerator[str, None]:
        """Stream one brain round as sentences; tool calls and usage go to ``reply``. Stops
        early when a guardrail has replaced a sentence."""
        chunker = SentenceChunker(
            self._language, aggressive_first_flush=self._settings.aggressive_first_flush
        )
        hold = self._hooks.holds_response
        parts: list[str] = []
        chunks = brain.respond(context, tools)
        stage = "llm" if brain.uses_tools else "on_message"
        # Closed early (barge-in), the brain's stream (an HTTP request) closes at once rather
        # than whenever the garbage collector gets to it.
        async with _closing(chunks), _stage(stage):
            async for chunk in chunks:
                if spoken.blocked:
                    return
                if chunk.type == "text" and chunk.text:
                    now = time.monotonic()
                    turn.first_token_at = turn.first_token_at or now
                    turn.last_token_at = now
                    text = self._hooks.on_chunk(chunk.text)
                    parts.append(text)
                    spoken.generated += len(text)
                    if text and self._text_deltas:
                        self._emit(AgentTextDelta(item, text))
                    if not hold:
                        for sentence in chunker.push(text):
                            yield sentence
                elif chunk.type == "tool_call" and chunk.tool_call is not None:
                    reply.calls.append(chunk.tool_call)
                elif chunk.type == "done":
                    reply.usage = chunk.usage
        if hold:
            for sentence in chunker.push(await self._hooks.on_response("".join(parts))):
                yield sentence
        for sentence in chunker.flush():
            yield sentence

    async def _run_tools(self, calls: list[ToolCall]) -> list[tuple[str, str, str]]:
        """Ask the session to run ``calls``; wait for every result."""
        loop = asyncio.get_running_loop()
        futures = []
        for call in calls:
            future: asyncio.Future[str] = loop.create_future()
            self._tool_results[call.id] = future
            futures.append(future)
            if self._settings.parallel_tools:
                self._emit(ToolCallRequest(call.id, call.name, call.arguments))
        try:
            if self._settings.parallel_tools:
                outputs = list(await asyncio.gather(*futures))
            else:
                outputs = []
                for call, future in zip(calls, futures, strict=True):
                    self._emit(ToolCallRequest(call.id, call.name, call.arguments))
                    outputs.append(await future)
        finally:
            for call in calls:
                self._tool_results.pop(call.id, None)
        return [(call.id, call.name, output) for call, output in zip(calls, outputs, strict=True)]

    async def _speak_as_produced(
        self, sentences: AsyncIterator[str], item: str, spoken: Spoken, turn: TurnTimings
    ) -> None:
        """Speak ``sentences`` while the brain goes on producing them.

        This task reads the brain up to its first sentence and sends that to TTS itself; only
        then does a second task take over reading the brain. Starting a task costs an event-loop
        iteration, which under load is a queue of other calls' work: keeping it off the path
        from the caller's last word to the first TTS request is worth ~0.1-0.3 ms a turn.
        Brain errors surface here once the sentences already made have been spoken.
        """
        first = await anext(sentences, None)
        if first is None:
            return
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        reader = asyncio.create_task(_drain_into(sentences, queue), name="patter-brain")
        try:
            sentence: str | None = first
            while sentence is not None:
                if not spoken.blocked:
                    spoken.blocked = await self._speak(sentence, item, spoken, turn, filtered=True)
                sentence = await queue.get()
            await reader
        except BaseException:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            raise

    async def _speak_all(
        self, texts: list[str], item: str, spoken: Spoken, turn: TurnTimings, *, filtered: bool
    ) -> None:
        for text in texts:
            await self._speak(text, item, spoken, turn, filtered=filtered)

    async def _speak(
        self, sentence: str, item: str, spoken: Spoken, turn: TurnTimings, *, filtered: bool
    ) -> bool:
        """Synthesise one sentence onto the line; True when a guardrail replaced it (the rest
        of the response is then dropped)."""
        blocked = False
        if filtered:
            sentence = await self._hooks.on_sentence(sentence)
            for transform in self._settings.text_transforms:
                sentence = _transformed(transform, sentence)
            verdict = apply_guardrails(sentence, self._settings.guardrails)
            sentence, blocked = verdict.text, verdict.blocked
        final = await self._hooks.before_synthesize(sentence) if sentence.strip() else None
        if not final or not final.strip():
            return blocked
        turn.first_sentence_at = turn.first_sentence_at or time.monotonic()
        converter = AudioConverter(self._tts_format, self._carrier)
        record = Sentence(final)
        spoken.sentences.append(record)
        ANSWERED_BY.set("")
        async with _stage("tts"):
            await self._synthesize(final, item, record, turn, converter)
        answered_by = ANSWERED_BY.get()
        if answered_by and answered_by != self._settings.tts.name:
            record.provider = answered_by
        record.complete = True
        return blocked

    async def _synthesize(
        self, text: str, item: str, record: Sentence, turn: TurnTimings, converter: AudioConverter
    ) -> None:
        per_ms = bytes_per_ms(self._carrier)
        async for chunk in self._settings.tts.synthesize(text, audio_format=self._tts_format):
            audio = converter.convert(chunk)
            if self._hooks.filters_output_audio:
                audio = await self._hooks.after_synthesize(audio) or b""
            if audio:
                now = time.monotonic()
                turn.first_audio_at = turn.first_audio_at or now
                turn.last_audio_at = now
                record.audio_ms += len(audio) / per_ms
                await self._play(item, audio)
        tail = converter.flush()
        if tail:
            record.audio_ms += len(tail) / per_ms
            await self._play(item, tail)

    # ------------------------------------------------------------------ helpers

    def _emit(self, event: EngineEvent) -> None:
        self._events.put_nowait(event)

    async def _play(self, item: str, audio: bytes) -> None:
        """Agent audio to the session: handed over from this task when nothing waits before
        it (``EngineConfig.play_now``), else emitted."""
        event = AgentAudio(item, audio)
        play_now = self._play_now
        if play_now is None or not self._events.empty() or not await play_now(event):
            self._emit(event)

    async def _event_stream(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, EngineClosed):
                return

    def _hook_context(self) -> HookContext:
        return HookContext(
            call_id=self._call.call_id,
            caller=self._call.caller,
            callee=self._call.callee,
            history=tuple(self._context.history()),
        )

    def _stt_seconds_sent(self) -> float:
        """Seconds of audio sent on this call's STT stream (its clock)."""
        return self._stt_total_bytes / (bytes_per_ms(self._stt_format) * 1000)

    def _listener(self) -> str:
        """The price key of the provider a fallback STT moved the call to ("" otherwise)."""
        # FallbackSTTStream names the provider listening now; other streams have no such name.
        name = getattr(self._stt, "provider_name", "")
        return name if isinstance(name, str) and name != self._settings.stt.name else ""

    def _take_stt_seconds(self) -> float:
        sent, self._stt_bytes = self._stt_bytes, 0
        return sent / (bytes_per_ms(self._stt_format) * 1000)


@dataclass
class _BrainRound:
    """What one brain round produced besides its text: tool calls and token usage."""

    calls: list[ToolCall] = field(default_factory=list)
    usage: LLMUsage | None = None


@contextlib.asynccontextmanager
async def _stage(stage: str) -> AsyncIterator[None]:
    """Name the stage whose provider raised a :class:`PatterError` inside."""
    try:
        yield
    except PatterError as exc:
        raise _StageFailed(stage, exc) from exc


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[Any]) -> AsyncIterator[None]:
    """Close ``stream`` on the way out when it can be closed (async generators can)."""
    try:
        yield
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


async def _drain_into(sentences: AsyncIterator[str], queue: asyncio.Queue[str | None]) -> None:
    """Move every sentence into ``queue``, then ``None`` (also when the brain fails)."""
    try:
        async for sentence in sentences:
            queue.put_nowait(sentence)
    finally:
        queue.put_nowait(None)


class _AfterReply:
    """Call actions asked for by ``on_message``, held until its reply has been spoken."""

    def __init__(self, control: CallControl, queue: list[Callable[[], Awaitable[None]]]) -> None:
        self._control = control
        self._queue = queue

    async def transfer(self, number: str) -> None:
        self._queue.append(lambda: self._control.transfer(number))

    async def hangup(self) -> None:
        self._queue.append(self._control.hangup)


async def _run_in_order(actions: list[Callable[[], Awaitable[None]]]) -> None:
    for action in actions:
        try:
            await action()
        except PatterError as exc:  # a transfer the safety policy refused, say: the call goes on
            logger.warning("a call action asked for by on_message was not carried out: %s", exc)
        except Exception:
            logger.exception("a call action asked for by on_message failed")


def _pcm_format(audio_format: AudioFormat) -> AudioFormat:
    """The PCM16 format at the same rate as ``audio_format`` (G.711 decodes to 8 kHz PCM)."""
    if audio_format in ("ulaw_8000", "alaw_8000", "pcm16_8000"):
        return "pcm16_8000"
    return audio_format


def _transformed(transform: Callable[[str], str], text: str) -> str:
    try:
        result = transform(text)
    except Exception:
        logger.exception("a text transform raised; the sentence goes on unchanged")
        return text
    return result if isinstance(result, str) else text
