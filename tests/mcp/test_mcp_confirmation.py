"""A person, not the model, confirms calls: the MCP server through the official in-process client.

``legacy`` is the 2025-11-25 handshake (elicitation is a request while the tool runs); ``auto``
negotiates 2026-07-28 (the tool returns an ``InputRequiredResult`` that the client answers and
retries). The person's browser is httpx driving the confirmation page. A client without
elicitation is the model on its own: it has only the tools.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import person_answers, stdio_params
from mcp import Client
from mcp.types import (
    CallToolResult,
    ElicitationCapability,
    ElicitCompleteNotification,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    TextContent,
    UrlElicitationCapability,
)

from getpatter.control import CallService, SafetyPolicy
from getpatter_mcp import build_server

ERAS = pytest.mark.parametrize("era", ["legacy", "auto"])
FAST = 15


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def confirming() -> CallService:
    return CallService.sandbox(
        policy=SafetyPolicy(require_confirmation=True, max_concurrent_calls=20), ms_per_char=FAST
    )


def dialed(service: CallService) -> list[str]:
    return [call.to for call in service.line.sandbox.twilio.calls]


class UrlOnlyClient(Client):
    """The official client, declaring URL-mode elicitation only: a host that can show the person
    a link but cannot render forms. (The SDK declares both modes whenever a callback is given.)"""

    async def _build_session(self, exit_stack: Any) -> Any:
        session = await super()._build_session(exit_stack)
        declared = session._build_capabilities

        def url_only(version: str) -> Any:
            return declared(version).model_copy(
                update={"elicitation": ElicitationCapability(url=UrlElicitationCapability())}
            )

        session._build_capabilities = url_only
        return session


Elicit = Callable[[Any, Any], Awaitable[ElicitResult]]


@ERAS
async def test_the_model_alone_cannot_confirm_a_call_with_only_the_tools(era) -> None:
    async with asyncio.timeout(40), confirming() as service:
        async with Client(build_server(service), mode=era) as model:
            refused = await model.call_tool("make_call", {"to": "+15550101234", "goal": "Hi"})
            planned = await model.call_tool("plan_call", {"to": "+15550101234", "goal": "Hi"})
            receipt = planned.structured_content
            assert receipt is not None and not planned.is_error
            attempts = [
                await model.call_tool("confirm_call", {"token": receipt["token"]}) for _ in range(3)
            ]
            tools = {tool.name: tool for tool in (await model.list_tools()).tools}
        # The model has the token and every tool, and still dials nobody.
        for attempt in attempts:
            assert attempt.is_error and "No person has confirmed" in text(attempt)
        assert dialed(service) == []
        assert refused.is_error and "Refused by rule 'confirmation'" in text(refused)
        # It is told where the person confirms, and that it cannot.
        assert receipt["needs_person"] is True
        assert receipt["confirm_url"].startswith("http://127.0.0.1:")
        assert all(receipt["confirm_url"] in text(attempt) for attempt in attempts)
        assert "You cannot confirm" in receipt["next_step"]
        # confirm_call takes nothing but the token: no secret the model could pass.
        assert set(tools["confirm_call"].input_schema["properties"]) == {"token", "wait_seconds"}
        entries = [(e.tool, e.outcome, e.rule) for e in await service.audit.entries()]
        assert entries.count(("confirm_call", "refused", "confirmation")) == 3


@ERAS
async def test_once_the_person_confirms_on_the_page_confirm_call_dials(era) -> None:
    async with asyncio.timeout(40), confirming() as service:
        async with Client(build_server(service), mode=era) as model:
            planned = await model.call_tool(
                "plan_call", {"to": "+4402071234567", "goal": "Book a table"}
            )
            receipt = planned.structured_content
            assert receipt is not None and receipt["to"] == "+442071234567"
            assert await person_answers(receipt["confirm_url"], "confirm") == 200
            placed = await model.call_tool(
                "confirm_call", {"token": receipt["token"], "wait_seconds": 0}
            )
            again = await model.call_tool("confirm_call", {"token": receipt["token"]})
        assert not placed.is_error, text(placed)
        assert placed.structured_content is not None
        assert placed.structured_content["to"] == "+442071234567"
        assert again.is_error and "plan_call again" in text(again)
        assert dialed(service) == ["+442071234567"]


@ERAS
async def test_a_refusal_on_the_page_voids_the_plan(era) -> None:
    async with asyncio.timeout(40), confirming() as service:
        async with Client(build_server(service), mode=era) as model:
            planned = await model.call_tool("plan_call", {"to": "+15550101234"})
            receipt = planned.structured_content
            assert receipt is not None
            assert await person_answers(receipt["confirm_url"], "refuse") == 200
            placed = await model.call_tool("confirm_call", {"token": receipt["token"]})
        assert placed.is_error and "void" in text(placed) and "refused" in text(placed)
        assert dialed(service) == [] and service.plans.waiting() == []


async def form_answers(answers: list[str]) -> tuple[Elicit, list[Any]]:
    asked: list[Any] = []

    async def on_elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params)
        answer = answers.pop(0)
        if answer == "accept":
            return ElicitResult(action="accept", content={"confirm": True})
        if answer == "untick":
            return ElicitResult(action="accept", content={"confirm": False})
        return ElicitResult(action=answer)  # type: ignore[arg-type]

    return on_elicit, asked


@ERAS
async def test_a_client_with_forms_asks_the_person_once_and_leaves_no_plan_behind(era) -> None:
    async with asyncio.timeout(40), confirming() as service:
        on_elicit, asked = await form_answers(["accept"])
        async with Client(build_server(service), mode=era, elicitation_callback=on_elicit) as c:
            placed = await c.call_tool(
                "make_call",
                {"to": "+15550101234", "goal": "Book a table", "wait_seconds": 0},
            )
            premium = await c.call_tool("make_call", {"to": "+19005550123"})
        assert not placed.is_error, text(placed)
        assert len(asked) == 1 and isinstance(asked[0], ElicitRequestFormParams)
        assert "+15550101234" in asked[0].message and "Goal: Book a table" in asked[0].message
        # The policy refuses a premium number before anyone is asked.
        assert premium.is_error and "Refused by rule 'premium'" in text(premium)
        assert dialed(service) == ["+15550101234"]
        # Every round of the 2026 flow ran the tool again; none of them left a plan waiting.
        assert service.plans.waiting() == []


@ERAS
@pytest.mark.parametrize("answer", ["decline", "cancel", "untick"])
async def test_a_declined_or_dismissed_form_leaves_nothing_to_confirm(era, answer) -> None:
    async with asyncio.timeout(40), confirming() as service:
        on_elicit, _ = await form_answers([answer])
        async with Client(build_server(service), mode=era, elicitation_callback=on_elicit) as c:
            made = await c.call_tool("make_call", {"to": "+15550101234"})
        async with Client(build_server(service), mode=era) as model:
            # Whatever the model tries next, nothing is waiting to be confirmed.
            listed = await model.call_tool("list_calls", {})
        assert made.is_error and "nothing was dialed" in text(made)
        assert ("dismissed" if answer == "cancel" else "declined") in text(made)
        assert service.plans.waiting() == [] and dialed(service) == []
        assert listed.structured_content is not None and listed.structured_content["count"] == 0
        latest = (await service.audit.entries(limit=1))[0]
        assert (latest.tool, latest.outcome, latest.rule) == (
            "make_call",
            "refused",
            "confirmation",
        )


@ERAS
async def test_confirm_call_asks_the_person_through_a_form_and_a_decline_voids(era) -> None:
    async with asyncio.timeout(40), confirming() as service:
        on_elicit, asked = await form_answers(["decline", "accept"])
        async with Client(build_server(service), mode=era, elicitation_callback=on_elicit) as c:
            first = (await c.call_tool("plan_call", {"to": "+15550101234"})).structured_content
            second = (await c.call_tool("plan_call", {"to": "+15550105678"})).structured_content
            assert first is not None and second is not None
            declined = await c.call_tool("confirm_call", {"token": first["token"]})
            retried = await c.call_tool("confirm_call", {"token": first["token"]})
            placed = await c.call_tool(
                "confirm_call", {"token": second["token"], "wait_seconds": 0}
            )
        assert declined.is_error and "declined" in text(declined)
        assert retried.is_error and "void" in text(retried)
        assert not placed.is_error, text(placed)
        assert len(asked) == 2 and dialed(service) == ["+15550105678"]


@ERAS
async def test_a_url_only_client_sends_the_person_to_the_page_and_the_call_waits_for_them(
    era,
) -> None:
    async with asyncio.timeout(40), confirming() as service:
        asked: list[ElicitRequestURLParams] = []
        completed: list[str] = []
        pressed: list[asyncio.Task[int]] = []

        async def on_elicit(context: Any, params: Any) -> ElicitResult:
            asked.append(params)
            # The client shows the link; the person opens it and confirms a moment later.
            pressed.append(asyncio.create_task(person_answers(params.url, "confirm")))
            return ElicitResult(action="accept")

        async def on_message(message: Any) -> None:
            if isinstance(message, ElicitCompleteNotification):
                completed.append(message.params.elicitation_id)

        async with UrlOnlyClient(
            build_server(service),
            mode=era,
            elicitation_callback=on_elicit,
            message_handler=on_message,
        ) as client:
            placed = await client.call_tool(
                "make_call", {"to": "+15550101234", "goal": "Book a table", "wait_seconds": 0}
            )
        assert not placed.is_error, text(placed)
        assert len(asked) == 1 and isinstance(asked[0], ElicitRequestURLParams)
        assert asked[0].url.startswith("http://127.0.0.1:") and "+15550101234" in asked[0].message
        assert [await task for task in pressed] == [200]
        assert dialed(service) == ["+15550101234"] and service.plans.waiting() == []
        if era == "legacy":
            # The handshake era tells the client the page was answered.
            assert completed == [asked[0].elicitation_id]


@ERAS
@pytest.mark.parametrize("outcome", ["decline", "cancel", "refused on the page"])
async def test_a_url_only_client_whose_person_says_no_dials_nobody(era, outcome) -> None:
    async with asyncio.timeout(40), confirming() as service:

        async def on_elicit(context: Any, params: Any) -> ElicitResult:
            if outcome == "refused on the page":
                assert await person_answers(params.url, "refuse") == 200
                return ElicitResult(action="accept")
            return ElicitResult(action=outcome)  # type: ignore[arg-type]

        async with UrlOnlyClient(
            build_server(service), mode=era, elicitation_callback=on_elicit
        ) as c:
            made = await c.call_tool("make_call", {"to": "+15550101234"})
        assert made.is_error and "nothing was dialed" in text(made)
        assert dialed(service) == [] and service.plans.waiting() == []


@ERAS
async def test_a_person_slower_than_the_wait_can_confirm_later(era) -> None:
    async with asyncio.timeout(40), confirming() as service:
        urls: list[str] = []

        async def on_elicit(context: Any, params: Any) -> ElicitResult:
            urls.append(params.url)
            return ElicitResult(action="accept")  # the person opens the page... and waits

        server = build_server(service, wait_seconds=0.2)
        async with UrlOnlyClient(server, mode=era, elicitation_callback=on_elicit) as client:
            made = await client.call_tool("make_call", {"to": "+15550101234"})
            assert made.is_error and "not answered" in text(made) and dialed(service) == []
            token = re.search(r"token (\S+)\.$", text(made))
            assert token, text(made)
            # Still unanswered: confirm_call asks again (the same page) and dials nothing.
            early = await client.call_tool("confirm_call", {"token": token.group(1)})
            assert early.is_error and "not answered" in text(early)
            assert urls[1] == urls[0] and dialed(service) == []
            assert await person_answers(urls[0], "confirm") == 200
            placed = await client.call_tool(
                "confirm_call", {"token": token.group(1), "wait_seconds": 0}
            )
        assert not placed.is_error, text(placed)
        assert dialed(service) == ["+15550101234"]


async def test_over_stdio_the_page_of_the_server_process_confirms_the_call() -> None:
    # The real command, as Claude Desktop starts it, with the page on a chosen port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = stdio_params(PATTER_REQUIRE_CONFIRMATION="true")
    params.args = [*params.args, "--confirm-port", str(port)]
    async with asyncio.timeout(60), Client(params, mode="auto") as model:
        planned = await model.call_tool("plan_call", {"to": "+15550101234", "goal": "Say hi"})
        receipt = planned.structured_content
        assert receipt is not None, text(planned)
        assert receipt["confirm_url"].startswith(f"http://127.0.0.1:{port}/confirm-call/")
        early = await model.call_tool("confirm_call", {"token": receipt["token"]})
        assert early.is_error and "No person has confirmed" in text(early)
        assert await person_answers(receipt["confirm_url"], "confirm") == 200
        placed = await model.call_tool("confirm_call", {"token": receipt["token"]})
    assert not placed.is_error, text(placed)
    assert placed.structured_content is not None
    assert placed.structured_content["status"] == "completed"
    assert placed.structured_content["transcript"][0]["text"].startswith(
        "Hi, this is an AI assistant calling."
    )
