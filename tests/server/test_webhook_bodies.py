"""Webhook bodies that never finish arriving: answered or dropped, never held, never a traceback."""

import asyncio
import logging

import getpatter.carriers._bodies as webhook_bodies
from getpatter.testing.sandbox import Sandbox


async def _request_head(port: int, body_length: int) -> bytes:
    return (
        f"POST /webhooks/twilio/voice HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {body_length}\r\nX-Twilio-Signature: abc\r\n\r\n"
    ).encode()


async def test_a_trickled_body_gets_408_instead_of_holding_the_connection(monkeypatch):
    monkeypatch.setattr(webhook_bodies, "BODY_READ_TIMEOUT", 0.3)
    async with Sandbox() as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are a receptionist."))
        connections = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", sandbox.port)
            writer.write(await _request_head(sandbox.port, 100) + b"CallSid=CA")
            await writer.drain()
            connections.append((reader, writer))
        async with asyncio.timeout(20):
            answers = [await reader.readline() for reader, _ in connections]
        for _, writer in connections:
            writer.close()
    assert answers == [b"HTTP/1.1 408 Request Timeout\r\n"] * 20


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.seen.set()


async def test_a_client_leaving_mid_body_is_one_warning_line():
    warnings = _Warnings()
    # uvicorn's own loggers do not propagate to the root: listen to them too.
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(warnings)
    try:
        async with Sandbox() as sandbox:
            await sandbox.serve(sandbox.phone.agent("You are a receptionist."))
            _, writer = await asyncio.open_connection("127.0.0.1", sandbox.port)
            writer.write(await _request_head(sandbox.port, 100) + b"CallSid=CA")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            async with asyncio.timeout(10):
                await warnings.seen.wait()
            await asyncio.sleep(0.2)  # anything logged after the first line shows up too
    finally:
        for logger in loggers:
            logger.removeHandler(warnings)
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in warnings.records] == [
        (
            "WARNING",
            "webhook to /webhooks/twilio/voice: the client left before sending its body",
            None,
        )
    ]
