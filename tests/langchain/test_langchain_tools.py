"""The LangChain tools on the sandbox: a real create_agent loop, progress events, refusals.

Sandbox calls to an ordinary number take about 6 s (two exchanges at ms_per_char=15); numbers
ending in 0002 (busy) and 0003 (no answer) end at once, so tests that only need *a* result
use those.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from getpatter.control import CallService, SafetyPolicy
from getpatter.errors import ConfigError
from getpatter.tunnels import CloudflareTunnel
from getpatter_langchain import PROGRESS_EVENT, PatterCallTool, PatterToolkit

module_loop = pytest.mark.asyncio(loop_scope="module")

ANSWERS = "+15550101234"
BUSY = "+15550100002"
NO_ANSWER = "+15550100003"


class ToolCallingFake(FakeMessagesListChatModel):
    """A chat model that replies with scripted messages; create_agent needs bind_tools."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:  # type: ignore[override]
        return self


def call_then_finish(tool: str, args: dict[str, Any], final: str = "Done.") -> ToolCallingFake:
    return ToolCallingFake(
        responses=[
            AIMessage(
                content="",
                tool_calls=[{"name": tool, "args": args, "id": "tc1", "type": "tool_call"}],
            ),
            AIMessage(content=final),
        ]
    )


def tool_messages(messages: list[Any]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> AsyncIterator[CallService]:
    svc = CallService.sandbox(ms_per_char=15)
    async with asyncio.timeout(20):
        await svc.start()
    yield svc
    async with asyncio.timeout(20):
        await svc.aclose()


def tools_by_name(service: CallService, **options: Any) -> dict[str, BaseTool]:
    return {tool.name: tool for tool in PatterToolkit(service, **options).get_tools()}


@module_loop
async def test_agent_places_a_call_and_reads_the_transcript(service: CallService) -> None:
    model = call_then_finish("patter_make_call", {"to": ANSWERS, "goal": "Confirm Friday"})
    agent = create_agent(model, tools=[PatterCallTool(service=service)])

    async with asyncio.timeout(30):
        out = await agent.ainvoke({"messages": [HumanMessage("Call them to confirm Friday")]})

    [message] = tool_messages(out["messages"])
    assert message.status == "success"
    assert message.artifact["status"] == "completed"
    assert message.artifact["mode"] == "sandbox"
    roles = {line["role"] for line in message.artifact["transcript"]}
    assert roles == {"agent", "user"}
    first = message.artifact["transcript"][0]["text"]
    assert f"Agent: {first}" in message.content
    assert "User: " in message.content
    assert message.content.startswith(f"Call {message.artifact['call_id']} to {ANSWERS}")
    assert isinstance(out["messages"][-1], AIMessage)
    assert out["messages"][-1].content == "Done."
    entries = await service.audit.entries(call_id=message.artifact["call_id"])
    placed = [e for e in entries if e.tool == "make_call"]
    assert [(e.outcome, e.client) for e in placed] == [("ok", "langchain")]


@module_loop
async def test_progress_arrives_as_custom_events(service: CallService) -> None:
    model = call_then_finish("patter_make_call", {"to": ANSWERS})
    agent = create_agent(model, tools=[PatterCallTool(service=service)])

    progress: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        async for event in agent.astream_events({"messages": [HumanMessage("call")]}, version="v2"):
            if event["event"] == "on_custom_event" and event["name"] == PROGRESS_EVENT:
                progress.append(event["data"])

    statuses = [report["status"] for report in progress]
    assert "in-progress" in statuses
    assert statuses[-1] == "completed"
    assert len({report["call_id"] for report in progress}) == 1
    spoken = [report["line"] for report in progress if report["line"] is not None]
    assert {"role": "user", "text": "Hi. Sure, go ahead."} in spoken


@module_loop
async def test_progress_goes_to_the_langgraph_custom_stream(service: CallService) -> None:
    model = call_then_finish("patter_make_call", {"to": BUSY})
    agent = create_agent(model, tools=[PatterCallTool(service=service)])

    custom: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        async for mode, chunk in agent.astream(
            {"messages": [HumanMessage("call")]}, stream_mode=["updates", "custom"]
        ):
            if mode == "custom":
                custom.append(chunk)

    assert custom, "no progress reached stream_mode='custom'"
    assert all(chunk["type"] == PROGRESS_EVENT for chunk in custom)
    assert custom[-1]["status"] == "busy"


@module_loop
async def test_a_refused_call_becomes_an_error_message_and_the_loop_goes_on() -> None:
    guarded = CallService.sandbox(ms_per_char=15, policy=SafetyPolicy(allowed_prefixes=("+1555",)))
    model = call_then_finish("patter_make_call", {"to": "+442071234567"}, final="I could not call.")
    agent = create_agent(model, tools=[PatterCallTool(service=guarded)])
    try:
        async with asyncio.timeout(20):
            out = await agent.ainvoke({"messages": [HumanMessage("call London")]})
            entries = await guarded.audit.entries()
    finally:
        async with asyncio.timeout(20):
            await guarded.aclose()

    [message] = tool_messages(out["messages"])
    assert message.status == "error"
    assert message.content.startswith("Refused by rule 'allowlist':")
    assert out["messages"][-1].content == "I could not call."
    assert guarded.list_calls() == []
    assert [(e.outcome, e.rule, e.client) for e in entries] == [
        ("refused", "allowlist", "langchain")
    ]


@module_loop
async def test_ainvoke_with_arguments_returns_the_content(service: CallService) -> None:
    tool = PatterCallTool(service=service)
    async with asyncio.timeout(20):
        content = await tool.ainvoke({"to": BUSY})
    assert isinstance(content, str)
    assert content.startswith("Call CA")
    assert f"to {BUSY}: busy" in content


@module_loop
async def test_ainvoke_with_a_tool_call_returns_a_message_with_the_envelope(
    service: CallService,
) -> None:
    tool = PatterCallTool(service=service)
    call = {
        "name": "patter_make_call",
        "args": {"to": NO_ANSWER, "client_ref": "order-42"},
        "id": "tc9",
        "type": "tool_call",
    }
    async with asyncio.timeout(20):
        message = await tool.ainvoke(call)
        again = await tool.ainvoke(call)

    assert isinstance(message, ToolMessage)
    assert message.tool_call_id == "tc9"
    assert message.artifact["status"] == "no-answer"
    assert message.artifact["client_ref"] == "order-42"
    assert message.artifact["to"] == NO_ANSWER
    assert again.artifact["call_id"] == message.artifact["call_id"]


@module_loop
async def test_response_format_content_gives_the_text_alone(service: CallService) -> None:
    tool = PatterCallTool(service=service, response_format="content")
    call = {"name": "patter_make_call", "args": {"to": BUSY}, "id": "tc8", "type": "tool_call"}
    async with asyncio.timeout(20):
        message = await tool.ainvoke(call)
        content = await tool.ainvoke({"to": BUSY})
    assert isinstance(message, ToolMessage)
    assert message.content.startswith("Call CA") and f"to {BUSY}: busy" in message.content
    assert message.artifact is None
    assert isinstance(content, str) and content.startswith("Call CA")


@module_loop
async def test_bad_arguments_are_rejected_before_dialing(service: CallService) -> None:
    tool = PatterCallTool(service=service)
    before = len(service.list_calls())
    for args in (
        {"to": "555-0101"},
        {"to": "15550101234"},
        # Fullwidth digits: pydantic's regex \d matches them, [0-9] does not.
        {"to": "+1" + "5550101234".translate(str.maketrans("0123456789", "０１２３４５６７８９"))},
        {"to": ANSWERS, "max_duration_sec": 5000},
        {"to": ANSWERS, "max_duration_sec": 0},
        {"goal": "no number"},
    ):
        with pytest.raises(ValidationError):
            async with asyncio.timeout(5):
                await tool.ainvoke(args)
    assert len(service.list_calls()) == before


@module_loop
async def test_toolkit_reads_presses_keys_on_and_hangs_up_a_live_call(
    service: CallService,
) -> None:
    tools = tools_by_name(service, wait_seconds=0.5)
    assert set(tools) == {
        "patter_make_call",
        "patter_get_call",
        "patter_hangup_call",
        "patter_transfer_call",
        "patter_send_dtmf",
    }
    async with asyncio.timeout(30):
        placed = await tools["patter_make_call"].ainvoke(
            {"name": "patter_make_call", "args": {"to": ANSWERS}, "id": "1", "type": "tool_call"}
        )
        call_id = placed.artifact["call_id"]
        read = await tools["patter_get_call"].ainvoke(
            {
                "name": "patter_get_call",
                "args": {"call_id": call_id},
                "id": "2",
                "type": "tool_call",
            }
        )
        while read.artifact["status"] != "in-progress":
            assert not service.get_call(call_id).ended
            await asyncio.sleep(0.05)
            read = await tools["patter_get_call"].ainvoke(
                {
                    "name": "patter_get_call",
                    "args": {"call_id": call_id},
                    "id": "2",
                    "type": "tool_call",
                }
            )
        assert "still going on" in read.content

        pressed = await tools["patter_send_dtmf"].ainvoke(
            {
                "name": "patter_send_dtmf",
                "args": {"call_id": call_id, "digits": "12#"},
                "id": "3",
                "type": "tool_call",
            }
        )
        assert pressed.status == "success"
        assert pressed.content.startswith(f"Pressed 12# on call {call_id}.")
        assert pressed.artifact["keys_sent"] == "12#"

        hung = await tools["patter_hangup_call"].ainvoke(
            {
                "name": "patter_hangup_call",
                "args": {"call_id": call_id},
                "id": "4",
                "type": "tool_call",
            }
        )
        assert hung.status == "success"
        assert hung.content.startswith(f"Hanging up call {call_id}.")
        record = await service.wait(call_id, 20)

    assert record.ended
    assert record.ended_by == "agent"
    assert service.line.sandbox.twilio.get_call(call_id).dtmf_heard == "12#"  # type: ignore[attr-defined]


@module_loop
async def test_control_tools_report_unknown_calls_and_refusals_as_errors(
    service: CallService,
) -> None:
    tools = tools_by_name(service)
    async with asyncio.timeout(10):
        unknown = await tools["patter_hangup_call"].ainvoke(
            {
                "name": "patter_hangup_call",
                "args": {"call_id": "CAnope"},
                "id": "1",
                "type": "tool_call",
            }
        )
    assert unknown.status == "error"
    assert "no call 'CAnope'" in unknown.content

    guarded = CallService.sandbox(policy=SafetyPolicy(allowed_prefixes=("+1555",)))
    transfer = tools_by_name(guarded)["patter_transfer_call"]
    try:
        async with asyncio.timeout(10):
            refused = await transfer.ainvoke(
                {
                    "name": "patter_transfer_call",
                    "args": {"call_id": "CAany", "to": "+442071234567"},
                    "id": "2",
                    "type": "tool_call",
                }
            )
    finally:
        async with asyncio.timeout(10):
            await guarded.aclose()
    assert refused.status == "error"
    assert refused.content.startswith("Refused by rule 'allowlist':")


@module_loop
async def test_cancelling_the_wait_hangs_up_the_call(service: CallService) -> None:
    tool = PatterCallTool(service=service)
    answered = asyncio.Event()
    unsubscribe = service.subscribe(
        lambda record: answered.set() if record.status == "in-progress" else None
    )
    try:
        async with asyncio.timeout(30):
            waiting = asyncio.create_task(tool.ainvoke({"to": ANSWERS}))
            await answered.wait()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            [record] = service.list_calls(active_only=True)
            record = await service.wait(record.call_id, 20)
    finally:
        unsubscribe()
    assert record.ended_by == "agent"


def test_invoke_works_from_synchronous_code_call_after_call() -> None:
    service = CallService.sandbox(ms_per_char=15)
    toolkit = PatterToolkit(service)
    tool = toolkit.get_tools()[0]

    class Collect(BaseCallbackHandler):
        def __init__(self) -> None:
            self.progress: list[dict[str, Any]] = []

        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            if name == PROGRESS_EVENT:
                self.progress.append(data)

    collect = Collect()
    try:
        first = tool.invoke({"to": BUSY})
        second = tool.invoke(
            {"name": "patter_make_call", "args": {"to": NO_ANSWER}, "id": "s", "type": "tool_call"},
            config={"callbacks": [collect]},
        )
        # The service now lives on the tools' background loop; another loop can still use it.
        bridged = Collect()
        third = asyncio.run(
            tool.ainvoke(
                {"name": "patter_make_call", "args": {"to": BUSY}, "id": "a", "type": "tool_call"},
                config={"callbacks": [bridged]},
            )
        )
    finally:
        toolkit.close()

    assert f"to {BUSY}: busy" in first
    assert second.artifact["status"] == "no-answer"
    assert [report["status"] for report in collect.progress][-1] == "no-answer"
    assert third.artifact["status"] == "busy"
    assert [report["status"] for report in bridged.progress][-1] == "busy"
    assert len(service.list_calls()) == 3


async def test_invoke_inside_a_running_loop_says_to_use_ainvoke() -> None:
    service = CallService.sandbox()
    try:
        content = PatterCallTool(service=service).invoke({"to": BUSY})
    finally:
        async with asyncio.timeout(10):
            await service.aclose()
    assert "use `await tool.ainvoke(...)`" in content
    assert service.list_calls() == []


def test_importing_without_langchain_names_the_extra() -> None:
    code = "import sys; sys.modules['langchain_core'] = None; import getpatter_langchain"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert 'pip install "getpatter[langchain]"' in result.stderr


# ------------------------------------------------------------------ configured like getpatter-mcp

TELNYX = {
    "TELNYX_API_KEY": "KEY-telnyx-CANARY-key-value",
    "TELNYX_CONNECTION_ID": "1494404757140276705",
    "TELNYX_PHONE_NUMBER": "+15550004321",
    "TELNYX_PUBLIC_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "PATTER_WEBHOOK_URL": "agent.example.com",
    "OPENAI_API_KEY": "sk-openai-CANARY-key-value",
    "PATTER_ALLOWED_PREFIXES": "+1555",
    "PATTER_AUDIT_DB": ":memory:",
}


async def test_from_config_without_carrier_settings_is_the_sandbox() -> None:
    toolkit = PatterToolkit.from_config(env={"PATTER_MAX_CALLS_PER_DAY": "4"}, wait_seconds=5)
    try:
        assert toolkit.service.mode == "sandbox"
        assert toolkit.service.policy.max_calls_per_day == 4
        assert toolkit.wait_seconds == 5
    finally:
        await toolkit.service.aclose()


async def test_from_config_reads_telnyx_from_the_environment_and_a_file(tmp_path: Path) -> None:
    from getpatter.carriers.telnyx import Carrier as Telnyx

    toolkit = PatterToolkit.from_config(env=TELNYX)
    try:
        phone = toolkit.service.line.phone
        assert toolkit.service.mode == "live"
        assert isinstance(phone.carrier, Telnyx) and phone.phone_number == "+15550004321"
        assert toolkit.service.policy.allowed_prefixes == ("+1555",)
    finally:
        await toolkit.service.aclose()
    path = tmp_path / "patter.toml"
    path.write_text(
        "[telnyx]\n"
        f'api_key = "{TELNYX["TELNYX_API_KEY"]}"\n'
        'connection_id = "42"\nphone_number = "+15550004321"\n'
        f'public_key = "{TELNYX["TELNYX_PUBLIC_KEY"]}"\n'
        '[server]\ntunnel = "cloudflare"\n'
        '[audit]\ndb = ":memory:"\n'
        f'[openai]\napi_key = "{TELNYX["OPENAI_API_KEY"]}"\n'
    )
    toolkit = PatterToolkit.from_config(str(path), env={})
    try:
        assert isinstance(toolkit.service.line.phone.carrier, Telnyx)
        assert isinstance(toolkit.service.line.phone.tunnel, CloudflareTunnel)
    finally:
        await toolkit.service.aclose()


def test_from_config_refuses_a_partial_carrier_naming_what_to_set() -> None:
    with pytest.raises(ConfigError, match="TELNYX_CONNECTION_ID"):
        PatterToolkit.from_config(env={"TELNYX_API_KEY": TELNYX["TELNYX_API_KEY"]})
