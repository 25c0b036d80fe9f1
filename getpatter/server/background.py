"""An ASGI app served by uvicorn as a task of the running event loop.

uvicorn's own signal handling is left out: the program that hosts the server (``Patter.serve()``,
the sandbox, a test) decides what Ctrl-C does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from getpatter.errors import PatterConnectionError

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """Serve ``app`` on ``host:port`` (0 picks a free port) until :meth:`stop`.

    Extra keyword arguments go to ``uvicorn.Config`` (``ws=``, ``timeout_graceful_shutdown=``...).
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._config = {"log_level": "warning", "lifespan": "off", "access_log": False, **config}
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.port = 0
        """The port actually bound, once started."""

    async def start(self) -> int:
        """Bind the socket, start serving, wait until uvicorn accepts connections; return the port."""
        import uvicorn

        stopping = self._stopping = asyncio.Event()

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

            async def main_loop(self) -> None:
                # uvicorn checks for exit ten times a second; on a quiet server those wakeups
                # are most of its CPU. Tick once a second (the Date header's resolution) and
                # wake at once when stopped.
                while not await self.on_tick(0):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await stopping.wait()

        try:
            sock = _listening_socket(self._host, self._port)
        except OSError as exc:
            raise PatterConnectionError(
                f"cannot listen on {self._host}:{self._port} ({exc.strerror}); choose another "
                "port or stop the process using it"
            ) from exc
        self.port = sock.getsockname()[1]
        self._server = _Server(uvicorn.Config(self._app, **self._config))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise PatterConnectionError("the server stopped while starting")
            await asyncio.sleep(0.01)
        return self.port

    async def wait_stopped(self) -> None:
        """Wait until the server stops (its task is shielded from this waiter's cancellation)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let open connections finish for ``grace`` seconds, then force it."""
        task = self._task
        if task is None:
            return
        self._server.should_exit = True
        self._stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), grace)
        if not task.done():
            self._server.force_exit = True
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket whose accepted connections get ``TCP_NODELAY``.

    asyncio turns Nagle's algorithm off only on sockets whose ``proto`` is ``IPPROTO_TCP``, and
    ``socket.create_server`` leaves it 0: small writes (a media frame, then its mark; a streamed
    chunk) would then wait for the peer's delayed ACK, about 40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
