"""CallSession edge cases, with a scripted engine, carrier and media line (no network)."""

import asyncio

import pytest

from getpatter import ConfigError, Patter, PatterError
from getpatter.calls.events import BargeIn, TranscriptFinal
from getpatter.calls.stream import CallEventStream
from getpatter.engines.base import (
    AgentAudio,
    AgentInterrupted,
    AgentTranscript,
    EngineCapabilities,
    EngineClosed,
    EngineFactory,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
    ToolCallRequest,
)
from getpatter.observability.pricing import PriceTable
from getpatter.session import CallCallbacks, CallSession


class Line:
    """A carrier line that plays everything at once and echoes each mark."""

    call = None

    async def send_audio(self, frame):
        """Played at once: nothing to keep."""

    async def send_mark(self, name):
        asyncio.get_running_loop().call_soon(self.call.on_mark, name)

    async def send_clear(self):
        """Nothing is buffered, so nothing to drop."""


class Engine:
    capabilities = EngineCapabilities()

    def __init__(self):
        self.queue = asyncio.Queue()
        self.commands = []
        self.commanded = asyncio.Event()
        self.slow_close = False

    async def connect(self, config):
        self.config = config

    async def send_audio(self, audio):
        """The scripted engine does not listen."""

    async def send_user_text(self, text):
        self.commands.append(("text", text))

    async def say(self, text):
        self.commands.append(("say", text))

    async def instruct(self, instruction):
        self.commands.append(("instruct", instruction))

    async def interrupt(self, item_id, played_ms):
        self.commands.append(("interrupt", item_id))

    async def send_tool_result(self, call_id, output):
        self.commands.append(("tool", output))
        self.commanded.set()

    async def events(self):
        while True:
            event = await self.queue.get()
            yield event
            if isinstance(event, EngineClosed):
                return

    async def close(self):
        if self.slow_close:
            await asyncio.sleep(1)
        self.queue.put_nowait(EngineClosed())


class Carrier:
    sends_dtmf = False

    def __init__(self, refuse_transfer=False):
        self.log = []
        self.refuse_transfer = refuse_transfer

    async def transfer(self, call_sid, number, *, time_limit=None):
        self.log.append(("transfer", number))
        if self.refuse_transfer:
            raise PatterError("Twilio refused the transfer")

    async def hangup(self, call_sid):
        self.log.append(("hangup",))


def session(
    engine, carrier, ends, voicemail="", line=None, capabilities=None, events=None, agent=None
):
    call = CallSession(
        agent=agent or Patter.agent("You help."),
        direction="outbound",
        caller="+15550000001",
        callee="+15550000002",
        engine_factory=EngineFactory(lambda: engine, ("ulaw_8000",), capabilities, name="Scripted"),
        carrier=carrier,
        telephony_provider="twilio",
        callbacks=CallCallbacks(on_call_end=ends.append),
        events=events or CallEventStream(),
        pricing=PriceTable(),
        call_sid="CA1",
        voicemail_message=voicemail,
    )
    line = line or Line()
    line.call = call
    call.start_media(line, {})
    return call


async def test_a_cancelled_shutdown_still_reports_the_end_exactly_once():
    engine, ends = Engine(), []
    call = session(engine, Carrier(), ends)
    await asyncio.sleep(0.05)
    engine.slow_close = True
    shutdown = asyncio.ensure_future(call.shutdown())
    await asyncio.sleep(0.1)
    shutdown.cancel()
    await asyncio.gather(shutdown, return_exceptions=True)
    async with asyncio.timeout(5):
        await call.on_media_stopped()
    assert call.finished and len(ends) == 1 and ends[0]["ended_by"] == "system"


async def test_a_refused_transfer_is_not_reported_as_a_transfer():
    engine, ends = Engine(), []
    call = session(engine, Carrier(refuse_transfer=True), ends)
    await asyncio.sleep(0.05)
    engine.queue.put_nowait(
        ToolCallRequest(call_id="t1", name="transfer_call", arguments='{"number": "+15550001234"}')
    )
    async with asyncio.timeout(5):
        await engine.commanded.wait()
    assert "refused" in engine.commands[-1][1]  # the model is told, and the call goes on
    await call.on_media_stopped()
    assert (ends[0]["outcome"], ends[0]["ended_by"]) == ("completed", "caller")


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ('{"reason": "  the caller said goodbye "}', "the caller said goodbye"),
        ('{"reason": "' + "x" * 600 + '"}', "x" * 500),
        ("[1, 2]", None),  # malformed arguments still hang up, with no reason
        ("{not json", None),
    ],
)
async def test_end_call_puts_its_reason_in_the_transcript_and_the_report(arguments, reason):
    engine, carrier, ends = Engine(), Carrier(), []
    call = session(engine, carrier, ends)
    await asyncio.sleep(0.05)
    engine.queue.put_nowait(AgentTranscript(item_id="a1", text="Goodbye!"))
    engine.queue.put_nowait(ToolCallRequest(call_id="t1", name="end_call", arguments=arguments))
    async with asyncio.timeout(10):
        await call.wait_finished()
    (report,) = ends
    assert carrier.log == [("hangup",)] and report["ended_by"] == "agent"
    assert report["end_reason"] == reason
    lines = [(line["role"], line["text"]) for line in report["transcript"]]
    assert lines[-1] == (("system", f"end_call: {reason}") if reason else ("assistant", "Goodbye!"))


@pytest.mark.parametrize("late_done", [True, False])
async def test_voicemail_waits_for_its_own_message_despite_a_late_done(late_done):
    engine, carrier, ends = Engine(), Carrier(), []
    call = session(engine, carrier, ends, voicemail="Please call back.")
    await asyncio.sleep(0.05)
    engine.queue.put_nowait(AgentAudio(item_id="greeting", audio=b"\x00" * 1600))
    await asyncio.sleep(0.05)
    call.on_amd("machine", greeting_ended=True)
    await asyncio.sleep(0.05)
    if late_done:
        engine.queue.put_nowait(ResponseDone(status="cancelled"))  # the greeting's, arriving late
    await asyncio.sleep(0.2)
    assert ("say", "Please call back.") in engine.commands
    assert carrier.log == []  # not hung up before the voicemail was even spoken
    engine.queue.put_nowait(AgentAudio(item_id="voicemail", audio=b"\x01" * 320))
    engine.queue.put_nowait(ResponseDone(status="completed"))
    async with asyncio.timeout(10):
        await call.wait_finished()
    assert carrier.log == [("hangup",)]
    assert ends[0]["outcome"] == "voicemail"


class GatedLine(Line):
    """A line that records frames, and holds each send until ``gate`` is open."""

    def __init__(self):
        self.frames = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send_audio(self, frame):
        await self.gate.wait()
        self.frames.append(frame)


async def test_the_engine_hands_audio_over_at_once_only_while_the_session_is_idle():
    engine, line, ends = Engine(), GatedLine(), []
    call = session(engine, Carrier(), ends, line=line)
    await asyncio.sleep(0.05)
    play_now = engine.config.play_now
    assert await play_now(AgentAudio(item_id="a1", audio=b"\x01" * 160))
    assert line.frames == [b"\x01" * 160]  # on the line before play_now returned
    await asyncio.sleep(0.05)  # a1 played out
    line.gate.clear()
    engine.queue.put_nowait(AgentAudio(item_id="a2", audio=b"\x02" * 160))
    await asyncio.sleep(0.05)  # the session is now stuck sending a2
    assert not await play_now(AgentAudio(item_id="a3", audio=b"\x03" * 160))
    line.gate.set()
    await asyncio.sleep(0.05)
    assert line.frames == [b"\x01" * 160, b"\x02" * 160]  # a3 was left to the engine to emit
    await call.on_media_stopped()
    assert not await play_now(AgentAudio(item_id="a4", audio=b"\x04" * 160))


async def test_an_agent_line_the_caller_never_heard_is_marked_so():
    engine, ends, transcripts, stream = Engine(), [], [], CallEventStream()
    lines: list[TranscriptFinal] = []
    stream.subscribe(lines.append, kinds=(TranscriptFinal,), inline=True)
    call = session(engine, Carrier(), ends, events=stream)
    call._callbacks = CallCallbacks(on_call_end=ends.append, on_transcript=transcripts.append)
    await asyncio.sleep(0.05)
    engine.queue.put_nowait(AgentAudio(item_id="spoken", audio=b"\x01" * 320))
    # Cut short: the engine says the model had generated more than the caller heard.
    engine.queue.put_nowait(
        AgentTranscript(item_id="spoken", text="You heard this.", generated_chars=40)
    )
    engine.queue.put_nowait(AgentTranscript(item_id="silent", text="But not this."))
    engine.queue.put_nowait(ResponseDone(status="completed"))
    await asyncio.sleep(0.1)
    await call.on_media_stopped()
    assert [(e["text"], e.get("heard", True)) for e in ends[0]["transcript"]] == [
        ("You heard this.", True),
        ("But not this.", False),
    ]
    assert [t.get("heard", True) for t in transcripts] == [True, False]
    # The event (not its payload) carries the generated length, for the tracer's barge-ins.
    assert [line.generated_chars for line in lines] == [40, None]
    assert "generated_chars" not in transcripts[0]


async def test_only_the_first_amd_result_counts():
    engine, carrier, ends = Engine(), Carrier(), []
    call = session(engine, carrier, ends)
    await asyncio.sleep(0.05)
    call.on_amd("human")
    call.on_amd("machine", greeting_ended=True)  # a replayed or forged second result
    await asyncio.sleep(0.1)
    assert carrier.log == []  # not hung up as a machine
    await call.on_media_stopped()
    assert ends[0]["answered_by"] == "human" and ends[0]["outcome"] == "completed"


class SlowLine(Line):
    """A line whose playback takes real time, so the agent is still speaking when cut off."""

    def __init__(self):
        self.cleared = 0

    async def send_mark(self, name):
        asyncio.get_running_loop().call_later(0.02, self.call.on_mark, name)

    async def send_clear(self):
        self.cleared += 1


async def test_say_and_instruct_are_refused_naming_an_engine_that_cannot_do_them():
    engine, ends = Engine(), []
    limited = EngineCapabilities(speaks_verbatim=False, takes_instructions=False)
    call = session(engine, Carrier(), ends, capabilities=limited)
    await asyncio.sleep(0.05)
    with pytest.raises(ConfigError, match="the Scripted engine of call CA1 cannot speak a text"):
        await call.say("Your order number is 42.")
    with pytest.raises(ConfigError, match="cannot take a new instruction mid-call"):
        await call.instruct("Offer the five pm slot.")
    assert [c for c in engine.commands if c[0] in ("say", "instruct")] == []
    await call.on_media_stopped()


async def test_an_engine_that_decides_interruptions_is_followed_not_second_guessed():
    engine, ends, bus = Engine(), [], CallEventStream()
    barge_ins, barged_in = [], asyncio.Event()
    bus.subscribe(
        lambda event: (barge_ins.append(event.payload()), barged_in.set()), kinds=(BargeIn,)
    )
    line = SlowLine()
    own_mind = EngineCapabilities(decides_interruptions=True, truncates_to_heard=False)
    call = session(engine, Carrier(), ends, line=line, capabilities=own_mind, events=bus)
    await asyncio.sleep(0.05)
    engine.queue.put_nowait(AgentAudio(item_id="reply", audio=b"\x01" * 8000))  # one second
    await asyncio.sleep(0.2)
    engine.queue.put_nowait(SpeechStarted())  # our VAD's opinion: not acted on
    await asyncio.sleep(Patter.agent("x").barge_in_threshold_ms / 1000 + 0.2)
    assert line.cleared == 0 and barge_ins == []
    engine.queue.put_nowait(AgentInterrupted(item_id="reply"))  # the engine's decision
    async with asyncio.timeout(5):
        await barged_in.wait()
    assert line.cleared == 1 and barge_ins[0]["item_id"] == "reply"
    assert ("interrupt", "reply") not in engine.commands  # it corrects its own transcript
    await call.on_media_stopped()


async def test_a_dialed_calls_events_wait_for_its_carrier_id_and_then_carry_it():
    from getpatter.calls.events import CallStatusChanged

    stream, seen = CallEventStream(), []
    stream.subscribe(seen.append, inline=True)
    call = CallSession(
        agent=Patter.agent("You help."),
        direction="outbound",
        caller="+15550000001",
        callee="+15550000002",
        engine_factory=EngineFactory(lambda: Engine(), ("ulaw_8000",), name="Scripted"),
        carrier=Carrier(),
        telephony_provider="twilio",
        callbacks=CallCallbacks(),
        events=stream,
        pricing=PriceTable(),
    )
    await call.on_status("ringing")  # the carrier's callback beat its answer to the dial
    assert seen == []
    call.bind("CA77")
    await call.on_status("in-progress")
    assert [(type(e), e.call_id) for e in seen] == [
        (CallStatusChanged, "CA77"),
        (CallStatusChanged, "CA77"),
    ]
    assert [e.status for e in seen] == ["ringing", "in-progress"]


class RecordingLine(Line):
    """A line that keeps what it was sent: ("audio", frame) and ("mark", name)."""

    def __init__(self):
        self.sent = []
        self.changed = asyncio.Event()

    async def send_audio(self, frame):
        self.sent.append(("audio", frame))
        self.changed.set()

    async def send_mark(self, name):
        self.sent.append(("mark", name))
        self.changed.set()
        await super().send_mark(name)

    async def wait_until(self, predicate):
        async with asyncio.timeout(5):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def audio_since(self, start):
        return [value for kind, value in self.sent[start:] if kind == "audio"]


class GatedCarrier(Carrier):
    def __init__(self, refuse_transfer=False):
        super().__init__(refuse_transfer)
        self.answer = asyncio.Event()

    async def transfer(self, call_sid, number, *, time_limit=None):
        await self.answer.wait()
        await super().transfer(call_sid, number, time_limit=time_limit)


async def test_a_transfer_plays_hold_music_until_the_carrier_moves_the_call():
    engine, ends, line, carrier = Engine(), [], RecordingLine(), GatedCarrier(refuse_transfer=True)
    call = session(engine, carrier, ends, line=line)
    await asyncio.sleep(0.05)
    assert line.sent == []  # no background audio configured: silence
    transfer = asyncio.ensure_future(call.transfer("+15550001234"))
    await line.wait_until(lambda: len(line.sent) >= 10)
    assert all(kind == "audio" for kind, _ in line.sent)  # music, not agent speech
    assert len({frame for _, frame in line.sent}) > 5 and b"\xff" * 160 not in line.sent
    carrier.answer.set()  # the carrier refuses: the music stops, the call goes on
    with pytest.raises(PatterError):
        await transfer
    await asyncio.sleep(0.1)
    settled = len(line.sent)
    await asyncio.sleep(0.1)
    assert len(line.sent) == settled
    await call.on_media_stopped()


async def test_an_engine_call_plays_its_thinking_sound_between_turns_and_under_tools():
    from getpatter import BackgroundAudioPlayer

    engine, ends, line = Engine(), [], RecordingLine()
    player = BackgroundAudioPlayer("thinking", when="thinking", volume=0.5, duck=0.0)
    call = session(
        engine, Carrier(), ends, line=line, agent=Patter.agent("x", background_audio=player)
    )
    await asyncio.sleep(0.1)
    assert line.sent == []  # nothing before the caller's turn ends
    engine.queue.put_nowait(SpeechStopped())
    await line.wait_until(lambda: len(line.sent) >= 5)
    assert {kind for kind, _ in line.sent} == {"audio"}
    engine.queue.put_nowait(AgentAudio(item_id="a1", audio=b"\x7f" * 320))
    await line.wait_until(lambda: [kind for kind, _ in line.sent].count("mark") == 2)
    answered = len(line.sent)
    await asyncio.sleep(0.1)
    # The answer ended the cue: after one fade-out frame under it, nothing but the answer.
    assert len(line.sent) == answered
    assert line.audio_since(answered - 2)[-1] == b"\x7f" * 160  # ducked to 0: the voice alone
    # A tool call (an unknown one errors at once) plays the sound, and hands over to thinking.
    engine.queue.put_nowait(ToolCallRequest(call_id="t1", name="lookup", arguments="{}"))
    await line.wait_until(lambda: len(line.sent) > answered + 3)
    assert {kind for kind, _ in line.sent[answered:]} == {"audio"}
    engine.queue.put_nowait(ResponseDone(status="completed"))
    await call.on_media_stopped()
    assert len(ends) == 1
