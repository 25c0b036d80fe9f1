"""The conversation a pipeline LLM sees: messages, tool calls, and provider formats (LLM-8).

:class:`ChatContext` is the one record of a call's conversation. It renders itself in the
OpenAI chat-completions shape (also used by Groq and Cerebras), in the Anthropic Messages
shape and in the Gemini ``generateContent`` shape, and yields the ``{role, text, timestamp}`` history handed to callbacks (spec 06, HI-1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from getpatter._validation import require_number, require_str
from getpatter.errors import ConfigError, InputValidationError

__all__ = ["ChatContext", "ChatMessage", "Role", "ToolCall"]

Role = Literal["system", "user", "assistant", "tool"]
_ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class ToolCall:
    """One function call requested by the model.

    ``arguments`` is the JSON text of an object, as the model produced it; an empty string is
    stored as ``"{}"`` (models send nothing for a tool without parameters).
    """

    id: str
    name: str
    arguments: str = "{}"

    def __post_init__(self) -> None:
        require_str("ToolCall id", self.id, allow_empty=False)
        require_str("ToolCall name", self.name, allow_empty=False)
        require_str(f"ToolCall {self.name!r} arguments", self.arguments)
        if not self.arguments.strip():
            object.__setattr__(self, "arguments", "{}")
        self.parsed_arguments()

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict."""
        try:
            parsed = json.loads(self.arguments)
        except json.JSONDecodeError as exc:
            raise InputValidationError(
                f"ToolCall {self.name!r} arguments are not valid JSON ({exc.msg}): pass the JSON "
                'text of an object, e.g. \'{"city": "Rome"}\''
            ) from None
        if not isinstance(parsed, dict):
            raise InputValidationError(
                f"ToolCall {self.name!r} arguments must be a JSON object, got "
                f"{type(parsed).__name__}: wrap values in an object, e.g. '{{\"value\": 1}}'"
            )
        return parsed


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation.

    ``tool_calls`` only on ``"assistant"`` messages; ``tool_call_id`` (required) and ``name``
    (the tool's name) only on ``"tool"`` messages, whose ``content`` is the tool's output.
    ``timestamp`` is Unix seconds.
    """

    role: Role
    content: str
    timestamp: float = field(default_factory=time.time)
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ConfigError(
                f"ChatMessage role must be one of {', '.join(map(repr, _ROLES))}, got {self.role!r}"
            )
        require_str("ChatMessage content", self.content)
        timestamp = require_number("ChatMessage timestamp", self.timestamp, minimum=0)
        object.__setattr__(self, "timestamp", timestamp)
        calls: object = self.tool_calls
        if not isinstance(calls, list | tuple) or not all(isinstance(c, ToolCall) for c in calls):
            raise ConfigError("ChatMessage tool_calls must be a tuple of ToolCall")
        object.__setattr__(self, "tool_calls", tuple(calls))
        require_str("ChatMessage tool_call_id", self.tool_call_id)
        require_str("ChatMessage name", self.name)
        if self.tool_calls and self.role != "assistant":
            raise ConfigError(
                f"ChatMessage tool_calls belong on assistant messages, not {self.role!r} ones"
            )
        if self.role == "tool" and not self.tool_call_id:
            raise ConfigError(
                "a tool ChatMessage needs tool_call_id: the id of the call it answers"
            )
        if self.role != "tool" and self.tool_call_id:
            raise ConfigError("ChatMessage tool_call_id belongs on tool messages only")


class ChatContext:
    """A mutable conversation: a system prompt plus user, assistant and tool messages.

    ``messages`` holds the turns in order (the system prompt is kept apart, in
    ``system_prompt``); every ``add_*`` method appends one :class:`ChatMessage` and returns it.
    """

    def __init__(self, system_prompt: str = "") -> None:
        self.system_prompt = system_prompt
        self._messages: list[ChatMessage] = []

    @property
    def system_prompt(self) -> str:
        """Instructions sent before the conversation."""
        return self._system_prompt

    @system_prompt.setter
    def system_prompt(self, value: str) -> None:
        self._system_prompt = require_str("system_prompt", value)

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """The messages in order, as a read-only snapshot."""
        return tuple(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def __repr__(self) -> str:
        return f"ChatContext({len(self._messages)} messages)"

    def add(self, message: ChatMessage) -> ChatMessage:
        """Append a ready-made message (any role; ``"system"`` messages stay in place)."""
        if not isinstance(message, ChatMessage):
            raise ConfigError(f"message must be a ChatMessage, got {type(message).__name__}")
        if message.role == "tool":
            self._require_pending_call(message.tool_call_id)
        self._messages.append(message)
        return message

    def add_user(self, text: str) -> ChatMessage:
        """Append what the caller said."""
        require_str("text", text, allow_empty=False)
        return self.add(ChatMessage("user", text))

    def add_assistant(self, text: str, tool_calls: Iterable[ToolCall] = ()) -> ChatMessage:
        """Append the agent's reply; ``text`` may be empty when the reply is only tool calls."""
        require_str("text", text)
        calls = tuple(tool_calls)
        if not text and not calls:
            raise ConfigError("an assistant message needs text or tool_calls")
        return self.add(ChatMessage("assistant", text, tool_calls=calls))

    def add_tool_result(self, tool_call_id: str, name: str, content: str) -> ChatMessage:
        """Append a tool's output, answering the earlier call ``tool_call_id``."""
        require_str("tool_call_id", tool_call_id, allow_empty=False)
        require_str("name", name)
        require_str("content", content)
        return self.add(ChatMessage("tool", content, tool_call_id=tool_call_id, name=name))

    def truncate_last_assistant(self, heard_text: str) -> None:
        """Cut the last assistant message to what the caller heard before a barge-in.

        ``heard_text`` replaces the message's text. When nothing was heard the message goes,
        unless it carries tool calls (their results must keep an answer to point at): then only
        its text is emptied. Does nothing when there is no assistant message.
        """
        require_str("heard_text", heard_text)
        heard = heard_text.strip()
        for index in range(len(self._messages) - 1, -1, -1):
            message = self._messages[index]
            if message.role != "assistant":
                continue
            if heard or message.tool_calls:
                self._messages[index] = ChatMessage(
                    "assistant", heard, timestamp=message.timestamp, tool_calls=message.tool_calls
                )
            else:
                del self._messages[index]
            return

    def history(self) -> list[dict[str, Any]]:
        """User and assistant turns with text, oldest first, as ``{role, text, timestamp}``."""
        return [
            {"role": m.role, "text": m.content, "timestamp": m.timestamp}
            for m in self._messages
            if m.role in ("user", "assistant") and m.content
        ]

    def copy(self) -> ChatContext:
        """An independent context with the same prompt and messages."""
        clone = ChatContext(self._system_prompt)
        clone._messages = list(self._messages)
        return clone

    def to_openai(self) -> list[dict[str, Any]]:
        """Chat-completions ``messages``: system prompt first, tool calls as ``function`` calls."""
        out: list[dict[str, Any]] = []
        if self._system_prompt:
            out.append({"role": "system", "content": self._system_prompt})
        for m in self._messages:
            if m.role == "tool":
                out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
            elif m.tool_calls:
                out.append(
                    {
                        "role": "assistant",
                        "content": m.content or None,
                        "tool_calls": [
                            {
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": call.arguments},
                            }
                            for call in m.tool_calls
                        ],
                    }
                )
            else:
                out.append({"role": m.role, "content": m.content})
        return out

    def to_anthropic(self) -> tuple[str, list[dict[str, Any]]]:
        """Messages API ``(system, messages)``.

        ``system`` joins the system prompt and any system messages. Messages use content blocks
        (``text``, ``tool_use``, ``tool_result``); tool results travel in user messages, and
        consecutive messages of one role are merged, as the API requires. Empty text is left
        out, since the API refuses empty text blocks.
        """
        system_parts = [self._system_prompt] if self._system_prompt else []
        out: list[dict[str, Any]] = []
        for m in self._messages:
            if m.role == "system":
                if m.content:
                    system_parts.append(m.content)
                continue
            role, blocks = _anthropic_blocks(m)
            if not blocks:
                continue
            if out and out[-1]["role"] == role:
                out[-1]["content"].extend(blocks)
            else:
                out.append({"role": role, "content": blocks})
        return "\n\n".join(system_parts), out

    def to_gemini(self) -> tuple[str, list[dict[str, Any]]]:
        """Gemini ``generateContent`` ``(system_instruction, contents)``.

        ``system_instruction`` joins the system prompt and any system messages. ``contents``
        are ``{"role": "user" | "model", "parts": [...]}``: assistant text and ``functionCall``
        parts (``id``, ``name``, ``args``) in ``model`` turns; tool results as
        ``functionResponse`` parts (``id``, ``name``, ``response: {"output": text}``) in
        ``user`` turns; consecutive turns of one role merged. Empty text is left out. A tool
        message without ``name`` takes the name of the call it answers.
        """
        system_parts = [self._system_prompt] if self._system_prompt else []
        call_names: dict[str, str] = {}
        out: list[dict[str, Any]] = []
        for m in self._messages:
            if m.role == "system":
                if m.content:
                    system_parts.append(m.content)
                continue
            call_names.update((call.id, call.name) for call in m.tool_calls)
            role, parts = _gemini_parts(m, call_names)
            if not parts:
                continue
            if out and out[-1]["role"] == role:
                out[-1]["parts"].extend(parts)
            else:
                out.append({"role": role, "parts": parts})
        return "\n\n".join(system_parts), out

    def _require_pending_call(self, tool_call_id: str) -> None:
        for m in self._messages:
            if any(call.id == tool_call_id for call in m.tool_calls):
                return
        raise InputValidationError(
            f"tool_call_id={tool_call_id!r} answers no earlier tool call: add the assistant "
            "message with that ToolCall first"
        )


def _anthropic_blocks(message: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        block = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
        }
        return "user", [block]
    text = message.content.strip()
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed_arguments()}
        for call in message.tool_calls
    )
    return message.role, blocks


def _gemini_parts(
    message: ChatMessage, call_names: dict[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        response = {
            "id": message.tool_call_id,
            "name": message.name or call_names.get(message.tool_call_id, ""),
            "response": {"output": message.content},
        }
        return "user", [{"functionResponse": response}]
    text = message.content.strip()
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts.extend(
        {"functionCall": {"id": call.id, "name": call.name, "args": call.parsed_arguments()}}
        for call in message.tool_calls
    )
    return ("model" if message.role == "assistant" else "user"), parts
