"""Terminal test mode, driven through the stdin of a real subprocess (spec 08)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from getpatter import ConfigError, Patter

SCRIPT = Path(__file__).with_name("terminal_agent.py")


def run(mode: str, stdin: str) -> tuple[str, dict[str, list[dict]]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_AUTH_TOKEN", "_ACCOUNT_SID"))
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT), mode],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    events: dict[str, list[dict]] = {}
    for kind, payload in re.findall(r"EVENT (\w+) (.*)$", done.stdout, re.MULTILINE):
        events.setdefault(kind, []).append(json.loads(payload))
    return done.stdout, events


def test_banner_greeting_replies_history_and_hangup_without_any_credentials():
    out, events = run("echo", "hello there\n/history\n/hangup\nnever read\n")
    call_id = re.search(r"Call ID: (test_[0-9a-f]{12})\n", out).group(1)
    assert "PATTER TEST MODE" in out
    assert "Agent: gpt-4o-mini-realtime-preview / alloy" in out
    assert "Provider: openai_realtime" in out
    assert "Caller: +15550000001  →  Callee: +15550000002" in out
    assert "/quit  /transfer <number>  /hangup  /history" in out
    # on_call_start's variables reach the first message, which is spoken first.
    assert out.index("Agent: Hello Ada, how can I help?") < out.index("You: ")
    assert "Agent: You said: hello there" in out
    assert re.search(r"\[\d\d:\d\d:\d\d\] You: hello there", out)
    assert "never read" not in out

    (start,) = events["start"]
    assert start == {
        "call_id": call_id,
        "caller": "+15550000001",
        "callee": "+15550000002",
        "direction": "inbound",
        "custom_params": {},
    }
    (message,) = events["message"]
    assert message == {
        "call_id": call_id,
        "caller": "+15550000001",
        "callee": "+15550000002",
        "text": "hello there",
        "history_len": 2,
    }
    (end,) = events["end"]
    assert end["call_id"] == call_id and end["reason"] == "caller_hangup"
    assert [(e["role"], e["text"]) for e in end["transcript"]] == [
        ("assistant", "Hello Ada, how can I help?"),
        ("user", "hello there"),
        ("assistant", "You said: hello there"),
    ]
    assert all(isinstance(e["timestamp"], float) for e in end["history"])
    assert end["metrics"] == {"turns": 1, "total_cost": 0.0}
    assert end["ended_at"] >= end["started_at"]


def test_agent_hangup_still_delivers_the_last_reply():
    out, events = run("hangup", "what time is it\nok bye\nafter hangup\n")
    assert re.search(r"Agent: Heard what time is it on test call test_[0-9a-f]{12}", out)
    assert "Agent: Goodbye, take care!" in out
    assert out.index("Goodbye, take care!") < out.index("[Agent hung up]")
    assert "after hangup" not in out
    (end,) = events["end"]
    assert end["reason"] == "agent_hangup"
    assert end["transcript"][-1]["text"] == "Goodbye, take care!"


def test_handler_transfer_is_simulated_after_the_reply():
    out, events = run("transfer", "sales please\n")
    assert "Agent: Transferring you to sales." in out
    assert "[Call transferred to +15550009999]" in out
    assert events["end"][0]["reason"] == "transferred"


def test_transfer_command_checks_the_number_and_commands_never_reach_the_agent():
    out, events = run("echo", "/transfer 12345\n/bogus\n/transfer +15550001111\n")
    assert "Usage: /transfer <number>" in out
    assert "Unknown command /bogus" in out
    assert "[Call transferred to +15550001111]" in out
    assert "message" not in events
    assert events["end"][0]["reason"] == "transferred"


def test_quit_and_end_of_input_both_fire_on_call_end_once():
    _, quit_events = run("echo", "/quit\n")
    _, eof_events = run("echo", "hi\n")
    assert [e["reason"] for e in quit_events["end"]] == ["quit"]
    assert [e["reason"] for e in eof_events["end"]] == ["caller_hangup"]


def test_a_raising_handler_does_not_end_the_call_and_guardrails_apply():
    out, _ = run("flaky", "crash\nagain\n")
    assert "[on_message raised RuntimeError: handler bug]" in out
    assert "Agent: still here" in out
    _, guarded = run("echo", "give me a **refund**\n")
    assert guarded["end"][0]["transcript"][-1]["text"] == "Please ask billing."


async def test_test_mode_needs_on_message_or_an_llm(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    phone = Patter()
    with pytest.raises(ConfigError, match=r"on_message=.*OPENAI_API_KEY"):
        await phone.test(phone.agent("x"))
    with pytest.raises(ConfigError, match="function"):
        await phone.test(phone.agent("x"), on_message="https://example.com/agent")


async def test_events_reach_the_bus_and_cancellation_still_ends_the_call():
    import asyncio
    import io

    from getpatter import PatterEventType
    from getpatter.calls.stream import CallEventStream
    from getpatter.observability.events import EventBus
    from getpatter.testing import ScriptedLines, TerminalCall

    class Forever:
        echo = False

        def __init__(self, first: str) -> None:
            self.lines = [first]

        async def readline(self):
            if self.lines:
                return self.lines.pop()
            await asyncio.Event().wait()

    bus = EventBus()
    seen: list[tuple[str, str]] = []
    payloads: list[tuple[str, dict]] = []
    for kind in PatterEventType:
        bus.on(kind, lambda payload, kind=kind: seen.append((kind.value, payload.get("role", ""))))
        bus.on(kind, lambda payload, kind=kind: payloads.append((kind.value, payload)))
    turn_done = asyncio.Event()
    bus.on(PatterEventType.TURN_COMPLETED, lambda payload: turn_done.set())
    ended: list[dict] = []

    async def reply(message):
        return "ok"

    async def on_call_end(data):
        ended.append(data)

    phone = Patter()
    stream = CallEventStream()
    stream.bridge(bus)  # as a phone's own stream is: payloads reach the bus as on real calls
    call = TerminalCall(
        phone.agent("x"),
        on_message=reply,
        on_call_end=on_call_end,
        events=stream,
        lines=Forever("hello"),
        output=io.StringIO(),
    )
    task = asyncio.create_task(call.run())
    await asyncio.wait_for(turn_done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await bus.wait_idle()
    assert [e["reason"] for e in ended] == ["quit"]
    assert seen[0] == ("call_started", "")
    assert ("transcript_final", "user") in seen and ("transcript_final", "assistant") in seen
    assert seen[-1] == ("call_ended", "")
    # The same payload shapes as a real call's: lines carry the history, turns the cost.
    lines = [p for k, p in payloads if k == "transcript_final"]
    assert all("history" in p for p in lines) and lines[-1]["history"][-1]["text"] == "ok"
    (turn,) = [p for k, p in payloads if k == "turn_completed"][:1]
    assert turn["cost_so_far"].total >= 0 and turn["turn"].user_text == "hello"

    out = io.StringIO()
    await TerminalCall(
        phone.agent("x"), on_message=reply, lines=ScriptedLines(["hi"]), output=out
    ).run()
    assert "You: hi\nAgent: ok\n" in out.getvalue()


async def test_without_on_message_the_built_in_llm_loop_streams_and_runs_tools(monkeypatch):
    """TM-7: an OpenAI key (here pointed at the loopback fake) drives a streamed LLM loop."""
    import io

    from getpatter import tool
    from getpatter.testing import FakeOpenAIServer, Reply, Scenario, ScriptedLines, ToolCall
    from getpatter.testing.terminal import TerminalCall

    calls = []

    @tool
    def check_order(order_id: str) -> str:
        """Look an order up.

        Args:
            order_id: The order number.
        """
        calls.append(order_id)
        return "it shipped yesterday"

    scenario = Scenario(
        replies=(
            Reply(
                "Order 42: {result}. Anything else?",
                tool_call=ToolCall("check_order", {"order_id": "42"}),
            ),
            # end_call hangs up as on a real call: no further round is asked of the model (the
            # fake would say its text only after a tool result, which end_call never gets).
            Reply("", tool_call=ToolCall("end_call", {"reason": "done"})),
        )
    )
    async with FakeOpenAIServer(scenario, api_key="sk-CANARY-test") as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        phone = Patter()
        out = io.StringIO()
        ended = []
        call = TerminalCall(
            phone.agent("You track orders.", tools=[check_order]),
            lines=ScriptedLines(["where is order 42?", "no, bye"]),
            output=out,
            on_call_end=ended.append,
        )
        await call.run()
        requests = fake.requests
    text = out.getvalue()
    assert calls == ["42"]
    assert "Agent: Order 42: it shipped yesterday. Anything else?" in text
    assert "[Agent hung up]" in text
    assert [line["text"] for line in ended[0]["transcript"]][-2:] == ["no, bye", "end_call: done"]
    assert len(requests) == 3  # order 42: call + answer; bye: end_call only
    assert ended[0]["metrics"].cost.llm > 0
    declared = {t["function"]["name"] for t in requests[0].body["tools"]}
    assert declared == {"check_order", "transfer_call", "end_call"}


async def test_the_llm_loop_uses_the_realtime_engines_key_and_base_url(monkeypatch):
    """An OpenAIRealtime(api_key=..., base_url=...) agent's test mode talks where its calls do."""
    import io

    from getpatter import OpenAIRealtime
    from getpatter.testing import FakeOpenAIServer, Reply, Scenario, ScriptedLines
    from getpatter.testing.terminal import TerminalCall

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    async with FakeOpenAIServer(
        Scenario(replies=(Reply("Hello there."),)), api_key="sk-x-CANARY"
    ) as fake:
        phone = Patter()
        agent = phone.agent(
            "x", engine=OpenAIRealtime(api_key="sk-x-CANARY", base_url=fake.base_url)
        )
        out = io.StringIO()
        await TerminalCall(agent, lines=ScriptedLines(["hi"]), output=out).run()
    assert "Agent: Hello there." in out.getvalue()


async def test_an_elevenlabs_convai_agent_needs_on_message(monkeypatch):
    from getpatter import ElevenLabsConvAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    phone = Patter()
    agent = phone.agent("x", engine=ElevenLabsConvAI(api_key="xi-key-CANARY", agent_id="agent_1"))
    with pytest.raises(ConfigError, match="cannot run an ElevenLabsConvAI agent"):
        await phone.test(agent)
