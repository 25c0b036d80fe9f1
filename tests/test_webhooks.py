"""POSTs to the developer's endpoints: redirects, size limits, private addresses, proxies."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from getpatter._webhooks import PrivateAddressError, WebhookTooLarge, post_json
from getpatter.server.background import BackgroundServer


async def test_redirects_are_not_followed_and_large_answers_are_cut_short() -> None:
    followed: list[str] = []

    async def moved(request: Request) -> Response:
        return RedirectResponse("/elsewhere", status_code=302)

    async def elsewhere(request: Request) -> Response:
        followed.append(request.method)
        return PlainTextResponse("should not be reached")

    async def large(request: Request) -> Response:
        return PlainTextResponse("x" * 5000)

    app = Starlette(
        routes=[
            Route("/moved", moved, methods=["POST"]),
            Route("/elsewhere", elsewhere, methods=["POST", "GET"]),
            Route("/large", large, methods=["POST"]),
        ]
    )
    server = BackgroundServer(app, host="127.0.0.1", port=0)
    base = f"http://127.0.0.1:{await server.start()}"
    try:
        answer = await post_json(f"{base}/moved", {"a": 1}, time_limit=5)
        assert (answer.status, answer.ok, followed) == (302, False, [])
        with pytest.raises(WebhookTooLarge):
            await post_json(f"{base}/large", {}, time_limit=5, max_bytes=1000)
        assert (await post_json(f"{base}/large", {}, time_limit=5)).text == "x" * 5000
    finally:
        await server.stop(5)


async def test_a_private_name_is_refused_before_the_proxy_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(PrivateAddressError) as caught:
            await post_json("http://localhost/hook", {}, time_limit=5, public_only=True)
        assert caught.value.address in ("127.0.0.1", "::1")
        assert asked == []
        # Without public_only the same request goes through the proxy.
        answer = await post_json("http://localhost/hook", {}, time_limit=5)
        assert answer.text == "ok"
        assert asked[0].startswith(b"POST http://localhost/hook HTTP/1.1")
    finally:
        server.close()
