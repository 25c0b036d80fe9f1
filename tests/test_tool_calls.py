"""Running tools: handlers and webhooks, with their limits, retries and errors (spec 05)."""

import asyncio
import json
import socket
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from getpatter import tool
from getpatter.server.background import BackgroundServer
from getpatter.tool_calls import DefaultToolExecutor
from getpatter.tools import normalize_tools

CONTEXT = {"call_id": "CA1", "caller": "+15550000001", "callee": "+15550000002"}


class ToolServer:
    """A loopback webhook endpoint that answers from a script and records each POST."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        self.client_ports = []
        self.app = Starlette(routes=[Route("/tool", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        self.requests.append(await request.json())
        assert request.client is not None
        self.client_ports.append(request.client.port)
        answer = self.answers.pop(0) if self.answers else (200, {"ok": True})
        status, body = answer
        if isinstance(body, bytes | str):
            return PlainTextResponse(body, status_code=status)
        return JSONResponse(body, status_code=status)

    async def __aenter__(self):
        self.server = BackgroundServer(self.app)
        async with asyncio.timeout(10):
            self.url = f"http://127.0.0.1:{await self.server.start()}/tool"
        return self

    async def __aexit__(self, *exc):
        await self.server.stop()


def runner(url, **kwargs):
    return DefaultToolExecutor(
        normalize_tools([{"name": "lookup", "webhook_url": url}]), retry_delay=0.01, **kwargs
    )


async def test_webhook_gets_the_documented_body_and_its_json_becomes_the_result():
    async with ToolServer([(200, {"price": 80})]) as server:
        result = await runner(server.url).run("lookup", '{"item": "cleaning"}', CONTEXT)
    assert json.loads(result) == {"price": 80}
    assert server.requests == [
        {
            "tool": "lookup",
            "arguments": {"item": "cleaning"},
            "call_id": "CA1",
            "caller": "+15550000001",
            "callee": "+15550000002",
            "attempt": 1,
        }
    ]


async def test_webhook_retries_twice_then_gives_the_model_an_error():
    async with ToolServer([(500, {}), (503, {}), (200, "plain text answer")]) as server:
        result = await runner(server.url).run("lookup", "{}", CONTEXT)
    assert [r["attempt"] for r in server.requests] == [1, 2, 3]
    assert result == "plain text answer"
    assert len(set(server.client_ports)) == 1, "retries reuse the keep-alive connection"
    async with ToolServer([(500, {})] * 3) as server:
        result = await runner(server.url).run("lookup", "{}", CONTEXT)
    assert len(server.requests) == 3
    assert json.loads(result) == {"error": "the tool's server answered HTTP 500"}


async def test_webhook_answer_over_one_megabyte_is_refused_without_retry():
    async with ToolServer([(200, "x" * (1024 * 1024 + 1))]) as server:
        result = await runner(server.url).run("lookup", "{}", CONTEXT)
    assert len(server.requests) == 1
    assert "larger than 1 MB" in json.loads(result)["error"]


async def test_unreachable_webhook_is_an_error_for_the_model():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    result = await runner(f"http://127.0.0.1:{port}/tool").run("lookup", "{}", CONTEXT)
    assert "could not be reached" in json.loads(result)["error"]


async def test_handlers_sync_async_failing_and_slow():
    def blocking(arguments, context):
        time.sleep(0.05)  # runs in a thread: the event loop stays free
        return {"seen": arguments["x"], "call": context["call_id"]}

    async def failing(arguments, context):
        raise RuntimeError("database down")

    async def slow(arguments, context):
        await asyncio.sleep(5)

    @tool
    def typed(x: int) -> str:
        """Typed."""
        return str(x * 2)

    tools = normalize_tools(
        [
            {"name": "blocking", "handler": blocking},
            {"name": "failing", "handler": failing},
            {"name": "slow", "handler": slow},
            typed,
        ]
    )
    run = DefaultToolExecutor(tools, handler_timeout=0.2).run
    assert json.loads(await run("blocking", '{"x": 1}', CONTEXT)) == {"seen": 1, "call": "CA1"}
    assert json.loads(await run("failing", "{}", CONTEXT)) == {
        "error": "the tool failed: RuntimeError"
    }
    assert (
        "did not answer within 0.2 seconds" in json.loads(await run("slow", "{}", CONTEXT))["error"]
    )
    assert await run("typed", '{"x": 21}', CONTEXT) == "42"


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("missing", "{}", "there is no tool named 'missing'"),
        ("typed", "not json", "not valid JSON"),
        ("typed", "[1]", "JSON object"),
    ],
)
async def test_bad_calls_from_the_model_become_errors(name, arguments, error):
    @tool
    def typed(x: int) -> str:
        """Typed."""
        return str(x)

    result = await DefaultToolExecutor(normalize_tools([typed])).run(name, arguments, CONTEXT)
    assert error in json.loads(result)["error"]


async def test_the_default_executor_takes_what_agent_takes_and_parsed_arguments() -> None:
    from getpatter import DefaultToolExecutor, tool

    @tool
    async def weather(city: str) -> str:
        """The weather.

        Args:
            city: Where.
        """
        return f"sunny in {city}"

    executor = DefaultToolExecutor([weather])
    assert [d["name"] for d in executor.declarations()] == ["weather"]
    assert await executor.run("weather", {"city": "Rome"}) == "sunny in Rome"
    assert await executor.run("weather", '{"city": "Oslo"}', {"call_id": "c1"}) == "sunny in Oslo"
    assert "no tool named 'rain'" in await executor.run("rain", {})
