"""The media-stream WebSocket protocol: it keeps reading while the app keeps up, pauses once
messages pile up unread, and delivers every message in order."""

import asyncio

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect

from getpatter.server.background import BackgroundServer
from getpatter.server.ws_protocol import MAX_UNREAD, MediaWebSocketProtocol

SENT = MAX_UNREAD * 3
SEEN: list[tuple[int, bool]] = []
"""(messages waiting, socket still read) after each message the server queued."""


class Probe(MediaWebSocketProtocol):
    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        SEEN.append((self.queue.qsize(), self.transport.is_reading()))


async def test_reading_pauses_only_once_messages_pile_up_and_all_arrive_in_order():
    SEEN.clear()
    release = asyncio.Event()

    async def slow_reader(websocket):
        await websocket.accept()
        await release.wait()
        texts = [await websocket.receive_text() for _ in range(SENT)]
        await websocket.send_text(",".join(texts))
        await websocket.close()

    server = BackgroundServer(Starlette(routes=[WebSocketRoute("/ws", slow_reader)]), ws=Probe)
    port = await server.start()
    try:
        async with asyncio.timeout(10), connect(f"ws://127.0.0.1:{port}/ws") as ws:
            for n in range(SENT):
                await ws.send(str(n))
                await asyncio.sleep(0.002)  # separate reads on the server, as media frames are
            release.set()
            echoed = await ws.recv()
    finally:
        await server.stop()
    assert echoed == ",".join(str(n) for n in range(SENT))
    assert all(reading for waiting, reading in SEEN if waiting < MAX_UNREAD)
    assert any(not reading for _, reading in SEEN)
