"""Reading a webhook's body: bounded in size and in time, whoever sends it."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

__all__ = ["BODY_READ_TIMEOUT", "read_body"]

logger = logging.getLogger("getpatter.server")

#: How long a webhook body may take to arrive: carriers send it at once, a client trickling it
#: byte by byte only holds a connection open.
BODY_READ_TIMEOUT = 10.0


async def read_body(request: Request, limit: int, refused: Response) -> bytes | Response:
    """The body of ``request``, or the response to send instead.

    ``refused`` answers a body declared or found over ``limit`` bytes; a body that does not
    arrive within :data:`BODY_READ_TIMEOUT` gets 408, a client that leaves mid-body 400 (one
    warning line each).
    """
    declared = request.headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()) or int(declared) > limit:
        return refused
    body = b""
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return refused
    except TimeoutError:
        logger.warning(
            "webhook to %s: the body did not arrive within %g s",
            request.url.path,
            BODY_READ_TIMEOUT,
        )
        return PlainTextResponse("Request Timeout", status_code=408)
    except ClientDisconnect:
        logger.warning("webhook to %s: the client left before sending its body", request.url.path)
        return PlainTextResponse("Client disconnected", status_code=400)
    return body
