"""The fake LLM servers on the wire: raw HTTP requests, checked against the providers' formats."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from getpatter.testing.fake_llm import FakeAnthropicServer, FakeOpenAIServer
from getpatter.testing.scenario import Reply, Scenario

SCENARIO = Scenario(replies=(Reply("Hi there, friend."),))
OPENAI_BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hello?"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}
ANTHROPIC_BODY = {
    "model": "claude-haiku-4-5-20251001",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Hello?"}],
    "stream": True,
}
ANTHROPIC_HEADERS = {"x-api-key": "k-CANARY", "anthropic-version": "2026-10-21"}


async def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    async with asyncio.timeout(10), httpx.AsyncClient() as client:
        return await client.post(url, json=body, headers=headers)


def sse_data(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


async def test_openai_stream_shape() -> None:
    async with FakeOpenAIServer(SCENARIO) as fake:
        response = await post(
            fake.base_url + "/chat/completions", OPENAI_BODY, {"Authorization": "Bearer k-CANARY"}
        )

    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    words = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert "".join(words) == "Hi there, friend." and len(words) == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


async def test_openai_refusals_carry_openai_error_bodies() -> None:
    async with FakeOpenAIServer(SCENARIO) as fake:
        url = fake.base_url + "/chat/completions"
        unauthorized = await post(url, OPENAI_BODY, {})
        fake.fail_next(429, times=2)
        limited = [await post(url, OPENAI_BODY, {"Authorization": "Bearer k-CANARY"}) for _ in "ab"]
        served = await post(url, OPENAI_BODY, {"Authorization": "Bearer k-CANARY"})

    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"
    assert [r.status_code for r in limited] == [429, 429]
    assert limited[0].headers["retry-after"] == "1"
    assert served.status_code == 200
    assert [r.failed for r in fake.requests] == [True, True, True, False]


async def test_anthropic_stream_shape_and_required_fields() -> None:
    async with FakeAnthropicServer(SCENARIO) as fake:
        url = fake.base_url + "/v1/messages"
        response = await post(url, ANTHROPIC_BODY, ANTHROPIC_HEADERS)
        no_max = await post(
            url, {k: v for k, v in ANTHROPIC_BODY.items() if k != "max_tokens"}, ANTHROPIC_HEADERS
        )
        sampled = await post(url, {**ANTHROPIC_BODY, "temperature": 1.0}, ANTHROPIC_HEADERS)

    events = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    deltas = [json.loads(d) for d in sse_data(response)]
    words = [d["delta"]["text"] for d in deltas if d["type"] == "content_block_delta"]
    assert "".join(words) == "Hi there, friend."
    assert no_max.status_code == 400
    assert no_max.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    assert sampled.status_code == 400 and "temperature" in sampled.json()["error"]["message"]


async def test_stall_delays_the_first_token() -> None:
    async with FakeOpenAIServer(SCENARIO) as fake:
        fake.stall_next(0.2)
        await post(
            fake.base_url + "/chat/completions", OPENAI_BODY, {"Authorization": "Bearer k-CANARY"}
        )

    (request,) = fake.requests
    assert request.completed and request.time_to_first_token is not None
    assert request.time_to_first_token > 0.1
