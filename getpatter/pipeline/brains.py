"""What answers the caller in pipeline mode: an LLM, or your ``on_message`` (function or URL).

Each brain turns the conversation so far into a stream of
:class:`~getpatter.llm.base.LLMChunk`\\ s, so the turn loop speaks every kind the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from getpatter._callables import call_maybe_async, takes_two
from getpatter._validation import require_bool, require_number, require_str
from getpatter.call import CallControl
from getpatter.errors import ConfigError, InputValidationError, PatterConnectionError, PatterError
from getpatter.llm.base import LLMChunk, LLMProvider
from getpatter.llm.chat_context import ChatContext

__all__ = [
    "Brain",
    "CallInfo",
    "LLMBrain",
    "MessageHandlerBrain",
    "MessageWebhook",
    "message_payload",
]

logger = logging.getLogger("getpatter.pipeline")


@dataclass(frozen=True)
class CallInfo:
    """The call a brain answers on: identity for ``on_message`` and its :class:`CallControl`."""

    call_id: str
    caller: str
    callee: str
    control: CallControl | None = None


class Brain(Protocol):
    """Produces the agent's next message."""

    uses_tools: bool
    """True when the brain may ask for tools (an LLM); ``on_message`` never does."""

    def respond(
        self, context: ChatContext, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[LLMChunk]:
        """Stream the reply to the conversation in ``context``."""
        ...


class LLMBrain:
    """A pipeline LLM (spec LLM-1); it is offered tools when it declares ``tool_calling``."""

    def __init__(self, llm: LLMProvider) -> None:
        self.llm = llm
        self.uses_tools = llm.capabilities.tool_calling

    def respond(
        self, context: ChatContext, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[LLMChunk]:
        return self.llm.stream(context, tools)


def message_payload(context: ChatContext, call: CallInfo) -> dict[str, Any]:
    """The dict ``on_message`` receives (OM-2): the caller's last words and the history."""
    history = context.history()
    text = next((m["text"] for m in reversed(history) if m["role"] == "user"), "")
    return {
        "text": text,
        "call_id": call.call_id,
        "caller": call.caller,
        "callee": call.callee,
        "history": history,
    }


class MessageHandlerBrain:
    """``on_message`` as a function: ``handler(message)`` or ``handler(message, call)`` (OM-1/3).

    The returned string is spoken; ``None`` or ``""`` says nothing. A handler that raises says
    nothing for that turn (the error is logged and reported as an error event).
    """

    uses_tools = False

    def __init__(self, handler: Callable[..., Any], call: CallInfo) -> None:
        self._handler = handler
        self._call = call
        self._with_control = takes_two(handler)

    async def respond(
        self, context: ChatContext, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[LLMChunk]:
        payload = message_payload(context, self._call)
        args: tuple[Any, ...] = (payload, self._call.control) if self._with_control else (payload,)
        try:
            result = await call_maybe_async(self._handler, *args)
        except Exception as exc:
            logger.exception("call %s: on_message raised", self._call.call_id)
            raise PatterError(f"on_message raised {type(exc).__name__}: {exc}") from exc
        if result is not None and not isinstance(result, str):
            raise PatterError(
                f"on_message must return the text to speak (str) or None, got {type(result).__name__}"
            )
        if result:
            yield LLMChunk(type="text", text=result)
        yield LLMChunk(type="done")


@dataclass(frozen=True)
class MessageWebhook:
    """``on_message`` as an HTTP endpoint: ``serve(on_message="https://...")`` or this object.

    Each finished caller utterance is POSTed as JSON (the same dict a function handler gets:
    ``text``, ``call_id``, ``caller``, ``callee``, ``history``). The endpoint answers with JSON
    ``{"text": "..."}`` (or a plain-text body) within ``timeout`` seconds; that text is spoken.
    Requests to private, loopback, link-local and other non-public addresses are refused unless
    ``allow_private=True`` (for a service on your own network, or tests).
    """

    url: str
    timeout: float = 10.0
    allow_private: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_str("on_message url", self.url, allow_empty=False)
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"on_message URL must be http(s)://host/..., got {self.url!r}")
        require_number("MessageWebhook timeout", self.timeout, minimum=0.1)
        require_bool("MessageWebhook allow_private", self.allow_private)
        if not isinstance(self.headers, dict):
            raise ConfigError("MessageWebhook headers must be a dict of strings")

    def brain(self, call: CallInfo) -> WebhookBrain:
        """The brain for one call."""
        return WebhookBrain(self, call)


class WebhookBrain:
    """Runs a :class:`MessageWebhook` for one call."""

    uses_tools = False

    def __init__(self, webhook: MessageWebhook, call: CallInfo) -> None:
        self._webhook = webhook
        self._call = call

    async def respond(
        self, context: ChatContext, tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[LLMChunk]:
        from getpatter._webhooks import PrivateAddressError, WebhookError, post_json

        webhook = self._webhook
        payload = message_payload(context, self._call)
        try:
            answer = await post_json(
                webhook.url,
                payload,
                time_limit=webhook.timeout,
                headers=webhook.headers,
                public_only=not webhook.allow_private,
            )
        except PrivateAddressError as exc:
            raise InputValidationError(
                f"on_message URL {exc.host!r} is a private or local address ({exc.address}); "
                "pass MessageWebhook(url, allow_private=True) to allow it"
            ) from None
        except WebhookError as exc:
            if exc.timed_out:
                raise PatterConnectionError(
                    f"on_message URL did not answer within {webhook.timeout:g} s"
                ) from None
            raise PatterConnectionError(
                f"on_message URL could not be reached: {exc.reason}"
            ) from None
        if not answer.ok:
            raise PatterConnectionError(f"on_message URL answered HTTP {answer.status}")
        text = _reply_text(answer.content_type, answer.text)
        if text:
            yield LLMChunk(type="text", text=text)
        yield LLMChunk(type="done")


def _reply_text(content_type: str, body: str) -> str:
    if "json" not in content_type:
        return body.strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise PatterError('on_message URL sent invalid JSON: answer {"text": "..."}') from None
    if isinstance(data, dict) and isinstance(data.get("text"), str | None):
        return str(data.get("text") or "")
    raise PatterError('on_message URL must answer {"text": "..."} (or a plain-text body)')
