"""The Groq and Cerebras fakes hold real exchanges with the vendors' official SDKs.

``groq.AsyncGroq`` and ``cerebras.cloud.sdk.AsyncCerebras`` stream a chat completion with a
tool call from the fakes and parse it with their own models, and parse a 429 into their own
``RateLimitError``: the fakes speak the protocol those SDKs were written for.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import cerebras.cloud.sdk as cerebras_sdk
import groq
import httpx
import msgpack  # type: ignore[import-untyped]
import pytest

from getpatter.testing.fake_llm import FakeCerebrasServer, FakeGroqServer
from getpatter.testing.scenario import Reply, Scenario, ToolCall

GROQ_KEY = "gsk_CANARY_0123456789"
CEREBRAS_KEY = "csk-CANARY-0123456789"
SCENARIO = Scenario(
    replies=(Reply("It is {result} in Rome.", tool_call=ToolCall("get_weather", {"city": "Rome"})),)
)
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
MESSAGES: list[Any] = [
    {"role": "system", "content": "You are a phone agent."},
    {"role": "user", "content": "What's the weather in Rome?"},
]


async def consume(stream: Any) -> tuple[dict[int, dict[str, str]], str, Any, list[Any]]:
    """The tool calls (by index), the text and the usage of a streamed completion."""
    calls: dict[int, dict[str, str]] = {}
    text, usage, chunks = "", None, []
    async with asyncio.timeout(10):
        async for chunk in stream:
            chunks.append(chunk)
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices or ():
                delta = choice.delta
                text += delta.content or ""
                for part in delta.tool_calls or ():
                    call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += part.id or ""
                    if part.function is not None:
                        call["name"] += part.function.name or ""
                        call["arguments"] += part.function.arguments or ""
    return calls, text, usage, chunks


async def test_groq_sdk_streams_a_tool_call_then_the_answer() -> None:
    async with FakeGroqServer(SCENARIO, api_key=GROQ_KEY) as fake:
        client = groq.AsyncGroq(api_key=GROQ_KEY, base_url=fake.root_url, max_retries=0)
        # groq 1.7's create() has no stream_options parameter; its chunk type documents the
        # usage chunk that {"include_usage": true} asks for, which GroqLLM sends.
        stream = await client.chat.completions.create(
            model="llama-3.3-70b-versatile",
            messages=MESSAGES,
            tools=TOOLS,
            stream=True,
            extra_body={"stream_options": {"include_usage": True}},
        )
        calls, text, usage, chunks = await consume(stream)
        (call,) = calls.values()
        follow_up = [
            *MESSAGES,
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
        ]
        answer = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=follow_up, stream=True
        )
        _, answer_text, _, _ = await consume(answer)
        await client.close()

    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Rome"}
    assert text == "" and usage is not None and usage.prompt_tokens > 0
    assert chunks[-1].x_groq is not None and chunks[-1].x_groq.usage == usage
    assert answer_text == "It is sunny in Rome."
    assert fake.requests[0].path == "/openai/v1/chat/completions"
    assert fake.requests[0].api_key == GROQ_KEY


async def test_cerebras_sdk_streams_a_tool_call_then_the_answer() -> None:
    async with FakeCerebrasServer(SCENARIO, api_key=CEREBRAS_KEY) as fake:
        client = cerebras_sdk.AsyncCerebras(
            api_key=CEREBRAS_KEY,
            base_url=fake.root_url,
            max_retries=0,
            warm_tcp_connection=False,
        )
        stream = await client.chat.completions.create(
            model="gpt-oss-120b",
            messages=MESSAGES,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
        calls, text, usage, chunks = await consume(stream)
        await client.close()

    (call,) = calls.values()
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Rome"}
    assert call["id"].startswith("call_")
    assert text == "" and usage is not None and usage.completion_tokens > 0
    assert chunks[-1].time_info is not None and chunks[-1].time_info.total_time > 0
    assert fake.requests[0].path == "/v1/chat/completions"


async def test_cerebras_sdk_connection_warm_up_is_answered() -> None:
    async with FakeCerebrasServer(SCENARIO, api_key=CEREBRAS_KEY) as fake:
        # The sync client warms its connection (GET /v1/tcp_warming) in its constructor;
        # from a thread, so that this loop keeps serving the fake.
        client = await asyncio.to_thread(
            cerebras_sdk.Cerebras, api_key=CEREBRAS_KEY, base_url=fake.root_url, max_retries=0
        )
        async with httpx.AsyncClient() as http:
            warm = await http.get(fake.root_url + "/v1/tcp_warming")
        client.close()

    assert warm.status_code == 200


@pytest.mark.parametrize("vendor", ["groq", "cerebras"])
async def test_sdks_parse_a_429_into_their_rate_limit_error(vendor: str) -> None:
    if vendor == "groq":
        server: FakeGroqServer | FakeCerebrasServer = FakeGroqServer(SCENARIO, api_key=GROQ_KEY)
    else:
        server = FakeCerebrasServer(SCENARIO, api_key=CEREBRAS_KEY)
    async with server as fake:
        if vendor == "groq":
            client: Any = groq.AsyncGroq(api_key=GROQ_KEY, base_url=fake.root_url, max_retries=0)
            error: type[Exception] = groq.RateLimitError
        else:
            client = cerebras_sdk.AsyncCerebras(
                api_key=CEREBRAS_KEY,
                base_url=fake.root_url,
                max_retries=0,
                warm_tcp_connection=False,
            )
            error = cerebras_sdk.RateLimitError
        fake.fail_next(429)
        with pytest.raises(error) as caught:
            await client.chat.completions.create(model="some-model", messages=MESSAGES, stream=True)
        await client.close()

    exc: Any = caught.value
    assert exc.status_code == 429
    headers = exc.response.headers
    if vendor == "groq":
        assert headers["retry-after"] == "1"
        assert headers["x-ratelimit-remaining-tokens"] == "0"
        assert exc.body["error"]["code"] == "rate_limit_exceeded"
    else:
        assert headers["x-ratelimit-remaining-tokens-minute"] == "0"
        assert float(headers["x-ratelimit-reset-tokens-minute"]) == 1.0
        assert exc.body["code"] == "token_quota_exceeded"
        assert exc.body["type"] == "too_many_tokens_error"


async def test_cerebras_fake_decodes_gzip_and_msgpack_bodies_and_refuses_bad_ones() -> None:
    body = {
        "model": "gpt-oss-120b",
        "messages": [{"role": "user", "content": "Hello?"}],
        "stream": True,
    }
    auth = {"Authorization": f"Bearer {CEREBRAS_KEY}"}
    async with FakeCerebrasServer(SCENARIO, api_key=CEREBRAS_KEY) as fake:
        url = fake.base_url + "/chat/completions"
        async with asyncio.timeout(10), httpx.AsyncClient() as http:
            both = await http.post(
                url,
                content=gzip.compress(msgpack.packb(body)),
                headers={
                    **auth,
                    "content-type": "application/vnd.msgpack",
                    "content-encoding": "gzip",
                },
            )
            broken = await http.post(
                url,
                content=b"not gzip",
                headers={**auth, "content-type": "application/json", "content-encoding": "gzip"},
            )
            unknown = await http.post(
                url,
                content=json.dumps(body).encode(),
                headers={**auth, "content-type": "application/json", "content-encoding": "br"},
            )

    assert both.status_code == 200 and fake.requests[0].body == body
    assert broken.status_code == 400 and unknown.status_code == 400
    assert broken.json()["type"] == "invalid_request_error"


async def test_cerebras_sdk_parses_an_error_mid_stream_by_its_status_code() -> None:
    async with FakeCerebrasServer(SCENARIO, api_key=CEREBRAS_KEY) as fake:
        client = cerebras_sdk.AsyncCerebras(
            api_key=CEREBRAS_KEY, base_url=fake.root_url, max_retries=0, warm_tcp_connection=False
        )
        fake.fail_next(503, after_events=2)
        stream = await client.chat.completions.create(
            model="gpt-oss-120b", messages=MESSAGES, tools=TOOLS, stream=True
        )
        with pytest.raises(cerebras_sdk.InternalServerError) as caught:
            await consume(stream)
        await client.close()

    assert caught.value.status_code == 503
    assert caught.value.body["type"] == "service_unavailable_error"
