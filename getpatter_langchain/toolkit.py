""":class:`PatterToolkit`: the phone tools of one call-control service, for one agent."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, Field

from getpatter.control.service import CallService
from getpatter_langchain.control import (
    PatterGetCallTool,
    PatterHangupCallTool,
    PatterSendDtmfTool,
    PatterTransferCallTool,
)
from getpatter_langchain.runner import Emit, runner_for
from getpatter_langchain.tools import PatterCallTool

__all__ = ["PatterToolkit"]


class PatterToolkit(BaseToolkit):
    """``patter_make_call`` plus the tools that follow and steer its calls.

    ```python
    agent = create_agent(model, tools=PatterToolkit(service).get_tools())
    ```

    ``wait_seconds`` goes to :class:`PatterCallTool` (``None``: wait until each call ends).
    All tools share ``service``: its calls, safety policy and audit log.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: CallService
    wait_seconds: float | None = Field(default=None, gt=0)

    def __init__(self, service: CallService, *, wait_seconds: float | None = None) -> None:
        # BaseToolkit's generated __init__ types no fields; pydantic takes them as keywords.
        fields: dict[str, Any] = {"service": service, "wait_seconds": wait_seconds}
        super().__init__(**fields)

    @classmethod
    def from_config(
        cls,
        path: str | None = None,
        *,
        env: Mapping[str, str] = os.environ,
        wait_seconds: float | None = None,
    ) -> PatterToolkit:
        """A toolkit over the service ``getpatter-mcp`` would run with the same settings.

        The environment and the TOML file at ``path`` (default: ``$PATTER_CONFIG``) are read as
        ``getpatter-mcp`` reads them (``getpatter-mcp --help`` lists them): the Twilio or the
        Telnyx carrier, ``PATTER_WEBHOOK_URL`` or ``PATTER_TUNNEL=cloudflare``, the in-call
        agent and its engine (``PATTER_ENGINE``: OpenAI Realtime, or an ElevenLabs ConvAI
        agent), the safety policy and the audit log; with no carrier settings, the sandbox.
        ``PATTER_MCP_TOKEN`` (``[mcp] token``) guards the MCP server's HTTP transport only, so
        a file shared with ``getpatter-mcp`` may hold it: the toolkit has no transport to guard.
        Raises :class:`~getpatter.errors.ConfigError` naming what to set. The service starts
        with the first call; close it with :meth:`aclose` (or :meth:`close`).
        """
        from getpatter_mcp.config import build_service, load_config

        return cls(build_service(load_config(env, path)), wait_seconds=wait_seconds)

    def get_tools(self) -> list[BaseTool]:
        """Make a call; read, hang up, transfer it; press keys on it."""
        return [
            PatterCallTool(service=self.service, wait_seconds=self.wait_seconds),
            PatterGetCallTool(service=self.service),
            PatterHangupCallTool(service=self.service),
            PatterTransferCallTool(service=self.service),
            PatterSendDtmfTool(service=self.service),
        ]

    def close(self) -> None:
        """Close the service from synchronous code: hang up its calls, stop its event loop.

        For services the tools ran with ``invoke``; in async code use :meth:`aclose`.
        """
        runner = runner_for(self.service)
        runner.run(self._close_service, _ignore)
        runner.stop()

    async def aclose(self) -> None:
        """Close the service on whichever event loop it runs: hang up its calls, stop serving."""
        runner = runner_for(self.service)
        await runner.arun(self._close_service, _aignore)
        await asyncio.to_thread(runner.stop)

    async def _close_service(self, emit: Emit) -> None:
        await self.service.aclose()


def _ignore(report: dict[str, Any]) -> None:
    """Closing reports no progress."""


async def _aignore(report: dict[str, Any]) -> None:
    """Closing reports no progress."""
