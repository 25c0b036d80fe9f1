"""GoogleLLM through the official google-genai SDK, against the loopback Gemini fake."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    RateLimitError,
)
from getpatter.llm.base import LLMChunk, LLMProvider
from getpatter.llm.chat_context import ChatContext
from getpatter.llm.google import LLM, GoogleLLM
from getpatter.testing.fake_llm import FakeGeminiServer
from getpatter.testing.scenario import Reply, Scenario, ToolCall

KEY = "AIza-CANARY-0123456789"
TOKEN = "ya29.CANARY-vertex-access-token"
PROMPT = "You are a helpful phone agent."
GREETING = "Hello there, how can I help you today?"
THOUGHTS = 8  # thinking tokens the fake reports for gemini-2.5 models
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
HANGUP_TOOL = {"name": "end_call", "description": "Hang up.", "parameters": None}
SCENARIO = Scenario(
    replies=(
        Reply(GREETING),
        Reply(
            "It is {result} in Rome.",
            tool_call=ToolCall("get_weather", {"city": "Rome", "unit": "celsius"}),
        ),
    )
)


def conversation(*caller_lines: str) -> ChatContext:
    """A context where the caller said ``caller_lines`` and the agent answered each but the last."""
    context = ChatContext(PROMPT)
    for i, line in enumerate(caller_lines):
        if i:
            context.add_assistant("Sure.")
        context.add_user(line)
    return context


async def collect(
    llm: LLM, context: ChatContext, tools: Sequence[dict[str, Any]] = ()
) -> list[LLMChunk]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in llm.stream(context, tools)]


def texts(chunks: list[LLMChunk]) -> list[str]:
    return [c.text for c in chunks if c.type == "text"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeGeminiServer]:
    async with FakeGeminiServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
async def llm(fake: FakeGeminiServer) -> AsyncIterator[LLM]:
    provider = LLM(api_key=KEY, base_url=fake.base_url)
    yield provider
    await provider.close()


def test_provider_shape() -> None:
    llm = GoogleLLM(api_key=KEY)
    assert GoogleLLM is LLM
    assert isinstance(llm, LLMProvider)
    assert (llm.name, llm.model) == ("google_llm", "gemini-2.5-flash")
    assert llm.base_url == "https://generativelanguage.googleapis.com"
    assert llm.capabilities.tool_calling and llm.capabilities.parallel_tool_calls
    assert KEY not in repr(llm) and "gemini-2.5-flash" in repr(llm)


async def test_text_streams_in_pieces_then_done_with_usage(
    fake: FakeGeminiServer, llm: LLM
) -> None:
    chunks = await collect(llm, conversation("Hi, who is this?"))

    pieces = texts(chunks)
    assert len(pieces) > 1
    assert "".join(pieces) == GREETING
    assert [c.type for c in chunks].count("done") == 1
    done = chunks[-1]
    assert done.type == "done" and done.usage is not None
    assert done.usage.input_tokens > 0
    assert done.usage.output_tokens == len(pieces) + THOUGHTS  # thinking is billed as output

    (request,) = fake.requests
    assert request.path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
    assert request.model == "gemini-2.5-flash"
    assert request.headers["x-goog-api-key"] == KEY
    assert request.body["systemInstruction"]["parts"] == [{"text": PROMPT}]
    assert request.body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi, who is this?"}]},
    ]
    assert "tools" not in request.body
    assert request.body.get("generationConfig", {}) == {}


async def test_generation_options_are_sent(fake: FakeGeminiServer) -> None:
    llm = LLM(
        api_key=KEY,
        base_url=fake.base_url,
        model="gemini-2.5-flash-lite",
        temperature=0.2,
        max_output_tokens=256,
        thinking_budget=0,
    )
    chunks = await collect(llm, conversation("Hi."))
    await llm.close()

    (request,) = fake.requests
    assert request.model == "gemini-2.5-flash-lite"
    assert request.body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 256,
        "thinkingConfig": {"thinking_budget": 0},  # as the SDK sends it (proto3 JSON takes both)
    }
    usage = chunks[-1].usage
    assert usage is not None and usage.output_tokens == len(texts(chunks))  # no thinking


async def test_tool_call_round_trip_with_a_function_response(
    fake: FakeGeminiServer, llm: LLM
) -> None:
    context = conversation("Hi.", "What's the weather in Rome?")
    tools = [HANGUP_TOOL, WEATHER_TOOL]

    chunks = await collect(llm, context, tools)

    calls = [c.tool_call for c in chunks if c.type == "tool_call"]
    assert len(calls) == 1 and calls[0] is not None
    call = calls[0]
    assert call.name == "get_weather"
    assert call.parsed_arguments() == {"city": "Rome", "unit": "celsius"}
    assert call.id.startswith("call_")  # Gemini gives no id: the adapter makes one
    assert texts(chunks) == []
    assert chunks[-1].type == "done"

    context.add_assistant("", [call])
    context.add_tool_result(call.id, call.name, "sunny, 24 °C")
    chunks = await collect(llm, context, tools)
    assert "".join(texts(chunks)) == "It is sunny, 24 °C in Rome."

    first, second = fake.requests
    declared = [
        {
            "functionDeclarations": [
                {
                    "name": "end_call",
                    "description": "Hang up.",
                    "parameters_json_schema": {"type": "object", "properties": {}},
                },
                {
                    "name": "get_weather",
                    "description": WEATHER_TOOL["description"],
                    "parameters_json_schema": WEATHER_TOOL["parameters"],
                },
            ]
        }
    ]
    assert first.tools == declared and second.tools == declared
    model_turn, results = second.body["contents"][-2:]
    (call_part,) = model_turn["parts"]
    assert model_turn["role"] == "model"
    assert call_part["functionCall"] == {
        "id": call.id,
        "name": "get_weather",
        "args": {"city": "Rome", "unit": "celsius"},
    }
    # The thought signature Gemini sent with the call goes back with it, byte for byte (the
    # fake refuses a signature it did not give out, see the next test).
    assert call_part["thoughtSignature"] and second.status == 200
    assert results == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": call.id,
                    "name": "get_weather",
                    "response": {"output": "sunny, 24 °C"},
                }
            }
        ],
    }


async def test_a_thought_signature_from_elsewhere_is_refused_by_the_fake(
    fake: FakeGeminiServer, llm: LLM
) -> None:
    context = conversation("Hi.", "What's the weather in Rome?")
    (call,) = [c.tool_call for c in await collect(llm, context, [WEATHER_TOOL]) if c.tool_call]
    llm._signatures[call.id] = b"not-the-one-gemini-sent"
    context.add_assistant("", [call])
    context.add_tool_result(call.id, call.name, "sunny")

    with pytest.raises(Exception) as caught:
        await collect(llm, context, [WEATHER_TOOL])

    assert "Corrupted thought signature" in str(caught.value)
    assert fake.requests[1].status == 400


async def test_parallel_tool_calls_come_out_one_by_one(fake: FakeGeminiServer, llm: LLM) -> None:
    fake.parallel_tool_calls(0, ToolCall("get_weather", {"city": "Rome"}), ToolCall("end_call"))
    context = conversation("Rome, then hang up.")

    chunks = await collect(llm, context, [WEATHER_TOOL, HANGUP_TOOL])

    calls = [c.tool_call for c in chunks if c.tool_call is not None]
    assert [(c.name, c.parsed_arguments()) for c in calls] == [
        ("get_weather", {"city": "Rome"}),
        ("end_call", {}),
    ]
    assert len({c.id for c in calls}) == 2
    context.add_assistant("", calls)
    context.add_tool_result(calls[0].id, calls[0].name, "sunny")
    context.add_tool_result(calls[1].id, calls[1].name, "bye")
    await collect(llm, context, [WEATHER_TOOL, HANGUP_TOOL])
    assert fake.requests[1].status == 200


async def test_rate_limit_raises_rate_limit_error_with_googles_retry_delay(
    fake: FakeGeminiServer, llm: LLM
) -> None:
    fake.fail_next(429)

    with pytest.raises(RateLimitError) as caught:
        await collect(llm, conversation("Hi."))

    assert caught.value.code == ErrorCode.RATE_LIMIT
    assert "exceeded your current quota" in caught.value.message
    assert "retry after 1 s" in caught.value.message  # from RetryInfo.retryDelay "1s"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_raise_connection_error(
    fake: FakeGeminiServer, llm: LLM, status: int
) -> None:
    fake.fail_next(status)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hi."))

    assert not isinstance(caught.value, RateLimitError)
    assert f"HTTP {status}" in caught.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("status", "error"), [(503, PatterConnectionError), (429, RateLimitError)])
async def test_error_event_in_the_middle_of_the_stream(
    fake: FakeGeminiServer, llm: LLM, status: int, error: type[Exception]
) -> None:
    fake.fail_next(status, after_events=3)
    received: list[str] = []

    with pytest.raises(error):
        async with asyncio.timeout(10):
            async for chunk in llm.stream(conversation("Hi."), ()):
                received.append(chunk.text)

    assert received and "".join(received) != GREETING


async def test_a_dropped_stream_raises_connection_error(fake: FakeGeminiServer, llm: LLM) -> None:
    fake.drop_next(after_events=2)
    received: list[str] = []

    with pytest.raises(PatterConnectionError) as caught:
        async with asyncio.timeout(10):
            async for chunk in llm.stream(conversation("Hi."), ()):
                received.append(chunk.text)

    assert caught.value.code != ErrorCode.TIMEOUT
    assert "".join(received) == "Hello there,"


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_raise_authentication_error(
    fake: FakeGeminiServer, llm: LLM, status: int
) -> None:
    fake.fail_next(status)

    with pytest.raises(AuthenticationError) as caught:
        await collect(llm, conversation("Hi."))

    assert "GEMINI_API_KEY" in str(caught.value)
    assert fake.requests[0].status == status


async def test_a_wrong_key_answered_400_api_key_invalid_is_an_authentication_error(
    fake: FakeGeminiServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = "AIza-CANARY-wrong-key-42"
    llm = LLM(api_key=key, base_url=fake.base_url)

    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert fake.requests[0].status == 400
    assert "API key not valid" in str(caught.value)
    assert key not in str(caught.value) and key not in caplog.text
    assert "api_key= or GEMINI_API_KEY / GOOGLE_API_KEY" in str(caught.value)


async def test_the_key_is_never_logged_even_at_debug(
    fake: FakeGeminiServer, llm: LLM, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await collect(llm, conversation("Hi."))
        fake.fail_next(500, after_events=1)
        with pytest.raises(PatterConnectionError):
            await collect(llm, conversation("Hi."))

    assert KEY not in caplog.text


async def test_stall_beyond_timeout_raises_timeout(fake: FakeGeminiServer) -> None:
    llm = LLM(api_key=KEY, base_url=fake.base_url, timeout=0.3)
    fake.stall_next(5)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert caught.value.code == ErrorCode.TIMEOUT
    async with asyncio.timeout(5):
        await fake.requests[0].ended()
    assert fake.requests[0].disconnected


async def test_unreachable_endpoint_raises_connection_error() -> None:
    async with FakeGeminiServer() as gone:
        url = gone.base_url
    llm = LLM(api_key=KEY, base_url=url)

    with pytest.raises(PatterConnectionError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert caught.value.code != ErrorCode.TIMEOUT


@pytest.mark.parametrize("how", ["cancel the task", "close the iterator"])
async def test_stopping_the_consumer_closes_the_http_stream(how: str) -> None:
    async with FakeGeminiServer(SCENARIO, chunk_delay=0.05) as fake:
        llm = LLM(api_key=KEY, base_url=fake.base_url)
        first_text = asyncio.Event()

        async def consume() -> None:
            stream = llm.stream(conversation("Hi."), ())
            async for chunk in stream:
                if chunk.type == "text":
                    first_text.set()
                    if how == "close the iterator":
                        break
            await stream.aclose()  # type: ignore[attr-defined]

        async with asyncio.timeout(10):
            task = asyncio.create_task(consume())
            await first_text.wait()
            if how == "cancel the task":
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await fake.requests[0].ended()
        await llm.close()

        request = fake.requests[0]
        assert request.disconnected and not request.completed
        assert request.text_sent and request.text_sent != GREETING


async def test_one_provider_serves_concurrent_and_sequential_streams() -> None:
    async with FakeGeminiServer(SCENARIO, chunk_delay=0.01) as fake:
        llm = LLM(api_key=KEY, base_url=fake.base_url)
        greeting = conversation("Hi.")
        weather = conversation("Hi.", "Weather in Rome?")

        first, second = await asyncio.gather(
            collect(llm, greeting), collect(llm, weather, [WEATHER_TOOL])
        )
        again = await collect(llm, greeting)
        await llm.close()
        after_close = await collect(llm, greeting)
        await llm.close()

    assert "".join(texts(first)) == GREETING
    assert texts(second) == [] and [c.type for c in second] == ["tool_call", "done"]
    assert "".join(texts(again)) == GREETING == "".join(texts(after_close))
    assert len(fake.requests) == 4


async def test_vertex_ai_with_google_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-CANARY-not-for-vertex")  # ignored on Vertex AI
    async with FakeGeminiServer(SCENARIO, api_key=TOKEN) as fake:
        llm = LLM(
            vertexai=True,
            project="my-project",
            location="europe-west1",
            credentials=Credentials(token=TOKEN),
            base_url=fake.base_url,
        )
        chunks = await collect(llm, conversation("Hi."))
        await llm.close()

    assert "".join(texts(chunks)) == GREETING
    (request,) = fake.requests
    assert request.path == (
        "/v1beta1/projects/my-project/locations/europe-west1/publishers/google/models/"
        "gemini-2.5-flash:streamGenerateContent"
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in request.headers
    assert "vertexai=True" in repr(llm) and TOKEN not in repr(llm)


async def test_vertex_ai_project_and_location_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    async with FakeGeminiServer(SCENARIO, api_key=TOKEN) as fake:
        monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", fake.base_url)
        llm = LLM(vertexai=True, credentials=Credentials(token=TOKEN))
        await collect(llm, conversation("Hi."))
        await llm.close()

    assert (llm.project, llm.location) == ("env-project", "global")
    assert fake.requests[0].path.startswith("/v1beta1/projects/env-project/locations/global/")


async def test_vertex_ai_express_mode_with_an_api_key() -> None:
    async with FakeGeminiServer(SCENARIO, api_key=KEY) as fake:
        llm = LLM(vertexai=True, api_key=KEY, base_url=fake.base_url)
        chunks = await collect(llm, conversation("Hi."))
        await llm.close()

    assert "".join(texts(chunks)) == GREETING
    (request,) = fake.requests
    assert request.path == (
        "/v1beta1/publishers/google/models/gemini-2.5-flash:streamGenerateContent"
    )
    assert request.headers["x-goog-api-key"] == KEY


async def test_vertex_ai_without_credentials_raises_authentication_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    async with FakeGeminiServer(SCENARIO) as fake:
        llm = LLM(vertexai=True, project="my-project", base_url=fake.base_url)
        with pytest.raises(AuthenticationError) as caught:
            await collect(llm, conversation("Hi."))
        await llm.close()

    assert "credentials=" in str(caught.value)
    assert "gcloud auth application-default login" in str(caught.value)
    assert fake.requests == []


async def test_vertex_ai_refused_token_names_the_credentials(fake: FakeGeminiServer) -> None:
    llm = LLM(
        vertexai=True,
        project="p",
        credentials=Credentials(token="ya29.CANARY-wrong"),
        base_url=fake.base_url,
    )
    with pytest.raises(AuthenticationError) as caught:
        await collect(llm, conversation("Hi."))
    await llm.close()

    assert fake.requests[0].status == 401
    assert "credentials=" in str(caught.value) and "CANARY" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"vertexai": True}, ("project=", "GOOGLE_CLOUD_PROJECT", "api_key=")),
        ({"vertexai": True, "api_key": KEY, "project": "p"}, ("api_key=", "project=")),
        ({"api_key": KEY, "project": "p"}, ("vertexai=True",)),
        ({"api_key": KEY, "credentials": "token"}, ("google.auth.credentials.Credentials",)),
    ],
)
def test_vertex_settings_are_checked(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], names: tuple[str, ...]
) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)

    with pytest.raises(ConfigError) as caught:
        LLM(**options)

    for name in names:
        assert name in str(caught.value)


def test_missing_key_names_the_provider_the_argument_and_both_env_vars() -> None:
    with pytest.raises(ValueError) as caught:
        LLM()

    assert isinstance(caught.value, ConfigError)
    for part in ("Google Gemini", "api_key=", "GEMINI_API_KEY", "GOOGLE_API_KEY", "vertexai"):
        assert part in str(caught.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GEMINI_API_KEY": KEY}, KEY),
        ({"GOOGLE_API_KEY": KEY}, KEY),
        ({"GEMINI_API_KEY": KEY, "GOOGLE_API_KEY": "AIza-CANARY-second-choice"}, KEY),
    ],
)
async def test_key_from_the_environment(
    fake: FakeGeminiServer, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.base_url)
    llm = LLM()

    await collect(llm, conversation("Hi."))
    await llm.close()

    assert llm.base_url == fake.base_url
    assert fake.requests[0].api_key == expected


async def test_an_empty_conversation_is_refused(llm: LLM) -> None:
    with pytest.raises(ConfigError, match="add_user"):
        await collect(llm, ChatContext(PROMPT))


@pytest.mark.parametrize(
    "options",
    [
        {"model": ""},
        {"temperature": -1},
        {"temperature": "hot"},
        {"max_output_tokens": 0},
        {"thinking_budget": -2},
        {"timeout": 0},
        {"max_retries": 11},
        {"vertexai": "yes"},
        {"base_url": "ftp://example.com"},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises((ConfigError, InputValidationError)):
        LLM(api_key=KEY, **options)


def test_without_the_google_genai_package_the_import_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)
    monkeypatch.delitem(sys.modules, "getpatter.llm.google", raising=False)

    with pytest.raises(ImportError, match=r'pip install "getpatter\[google\]"'):
        importlib.import_module("getpatter.llm.google")


async def test_a_sandbox_call_runs_a_tool_through_gemini_and_answers_with_its_result() -> None:
    from getpatter import DeepgramSTT, ElevenLabsTTS, tool
    from getpatter.testing.sandbox import Sandbox
    from getpatter.testing.scenario import Callee, HangUp, Say

    booked: list[str] = []

    @tool
    def book(day: str) -> str:
        """Book an appointment.

        Args:
            day: The weekday.
        """
        booked.append(day)
        return f"booked for {day}"

    scenario = Scenario(
        callee=Callee(steps=(Say("Book me Friday."), Say("Thanks, bye."), HangUp(pause_ms=1500))),
        replies=(
            Reply("Done, {result}.", tool_call=ToolCall("book", {"day": "Friday"})),
            Reply("Goodbye!"),
        ),
    )
    async with asyncio.timeout(60), Sandbox(scenario) as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist.",
            stt=DeepgramSTT(api_key="dg-CANARY"),
            llm=GoogleLLM(api_key=KEY, thinking_budget=0),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
            tools=[book],
        )
        await sandbox.serve(agent)
        report = await (await sandbox.call_in()).ended()

    assert booked == ["Friday"]
    assert [(line["role"], line["text"]) for line in report["transcript"]] == [
        ("user", "Book me Friday."),
        ("assistant", "Done, booked for Friday."),
        ("user", "Thanks, bye."),
        ("assistant", "Goodbye!"),
    ]
    assert report["metrics"].llm_provider == "google_llm"
    assert report["metrics"].cost.llm > 0
