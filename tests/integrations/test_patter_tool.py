"""PatterTool: one phone call as a tool, over a real Patter server and the Twilio simulator."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

import getpatter
from getpatter.control import SafetyPolicy
from getpatter.control.lines import sandbox_callee, sandbox_scenario
from getpatter.errors import InputValidationError, PolicyError
from getpatter.integrations import PatterTool, PatterToolResult
from getpatter.testing.sandbox import Sandbox

PERSON = "+15550101234"


@pytest.fixture
async def network() -> AsyncIterator[Sandbox]:
    async with Sandbox(sandbox_scenario(ms_per_char=15)) as sandbox:
        yield sandbox


def phone_tool(network: Sandbox, **options) -> PatterTool:
    """A PatterTool on the sandbox's Patter, used exactly as on a real account."""
    for number in (PERSON, "+15550105678"):
        network.twilio.callee_for(number, sandbox_callee(number, ms_per_char=15))
    agent = network.offline(network.phone.agent("You call people for your user."))
    return PatterTool(
        phone=network.phone,
        agent=agent,
        policy=SafetyPolicy(allowed_prefixes=("+1555",)),
        port=network.port,
        host="127.0.0.1",
        **options,
    )


def test_the_tool_is_exported_from_getpatter_and_getpatter_integrations() -> None:
    assert getpatter.PatterTool is PatterTool
    assert getpatter.PatterToolResult is PatterToolResult


async def test_execute_places_the_call_and_returns_its_result(network: Sandbox) -> None:
    tool = phone_tool(network)
    try:
        async with asyncio.timeout(40):
            await tool.start()
            await tool.start()  # idempotent
            results = await asyncio.gather(
                tool.execute({"to": PERSON, "goal": "Confirm the booking"}),
                tool.execute({"to": "+15550105678", "first_message": "Hello from the shop."}),
            )
    finally:
        await tool.stop()
    first, second = results
    assert first.call_id != second.call_id
    assert {first.status, second.status} == {"completed"} and first.mode == "live"
    assert [line["role"] for line in first.transcript][:2] == ["agent", "user"]
    assert "Hello from the shop." in second.transcript[0]["text"]
    assert first.cost_usd > 0 and set(first.metrics["cost"]) == {"stt", "tts", "llm", "telephony"}
    assert "p95_latency_ms" in first.metrics
    dialed = {call.to for call in network.twilio.calls}
    assert dialed == {PERSON, "+15550105678"}


async def test_max_duration_hangs_up_and_reports_timeout(network: Sandbox) -> None:
    tool = phone_tool(network, max_duration_sec=2)
    try:
        async with asyncio.timeout(30):
            result = await tool.execute({"to": PERSON})
    finally:
        await tool.stop()
    assert result.status == "timeout"
    assert result.duration_seconds < 5


async def test_refusals_and_bad_arguments_raise_and_the_hermes_handler_reports_them(
    network: Sandbox,
) -> None:
    tool = phone_tool(network)
    try:
        with pytest.raises(PolicyError) as refused:
            await tool.execute({"to": "+442071234567"})
        assert refused.value.rule == "allowlist"
        with pytest.raises(InputValidationError, match="unknown argument"):
            await tool.execute({"to": PERSON, "callback": "x"})
        with pytest.raises(InputValidationError):
            await tool.execute({"to": PERSON, "max_duration_sec": 4000})
        handler = tool.hermes_handler()
        answer = json.loads(await handler({"to": "not a number"}))
        assert set(answer) == {"error"} and "E.164" in answer["error"]
    finally:
        await tool.stop()
    assert network.twilio.calls == []


def test_schemas_for_each_framework_share_one_argument_schema() -> None:
    tool = PatterTool(
        service=_unstarted_service(), name="call_customer", description="Call a customer."
    )
    openai_tool = tool.openai_schema()
    anthropic_tool = tool.anthropic_schema()
    hermes_tool = tool.hermes_schema()
    assert openai_tool["type"] == "function"
    assert openai_tool["function"]["name"] == "call_customer"
    parameters = openai_tool["function"]["parameters"]
    assert parameters == anthropic_tool["input_schema"] == hermes_tool["parameters"]
    assert parameters["required"] == ["to"]
    assert set(parameters["properties"]) == {"to", "goal", "first_message", "max_duration_sec"}
    assert parameters["properties"]["max_duration_sec"]["maximum"] == 1800
    # The number's pattern takes ASCII digits only, whichever regex engine checks it.
    pattern = re.compile(parameters["properties"]["to"]["pattern"])
    assert pattern.fullmatch("+15550101234")
    for other_digits in ("０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩"):
        written = "+1" + "5550101234".translate(str.maketrans("0123456789", other_digits))
        assert pattern.fullmatch(written) is None
    assert anthropic_tool["name"] == hermes_tool["name"] == "call_customer"
    assert PatterTool(service=_unstarted_service()).name == "make_phone_call"


def test_register_hermes_registers_an_async_json_handler() -> None:
    class Registry:
        def __init__(self) -> None:
            self.tools: dict[str, dict] = {}

        def register(self, name, toolset, schema, handler, check_fn=None, is_async=False):
            self.tools[name] = {"toolset": toolset, "schema": schema, "is_async": is_async}

    registry = Registry()
    PatterTool(service=_unstarted_service()).register_hermes(registry)
    entry = registry.tools["make_phone_call"]
    assert entry["toolset"] == "patter" and entry["is_async"] is True
    assert entry["schema"]["parameters"]["required"] == ["to"]


@pytest.mark.parametrize(
    "options",
    [
        {"recording": True},
        {"policy": SafetyPolicy(allowed_prefixes=("+1555",))},
        {"port": 9000},
        {"host": "127.0.0.1"},
    ],
)
def test_options_a_shared_service_already_has_are_refused(options) -> None:
    with pytest.raises(getpatter.ConfigError, match="pass them to CallService"):
        PatterTool(service=_unstarted_service(), **options)


def _unstarted_service():
    from getpatter.control import CallService

    return CallService.sandbox()
