"""The pipeline turn loop with in-memory providers: turns, barge-in, tools, guardrails, hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from getpatter.call import CallControl
from getpatter.engines.base import (
    AgentAudio,
    AgentTranscript,
    EngineClosed,
    EngineConfig,
    EngineError,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
    ToolCallRequest,
    UserTranscript,
)
from getpatter.errors import PatterConnectionError, RateLimitError
from getpatter.guardrails import Guardrail
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMUsage
from getpatter.llm.chat_context import ToolCall
from getpatter.pipeline.brains import LLMBrain, MessageHandlerBrain
from getpatter.pipeline.engine import PipelineEngine, PipelineSettings
from getpatter.pipeline.hooks import PipelineHooks
from getpatter.stt.base import STTCapabilities, STTSpeechStarted, Transcript, UtteranceEnd
from getpatter.tts.base import TTSCapabilities
from getpatter.vad.base import VADEvent

ULAW_FRAME = b"\xff" * 160


class ScriptedStream:
    """An STT stream whose results the test pushes."""

    def __init__(self) -> None:
        self.results: asyncio.Queue[object] = asyncio.Queue()
        self.audio = bytearray()
        self.finalized = 0
        self.closed = False

    async def connect(self) -> None:
        self.connected = True

    async def send_audio(self, chunk: bytes) -> None:
        self.audio += chunk

    async def finalize(self) -> None:
        self.finalized += 1

    async def receive_transcripts(self) -> AsyncIterator[object]:
        while True:
            item = await self.results.get()
            if isinstance(item, Exception):
                raise item
            if item is None:
                return
            yield item

    async def close(self) -> None:
        self.closed = True


class ScriptedSTT:
    name = "deepgram"

    def __init__(self, formats=("ulaw_8000",)) -> None:
        self.capabilities = STTCapabilities(True, True, True, formats)
        self.streams: list[ScriptedStream] = []
        self.formats: list[str] = []

    def open_stream(self, *, audio_format=None, language=None):
        self.formats.append(audio_format)
        stream = ScriptedStream()
        self.streams.append(stream)
        return stream


class ScriptedLLM:
    name = "openai_llm"
    model = "scripted"
    capabilities = LLMCapabilities()

    def __init__(self, *replies: list[LLMChunk] | Exception, delay: float = 0.0) -> None:
        self.replies = list(replies)
        self.contexts: list[list[dict]] = []
        self.delay = delay
        self.stopped = 0

    async def stream(self, context, tools=()) -> AsyncIterator[LLMChunk]:
        self.contexts.append(context.to_openai())
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        try:
            for chunk in reply:
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield chunk
        finally:
            self.stopped += 1


def text(*parts: str, usage: LLMUsage | None = None) -> list[LLMChunk]:
    return [*(LLMChunk(type="text", text=p) for p in parts), LLMChunk(type="done", usage=usage)]


class ToneTTS:
    """8 μ-law bytes (1 ms) per character, in 2 chunks, optionally slowly."""

    name = "elevenlabs"
    voice = "tone"

    def __init__(self, formats=("ulaw_8000",), delay: float = 0.0) -> None:
        self.capabilities = TTSCapabilities(formats)
        self.spoken: list[str] = []
        self.delay = delay
        self.cancelled = 0

    async def synthesize(self, text: str, *, audio_format) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        width = 2 * 3 if audio_format == "pcm16_24000" else 1
        audio = b"\x10" * (8 * len(text) * width)
        half = len(audio) // 2 // width * width
        try:
            for chunk in (audio[:half], audio[half:]):
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield chunk
        except GeneratorExit:
            self.cancelled += 1
            raise

    async def close(self) -> None:
        self.closed = True


class ScriptedVAD:
    sample_rates = (8000, 16000)

    def __init__(self) -> None:
        self.stream = ScriptedVADStream()

    def open_stream(self, sample_rate: int):
        self.stream.rate = sample_rate
        return self.stream


class ScriptedVADStream:
    def __init__(self) -> None:
        self.pending: list[VADEvent] = []
        self.speaking = False
        self.pcm = 0

    def process(self, pcm16: bytes) -> list[VADEvent]:
        self.pcm += len(pcm16)
        events, self.pending = self.pending, []
        for event in events:
            self.speaking = event.kind == "speech_started"
        return events


def engine_for(stt, llm=None, tts=None, *, brain=None, **options) -> PipelineEngine:
    settings = PipelineSettings(
        stt=stt,
        tts=tts or ToneTTS(),
        brain_for=brain or (lambda call: LLMBrain(llm)),
        **options,
    )
    return PipelineEngine(settings)


class EventLog(list):
    """The engine's events so far; ``changed`` is set whenever one arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()


async def connected(engine: PipelineEngine, **config) -> EventLog:
    await engine.connect(EngineConfig(instructions="Be brief.", voice="v", model="m", **config))
    events = EventLog()

    async def collect() -> None:
        async for event in engine.events():
            events.append(event)
            events.changed.set()

    asyncio.get_running_loop().create_task(collect())
    return events


async def until(events: EventLog, kind: type, count: int = 1) -> list[object]:
    async with asyncio.timeout(5):
        while sum(isinstance(e, kind) for e in events) < count:
            events.changed.clear()
            await events.changed.wait()
    return [e for e in events if isinstance(e, kind)]


async def caller_says(stt: ScriptedSTT, words: str, index: int = -1) -> None:
    stream = stt.streams[index]
    await stream.results.put(STTSpeechStarted())
    await stream.results.put(Transcript(words[:3], is_final=False))
    await stream.results.put(Transcript(words, is_final=True, speech_final=True))


async def test_a_turn_goes_from_transcript_to_agent_audio_and_back_into_the_context() -> None:
    stt, llm = (
        ScriptedSTT(),
        ScriptedLLM(text("Sure. ", "It opens at nine.", usage=LLMUsage(12, 7))),
    )
    engine = engine_for(stt, llm)
    events = await connected(engine)
    await engine.send_audio(ULAW_FRAME)
    assert bytes(stt.streams[0].audio) == ULAW_FRAME  # μ-law straight through, untranscoded
    await caller_says(stt, "When do you open?")
    (done,) = await until(events, ResponseDone)
    kinds = [type(e) for e in events]
    assert kinds.index(SpeechStarted) < kinds.index(SpeechStopped) < kinds.index(UserTranscript)
    assert [e.text for e in events if isinstance(e, UserTranscript)] == ["When do you open?"]
    audio = b"".join(e.audio for e in events if isinstance(e, AgentAudio))
    assert len(audio) == 8 * (len("Sure.") + len("It opens at nine."))
    (transcript,) = [e for e in events if isinstance(e, AgentTranscript)]
    assert transcript.text == "Sure. It opens at nine."
    assert transcript.generated_chars == len("Sure. It opens at nine.")  # all of it spoken
    assert done.status == "completed"
    assert done.pipeline_usage.llm_input_tokens == 12 and done.pipeline_usage.tts_characters == 22
    assert done.pipeline_usage.llm_provider == "openai_llm"  # priced even as the default LLM
    assert done.pipeline_usage.stt_provider == ""  # the agent's own STT heard it
    assert done.latency.llm_ttft_ms is not None and done.latency.tts_ms is not None
    history = engine._context.history()
    assert [(m["role"], m["text"]) for m in history] == [
        ("user", "When do you open?"),
        ("assistant", "Sure. It opens at nine."),
    ]
    await engine.close()
    assert stt.streams[0].closed
    await until(events, EngineClosed)


@pytest.mark.parametrize("session_idle", [True, False])
async def test_audio_goes_to_the_session_directly_only_when_no_event_waits(session_idle) -> None:
    played: list[AgentAudio] = []

    async def play_now(audio: AgentAudio) -> bool:
        if session_idle:
            played.append(audio)
        return session_idle

    stt = ScriptedSTT()
    engine = engine_for(stt, ScriptedLLM(text("Sure. ", "It opens at nine.")))
    events = await connected(engine, play_now=play_now)
    await caller_says(stt, "When do you open?")
    await until(events, ResponseDone)
    emitted = [e for e in events if isinstance(e, AgentAudio)]
    audio = b"".join(e.audio for e in played + emitted)
    assert len(audio) == 8 * (len("Sure.") + len("It opens at nine."))
    assert bool(played) == session_idle and bool(emitted) != session_idle
    kinds = [type(e) for e in events]  # everything else keeps its order in the stream
    assert kinds.index(UserTranscript) < kinds.index(AgentTranscript) < kinds.index(ResponseDone)
    await engine.close()


async def test_the_local_vad_ends_the_turn_and_asks_the_stt_to_finalize() -> None:
    stt, vad = ScriptedSTT(), ScriptedVAD()
    engine = engine_for(stt, ScriptedLLM(text("Okay.")), vad=vad)
    events = await connected(engine)
    vad.stream.pending = [VADEvent("speech_started", 0)]
    await engine.send_audio(ULAW_FRAME)
    vad.stream.pending = [VADEvent("speech_stopped", 500)]
    await engine.send_audio(ULAW_FRAME)
    assert vad.stream.rate == 8000 and vad.stream.pcm == 2 * 320  # decoded to PCM16 at 8 kHz
    await until(events, SpeechStopped)
    assert stt.streams[0].finalized == 1
    await stt.streams[0].results.put(Transcript("Book a table", is_final=True))
    (done,) = await until(events, ResponseDone)
    assert done.latency.stt_ms is not None
    assert [type(e) for e in events][:2] == [SpeechStarted, SpeechStopped]
    await engine.close()


async def test_barge_in_cancels_llm_and_tts_and_keeps_what_was_heard() -> None:
    stt = ScriptedSTT()
    llm = ScriptedLLM(
        text("First sentence here. ", "Second sentence is long. ", "Third one."), delay=0.05
    )
    tts = ToneTTS(delay=0.02)
    engine = engine_for(stt, llm, tts)
    events = await connected(engine)
    await caller_says(stt, "Tell me a story")
    (first_audio, *_) = await until(events, AgentAudio, 3)  # sentence one, and two begun
    heard_ms = len("First sentence here.") + 5  # all of sentence one, a little of two
    await engine.interrupt(first_audio.item_id, heard_ms)
    (done,) = await until(events, ResponseDone)
    assert done.status == "cancelled"
    assert llm.stopped == 1 and "Third one." not in tts.spoken
    assistant = [m for m in engine._context.history() if m["role"] == "assistant"]
    assert [m["text"] for m in assistant] == ["First sentence here."]
    # The transcript keeps what was heard, and says how much more the model had generated.
    (transcript,) = await until(events, AgentTranscript)
    assert transcript.text == "First sentence here."
    streamed = ("First sentence here. ", "Second sentence is long. ", "Third one.")
    prefixes = {sum(len(chunk) for chunk in streamed[:n]) for n in (2, 3)}
    assert transcript.generated_chars in prefixes
    await engine.close()


async def test_barge_in_during_the_first_sentence_stops_the_llm_at_once() -> None:
    stt = ScriptedSTT()
    llm = ScriptedLLM(text("Hello there. ", "More to come. ", "And more."), delay=0.05)
    tts = ToneTTS(delay=0.05)
    engine = engine_for(stt, llm, tts)
    events = await connected(engine)
    await caller_says(stt, "Hi")
    (first_audio,) = await until(events, AgentAudio)
    await engine.interrupt(first_audio.item_id, 3)
    (done,) = await until(events, ResponseDone)
    assert done.status == "cancelled"
    assert llm.stopped == 1  # the stream was closed, not left to the garbage collector
    assert tts.spoken == ["Hello there."]
    await engine.close()


async def test_a_tool_call_round_trips_through_the_session_before_the_answer() -> None:
    stt = ScriptedSTT()
    call = ToolCall("call_1", "check_hours", '{"day": "monday"}')
    llm = ScriptedLLM(
        [LLMChunk(type="tool_call", tool_call=call), LLMChunk(type="done")],
        text("Monday we open at nine."),
    )
    engine = engine_for(stt, llm)
    events = await connected(
        engine, tools=({"name": "check_hours", "description": "", "parameters": {}},)
    )
    await caller_says(stt, "Hours on Monday?")
    (request,) = await until(events, ToolCallRequest)
    assert (request.call_id, request.name, request.arguments) == (
        "call_1",
        "check_hours",
        '{"day": "monday"}',
    )
    await engine.send_tool_result("call_1", "9am-5pm")
    await until(events, ResponseDone)
    second = llm.contexts[1]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "9am-5pm"} or (
        second[-1]["role"] == "tool" and second[-1]["content"] == "9am-5pm"
    )
    (transcript,) = [e for e in events if isinstance(e, AgentTranscript)]
    assert transcript.text == "Monday we open at nine."
    await engine.close()


async def test_audio_a_fallback_stt_moved_to_another_provider_is_priced_as_that_one() -> None:
    stt = ScriptedSTT()
    engine = engine_for(stt, ScriptedLLM(text("Okay.")))
    events = await connected(engine)
    stt.streams[0].provider_name = "assemblyai"  # as FallbackSTTStream says after a switch
    await engine.send_audio(ULAW_FRAME)
    await caller_says(stt, "Hello?")
    (done,) = await until(events, ResponseDone)
    assert done.pipeline_usage.stt_provider == "assemblyai"
    assert done.pipeline_usage.stt_seconds > 0
    await engine.close()


@pytest.mark.parametrize("parallel", [True, False])
async def test_a_round_runs_its_tool_calls_at_once_unless_the_llm_says_one_at_a_time(
    parallel: bool,
) -> None:
    stt = ScriptedSTT()
    first = ToolCall("call_1", "check_hours", '{"day": "monday"}')
    second = ToolCall("call_2", "check_hours", '{"day": "tuesday"}')
    llm = ScriptedLLM(
        [
            LLMChunk(type="tool_call", tool_call=first),
            LLMChunk(type="tool_call", tool_call=second),
            LLMChunk(type="done"),
        ],
        text("Nine both days."),
    )
    engine = engine_for(stt, llm, parallel_tools=parallel)
    events = await connected(
        engine, tools=({"name": "check_hours", "description": "", "parameters": {}},)
    )
    await caller_says(stt, "Hours on Monday and Tuesday?")
    await until(events, ToolCallRequest, count=2 if parallel else 1)
    await asyncio.sleep(0.05)
    requested = [e.call_id for e in events if isinstance(e, ToolCallRequest)]
    # One at a time: the second call is asked for only once the first has its result.
    assert requested == (["call_1", "call_2"] if parallel else ["call_1"])
    await engine.send_tool_result("call_1", "9am-5pm")
    if not parallel:
        await until(events, ToolCallRequest)
    await engine.send_tool_result("call_2", "9am-5pm")
    await until(events, ResponseDone)
    assert [m["role"] for m in llm.contexts[1][-2:]] == ["tool", "tool"]
    await engine.close()


async def test_text_spoken_around_a_tool_call_is_kept_round_by_round() -> None:
    stt = ScriptedSTT()
    call = ToolCall("call_7", "check_hours", "{}")
    llm = ScriptedLLM(
        [
            LLMChunk(type="text", text="Let me check."),
            LLMChunk(type="tool_call", tool_call=call),
            LLMChunk(type="done"),
        ],
        text("We open at nine."),
    )
    engine = engine_for(stt, llm)
    events = await connected(engine)
    await caller_says(stt, "When do you open?")
    await until(events, ToolCallRequest)
    await engine.send_tool_result("call_7", "9am")
    await until(events, ResponseDone)
    messages = engine._context.to_openai()[1:]
    assert [(m["role"], m.get("content")) for m in messages] == [
        ("user", "When do you open?"),
        ("assistant", "Let me check."),
        ("tool", "9am"),
        ("assistant", "We open at nine."),
    ]
    await engine.close()


async def test_a_guardrail_replaces_the_sentence_and_silences_the_rest() -> None:
    stt = ScriptedSTT()
    llm = ScriptedLLM(text("Our rival CompetitorCo is cheaper. ", "Go there. ", "Bye."))
    tts = ToneTTS()
    rule = Guardrail(
        "competitors", blocked_terms=["competitorco"], replacement="Let me check that."
    )
    engine = engine_for(stt, llm, tts, guardrails=(rule,))
    events = await connected(engine)
    await caller_says(stt, "Who is cheaper?")
    await until(events, ResponseDone)
    assert tts.spoken == ["Let me check that."]
    assert engine._context.history()[-1]["text"] == "Let me check that."
    await engine.close()


async def test_hooks_change_each_stage_and_a_failing_hook_fails_open() -> None:
    stt = ScriptedSTT()
    llm = ScriptedLLM(text("Hello there. ", "Skip this. ", "Goodbye."))
    tts = ToneTTS()
    seen: dict[str, object] = {}

    def after_transcribe(text, ctx):
        seen["ctx"] = ctx
        return text.upper()

    async def before_synthesize(sentence):
        return None if sentence.startswith("Skip") else sentence

    def before_llm(messages):
        raise RuntimeError("broken hook")

    hooks = PipelineHooks(
        after_transcribe=after_transcribe,
        before_llm=before_llm,
        after_llm={"on_sentence": lambda s, ctx: s.replace("Hello", "Hi")},
        before_synthesize=before_synthesize,
    )
    engine = engine_for(stt, llm, tts, hooks=hooks, text_transforms=(str.strip,))
    events = await connected(engine, call_id="CA1", caller="+1555", callee="+1666")
    await caller_says(stt, "hi")
    await until(events, ResponseDone)
    assert [e.text for e in events if isinstance(e, UserTranscript)] == ["HI"]
    assert seen["ctx"].call_id == "CA1"
    assert tts.spoken == ["Hi there.", "Goodbye."]
    assert llm.contexts[0][-1]["content"] == "HI"  # before_llm raised: messages unchanged
    await engine.close()


async def test_after_transcribe_returning_none_skips_the_turn() -> None:
    stt, llm = ScriptedSTT(), ScriptedLLM(text("Never."))
    engine = engine_for(stt, llm, hooks=PipelineHooks(after_transcribe=lambda text: None))
    events = await connected(engine)
    await caller_says(stt, "um")
    await until(events, SpeechStopped)
    await asyncio.sleep(0.05)
    assert llm.contexts == [] and not any(isinstance(e, ResponseDone) for e in events)
    await engine.close()


async def test_on_message_gets_the_message_and_call_control() -> None:
    stt = ScriptedSTT()
    received = []
    actions_done: list[str] = []
    hung_up = asyncio.Event()

    async def on_message(message: dict, call: CallControl) -> str | None:
        received.append((message, call))
        if message["text"] == "bye":
            await call.hangup()
            actions_done.append("asked")
            return "Goodbye then."
        return None if message["text"] == "quiet" else f"You said {message['text']}."

    class Actions:
        async def transfer(self, number): ...

        async def hangup(self):
            actions_done.append("hung up")
            hung_up.set()

    control = CallControl("CA9", "+15550001", "+15550002", "twilio", Actions())
    engine = engine_for(stt, brain=lambda call: MessageHandlerBrain(on_message, call))
    events = await connected(
        engine, call_id="CA9", caller="+15550001", callee="+15550002", control=control
    )
    await caller_says(stt, "pizza")
    await until(events, ResponseDone)
    message, call = received[0]
    assert message["text"] == "pizza" and message["call_id"] == "CA9"
    assert message["history"][-1]["text"] == "pizza"
    assert (call.call_id, call.caller, call.telephony_provider) == ("CA9", "+15550001", "twilio")
    await caller_says(stt, "quiet")
    await until(events, ResponseDone, 2)
    assert [e.text for e in events if isinstance(e, AgentTranscript)] == ["You said pizza."]
    await caller_says(stt, "bye")
    await until(events, ResponseDone, 3)
    await asyncio.wait_for(hung_up.wait(), 5)
    assert actions_done == ["asked", "hung up"]
    # The reply was spoken before the hang-up was carried out.
    assert [e.text for e in events if isinstance(e, AgentTranscript)][-1] == "Goodbye then."
    await engine.close()


async def test_an_llm_failure_is_an_error_event_and_the_next_turn_works() -> None:
    stt = ScriptedSTT()
    llm = ScriptedLLM(RateLimitError("429 from the LLM"), text("Back again."))
    engine = engine_for(stt, llm)
    events = await connected(engine)
    await caller_says(stt, "hello")
    (failed,) = await until(events, ResponseDone)
    assert failed.status == "failed"
    (error,) = await until(events, EngineError)
    assert not error.fatal and "429" in error.message
    await caller_says(stt, "hello again")
    await until(events, ResponseDone, 2)
    assert [e.text for e in events if isinstance(e, AgentTranscript)] == ["Back again."]
    await engine.close()


async def test_a_dropped_stt_socket_reconnects_once_then_gives_up() -> None:
    stt = ScriptedSTT()
    engine = engine_for(stt, ScriptedLLM(text("Hi.")))
    events = await connected(engine)
    await stt.streams[0].results.put(PatterConnectionError("socket dropped"))
    (first,) = await until(events, EngineError)
    assert not first.fatal and len(stt.streams) == 2
    await caller_says(stt, "still there?")
    await until(events, ResponseDone)
    await stt.streams[1].results.put(PatterConnectionError("dropped again"))
    errors = await until(events, EngineError, 2)
    assert errors[-1].fatal
    await engine.close()


async def test_say_speaks_verbatim_and_converts_provider_formats() -> None:
    stt = ScriptedSTT(formats=("pcm16_16000",))
    tts = ToneTTS(formats=("pcm16_24000",))
    engine = engine_for(stt, ScriptedLLM(), tts)
    events = await connected(engine)
    for _ in range(5):
        await engine.send_audio(ULAW_FRAME)
    assert stt.formats == ["pcm16_16000"]
    # 100 ms at 16 kHz PCM16, minus the resampler's few ms of delay
    assert 4 * 640 <= len(stt.streams[0].audio) <= 5 * 640
    await engine.say("Welcome!")
    await until(events, ResponseDone)
    audio = b"".join(e.audio for e in events if isinstance(e, AgentAudio))
    assert abs(len(audio) - 8 * len("Welcome!")) <= 16  # 24 kHz PCM -> 8 kHz μ-law
    assert [(m["role"], m["text"]) for m in engine._context.history()] == [
        ("assistant", "Welcome!")
    ]
    await engine.close()


async def test_a_new_turn_supersedes_an_unfinished_response() -> None:
    stt = ScriptedSTT()
    llm = ScriptedLLM(text("A long answer. ", "More. ", "More."), text("Short."), delay=0.05)
    engine = engine_for(stt, llm)
    events = await connected(engine)
    await caller_says(stt, "first")
    await asyncio.sleep(0.06)
    await caller_says(stt, "second")
    done = await until(events, ResponseDone, 2)
    assert [d.status for d in done] == ["cancelled", "completed"]
    await engine.close()


async def test_utterance_end_closes_a_turn_without_speech_final() -> None:
    stt = ScriptedSTT()
    engine = engine_for(stt, ScriptedLLM(text("Yes.")))
    events = await connected(engine)
    await stt.streams[0].results.put(Transcript("is anyone there", is_final=True))
    await stt.streams[0].results.put(UtteranceEnd())
    await until(events, ResponseDone)
    assert [e.text for e in events if isinstance(e, UserTranscript)] == ["is anyone there"]
    await engine.close()


async def test_the_audio_filter_cleans_caller_audio_before_the_vad_and_the_stt() -> None:
    from getpatter import NoiseGate
    from getpatter.audio.g711 import pcm16_to_ulaw

    class Loud(ScriptedVADStream):
        def __init__(self) -> None:
            super().__init__()
            self.peaks: list[int] = []

        def process(self, pcm16: bytes) -> list[VADEvent]:
            self.peaks.append(int(np.abs(np.frombuffer(pcm16, "<i2")).max()))
            return super().process(pcm16)

    stt, vad = ScriptedSTT(), ScriptedVAD()
    vad.stream = Loud()
    engine = engine_for(stt, ScriptedLLM(), vad=vad, audio_filter=NoiseGate(threshold_db=-40))
    await connected(engine)
    hiss = pcm16_to_ulaw(np.full(160, 60, "<i2").tobytes())  # about -55 dBFS
    for _ in range(5):
        await engine.send_audio(hiss)
    assert max(vad.stream.peaks) <= 2  # the gate, closed, took the hiss out before the VAD
    assert set(stt.streams[0].audio) <= {0xFF, 0x7F, 0xFE, 0x7E}  # and before the STT: silence
    unfiltered = engine_for(ScriptedSTT(), ScriptedLLM())
    await connected(unfiltered)
    assert unfiltered._filter is None  # no filter: the audio is not decoded
    await engine.close()
    await unfiltered.close()
