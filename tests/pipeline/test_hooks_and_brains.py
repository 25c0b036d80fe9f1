"""Pipeline hooks' return rules, and on_message brains (function and URL)."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from getpatter.errors import ConfigError, InputValidationError, PatterConnectionError, PatterError
from getpatter.llm.chat_context import ChatContext
from getpatter.pipeline import hooks as hooks_module
from getpatter.pipeline.brains import CallInfo, MessageHandlerBrain, MessageWebhook
from getpatter.pipeline.hooks import (
    HookContext,
    PatterDeprecationWarning,
    PipelineHookExecutor,
    PipelineHooks,
)
from getpatter.server.background import BackgroundServer

CALL = CallInfo("CA1", "+15550000001", "+15550000002")


def executor(**hooks) -> PipelineHookExecutor:
    return PipelineHookExecutor(
        PipelineHooks(**hooks), lambda: HookContext("CA1", "+15550000001", "+15550000002")
    )


async def test_none_drops_where_the_spec_says_and_other_values_replace() -> None:
    run = executor(
        before_send_to_stt=lambda pcm: None,
        after_transcribe=lambda text: None,
        before_synthesize=lambda sentence: None,
        after_synthesize=lambda audio: None,
    )
    assert run.before_send_to_stt(b"\x00\x00") is None
    assert await run.after_transcribe("hi") is None
    assert await run.before_synthesize("Hello.") is None
    assert await run.after_synthesize(b"\xff") is None
    replacing = executor(
        after_transcribe=lambda text: text.upper(),
        before_llm=lambda messages: [*messages, {"role": "user", "content": "extra"}],
        after_llm={"on_chunk": lambda c: c.lower(), "on_sentence": lambda s, ctx: ""},
    )
    assert await replacing.after_transcribe("hi") == "HI"
    assert (await replacing.before_llm([]))[-1]["content"] == "extra"
    assert replacing.on_chunk("ABC") == "abc"
    assert await replacing.on_sentence("Drop me.") == ""


async def test_hooks_fail_open_and_async_hooks_are_awaited() -> None:
    async def upper(text, ctx):
        assert ctx.call_id == "CA1"
        return text.upper()

    def broken(_text):
        raise RuntimeError("bug in user code")

    run = executor(after_transcribe=upper, before_synthesize=broken)
    assert await run.after_transcribe("hi") == "HI"
    assert await run.before_synthesize("Keep me.") == "Keep me."


def test_hooks_are_checked_and_the_bare_after_llm_is_deprecated(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="before_llm must be a function"):
        PipelineHooks(before_llm="nope")
    with pytest.raises(ConfigError, match="on_chunk, on_sentence and on_response"):
        PipelineHooks(after_llm={"on_token": print})
    monkeypatch.setattr(hooks_module, "_legacy_warning_given", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = executor(after_llm=lambda text, ctx: text)
        executor(after_llm=lambda text, ctx: text)
    assert [w.category for w in caught] == [PatterDeprecationWarning]
    assert run.holds_response


async def collect(brain, context: ChatContext) -> list[str]:
    return [chunk.text async for chunk in brain.respond(context, ()) if chunk.type == "text"]


async def test_a_handler_brain_passes_the_message_and_control() -> None:
    seen = []

    def one_param(message):
        seen.append(message)
        return "Hi!"

    context = ChatContext("prompt")
    context.add_user("hello")
    assert await collect(MessageHandlerBrain(one_param, CALL), context) == ["Hi!"]
    assert seen[0]["text"] == "hello" and seen[0]["callee"] == "+15550000002"
    with pytest.raises(PatterError, match="must return the text"):
        await collect(MessageHandlerBrain(lambda m: 42, CALL), context)


async def test_a_message_url_is_posted_to_and_private_hosts_need_consent() -> None:
    ports: list[int] = []

    async def json_reply(request: Request) -> Response:
        message = await request.json()
        assert request.client is not None
        ports.append(request.client.port)
        return JSONResponse({"text": f"echo {message['text']}"})

    async def text_reply(request: Request) -> Response:
        return PlainTextResponse("plain answer")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(2)
        return PlainTextResponse("late")

    app = Starlette(
        routes=[
            Route("/json", json_reply, methods=["POST"]),
            Route("/text", text_reply, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
        ]
    )
    server = BackgroundServer(app, host="127.0.0.1", port=0)
    port = await server.start()
    base = f"http://127.0.0.1:{port}"
    context = ChatContext()
    context.add_user("ping")
    try:
        with pytest.raises(InputValidationError, match="allow_private=True"):
            await collect(MessageWebhook(f"{base}/json").brain(CALL), context)
        by_name = MessageWebhook(f"http://localhost:{port}/json")
        with pytest.raises(InputValidationError, match="allow_private=True"):
            await collect(by_name.brain(CALL), context)
        assert ports == []  # refused before any request, whatever the name resolves to
        allowed = MessageWebhook(f"{base}/json", allow_private=True)
        for _turn in range(3):
            assert await collect(allowed.brain(CALL), context) == ["echo ping"]
        assert len(ports) == 3
        assert len(set(ports)) == 1, "the turns should reuse one keep-alive connection"
        plain = MessageWebhook(f"{base}/text", allow_private=True)
        assert await collect(plain.brain(CALL), context) == ["plain answer"]
        slow_hook = MessageWebhook(f"{base}/slow", allow_private=True, timeout=0.3)
        with pytest.raises(PatterConnectionError, match="did not answer within"):
            await collect(slow_hook.brain(CALL), context)
    finally:
        await server.stop(5)
    with pytest.raises(ConfigError, match="http"):
        MessageWebhook("ftp://example.com/x")
