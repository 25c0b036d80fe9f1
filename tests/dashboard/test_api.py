"""The dashboard's JSON API: over a real sandbox call, and over a store fed with known calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import GREETING, call_events, served

from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.dashboard import Dashboard


async def test_a_sandbox_call_is_listed_with_its_transcript_turns_and_report() -> None:
    async with asyncio.timeout(60), served() as s:
        call = await s.sandbox.call_in()
        report = await call.ended()
        await s.sandbox.phone.call_events.drain()

        listed = (await s.client.get("/api/v1/calls")).json()
        assert listed["next_before"] is None
        (summary,) = listed["calls"]
        assert summary["call_id"] == call.call_id
        assert summary["active"] is False
        assert (summary["direction"], summary["caller"], summary["callee"]) == (
            "inbound",
            s.sandbox.scenario.callee.number,
            s.sandbox.phone_number,
        )
        assert (summary["outcome"], summary["turns"]) == ("completed", 1)
        assert (summary["provider_mode"], summary["telephony_provider"]) == (
            "openai_realtime",
            "twilio",
        )
        assert summary["cost"]["total"] == report["metrics"].cost.total
        assert set(summary["cost"]) == {"stt", "tts", "llm", "telephony", "total"}

        detail = (await s.client.get(f"/api/v1/calls/{call.call_id}")).json()
        assert detail["call"] == summary
        assert [(line["role"], line["text"]) for line in detail["transcript"]] == [
            ("assistant", GREETING),
            ("user", "What are your hours?"),
            ("assistant", "We are open nine to five."),
        ]
        assert all(set(line) == {"role", "text", "heard", "at"} for line in detail["transcript"])
        (turn,) = detail["turns"]
        assert turn["user_text"] == "What are your hours?"
        assert {"stt_ms", "llm_ttft_ms", "tts_ms", "total_ms", "bargein_ms"} <= set(turn["latency"])
        assert turn["cost_so_far"]["total"] > 0
        assert detail["report"]["outcome"] == "completed"
        assert detail["report"]["metrics"]["cost"] == summary["cost"]

        assert (await s.client.get("/api/v1/calls/active")).json() == {"calls": []}
        overview = (await s.client.get("/api/v1/analytics/overview")).json()
        assert (overview["calls"], overview["active"]) == (1, 0)
        assert overview["average_duration_seconds"] == report["duration_seconds"]


async def test_an_active_call_is_listed_with_its_transcript_so_far() -> None:
    async with asyncio.timeout(60), served() as s:
        call = await s.sandbox.call_in()
        while True:  # until the greeting is in the store
            active = (await s.client.get("/api/v1/calls/active")).json()["calls"]
            if active and active[0]["transcript"]:
                break
            await asyncio.sleep(0.05)
        (summary,) = active
        assert summary["call_id"] == call.call_id and summary["active"] is True
        assert summary["transcript"][0]["text"] == GREETING
        assert summary["ended_at"] is None
        listed = (await s.client.get("/api/v1/calls?status=active")).json()["calls"]
        assert [c["call_id"] for c in listed] == [call.call_id]
        assert (await s.client.get("/api/v1/calls?status=ended")).json()["calls"] == []
        await call.ended()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A dashboard over a store holding five ended calls, a minute apart, and an active one."""
    store = InMemoryCallStore()
    for index in range(5):
        for event in call_events(
            f"CA{index}",
            at=1_000_000.0 + 60 * index,
            direction="outbound" if index % 2 else "inbound",
            said=f"question {index}",
        ):
            await store.record(event)
    for event in call_events("CAlive", at=1_000_400.0, duration=None):
        await store.record(event)
    app = Dashboard(store).app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dashboard"
    ) as client:
        yield client


async def test_calls_are_listed_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/v1/calls?limit=4")).json()
    assert [c["call_id"] for c in first["calls"]] == ["CAlive", "CA4", "CA3", "CA2"]
    assert first["next_before"] == 1_000_120.0
    rest = (await client.get(f"/api/v1/calls?limit=4&before={first['next_before']}")).json()
    assert [c["call_id"] for c in rest["calls"]] == ["CA1", "CA0"]
    assert rest["next_before"] is None


async def test_calls_are_filtered_by_status_direction_and_search(
    client: httpx.AsyncClient,
) -> None:
    async def ids(query: str) -> list[str]:
        return [c["call_id"] for c in (await client.get(f"/api/v1/calls?{query}")).json()["calls"]]

    assert await ids("status=active") == ["CAlive"]
    assert await ids("status=ended&direction=outbound") == ["CA3", "CA1"]
    assert await ids("direction=inbound&limit=2") == ["CAlive", "CA4"]
    assert await ids("search=QUESTION%203") == ["CA3"]
    assert await ids("search=CA2") == ["CA2"]


async def test_a_direction_filter_pages_past_calls_of_the_other_direction(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/api/v1/calls?direction=outbound&limit=1")).json()
    assert [c["call_id"] for c in page["calls"]] == ["CA3"]
    page = (
        await client.get(f"/api/v1/calls?direction=outbound&limit=1&before={page['next_before']}")
    ).json()
    assert [c["call_id"] for c in page["calls"]] == ["CA1"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be from 1 to 500"),
        ("limit=501", "limit must be from 1 to 500"),
        ("limit=ten", "limit must be a whole number"),
        ("before=yesterday", "before must be a number"),
        ("before=nan", "before must be a number"),
        ("status=ringing", "status must be active or ended"),
        ("direction=sideways", "direction must be inbound or outbound"),
        ("search=" + "x" * 201, "search must be at most 200"),
    ],
)
async def test_bad_parameters_are_answered_400(
    client: httpx.AsyncClient, query: str, message: str
) -> None:
    for path in ("/api/v1/calls", "/api/v1/export/csv", "/api/v1/export/json"):
        response = await client.get(f"{path}?{query}")
        if path != "/api/v1/calls" and query.startswith("limit="):
            continue  # the exports take larger pages
        assert response.status_code == 400
        assert message in response.json()["error"]


async def test_an_unknown_call_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/calls/CAnope")
    assert response.status_code == 404
    assert "CAnope" in response.json()["error"]


async def test_an_unknown_cost_bucket_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/analytics/costs?bucket=week")
    assert (response.status_code, response.json()) == (400, {"error": "bucket must be hour or day"})


async def test_credential_like_fields_of_a_report_are_never_sent(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/api/v1/calls/CA1")).text
    assert "CANARY-custom-secret" not in body
    assert json.loads(body)["report"]["custom_params"] == {"auth_token": "<redacted>"}
    export = (await client.get("/api/v1/export/json")).text
    assert "CANARY-custom-secret" not in export


async def test_api_answers_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/calls")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"store": {}}, "store must implement getpatter.calls.store.CallStore"),
        ({"stream": "events"}, "stream must be a CallEventStream"),
        ({"poll_interval": 0}, "poll_interval must be > 0"),
        ({"token": "CANARY-short"}, "token must be at least 16 characters"),
    ],
)
def test_dashboard_options_are_checked(kwargs: dict[str, object], message: str) -> None:
    from getpatter.errors import ConfigError

    options: dict[str, object] = {"store": InMemoryCallStore(), **kwargs}
    store = options.pop("store")
    with pytest.raises(ConfigError, match=message):
        Dashboard(store, **options)  # type: ignore[arg-type]
