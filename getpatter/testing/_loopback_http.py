"""The loopback HTTP server under the fake LLM, TTS, transcription and OTLP APIs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

from starlette.applications import Starlette

from getpatter.errors import ConfigError
from getpatter.server.background import BackgroundServer

__all__ = ["LoopbackHTTPFake"]


class LoopbackHTTPFake(ABC):
    """A fake API served by a Starlette app on 127.0.0.1 while ``async with`` runs it."""

    _server: BackgroundServer | None = None

    @abstractmethod
    def _app(self) -> Starlette:
        """The app that answers the API's requests."""

    def _server_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`BackgroundServer` (none by default)."""
        return {}

    @property
    def _fake_name(self) -> str:
        """The fake's name in errors."""
        return type(self).__name__

    async def __aenter__(self) -> Self:
        server = BackgroundServer(self._app(), **self._server_options())
        await server.start()
        self._server = server
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=1.0)

    def _origin(self, attribute: str) -> str:
        """``http://127.0.0.1:<port>``; before the server runs, an error naming ``attribute``."""
        if self._server is None:
            raise ConfigError(
                f"{self._fake_name}.{attribute} is known once the server runs: read it inside "
                f"'async with {self._fake_name}(...) as fake'"
            )
        return f"http://127.0.0.1:{self._server.port}"
