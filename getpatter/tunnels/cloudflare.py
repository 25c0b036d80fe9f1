"""Cloudflare quick tunnels, started through the local ``cloudflared`` binary (spec TN-2/TN-3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
from dataclasses import dataclass, field

from getpatter._validation import require_number, require_str
from getpatter.errors import ConfigError, ErrorCode, PatterConnectionError

__all__ = ["CloudflareTunnel"]

logger = logging.getLogger("getpatter.tunnels")

_URL = re.compile(r"https://[A-Za-z0-9-]+\.trycloudflare\.com")

_INSTALL_HINT = (
    "install cloudflared (macOS: 'brew install cloudflared'; Linux and Windows: "
    "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/) "
    "or pass webhook_url='your.host' / tunnel=Static(hostname=...) instead"
)


@dataclass(eq=False)
class CloudflareTunnel:
    """A Cloudflare Quick Tunnel (no account): ``https://<random>.trycloudflare.com``.

    ``binary`` is the executable to run (looked up on PATH); ``start_timeout`` bounds the wait
    for the public URL, in seconds.
    """

    binary: str = "cloudflared"
    start_timeout: float = 30.0
    _process: asyncio.subprocess.Process | None = field(default=None, init=False, repr=False)
    _drainer: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        require_str("CloudflareTunnel binary", self.binary, allow_empty=False)
        if require_number("CloudflareTunnel start_timeout", self.start_timeout) <= 0:
            raise ConfigError("CloudflareTunnel start_timeout must be > 0 seconds")

    async def start(self, port: int) -> str:
        """Start ``cloudflared`` forwarding to ``localhost:port``; return the public hostname."""
        if self._process is not None:
            raise ConfigError("this CloudflareTunnel is already running: stop() it first")
        executable = shutil.which(self.binary)
        if executable is None:
            raise ConfigError(f"{self.binary!r} was not found on PATH: {_INSTALL_HINT}")
        process = await asyncio.create_subprocess_exec(
            executable,
            "tunnel",
            "--no-autoupdate",
            "--url",
            f"http://localhost:{port}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._process = process
        try:
            url = await asyncio.wait_for(self._read_url(process), self.start_timeout)
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, TimeoutError):
                raise PatterConnectionError(
                    f"cloudflared gave no tunnel URL within {self.start_timeout:g} s; check your "
                    "network, or use webhook_url='your.host'",
                    code=ErrorCode.TIMEOUT,
                ) from None
            raise
        logger.info("Tunnel ready: %s", url)
        return url.removeprefix("https://")

    async def _read_url(self, process: asyncio.subprocess.Process) -> str:
        assert process.stderr is not None
        async for raw in process.stderr:
            match = _URL.search(raw.decode(errors="replace"))
            if match:
                self._drainer = asyncio.create_task(_drain(process.stderr))
                return match.group(0)
        raise PatterConnectionError(
            f"cloudflared exited (code {await process.wait()}) before printing a tunnel URL"
        )

    async def stop(self) -> None:
        """Stop the ``cloudflared`` process, if running."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            await drainer


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading cloudflared's log so its pipe never fills up and blocks it."""
    with contextlib.suppress(Exception):
        while await stream.read(4096):
            continue
