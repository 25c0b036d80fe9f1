"""The Gemini fake holds real exchanges with the official google-genai SDK (and plain HTTP)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from getpatter.testing.fake_llm import FakeGeminiServer
from getpatter.testing.scenario import Reply, Scenario, ToolCall

KEY = "AIza-CANARY-fake-gemini-0123"
MODEL = "gemini-2.5-flash"
SCENARIO = Scenario(
    replies=(
        Reply("Hello there, this is the clinic."),
        Reply("It is {result} in Rome.", tool_call=ToolCall("get_weather", {"city": "Rome"})),
    )
)
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city.",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)
CONFIG = types.GenerateContentConfig(
    system_instruction="You are a receptionist.",
    tools=[types.Tool(function_declarations=[WEATHER])],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGeminiServer]:
    async with FakeGeminiServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(fake: FakeGeminiServer) -> AsyncIterator[genai.Client]:
    sdk = genai.Client(api_key=KEY, http_options={"base_url": fake.base_url})
    yield sdk
    await sdk.aio.aclose()
    sdk.close()


async def stream(
    client: genai.Client, contents: Any, config: types.GenerateContentConfig = CONFIG
) -> list[types.GenerateContentResponse]:
    async with asyncio.timeout(10):
        pieces = await client.aio.models.generate_content_stream(
            model=MODEL, contents=contents, config=config
        )
        return [piece async for piece in pieces]


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


async def test_the_sdk_streams_text_and_usage(fake: FakeGeminiServer, client: genai.Client) -> None:
    pieces = await stream(client, [user("Hi")])

    assert len(pieces) > 1
    assert "".join(p.text or "" for p in pieces) == "Hello there, this is the clinic."
    last = pieces[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    usage = last.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.prompt_token_count > 0
    assert usage.candidates_token_count == len(pieces)
    assert usage.thoughts_token_count == 8
    assert last.model_version == MODEL

    (request,) = fake.requests
    assert request.path == f"/v1/models/{MODEL}:streamGenerateContent"
    assert request.api_key == KEY and request.model == MODEL
    assert request.body["systemInstruction"]["parts"] == [{"text": "You are a receptionist."}]
    assert request.body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


async def test_the_sdk_parses_a_function_call_and_answers_it(
    fake: FakeGeminiServer, client: genai.Client
) -> None:
    contents = [user("Hi"), types.Content(role="model", parts=[types.Part(text="Hello")])]
    contents.append(user("Weather in Rome?"))

    pieces = await stream(client, contents)

    calls = [call for p in pieces for call in p.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Rome"})]
    (part,) = [part for p in pieces for part in p.candidates[0].content.parts]  # type: ignore[index, union-attr]
    assert part.thought_signature  # bytes, decoded from the wire's base64

    contents.append(types.Content(role="model", parts=[part]))
    contents.append(
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"output": "sunny"})
            ],
        )
    )
    answer = await stream(client, contents)

    assert "".join(p.text or "" for p in answer) == "It is sunny in Rome."
    assert fake.requests[1].status == 200  # the signature went back as it came


@pytest.mark.parametrize(
    ("status", "kind", "google_status"),
    [
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (403, errors.ClientError, "PERMISSION_DENIED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
async def test_error_statuses_parse_into_the_sdks_errors(
    fake: FakeGeminiServer,
    client: genai.Client,
    status: int,
    kind: type[errors.APIError],
    google_status: str,
) -> None:
    fake.fail_next(status)

    with pytest.raises(kind) as caught:
        await stream(client, [user("Hi")])

    assert (caught.value.code, caught.value.status) == (status, google_status)
    assert caught.value.message
    if status == 429:
        details = caught.value.details["error"]["details"]
        retry = [d for d in details if d["@type"].endswith("google.rpc.RetryInfo")]
        assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
        assert "retry-after" not in caught.value.response.headers  # type: ignore[union-attr]


async def test_an_error_in_the_middle_of_the_stream(
    fake: FakeGeminiServer, client: genai.Client
) -> None:
    fake.fail_next(429, after_events=2)
    received: list[str] = []

    with pytest.raises(errors.ClientError) as caught:
        async with asyncio.timeout(10):
            pieces = await client.aio.models.generate_content_stream(
                model=MODEL, contents=[user("Hi")], config=CONFIG
            )
            async for piece in pieces:
                received.append(piece.text or "")

    assert received == ["Hello", " there,"]
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert fake.requests[0].failed


async def test_a_wrong_key_is_a_400_api_key_invalid(fake: FakeGeminiServer) -> None:
    sdk = genai.Client(api_key="AIza-CANARY-wrong", http_options={"base_url": fake.base_url})

    with pytest.raises(errors.ClientError) as caught:
        await stream(sdk, [user("Hi")])
    await sdk.aio.aclose()

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_a_dropped_stream_breaks_the_sdks_read(
    fake: FakeGeminiServer, client: genai.Client
) -> None:
    fake.drop_next(after_events=1)
    received: list[str] = []

    with pytest.raises(aiohttp.ClientPayloadError):
        async with asyncio.timeout(10):
            pieces = await client.aio.models.generate_content_stream(
                model=MODEL, contents=[user("Hi")], config=CONFIG
            )
            async for piece in pieces:
                received.append(piece.text or "")

    assert received == ["Hello"]
    assert fake.requests[0].failed and not fake.requests[0].completed


async def test_the_sdk_in_vertex_ai_mode() -> None:
    token = "ya29.CANARY-vertex"
    async with FakeGeminiServer(SCENARIO, api_key=token) as fake:
        sdk = genai.Client(
            vertexai=True,
            project="proj-1",
            location="us-central1",
            credentials=Credentials(token=token),
            http_options={"base_url": fake.base_url},
        )
        pieces = await stream(sdk, [user("Hi")])
        await sdk.aio.aclose()

    assert "".join(p.text or "" for p in pieces) == "Hello there, this is the clinic."
    assert fake.requests[0].path == (
        f"/v1beta1/projects/proj-1/locations/us-central1/publishers/google/models/{MODEL}"
        ":streamGenerateContent"
    )
    assert fake.requests[0].headers["authorization"] == f"Bearer {token}"


def body(*contents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"contents": list(contents), **extra}


def text(role: str, words: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"text": words}]}


@pytest.mark.parametrize(
    ("path", "payload", "headers", "status", "message"),
    [
        (
            f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            body(text("user", "Hi")),
            {},
            403,
            "unregistered callers",
        ),
        (
            f"/v1beta/models/{MODEL}:streamGenerateContent",
            body(text("user", "Hi")),
            None,
            400,
            "alt=sse",
        ),
        (
            f"/v2/models/{MODEL}:streamGenerateContent?alt=sse",
            body(text("user", "Hi")),
            None,
            404,
            "Method not found",
        ),
        (
            f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            body(),
            None,
            400,
            "contents is not specified",
        ),
        (
            f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            body(text("system", "Hi")),
            None,
            400,
            "valid role",
        ),
        (
            f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            body(
                text("user", "Hi"),
                {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "a"}}, {"functionCall": {"name": "b"}}],
                },
                {"role": "user", "parts": [{"functionResponse": {"name": "a", "response": {}}}]},
            ),
            None,
            400,
            "number of function response parts",
        ),
        (
            f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            body(text("user", "Hi"), tools=[{"functionDeclarations": [{"name": "bad name"}]}]),
            None,
            400,
            "Invalid function name",
        ),
    ],
)
async def test_plain_http_requests_are_checked_as_the_api_does(
    fake: FakeGeminiServer,
    path: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
    message: str,
) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post(
            path, json=payload, headers={"x-goog-api-key": KEY} if headers is None else headers
        )

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and message in error["message"]


async def test_the_key_can_come_as_a_query_parameter(fake: FakeGeminiServer) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post(
            f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse&key={KEY}",
            json=body(text("user", "Hi")),
        )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("data: {")


def test_the_sandbox_keeps_a_google_llms_options_on_the_fake() -> None:
    from getpatter.llm.google import GoogleLLM
    from getpatter.testing.offline import SandboxTarget, offline_provider

    target = SandboxTarget(base_url="http://127.0.0.1:9", api_key="sandbox-CANARY-gemini")
    plain = GoogleLLM(api_key=KEY, model="gemini-2.5-pro", temperature=0.3, thinking_budget=0)
    vertex = GoogleLLM(
        vertexai=True, project="p1", location="europe-west4", credentials=Credentials(token="t")
    )
    entry = offline_provider(plain)
    assert entry is not None and entry.fake == "gemini"
    assert isinstance(entry.start(SCENARIO, target.api_key), FakeGeminiServer)

    moved = entry.retarget(plain, target)
    assert (moved.model, moved.temperature, moved.thinking_budget) == ("gemini-2.5-pro", 0.3, 0)
    assert (moved.base_url, moved._api_key, moved.vertexai) == (
        target.base_url,
        target.api_key,
        False,
    )
    moved_vertex = entry.retarget(vertex, target)
    assert (moved_vertex.project, moved_vertex.location) == ("p1", "europe-west4")
    assert moved_vertex._credentials.token == target.api_key
    assert moved_vertex.base_url == target.base_url


def test_without_the_google_extra_the_other_llms_keep_their_sandbox_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from getpatter.testing.fake_llm import offline

    monkeypatch.setitem(sys.modules, "getpatter.llm.google", None)

    names = [entry.fake for entry in offline._optional_entries()]
    assert "gemini" not in names and "anthropic" in names
