"""Test mode runs the real call session and pipeline on a text line (spec 08, TM-11).

Each test drives a TerminalCall in-process with a scripted LLM (or the loopback OpenAI fake) and
checks that what a phone call does (variables, hooks, guardrails, tools, end_call) happens.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from getpatter import Guardrail, Patter, PipelineHooks, tool
from getpatter.calls.events import CallEvent, ToolFinished, ToolStarted
from getpatter.calls.stream import CallEventStream
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMUsage
from getpatter.llm.chat_context import ChatContext, ToolCall
from getpatter.session.session import CallSession
from getpatter.testing import ScriptedLines, TerminalCall


class ScriptedLLM:
    """A chat model that answers each request with the next scripted list of chunks."""

    name = "scripted_llm"
    model = "scripted"
    capabilities = LLMCapabilities()

    def __init__(self, *rounds: list[LLMChunk]) -> None:
        self._rounds = list(rounds)
        self.requests: list[list[dict[str, Any]]] = []

    async def stream(
        self, context: ChatContext, tools: Sequence[dict[str, Any]] | None = None
    ) -> AsyncIterator[LLMChunk]:
        self.requests.append(context.to_openai())
        for chunk in self._rounds.pop(0) if self._rounds else [LLMChunk(type="text", text="?")]:
            yield chunk
        yield LLMChunk(type="done", usage=LLMUsage(input_tokens=10, output_tokens=5))


def text(value: str) -> LLMChunk:
    return LLMChunk(type="text", text=value)


def call_tool(name: str, **arguments: Any) -> LLMChunk:
    return LLMChunk(
        type="tool_call", tool_call=ToolCall(f"call_{name}", name, json.dumps(arguments))
    )


def pipeline_agent(phone: Patter, llm: ScriptedLLM, **options: Any) -> Any:
    from getpatter import DeepgramSTT, ElevenLabsTTS

    return phone.agent(
        options.pop("system_prompt", "You help."),
        stt=DeepgramSTT(api_key="dg-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        llm=llm,
        **options,
    )


async def run(agent: Any, lines: list[str], **options: Any) -> str:
    out = io.StringIO()
    await TerminalCall(agent, lines=ScriptedLines(lines), output=out, **options).run()
    return out.getvalue()


async def test_on_call_start_variables_reach_the_llm_request_and_the_first_message(
    monkeypatch,
):
    """TM-11: the variables on_call_start returns are substituted as on a call."""
    from getpatter.testing import FakeOpenAIServer, Reply, Scenario

    async def on_call_start(data: dict[str, Any]) -> dict[str, Any]:
        return {"variables": {"name": "Ada", "plan": "gold"}}

    async with FakeOpenAIServer(
        Scenario(replies=(Reply("Sure."),)), api_key="sk-CANARY-tm"
    ) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-tm")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        phone = Patter()
        agent = phone.agent("You help {name}, a {plan} customer.", first_message="Hello {name}!")
        out = await run(agent, ["hi"], on_call_start=on_call_start)
        (request,) = fake.requests
    system = request.body["messages"][0]
    assert system["role"] == "system" and "You help Ada, a gold customer." in system["content"]
    assert "{name}" not in json.dumps(request.body["messages"])
    assert "Agent: Hello Ada!" in out and "Agent: Sure." in out


async def test_hooks_transforms_and_guardrails_run_as_on_a_pipeline_call():
    """after_transcribe, on_sentence, text transforms, guardrails and before_synthesize all
    run, in the pipeline's order, on what the caller types and the agent says."""
    llm = ScriptedLLM([text("Your refund is ready. Anything else?")], [text("Fine.")])
    seen: list[str] = []

    def after_transcribe(said: str) -> str | None:
        seen.append(said)
        return None if said == "mumble" else said.upper()

    hooks = PipelineHooks(
        after_transcribe=after_transcribe,
        before_synthesize=lambda sentence: f"<{sentence}>",
    )
    agent = pipeline_agent(
        Patter(),
        llm,
        hooks=hooks,
        text_transforms=[lambda s: s.replace("Anything", "Something")],
        guardrails=[
            Guardrail(name="refunds", blocked_terms=["refund"], replacement="Ask billing.")
        ],
    )
    ended: list[dict[str, Any]] = []
    out = await run(agent, ["mumble", "where is it", "ok"], on_call_end=ended.append)
    # A line after_transcribe drops is no turn: the model never sees it, the call goes on.
    assert seen == ["mumble", "where is it", "ok"]
    assert llm.requests[0][-1] == {"role": "user", "content": "WHERE IS IT"}
    assert "Agent: <Ask billing.>" in out and "Something" not in out
    assert "Agent: <Fine.>" in out
    transcript = [(line["role"], line["text"]) for line in ended[0]["transcript"]]
    assert transcript == [
        ("user", "WHERE IS IT"),
        ("assistant", "<Ask billing.>"),
        ("user", "OK"),
        ("assistant", "<Fine.>"),
    ]
    assert ended[0]["reason"] == "caller_hangup" and len(ended[0]["metrics"].turns) == 2


async def test_tools_run_through_the_session_and_end_call_follows_the_goodbye():
    """A tool runs as on a call (the session's ToolStarted/ToolFinished events); a model that
    says goodbye and calls end_call in one round is heard to the end, then hangs up."""

    @tool
    def check_order(order_id: str) -> str:
        """Look an order up.

        Args:
            order_id: The order number.
        """
        return f"order {order_id} shipped"

    llm = ScriptedLLM(
        [call_tool("check_order", order_id="7")],
        [text("It shipped.")],
        [text("Goodbye then!"), call_tool("end_call", reason="done")],
    )
    events = CallEventStream()
    tools_seen: list[CallEvent] = []
    events.subscribe(tools_seen.append, kinds=(ToolStarted, ToolFinished), inline=True)
    ended: list[dict[str, Any]] = []
    call = TerminalCall(
        pipeline_agent(Patter(), llm, tools=[check_order]),
        lines=ScriptedLines(["order 7?", "bye", "never read"]),
        output=(out := io.StringIO()),
        events=events,
        on_call_end=ended.append,
    )
    assert isinstance(call._call.session, CallSession)
    await call.run()
    printed = out.getvalue()
    assert [(type(e).__name__, e.name) for e in tools_seen] == [
        ("ToolStarted", "check_order"),
        ("ToolFinished", "check_order"),
        ("ToolStarted", "end_call"),
    ]
    tool_result = llm.requests[1][-1]
    assert tool_result["role"] == "tool" and "order 7 shipped" in tool_result["content"]
    assert printed.index("Agent: Goodbye then!") < printed.index("[Agent hung up]")
    assert "never read" not in printed
    assert len(llm.requests) == 3  # end_call asks for no further round
    (report,) = ended
    assert report["reason"] == "agent_hangup" and report["ended_by"] == "agent"
    assert [line["text"] for line in report["transcript"]][-2:] == [
        "Goodbye then!",
        "end_call: done",
    ]
    assert report["end_reason"] == "done"
    cost = report["metrics"].cost
    # The text line is free and unpriced; the LLM's tokens are counted under its own name.
    assert cost.stt == 0 and cost.tts == 0
    assert "scripted_llm" in cost.unpriced and not {"", "text"} & set(cost.unpriced)


async def test_on_message_with_tools_or_an_llm_is_refused_as_serve_refuses_it():
    import pytest

    from getpatter import ConfigError

    phone = Patter()

    async def reply(message: dict[str, Any]) -> str:
        return "ok"

    with pytest.raises(ConfigError, match="both produce replies"):
        await phone.test(pipeline_agent(phone, ScriptedLLM()), on_message=reply)

    @tool
    def lookup(query: str) -> str:
        """Look something up.

        Args:
            query: What to look up.
        """
        return query

    with pytest.raises(ConfigError, match="tools= would never run"):
        await phone.test(phone.agent("x", tools=[lookup]), on_message=reply)


async def test_a_failing_llm_is_shown_and_the_call_goes_on():
    from getpatter import PatterError

    class FailingOnce(ScriptedLLM):
        async def stream(
            self, context: ChatContext, tools: Sequence[dict[str, Any]] | None = None
        ) -> AsyncIterator[LLMChunk]:
            if not self.requests:
                self.requests.append([])
                raise PatterError("the model is overloaded")
            async for chunk in super().stream(context, tools):
                yield chunk

    ended: list[dict[str, Any]] = []
    out = await run(
        pipeline_agent(Patter(), FailingOnce([text("Back again.")])),
        ["hello", "still there?"],
        on_call_end=ended.append,
    )
    assert "[the LLM failed: the model is overloaded]" in out
    assert "Agent: Back again." in out
    assert ended[0]["error_count"] == 1 and ended[0]["reason"] == "caller_hangup"


async def test_transfer_call_after_words_is_heard_and_a_refused_one_is_answered():
    """A model that speaks, then calls transfer_call, is heard before the transfer; one whose
    transfer is refused (a number that is not E.164) learns it and answers in a new response."""
    llm = ScriptedLLM(
        [text("Putting you through."), call_tool("transfer_call", number="+15550009999")]
    )
    ended: list[dict[str, Any]] = []
    out = await run(pipeline_agent(Patter(), llm), ["sales please", "x"], on_call_end=ended.append)
    assert out.index("Agent: Putting you through.") < out.index(
        "[Call transferred to +15550009999]"
    )
    assert ended[0]["transcript"][-1]["text"] == "Putting you through."
    assert ended[0]["reason"] == "transferred" and len(llm.requests) == 1

    llm = ScriptedLLM(
        [text("Let me transfer you."), call_tool("transfer_call", number="12345")],
        [text("Sorry, I could not transfer you.")],
        [text("Bye.")],
    )
    ended = []
    out = await run(pipeline_agent(Patter(), llm), ["sales please", "ok"], on_call_end=ended.append)
    assert "Agent: Sorry, I could not transfer you." in out
    assert "transferred" not in out
    system = llm.requests[1][-1]
    assert system["role"] == "system" and system["content"].startswith("transfer_call did not")
    assert [line["text"] for line in ended[0]["transcript"]] == [
        "sales please",
        "Let me transfer you.",
        "Sorry, I could not transfer you.",
        "ok",
        "Bye.",
    ]
    assert ended[0]["reason"] == "caller_hangup"
