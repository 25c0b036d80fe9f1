"""The embedded server's listening socket."""

from __future__ import annotations

import asyncio
import socket

from getpatter.server.background import _listening_socket


async def test_accepted_connections_have_nagle_off() -> None:
    """Small writes (a media frame, then its mark) must not wait for the peer's delayed ACK."""
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        nodelay.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listener = _listening_socket("127.0.0.1", 0)
    server = await asyncio.start_server(accepted, sock=listener)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        assert await asyncio.wait_for(nodelay, 5) == 1
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
