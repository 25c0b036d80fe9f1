import asyncio
import logging
from typing import Any

import pytest

from getpatter.errors import ConfigError
from getpatter.observability import EventBus, PatterEventType, default_event_bus


async def test_sync_lambda_and_async_handler_both_receive_the_payload() -> None:
    bus = EventBus()
    seen_sync: list[dict[str, Any]] = []
    seen_async: list[dict[str, Any]] = []

    async def on_chunk(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen_async.append(payload)

    bus.on(PatterEventType.LLM_CHUNK, lambda payload: seen_sync.append(payload))
    bus.on(PatterEventType.LLM_CHUNK, on_chunk)
    bus.emit(PatterEventType.LLM_CHUNK, {"call_id": "c1", "text": "Hello"})
    await bus.wait_idle()

    assert seen_sync == [{"call_id": "c1", "text": "Hello"}]
    assert seen_async == [{"call_id": "c1", "text": "Hello"}]


async def test_emit_returns_before_any_handler_runs() -> None:
    bus = EventBus()
    calls: list[str] = []
    release = asyncio.Event()

    async def slow(payload: dict[str, Any]) -> None:
        await release.wait()
        calls.append("async")

    bus.on(PatterEventType.TTS_CHUNK, slow)
    bus.on(PatterEventType.TTS_CHUNK, lambda payload: calls.append("sync"))
    bus.emit(PatterEventType.TTS_CHUNK, {"call_id": "c1"})
    assert calls == []

    await asyncio.sleep(0)
    assert calls == ["sync"]
    release.set()
    await bus.wait_idle()
    assert calls == ["sync", "async"]


async def test_raising_handlers_are_logged_and_do_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[str] = []

    def broken_sync(payload: dict[str, Any]) -> None:
        raise RuntimeError("sync boom")

    async def broken_async(payload: dict[str, Any]) -> None:
        raise RuntimeError("async boom")

    bus.on(PatterEventType.TRANSCRIPT_FINAL, broken_sync)
    bus.on(PatterEventType.TRANSCRIPT_FINAL, broken_async)
    bus.on(PatterEventType.TRANSCRIPT_FINAL, lambda payload: seen.append(payload["text"]))

    with caplog.at_level(logging.ERROR, logger="getpatter.events"):
        bus.emit(PatterEventType.TRANSCRIPT_FINAL, {"role": "user", "text": "hi"})
        await bus.wait_idle()

    assert seen == ["hi"]
    errors = [r for r in caplog.records if r.name == "getpatter.events"]
    assert {str(r.exc_info[1]) for r in errors if r.exc_info} == {"sync boom", "async boom"}


async def test_unsubscribe_function_and_off_stop_delivery() -> None:
    bus = EventBus()
    seen: list[str] = []

    def first(payload: dict[str, Any]) -> None:
        seen.append("first")

    def second(payload: dict[str, Any]) -> None:
        seen.append("second")

    unsubscribe = bus.on(PatterEventType.BARGE_IN, first)
    bus.on(PatterEventType.BARGE_IN, second)
    unsubscribe()
    unsubscribe()
    bus.emit(PatterEventType.BARGE_IN, {})
    await bus.wait_idle()
    assert seen == ["second"]

    bus.off(PatterEventType.BARGE_IN, second)
    bus.emit(PatterEventType.BARGE_IN, {})
    await bus.wait_idle()
    assert seen == ["second"]
    assert not bus.has_subscribers(PatterEventType.BARGE_IN)


async def test_unsubscribe_removes_only_its_own_registration() -> None:
    bus = EventBus()
    seen: list[int] = []

    def handler(payload: dict[str, Any]) -> None:
        seen.append(payload["n"])

    bus.on(PatterEventType.ERROR, handler)
    unsubscribe_second = bus.on(PatterEventType.ERROR, handler)
    bus.emit(PatterEventType.ERROR, {"n": 1})
    await bus.wait_idle()
    unsubscribe_second()
    bus.emit(PatterEventType.ERROR, {"n": 2})
    await bus.wait_idle()

    assert seen == [1, 1, 2]


def test_emit_without_running_loop_calls_sync_handlers_and_skips_async_ones() -> None:
    bus = EventBus()
    seen: list[str] = []
    async_ran: list[bool] = []

    async def on_started(payload: dict[str, Any]) -> None:
        async_ran.append(True)

    bus.on(PatterEventType.CALL_STARTED, lambda payload: seen.append(payload["call_id"]))
    bus.on(PatterEventType.CALL_STARTED, on_started)
    bus.emit(PatterEventType.CALL_STARTED, {"call_id": "c9"})

    assert seen == ["c9"]
    assert async_ran == []


def test_emit_without_loop_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()

    def broken(payload: dict[str, Any]) -> None:
        raise ValueError("nope")

    bus.on(PatterEventType.CALL_ENDED, broken)
    with caplog.at_level(logging.ERROR, logger="getpatter.events"):
        bus.emit(PatterEventType.CALL_ENDED, {})
    assert any(r.exc_info and str(r.exc_info[1]) == "nope" for r in caplog.records)


async def test_each_handler_gets_its_own_copy_of_the_payload() -> None:
    bus = EventBus()
    seen: list[dict[str, Any]] = []

    def mutate(payload: dict[str, Any]) -> None:
        payload["text"] = "changed"

    payload = {"text": "original"}
    bus.on(PatterEventType.TRANSCRIPT_PARTIAL, mutate)
    bus.on(PatterEventType.TRANSCRIPT_PARTIAL, lambda p: seen.append(p))
    bus.emit(PatterEventType.TRANSCRIPT_PARTIAL, payload)
    await bus.wait_idle()

    assert seen == [{"text": "original"}]
    assert payload == {"text": "original"}


async def test_sync_handler_returning_a_coroutine_has_it_awaited() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def record(payload: dict[str, Any]) -> None:
        seen.append(payload["name"])

    bus.on(PatterEventType.TOOL_CALL_STARTED, lambda payload: record(payload))
    bus.emit(PatterEventType.TOOL_CALL_STARTED, {"name": "lookup"})
    await bus.wait_idle()

    assert seen == ["lookup"]


async def test_wait_idle_waits_for_events_emitted_by_handlers() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def chain(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        bus.emit(PatterEventType.TURN_COMPLETED, {"turn": 0})

    bus.on(PatterEventType.TOOL_CALL_COMPLETED, chain)
    bus.on(PatterEventType.TURN_COMPLETED, lambda payload: seen.append("turn"))
    bus.emit(PatterEventType.TOOL_CALL_COMPLETED, {})
    await bus.wait_idle()

    assert seen == ["turn"]


async def test_string_event_type_is_the_same_event() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.on("llm_chunk", lambda payload: seen.append(payload["text"]))
    bus.emit(PatterEventType.LLM_CHUNK, {"text": "a"})
    bus.emit("llm_chunk", {"text": "b"})
    await bus.wait_idle()
    assert seen == ["a", "b"]


def test_emit_without_subscribers_does_nothing() -> None:
    bus = EventBus()
    bus.emit(PatterEventType.TTS_CHUNK, {"audio": b"\x00" * 160})
    assert not bus.has_subscribers(PatterEventType.TTS_CHUNK)


def test_on_rejects_unknown_event_types_and_non_callables() -> None:
    bus = EventBus()
    with pytest.raises(ConfigError, match=r"PatterEventType\.LLM_CHUNK"):
        bus.on("llm_chunks", lambda payload: None)
    with pytest.raises(ConfigError, match="handler"):
        bus.on(PatterEventType.LLM_CHUNK, "not a function")  # type: ignore[arg-type]


def test_event_type_values_are_snake_case_strings() -> None:
    assert str(PatterEventType.TOOL_CALL_STARTED) == "tool_call_started"
    assert all(member.value == member.name.lower() for member in PatterEventType)


def test_default_event_bus_is_one_per_process() -> None:
    assert isinstance(default_event_bus(), EventBus)
    assert default_event_bus() is default_event_bus()
