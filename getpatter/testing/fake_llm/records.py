"""What the fake LLM servers record about each request, for assertions."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

from getpatter.testing.scenario import ToolCall

__all__ = ["FakeLLMRequest"]

_MODEL_IN_PATH = re.compile(r"/models/([^/:]+):")
"""Gemini names the model in the URL (``/v1beta/models/gemini-2.5-flash:streamGenerateContent``)."""


def _has_key(value: object, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return False


@dataclass
class FakeLLMRequest:
    """One request a fake LLM server received, updated while it is answered.

    ``body`` is the JSON body as sent; ``api_key`` the key the client presented. ``turn`` is
    the scenario reply it answers (the number of caller turns in the conversation, minus one;
    -1 when there is none). ``status`` is the HTTP status answered; ``failed`` is set when a
    fault stopped it (an error status, or an error event in the stream). ``text_sent`` and
    ``tool_calls_sent`` grow as the answer is written.

    Times are ``time.monotonic()`` seconds: ``received_at``; ``first_token_at`` when the first
    text or tool-call event was written; ``ended_at`` when the answer ended. ``completed``:
    the whole answer was written; ``disconnected``: the client left before that.
    """

    index: int
    path: str
    body: dict[str, Any]
    api_key: str
    headers: dict[str, str] = field(default_factory=dict)
    turn: int = -1
    status: int = 200
    failed: bool = False
    text_sent: str = ""
    tool_calls_sent: list[ToolCall] = field(default_factory=list)
    received_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    ended_at: float | None = None
    completed: bool = False
    disconnected: bool = False
    _ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    @property
    def model(self) -> str:
        """The ``model`` requested: in the body, or in the URL path (Gemini)."""
        if "model" in self.body:
            return str(self.body["model"])
        found = _MODEL_IN_PATH.search(self.path)
        return found.group(1) if found else ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` as sent."""
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The ``tools`` as declared in the request (empty when none)."""
        tools = self.body.get("tools")
        return tools if isinstance(tools, list) else []

    @property
    def system(self) -> Any:
        """Anthropic's top-level ``system`` (a str or text blocks), or None."""
        return self.body.get("system")

    @property
    def max_tokens(self) -> int | None:
        """``max_tokens``, or OpenAI's ``max_completion_tokens``, when sent."""
        value = self.body.get("max_tokens", self.body.get("max_completion_tokens"))
        return value if isinstance(value, int) else None

    @property
    def cache_control(self) -> bool:
        """True when any part of the request carries a ``cache_control`` marker."""
        return _has_key(self.body, "cache_control")

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from receiving the request to writing its first token, when one was."""
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.received_at

    async def ended(self) -> None:
        """Wait until the answer ended: completed, failed, or the client left."""
        await self._ended.wait()
