"""Who may see the dashboard: the token on every dashboard route, and only there."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from conftest import TOKEN, call_events, served

from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.dashboard import Dashboard, auth
from getpatter.testing.sandbox import Sandbox

ROUTES = (
    "/dashboard",
    "/api/v1/calls",
    "/api/v1/calls/active",
    "/api/v1/calls/CA0",
    "/api/v1/analytics/overview",
    "/api/v1/analytics/costs",
    "/api/v1/export/csv",
    "/api/v1/export/json",
    "/api/v1/events",
)


async def _dashboard(token: str) -> httpx.AsyncClient:
    store = InMemoryCallStore()
    for event in call_events("CA0", at=1_000_000.0):
        await store.record(event)
    dashboard = Dashboard(store, token=token)
    dashboard.close()  # event streams end at once: these tests read whole responses
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dashboard.app()), base_url="http://dashboard"
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"headers": {"Authorization": "Bearer CANARY-dashboard-token-0002"}},
        {"headers": {"Authorization": f"Basic {TOKEN}"}},
        {"headers": {"Authorization": f"Bearer {TOKEN[:-1]}"}},
        {"params": {"token": "CANARY-dashboard-token-0002"}},
        {"params": {"token": ""}},
    ],
)
async def test_without_the_right_token_no_route_gives_data(
    route: str, credentials: dict[str, dict[str, str]]
) -> None:
    async with await _dashboard(TOKEN) as client:
        response = await client.get(route, **credentials)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "CA0" not in response.text and "+1555" not in response.text
    if route == "/dashboard":
        assert response.headers["content-type"].startswith("text/html")
        assert "needs its token" in response.text
        assert "<script" not in response.text
    else:
        assert "needs its token" in response.json()["error"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "credentials",
    [
        {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        {"headers": {"Authorization": f"bearer   {TOKEN}"}},
        {"params": {"token": TOKEN}},
        {"headers": {"Authorization": "Bearer wrong"}, "params": {"token": TOKEN}},
    ],
)
async def test_the_token_opens_every_route_as_a_header_or_a_query_parameter(
    route: str, credentials: dict[str, dict[str, str]]
) -> None:
    async with await _dashboard(TOKEN) as client:
        response = await client.get(route, **credentials)  # type: ignore[arg-type]
    assert response.status_code == 200


async def test_without_a_token_the_dashboard_is_open() -> None:
    async with await _dashboard("") as client:
        for route in ROUTES:
            assert (await client.get(route)).status_code == 200


async def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    async with await _dashboard(TOKEN) as client:
        assert (await client.get("/api/v1/calls", params={"token": "nope"})).status_code == 401
        assert (await client.get("/api/v1/calls", params={"token": TOKEN})).status_code == 200
    assert compared == [(b"nope", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


async def test_webhooks_and_health_are_not_behind_the_token() -> None:
    async with asyncio.timeout(60), served() as s:
        async with httpx.AsyncClient(base_url=s.base_url) as anonymous:
            assert (await anonymous.get("/health")).status_code == 200
            assert (await anonymous.get("/api/v1/calls")).status_code == 401
            # A real call: the simulator's webhooks and media stream carry no dashboard token.
            call = await s.sandbox.call_in()
            report = await call.ended()
        assert report["outcome"] == "completed"


async def test_dashboard_false_serves_no_dashboard_route() -> None:
    async with asyncio.timeout(60), Sandbox() as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are the receptionist."), dashboard=False)
        assert sandbox.dashboard_url == ""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.port}") as client:
            for route in ROUTES:
                response = await client.get(route, params={"token": TOKEN})
                assert response.status_code == 404, route
            assert (await client.get("/health")).status_code == 200


async def test_serve_generates_a_token_prints_it_and_requires_it(
    capfd: pytest.CaptureFixture[str],
) -> None:
    async with asyncio.timeout(60), Sandbox() as sandbox:
        agent = sandbox.phone.agent("You are the receptionist.")
        await sandbox.start_fakes(agent)
        # phone.serve() itself (the sandbox would pass a token of its own).
        serving = asyncio.create_task(
            sandbox.phone.serve(sandbox.offline(agent), port=sandbox.port, host="127.0.0.1")
        )
        try:
            await sandbox.phone.ready()
            banner = capfd.readouterr().err
            found = re.search(
                r"Dashboard: (http://127\.0\.0\.1:(\d+)/dashboard)\?token=(\S+)", banner
            )
            assert found is not None, banner
            page, port, token = found.group(1), int(found.group(2)), found.group(3)
            assert port == sandbox.port and len(token) >= 32
            async with httpx.AsyncClient() as client:
                assert (await client.get(page)).status_code == 401
                opened = await client.get(page, params={"token": token})
                assert opened.status_code == 200
                api = f"http://127.0.0.1:{port}/api/v1/calls"
                assert (
                    await client.get(api, headers={"Authorization": f"Bearer {token}"})
                ).json() == {
                    "calls": [],
                    "next_before": None,
                }
        finally:
            await sandbox.phone.disconnect()
            await serving


async def test_an_explicit_token_is_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    async with asyncio.timeout(60), served():
        banner = capfd.readouterr().err
    assert "/dashboard (token: the dashboard_token given to serve)" in banner
    assert TOKEN not in banner


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("CANARY-short", "at least 16 characters"),
        ("CANARY-with a-space-inside", "no spaces"),
        ("CANARY-non-ascii-tökén-000", "visible ASCII"),
        (b"CANARY-bytes-token-000", "must be a str"),
    ],
)
def test_bad_tokens_are_refused_with_the_fix(token: object, message: str) -> None:
    from getpatter.errors import ConfigError

    with pytest.raises(ConfigError, match=message) as refused:
        auth.validate_token("dashboard_token", token)
    assert "secrets.token_urlsafe" in str(refused.value) or "str" in message
