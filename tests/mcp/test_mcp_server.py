"""The Patter MCP server through the official in-process ``mcp.Client``, in both protocol eras.

``legacy`` is the 2025-11-25 initialize handshake; ``auto`` negotiates 2026-07-28. Calls run on
the sandbox at 15 ms a character (about five seconds each); the services are shared by the
module, so every test uses its own numbers and client_refs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ResourceUpdatedNotification, TextContent

from getpatter.control import AuditLog, CallService, SafetyPolicy
from getpatter.errors import ConfigError, InputValidationError
from getpatter_mcp import build_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

ERAS = pytest.mark.parametrize("era", ["legacy", "auto"])
FAST = 15  # ms of simulated speech per character
TOOLS = {
    "make_call",
    "plan_call",
    "confirm_call",
    "get_call",
    "wait_for_call",
    "list_calls",
    "get_policy",
    "hangup_call",
    "transfer_call",
    "send_dtmf",
    "say",
    "instruct",
}


def number(era: str, line: int) -> str:
    """A sandbox number that answers, different for each test and era."""
    return f"+1555010{line:02d}{0 if era == 'legacy' else 1}1"


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> Any:
    service = CallService.sandbox(
        policy=SafetyPolicy(max_concurrent_calls=20, max_calls_per_day=500), ms_per_char=FAST
    )
    await service.start()
    yield service
    await service.aclose()


@pytest.fixture(scope="module")
def server(service: CallService) -> Any:
    return build_server(service)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def confirming() -> Any:
    """A service whose policy wants a person to confirm every call."""
    service = CallService.sandbox(
        policy=SafetyPolicy(require_confirmation=True, max_concurrent_calls=20), ms_per_char=FAST
    )
    await service.start()
    yield service
    await service.aclose()


def dialed(service: CallService, to: str) -> int:
    return sum(1 for call in service.line.sandbox.twilio.calls if call.to == to)


async def connected(service: CallService, call_id: str) -> None:
    """Wait until the callee has heard the agent's greeting (the call is live)."""
    simulated = service.line.sandbox.twilio.get_call(call_id)
    await simulated.wait_until(lambda call: call.heard_ms > 200)


@ERAS
async def test_tools_are_listed_with_output_schemas_and_safety_hints(server, era) -> None:
    async with asyncio.timeout(10), Client(server, mode=era) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert all(tool.output_schema is not None for tool in tools.values())
    make_call = tools["make_call"]
    assert make_call.input_schema["required"] == ["to"]
    # The confirmation resolver and the context are the server's business, not the model's.
    assert "confirmation" not in make_call.input_schema["properties"]
    assert "ctx" not in make_call.input_schema["properties"]
    assert make_call.output_schema is not None
    assert {"call_id", "mode", "status", "transcript"} <= set(make_call.output_schema["properties"])
    for name in ("make_call", "hangup_call", "transfer_call", "send_dtmf", "say"):
        hints = tools[name].annotations
        assert hints is not None and hints.destructive_hint and hints.open_world_hint, name
    for name in ("get_call", "list_calls", "wait_for_call"):
        hints = tools[name].annotations
        assert hints is not None and hints.read_only_hint, name


@ERAS
async def test_make_call_returns_both_sides_of_the_transcript_and_reports_progress(
    server, era
) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    arguments = {"to": number(era, 1), "goal": "Confirm Friday's delivery", "wait_seconds": 20}
    async with asyncio.timeout(30), Client(server, mode=era) as client:
        result = await client.call_tool("make_call", arguments, progress_callback=on_progress)
    assert not result.is_error, text(result)
    call = result.structured_content
    assert call is not None
    assert call["mode"] == "sandbox" and call["status"] == "completed"
    assert call["to"] == number(era, 1) and call["from"]
    roles = {line["role"] for line in call["transcript"]}
    assert roles == {"agent", "user"}
    messages = [message for _, message in progress]
    assert messages[0] == "ringing" and messages[-1] == "completed"
    assert any(m and m.startswith("agent: Hi, this is an AI assistant") for m in messages)
    assert any(m and m.startswith("user: ") for m in messages)
    values = [value for value, _ in progress]
    assert values == sorted(set(values))


@ERAS
async def test_a_call_longer_than_the_wait_bound_is_followed_with_wait_for_call(
    service, era
) -> None:
    server = build_server(service, wait_seconds=1.0, progress_every=0.5)
    async with asyncio.timeout(30), Client(server, mode=era) as client:
        placed = await client.call_tool("make_call", {"to": number(era, 11), "wait_seconds": 40})
        call = placed.structured_content
        assert call is not None and call["status"] in ("ringing", "in-progress"), call
        rounds = 0
        while call["status"] in ("ringing", "in-progress"):
            rounds += 1
            waited = await client.call_tool(
                "wait_for_call", {"call_id": call["call_id"], "timeout_seconds": 40}
            )
            call = waited.structured_content
            assert call is not None
        fetched = await client.call_tool("get_call", {"call_id": call["call_id"]})
    # Each wait returned at the server's 1 s bound, so following the call took several rounds.
    assert rounds > 1
    assert call["status"] == "completed"
    assert {line["role"] for line in call["transcript"]} == {"agent", "user"}
    assert fetched.structured_content == call


async def test_build_server_rejects_what_cannot_work(service) -> None:
    with pytest.raises(ConfigError, match="CallService"):
        build_server(object())  # type: ignore[arg-type]
    with pytest.raises(InputValidationError, match="progress_every"):
        build_server(service, progress_every=0)
    with pytest.raises(InputValidationError, match="wait_seconds"):
        build_server(service, wait_seconds=-1)


@ERAS
async def test_cancelling_make_call_hangs_the_call_up(server, service, era) -> None:
    ref = f"cancel-{era}"
    arguments = {"to": number(era, 2), "wait_seconds": 20, "client_ref": ref}
    async with asyncio.timeout(30):
        async with Client(server, mode=era) as client:
            with pytest.raises(MCPError):
                await client.call_tool("make_call", arguments, read_timeout_seconds=1.5)
        record = service.find_by_ref(ref)
        assert record is not None
        record = await service.wait(record.call_id, 15)
    assert record.ended
    # The app hung up (at 1.5 s), not the callee at the end of its script.
    assert service.line.sandbox.twilio.get_call(record.call_id).hangup_by == "app"


@ERAS
async def test_a_retry_with_the_same_client_ref_returns_the_first_call(
    server, service, era
) -> None:
    arguments = {"to": number(era, 3), "client_ref": f"retry-{era}", "wait_seconds": 0}
    async with asyncio.timeout(10), Client(server, mode=era) as client:
        first = await client.call_tool("make_call", arguments)
        again = await client.call_tool("make_call", arguments)
    assert first.structured_content is not None and again.structured_content is not None
    assert again.structured_content["call_id"] == first.structured_content["call_id"]
    assert again.structured_content["client_ref"] == f"retry-{era}"
    assert dialed(service, number(era, 3)) == 1


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def strict() -> Any:
    """A service that calls only +1555 numbers and has already spent its $1 for today."""
    audit = AuditLog()
    await audit.record("call_ended", {}, "ok", call_id="CAx", cost_usd=5.0)
    policy = SafetyPolicy(allowed_prefixes=("+1555",), max_spend_per_day_usd=1.0)
    service = CallService.sandbox(policy=policy, audit=audit, ms_per_char=FAST)
    yield service
    await service.aclose()


@ERAS
async def test_the_policy_refuses_numbers_off_the_allowlist_and_calls_over_the_spend_cap(
    strict, era
) -> None:
    async with asyncio.timeout(10), Client(build_server(strict), mode=era) as client:
        abroad = await client.call_tool("make_call", {"to": "+442071234567"})
        over_budget = await client.call_tool("make_call", {"to": number(era, 4)})
    assert abroad.is_error and "Refused by rule 'allowlist': " in text(abroad)
    assert "PATTER_ALLOWED_PREFIXES" in text(abroad)
    assert over_budget.is_error and "Refused by rule 'daily_spend': " in text(over_budget)
    assert strict.line.sandbox.twilio.calls == []
    refusals = [(e.tool, e.rule, e.client) for e in await strict.audit.entries(limit=2)]
    assert ("make_call", "allowlist", "mcp") in refusals
    assert ("make_call", "daily_spend", "mcp") in refusals


@ERAS
async def test_calls_are_readable_as_resources(server, service, era) -> None:
    record = await service.place_call(number(era, 5))
    async with asyncio.timeout(10), Client(server, mode=era) as client:
        templates = await client.list_resource_templates()
        listed = await client.read_resource("patter://calls")
        one = await client.read_resource(f"patter://calls/{record.call_id}")
        with pytest.raises(MCPError):
            await client.read_resource("patter://calls/CAnosuchcall")
    assert [t.uri_template for t in templates.resource_templates] == ["patter://calls/{call_id}"]
    calls = json.loads(listed.contents[0].text)  # type: ignore[union-attr]
    summary = next(c for c in calls if c["call_id"] == record.call_id)
    assert summary["direction"] == "outbound" and summary["to"] == number(era, 5)
    assert set(summary) == {"call_id", "status", "direction", "to", "from", "created_at"}
    envelope = json.loads(one.contents[0].text)  # type: ignore[union-attr]
    assert envelope["call_id"] == record.call_id and envelope["mode"] == "sandbox"
    assert "transcript" in envelope


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_subscribers_hear_of_every_call_change_in_the_handshake_era(server, service) -> None:
    updated: list[str] = []
    news = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updated.append(message.params.uri)
            news.set()

    async with asyncio.timeout(20):
        async with Client(server, mode="legacy", message_handler=on_message) as client:
            resources = client.server_capabilities.resources
            assert resources is not None and resources.subscribe
            await client.subscribe_resource("patter://calls")
            record = await service.place_call(number("legacy", 6))
            await client.subscribe_resource(f"patter://calls/{record.call_id}")
            while f"patter://calls/{record.call_id}" not in updated:
                news.clear()
                await news.wait()
    assert "patter://calls" in updated


async def test_listeners_hear_of_every_call_change_in_the_2026_era(server, service) -> None:
    async with asyncio.timeout(20), Client(server) as client:
        record = await service.place_call(number("auto", 6))
        uri = f"patter://calls/{record.call_id}"
        async with client.listen(resource_subscriptions=[uri, "patter://calls"]) as events:
            seen: set[str] = set()
            async for event in events:
                seen.add(event.uri)
                if seen == {uri, "patter://calls"}:
                    break


async def test_an_inbound_call_the_agent_answers_appears_in_list_calls(server, service) -> None:
    async with asyncio.timeout(20):
        inbound = await service.line.sandbox.call_in()
        for era in ("legacy", "auto"):
            async with Client(server, mode=era) as client:
                while True:
                    result = await client.call_tool("list_calls", {"active_only": True})
                    listed = result.structured_content
                    assert listed is not None
                    ids = [c["call_id"] for c in listed["calls"] if c["direction"] == "inbound"]
                    if inbound.call_id in ids:
                        break
                    await asyncio.sleep(0.05)
            assert listed["mode"] == "sandbox" and listed["count"] == len(listed["calls"])


# Confirmation by a person (elicitation, the confirmation page): test_mcp_confirmation.py


@ERAS
async def test_keys_pressed_with_send_dtmf_reach_the_callee(server, service, era) -> None:
    async with asyncio.timeout(20), Client(server, mode=era) as client:
        placed = await client.call_tool("make_call", {"to": number(era, 10), "wait_seconds": 0})
        assert placed.structured_content is not None
        call_id = placed.structured_content["call_id"]
        await connected(service, call_id)
        pressed = await client.call_tool("send_dtmf", {"call_id": call_id, "digits": "12#"})
        simulated = service.line.sandbox.twilio.get_call(call_id)
        await simulated.wait_until(lambda call: call.dtmf_heard == "12#")
        ended = await client.call_tool("hangup_call", {"call_id": call_id})
        await service.wait(call_id, 10)
        unknown = await client.call_tool("get_call", {"call_id": "CAnosuchcall"})
    assert (
        pressed.structured_content is not None and pressed.structured_content["keys_sent"] == "12#"
    )
    assert not ended.is_error and simulated.hangup_by == "app"
    assert unknown.is_error and "no call 'CAnosuchcall'" in text(unknown)
