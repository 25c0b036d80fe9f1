"""The fake transcription endpoint, driven by the official openai SDK (the API's own client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest

from getpatter.errors import ConfigError, InputValidationError
from getpatter.stt.utterance import wav_file
from getpatter.testing.babble import babble_pcm16
from getpatter.testing.fake_stt_http import FakeTranscriptionServer
from getpatter.testing.scenario import Callee, Say, Scenario

KEY = "sk-CANARY-fake-transcription"
SCENARIO = Scenario(callee=Callee(steps=(Say("Hello there"), Say("Goodbye"))))


def wav(seconds: float = 0.5, rate: int = 8000, seed: int = 0) -> bytes:
    return wav_file(babble_pcm16(rate, seconds, seed).tobytes(), rate)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTranscriptionServer]:
    async with FakeTranscriptionServer(SCENARIO, api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(fake: FakeTranscriptionServer) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0)
    yield sdk
    await sdk.close()


async def transcribe(client: openai.AsyncOpenAI, audio: bytes, **options: object) -> object:
    options.setdefault("model", "whisper-1")
    return await client.audio.transcriptions.create(
        file=("u.wav", audio, "audio/wav"),
        **options,  # type: ignore[call-overload]
    )


async def test_each_utterance_is_the_next_caller_line_in_the_shape_asked_for(
    fake: FakeTranscriptionServer, client: openai.AsyncOpenAI
) -> None:
    first = await transcribe(client, wav(1.0, 16000), language="en")
    assert first.text == "Hello there" and first.usage.seconds == 1  # type: ignore[attr-defined]
    second = await transcribe(client, wav(seed=1), response_format="verbose_json")
    assert second.text == "Goodbye" and second.segments[0].end == 0.5  # type: ignore[attr-defined]
    third = await transcribe(client, wav(seed=2), response_format="text")
    assert third == "hello\n"  # past the script
    assert [r.utterance for r in fake.requests] == [0, 1, 2]
    assert [(r.sample_rate, r.duration, r.language) for r in fake.requests] == [
        (16000, 1.0, "en"),
        (8000, 0.5, ""),
        (8000, 0.5, ""),
    ]
    assert fake.transcripts == ["Hello there", "Goodbye", "hello"]


async def test_gpt_4o_models_answer_json_with_logprobs_and_token_usage(
    client: openai.AsyncOpenAI,
) -> None:
    answer = await transcribe(client, wav(), model="gpt-4o-transcribe", include=["logprobs"])
    assert [p.token for p in answer.logprobs] == ["Hello", "there"]  # type: ignore[attr-defined]
    assert answer.usage.type == "tokens"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "audio", "message"),
    [
        ({"model": "gpt-4o-transcribe", "response_format": "verbose_json"}, None, "verbose_json"),
        ({"include": ["logprobs"]}, None, "logprobs are only supported"),
        ({}, wav(0.05), "Minimum audio length is 0.1 seconds"),
        ({}, b"RIFF-not-really-a-wave-file", "Invalid file format"),
        ({"response_format": "yaml"}, None, "'response_format'"),
    ],
)
async def test_requests_the_api_refuses_get_its_400(
    fake: FakeTranscriptionServer,
    client: openai.AsyncOpenAI,
    options: dict[str, object],
    audio: bytes | None,
    message: str,
) -> None:
    with pytest.raises(openai.BadRequestError, match=message):
        await transcribe(client, audio or wav(), **options)
    assert fake.requests[0].status == 400 and fake.transcripts == []


async def test_a_missing_or_wrong_key_is_a_401(fake: FakeTranscriptionServer) -> None:
    wrong = openai.AsyncOpenAI(api_key="sk-CANARY-wrong", base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
        await transcribe(wrong, wav())
    await wrong.close()
    assert fake.requests[0].status == 401


async def test_faults_and_a_retry_of_the_failed_file_which_is_the_same_utterance(
    fake: FakeTranscriptionServer, client: openai.AsyncOpenAI
) -> None:
    fake.fail_next(429)
    with pytest.raises(openai.RateLimitError) as raised:
        await transcribe(client, wav())
    assert raised.value.response.headers["retry-after"] == "1"
    assert (await transcribe(client, wav())).text == "Hello there"  # type: ignore[attr-defined]
    fake.stall_next(5)
    with pytest.raises(openai.APITimeoutError):
        await transcribe(client, wav(seed=1), timeout=0.2)
    async with asyncio.timeout(5):
        while not fake.requests[2].disconnected:  # noqa: ASYNC110 - the fake's record
            await asyncio.sleep(0.02)
    fake.fail_next(503)
    with pytest.raises(openai.InternalServerError):
        await transcribe(client, wav(seed=2))
    assert [(r.utterance, r.status) for r in fake.requests] == [
        (0, 429),
        (0, 200),
        (1, 499),
        (2, 503),
    ]
    assert fake.requests[2].stalled and fake.requests[2].disconnected


async def test_the_sdk_retries_a_5xx_and_gets_the_line_the_failed_request_missed(
    fake: FakeTranscriptionServer,
) -> None:
    sdk = openai.AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=1)
    fake.fail_next(500)
    answer = await transcribe(sdk, wav())
    await sdk.close()
    assert answer.text == "Hello there"  # type: ignore[attr-defined]
    assert [r.status for r in fake.requests] == [500, 200]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="Scenario"):
        FakeTranscriptionServer("script")  # type: ignore[arg-type]
    fake = FakeTranscriptionServer()
    with pytest.raises(ConfigError, match="once the server runs"):
        _ = fake.base_url
    with pytest.raises(InputValidationError):
        fake.stall_next(0)


async def test_a_body_that_is_not_multipart_is_a_400(fake: FakeTranscriptionServer) -> None:
    import httpx

    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as http:
        for content_type in ("application/json", "multipart/form-data; boundary=xyz"):
            response = await http.post(
                "/audio/transcriptions",
                content=b'{"model": "whisper-1"}',
                headers={"content-type": content_type},
            )
            assert response.status_code == 400
            assert response.json()["error"]["message"] == "Could not parse multipart form."
