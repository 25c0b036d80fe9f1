"""One scenario through the official ``mcp.Client`` over each real transport, in both eras.

Each of stdio and streamable HTTP x ``legacy`` (the 2025-11-25 handshake) and ``auto``
(negotiates 2026-07-28) starts its own sandboxed server process that calls only +1555 numbers
and may spend $0.001 a day, then lists the tools, places a call with progress, abandons a second
call (which must be hung up), retries the first with its client_ref, reads the call resources,
and is refused by the spend cap and by the allowlist. The in-process client is covered by
test_mcp_server.py.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import http_client, serve_http, server_env, stdio_params
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import REQUEST_TIMEOUT, CallToolResult, TextContent, TextResourceContents

POLICY = {"PATTER_ALLOWED_PREFIXES": "+1555", "PATTER_MAX_SPEND_PER_DAY_USD": "0.001"}
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
COMPLETES = "+15550101234"  # sandbox numbers that answer, talk and hang up
ABANDONED = "+15550102345"
OVER_BUDGET = "+15550103456"
ABROAD = "+442071234567"  # a London number, off the +1555 allowlist


@asynccontextmanager
async def connected(transport: str, era: str, tmp_path: Path) -> AsyncIterator[Client]:
    """A client of a fresh server process; the process is stopped on exit."""
    if transport == "stdio":
        async with Client(stdio_params(**POLICY), mode=era) as client:
            yield client
        return
    token = secrets.token_urlsafe(24)
    with serve_http(token, tmp_path / "stderr.txt", server_env(**POLICY)) as server:
        async with (
            http_client(server.token) as authorized,
            Client(streamable_http_client(server.url, http_client=authorized), mode=era) as client,
        ):
            yield client


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def resource(client: Client, uri: str) -> Any:
    contents = (await client.read_resource(uri)).contents
    assert isinstance(contents[0], TextResourceContents)
    return json.loads(contents[0].text)


async def calls_to(client: Client, number: str) -> list[dict[str, Any]]:
    listed = structured(await client.call_tool("list_calls", {}))
    return [call for call in listed["calls"] if call["to"] == number]


async def scenario(client: Client) -> None:
    tools = await client.list_tools()
    assert {tool.name for tool in tools.tools} == TOOLS

    # The spend cap counts calls that have ended, and any call costs more than $0.001: both
    # calls must be dialed before either ends, so the second is placed while the first runs.
    messages: list[str | None] = []
    dialed = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)
        dialed.set()

    request = {"to": COMPLETES, "goal": "Confirm Friday's delivery", "client_ref": "order-42"}
    async with asyncio.TaskGroup() as running:  # a failed make_call interrupts the wait
        placing = running.create_task(
            client.call_tool("make_call", request, progress_callback=on_progress)
        )
        await dialed.wait()

        # The client gives up on this one (as Claude Desktop does at 60 s): the server hangs up.
        with pytest.raises(MCPError) as gave_up:
            await client.call_tool(
                "make_call", {"to": ABANDONED, "client_ref": "abandoned"}, read_timeout_seconds=1.5
            )
        assert gave_up.value.code == REQUEST_TIMEOUT
        [abandoned] = await calls_to(client, ABANDONED)
        ended = structured(
            await client.call_tool(
                "wait_for_call", {"call_id": abandoned["call_id"], "timeout_seconds": 10}
            )
        )
        assert ended["status"] not in ("queued", "ringing", "in-progress"), ended
        assert ended["ended_by"] == "agent", ended  # not the callee at the end of its script

    call = structured(placing.result())
    assert call["mode"] == "sandbox" and call["status"] == "completed", call
    assert {line["role"] for line in call["transcript"]} == {"agent", "user"}
    assert messages, "no progress notification arrived while the call ran"
    assert any(m and m.startswith("agent: ") for m in messages), messages

    again = structured(await client.call_tool("make_call", request))
    assert again["call_id"] == call["call_id"]
    assert len(await calls_to(client, COMPLETES)) == 1  # the retry dialed nobody

    listed = await resource(client, "patter://calls")
    assert {c["call_id"] for c in listed} == {call["call_id"], abandoned["call_id"]}
    envelope = await resource(client, f"patter://calls/{call['call_id']}")
    assert envelope["status"] == "completed"
    assert envelope["transcript"] == call["transcript"]
    assert envelope["cost_usd"] > 0.001  # what makes the next call exceed the daily cap

    over_budget = await client.call_tool("make_call", {"to": OVER_BUDGET})
    assert over_budget.is_error and "daily_spend" in text(over_budget), over_budget.content
    abroad = await client.call_tool("make_call", {"to": ABROAD})
    assert abroad.is_error and "allowlist" in text(abroad), abroad.content
    listed = await resource(client, "patter://calls")
    assert len(listed) == 2  # neither refused call was dialed


@pytest.mark.parametrize("era", ["legacy", "auto"])
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_scenario_runs_over_each_transport_in_each_era(
    transport: str, era: str, tmp_path: Path
) -> None:
    async with asyncio.timeout(50), connected(transport, era, tmp_path) as client:
        await scenario(client)
