"""POSTing JSON to your own endpoints (``on_message`` URLs, tool webhooks) on pooled connections.

One aiohttp pool per event loop (closed when the loop shuts down) serves every webhook request,
so the turns of a call reuse a keep-alive (and TLS) connection instead of paying a new
connection, and a new TLS handshake, on every turn. Redirects are never followed.

``public_only`` requests refuse private, loopback, link-local and other non-public addresses
at the moment of connecting: the pool's resolver checks every address a name resolves to, so a
name that resolves to an internal address (DNS rebinding included) never receives a request.
Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``...); through a proxy the name
is resolved and checked here first, as the proxy resolves it itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from getpatter._loop_bound import LoopBoundClient
from getpatter._proxies import env_proxy

__all__ = [
    "PrivateAddressError",
    "WebhookAnswer",
    "WebhookError",
    "WebhookTooLarge",
    "post_json",
]


@dataclass(frozen=True)
class WebhookAnswer:
    """The endpoint's answer: status, ``Content-Type`` and the whole body."""

    status: int
    content_type: str
    body: bytes
    charset: str = "utf-8"

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode(self.charset, "replace")


class WebhookError(Exception):
    """The endpoint could not be asked: it timed out (``timed_out``) or could not be reached."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class WebhookTooLarge(WebhookError):
    """The answer was longer than the ``max_bytes`` allowed."""


class PrivateAddressError(WebhookError):
    """A ``public_only`` request to a host that is, or resolves to, a non-public address."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host!r} is a private or local address ({address})")
        self.host = host
        self.address = address


async def post_json(
    url: str,
    body: Any,
    *,
    time_limit: float,
    headers: dict[str, str] | None = None,
    public_only: bool = False,
    max_bytes: int | None = None,
) -> WebhookAnswer:
    """POST ``body`` as JSON to ``url`` and read the whole answer within ``time_limit`` seconds.

    Raises :class:`WebhookError` (or its subclasses) instead of any HTTP library error.
    """
    host = urlsplit(url).hostname or ""
    proxy = env_proxy(url)
    if public_only:
        _refuse_private_literal(host)
        if proxy is not None:
            await _refuse_private_name(host)
    session = _POOLS[public_only].get()
    try:
        async with session.post(
            url,
            json=body,
            headers=headers,
            proxy=proxy,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=time_limit),
        ) as response:
            data = await _read(response, max_bytes)
            return WebhookAnswer(
                response.status,
                response.headers.get("Content-Type", ""),
                data,
                response.charset or "utf-8",
            )
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, _PrivateAddress):
            raise PrivateAddressError(host, exc.os_error.address) from None
        raise WebhookError(type(exc).__name__) from None
    except TimeoutError:
        raise WebhookError("timeout", timed_out=True) from None
    except aiohttp.ClientError as exc:
        raise WebhookError(type(exc).__name__) from None


async def _read(response: aiohttp.ClientResponse, max_bytes: int | None) -> bytes:
    if max_bytes is None:
        return await response.read()
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) > max_bytes:
            raise WebhookTooLarge(f"the answer is larger than {max_bytes} bytes")
    return bytes(data)


class _PrivateAddress(OSError):
    def __init__(self, address: str) -> None:
        super().__init__(f"non-public address {address}")
        self.address = address


class _PublicOnlyResolver(AbstractResolver):
    """The default resolver, refusing names with any non-public address."""

    def __init__(self) -> None:
        self._resolver = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            if not _is_public(result["host"]):
                raise _PrivateAddress(result["host"])
        return results

    async def close(self) -> None:
        await self._resolver.close()


def _refuse_private_literal(host: str) -> None:
    """aiohttp connects to an IP-address host without asking the resolver: check it here."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    if not _is_public(host):
        raise PrivateAddressError(host, host)


async def _refuse_private_name(host: str) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        raise WebhookError(f"{host!r} does not resolve") from None
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise PrivateAddressError(host, address)


def _is_public(address: str) -> bool:
    return ipaddress.ip_address(address).is_global


def _pool(public_only: bool) -> aiohttp.ClientSession:
    resolver = _PublicOnlyResolver() if public_only else None
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, resolver=resolver))


_POOLS: dict[bool, LoopBoundClient[aiohttp.ClientSession]] = {
    True: LoopBoundClient(lambda: _pool(True)),
    False: LoopBoundClient(lambda: _pool(False)),
}
