"""The agent's send_dtmf tool: keys checked and budgeted, tones after the agent's speech."""

import asyncio
import json

import pytest

from getpatter import ConfigError, InputValidationError, Patter, PolicyError, tool
from getpatter.calls.stream import CallEventStream
from getpatter.engines.base import (
    AgentAudio,
    EngineCapabilities,
    EngineClosed,
    EngineFactory,
    SpeechStarted,
    ToolCallRequest,
)
from getpatter.observability.pricing import PriceTable
from getpatter.session import CallCallbacks, CallSession
from getpatter.session.keys import MAX_KEYS_PER_CALL, KeyAllowance
from getpatter.testing.phone_network.dtmf_detector import DtmfDetector

SPEECH = b"\x10" * 1600  # 200 ms of loud μ-law that holds no key


class Line:
    """A carrier line that plays everything at once, keeps it, and echoes each mark."""

    call = None

    def __init__(self, hold_marks=False):
        self.frames = []
        self.clears = 0
        self.held = []
        self.hold_marks = hold_marks
        self.holding = asyncio.Event()

    async def send_audio(self, frame):
        self.frames.append(frame)

    async def send_mark(self, name):
        if self.hold_marks:
            self.held.append(name)
            self.holding.set()
        else:
            asyncio.get_running_loop().call_soon(self.call.on_mark, name)

    async def send_clear(self):
        self.clears += 1

    def play_held(self):
        for name in self.held:
            self.call.on_mark(name)
        self.held = []


class Engine:
    capabilities = EngineCapabilities()

    def __init__(self):
        self.queue = asyncio.Queue()
        self.results = asyncio.Queue()

    async def connect(self, config):
        self.config = config

    async def send_audio(self, audio):
        """The scripted engine does not listen."""

    async def send_user_text(self, text):
        """Not used here."""

    async def say(self, text):
        """Not used here."""

    async def instruct(self, instruction):
        """Not used here."""

    async def interrupt(self, item_id, played_ms):
        """Not used here."""

    async def send_tool_result(self, call_id, output):
        self.results.put_nowait(json.loads(output))

    async def events(self):
        while True:
            event = await self.queue.get()
            yield event
            if isinstance(event, EngineClosed):
                return

    async def close(self):
        self.queue.put_nowait(EngineClosed())


class Carrier:
    def __init__(self, sends_dtmf=False):
        self.sends_dtmf = sends_dtmf
        self.pressed = []

    async def send_dtmf(self, call_sid, digits):
        self.pressed.append(digits)

    async def hangup(self, call_sid):
        """Nothing to hang up."""


def start(agent, carrier=None, line=None):
    engine, line = Engine(), line or Line()
    call = CallSession(
        agent=agent,
        direction="outbound",
        caller="+15550000001",
        callee="+15550000002",
        engine_factory=EngineFactory(lambda: engine, ("ulaw_8000",), name="Scripted"),
        carrier=carrier or Carrier(),
        telephony_provider="twilio",
        callbacks=CallCallbacks(),
        events=CallEventStream(),
        pricing=PriceTable(),
        call_sid="CA1",
    )
    line.call = call
    call.start_media(line, {})
    return call, engine, line


def press(engine, digits):
    arguments = json.dumps({"digits": digits})
    engine.queue.put_nowait(ToolCallRequest(call_id="t1", name="send_dtmf", arguments=arguments))


async def result(engine):
    async with asyncio.timeout(10):
        return await engine.results.get()


async def test_keys_play_after_the_agents_words_and_only_then_is_the_tool_answered():
    call, engine, line = start(Patter.agent("You help.", send_dtmf=True))
    await asyncio.sleep(0.05)
    assert "send_dtmf" in [t["name"] for t in engine.config.tools]
    engine.queue.put_nowait(AgentAudio(item_id="a1", audio=SPEECH + b"\x10" * 40))
    press(engine, "1w#")
    assert await result(engine) == {"pressed": "1w#"}
    frames = list(line.frames)
    speech = [i for i, frame in enumerate(frames) if b"\x10" in frame]
    assert len(speech) == 11  # the words' last partial frame went out before the tones
    assert DtmfDetector().feed(b"".join(frames[: speech[-1] + 1])) == ""
    tones = b"".join(frames[speech[-1] + 1 :])
    assert DtmfDetector().feed(tones) == "1#"
    assert len(tones) >= 8 * (160 + 500 + 160)  # the tool answered once the tones were out
    assert {"role": "system", "text": "send_dtmf: 1w#"}.items() <= call._history[-1].items()
    await call.shutdown()


async def test_the_far_end_talking_over_the_keys_does_not_cut_them():
    line = Line(hold_marks=True)  # the carrier is still playing everything sent
    call, engine, _ = start(Patter.agent("You help.", send_dtmf=True), line=line)
    await asyncio.sleep(0.05)
    press(engine, "5")
    async with asyncio.timeout(5):
        await line.holding.wait()
    engine.queue.put_nowait(SpeechStarted())  # the menu goes on talking
    await asyncio.sleep(0.5)  # past the 300 ms barge-in threshold
    assert line.clears == 0 and engine.results.empty()
    line.play_held()
    assert await result(engine) == {"pressed": "5"}
    await call.shutdown()


async def test_a_carrier_that_presses_keys_itself_is_asked_to():
    carrier = Carrier(sends_dtmf=True)
    call, engine, line = start(Patter.agent("You help.", send_dtmf=True), carrier)
    await asyncio.sleep(0.05)
    press(engine, "42")
    assert await result(engine) == {"pressed": "42"}
    assert carrier.pressed == ["42"] and line.frames == []
    await call.shutdown()


async def test_refusals_are_tool_errors_and_the_call_goes_on():
    call, engine, _ = start(Patter.agent("You help.", send_dtmf=True))
    await asyncio.sleep(0.05)
    for arguments, says in [
        ('{"digits": "1 2"}', "holds ' '"),
        ('{"digits": ""}', "must not be empty"),
        ('{"keys": "1"}', 'needs {"digits"'),
        ("not json", 'needs {"digits"'),
    ]:
        engine.queue.put_nowait(ToolCallRequest(call_id="t", name="send_dtmf", arguments=arguments))
        assert says in (await result(engine))["error"]
    assert not call.finished
    await call.shutdown()


async def test_without_the_option_the_tool_is_not_offered_nor_run():
    call, engine, line = start(Patter.agent("You help."))
    await asyncio.sleep(0.05)
    assert "send_dtmf" not in [t["name"] for t in engine.config.tools]
    press(engine, "1")
    assert "send_dtmf=True" in (await result(engine))["error"]
    assert line.frames == []
    await call.shutdown()


def test_the_allowance_checks_each_press_and_counts_keys_not_pauses():
    keys = KeyAllowance(limit=5)
    assert keys.take('{"digits": "12wW#"}') == "12wW#"
    assert keys.pressed == 3
    with pytest.raises(PolicyError) as refused:
        keys.take('{"digits": "123"}')
    assert refused.value.rule == "dtmf_keys" and "at most 5" in refused.value.message
    assert keys.take('{"digits": "9*"}') == "9*"
    with pytest.raises(InputValidationError, match="at most 32"):
        KeyAllowance().take(json.dumps({"digits": "1" * 33}))
    with pytest.raises(InputValidationError, match="upper case"):
        KeyAllowance().take('{"digits": "a"}')
    with pytest.raises(InputValidationError):
        KeyAllowance().take('{"digits": 5}')
    assert MAX_KEYS_PER_CALL == 64


def test_the_agent_option():
    assert Patter.agent("x").send_dtmf is False
    assert Patter.agent("x", send_dtmf=True).send_dtmf is True
    from getpatter import IVRActivity

    assert Patter.agent("x", ivr=IVRActivity()).send_dtmf is True
    assert Patter.agent("x", ivr=IVRActivity(), send_dtmf=False).send_dtmf is False
    with pytest.raises(ConfigError, match="send_dtmf"):
        Patter.agent("x", send_dtmf="yes")
    with pytest.raises(ConfigError, match="IVRActivity"):
        Patter.agent("x", ivr=True)

    @tool
    def send_dtmf(digits: str) -> str:
        """A user tool may not take the system tool's name."""
        return digits

    with pytest.raises(ConfigError, match="already"):
        Patter.agent("x", tools=[send_dtmf])
