""":class:`PatterTool`: one phone call as a tool any agent framework can call.

The orchestrating model calls ``make_phone_call`` with a number and a goal; the in-call agent
holds the conversation; the tool returns when the call is over, with its transcript, status
and cost. Built on :class:`~getpatter.control.CallService`, so the safety policy and the audit
log apply to it as to the MCP server.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from getpatter._validation import E164_PATTERN, require_bool, require_int, require_str
from getpatter.agent import Agent
from getpatter.client import Patter
from getpatter.control.policy import SafetyPolicy
from getpatter.control.record import CallRecord
from getpatter.control.service import CallService
from getpatter.errors import ConfigError, InputValidationError, PatterError
from getpatter.integrations.provider_names import agent_from_dict

__all__ = ["PatterTool", "PatterToolResult", "call_arguments_schema"]

DEFAULT_NAME = "make_phone_call"
DEFAULT_DESCRIPTION = (
    "Place a phone call to a number (E.164, e.g. +14155550123). An AI voice agent talks to "
    "whoever answers, pursuing `goal`, and the tool returns when the call ends with its "
    "status, transcript and cost. Calls cost money and reach real people: only call numbers "
    "the user asked you to call."
)
MAX_CALL_SECONDS = 1800
DEFAULT_CALL_SECONDS = 180
_END_REPORT_GRACE = 30.0
"""After the time limit hangs up, how long to wait for the call's end report."""


def call_arguments_schema() -> dict[str, Any]:
    """The JSON schema of the tool's arguments (spec PT-8), shared by every exporter."""
    return {
        "type": "object",
        "properties": {
            "to": {
                "type": "string",
                "description": "The number to call, in E.164 format (e.g. +14155550123).",
                "pattern": E164_PATTERN,
            },
            "goal": {
                "type": "string",
                "description": "What the call should achieve; the in-call agent's instructions.",
            },
            "first_message": {
                "type": "string",
                "description": "The first sentence spoken when the call is answered.",
            },
            "max_duration_sec": {
                "type": "integer",
                "description": "Hang up after this many seconds (default 180).",
                "minimum": 1,
                "maximum": MAX_CALL_SECONDS,
                "default": DEFAULT_CALL_SECONDS,
            },
        },
        "required": ["to"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class PatterToolResult:
    """How a call went (spec PT-9).

    ``status`` is ``completed``, ``no-answer``, ``busy``, ``failed`` or ``timeout``;
    ``outcome`` is the finer carrier/session detail (``voicemail``, ``transferred``,
    ``canceled``...). ``transcript`` lines are ``{"role": "agent" | "user", "text": ...}``;
    ``metrics`` is ``{"p95_latency_ms": ..., "cost": {"stt", "tts", "llm", "telephony"}}``.
    """

    call_id: str
    status: str
    duration_seconds: float
    cost_usd: float
    transcript: list[dict[str, str]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""
    mode: str = "live"

    @classmethod
    def from_record(cls, record: CallRecord) -> PatterToolResult:
        """The result of an ended call."""
        envelope = record.to_dict()
        return cls(
            call_id=record.call_id,
            status=record.status,
            duration_seconds=envelope["duration_seconds"],
            cost_usd=envelope["cost_usd"],
            transcript=envelope["transcript"],
            metrics=envelope["metrics"],
            outcome=record.outcome,
            mode=record.mode,
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able data."""
        return asdict(self)


class PatterTool:
    """A phone call as a tool: see the module docstring.

    ``phone`` is a :class:`Patter` with a carrier and a stable ``webhook_url`` (``tunnel=True``
    is for local development). ``agent`` is the in-call agent: an :class:`Agent`, or a dict of
    ``phone.agent()`` arguments where providers may be named (``{"stt": "deepgram", "llm":
    "openai", "tts": "elevenlabs"}``, see :mod:`getpatter.integrations.provider_names`).
    ``max_duration_sec`` is the default limit of a call (the model may ask for less or more, up to the policy's cap). ``recording``
    records calls. ``policy`` defaults to :class:`SafetyPolicy()`, which refuses every real
    number until ``allowed_prefixes`` says which may be called. Pass ``service`` instead of
    ``phone``/``agent`` to share one :class:`CallService` with other integrations; ``recording``,
    ``policy``, ``port`` and ``host`` are then the service's own and are refused here.
    """

    def __init__(
        self,
        phone: Patter | None = None,
        agent: Agent | Mapping[str, Any] | None = None,
        name: str = DEFAULT_NAME,
        description: str = DEFAULT_DESCRIPTION,
        max_duration_sec: int = DEFAULT_CALL_SECONDS,
        recording: bool = False,
        *,
        policy: SafetyPolicy | None = None,
        port: int = 8000,
        host: str = "0.0.0.0",
        service: CallService | None = None,
    ) -> None:
        self.name = require_str("name", name, allow_empty=False)
        self.description = require_str("description", description, allow_empty=False)
        self.max_duration_sec = require_int(
            "max_duration_sec", max_duration_sec, minimum=1, maximum=MAX_CALL_SECONDS
        )
        require_bool("recording", recording)
        if service is not None:
            if not isinstance(service, CallService):
                raise ConfigError(f"service must be a CallService, got {type(service).__name__}")
            if phone is not None or agent is not None:
                raise ConfigError("pass service= or phone=/agent=, not both")
            given = [
                name
                for name, value, default in (
                    ("recording", recording, False),
                    ("policy", policy, None),
                    ("port", port, 8000),
                    ("host", host, "0.0.0.0"),
                )
                if value != default
            ]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} cannot be applied to a service that already exists: "
                    "pass them to CallService(...) instead, or drop service="
                )
            self.service = service
        else:
            if isinstance(agent, Mapping):
                agent = agent_from_dict(agent)
            elif agent is not None and not isinstance(agent, Agent):
                raise ConfigError(
                    "agent must be phone.agent(...) or a dict of its arguments, such as "
                    '{"stt": "deepgram", "llm": "openai", "tts": "elevenlabs"}, got '
                    f"{type(agent).__name__}"
                )
            self.service = CallService(
                phone, agent, policy=policy, port=port, host=host, recording=recording
            )
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        """Start serving (once: further calls do nothing)."""
        async with self._start_lock:
            await self.service.start()

    async def stop(self) -> None:
        """Hang up calls in progress and stop serving."""
        await self.service.aclose()

    async def execute(self, args: Mapping[str, Any]) -> PatterToolResult:
        """Place the call ``args`` describes (see :func:`call_arguments_schema`); wait for its end.

        Concurrent calls run side by side; each result is its own call's. Raises
        :class:`~getpatter.errors.InputValidationError` for bad arguments and
        :class:`~getpatter.errors.PolicyError` when the safety policy refuses the call.
        """
        if not isinstance(args, Mapping):
            raise InputValidationError(
                f"execute() takes a dict of arguments like {{'to': '+1...'}}, got {type(args).__name__}"
            )
        unknown = set(args) - set(call_arguments_schema()["properties"])
        if unknown:
            raise InputValidationError(
                f"unknown argument(s) {sorted(unknown)}: use to, goal, first_message, max_duration_sec"
            )
        if "to" not in args:
            raise InputValidationError("execute() needs 'to', the number to call (E.164)")
        seconds = args.get("max_duration_sec", self.max_duration_sec)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise InputValidationError(f"max_duration_sec must be an integer, got {seconds!r}")
        if not 1 <= seconds <= MAX_CALL_SECONDS:
            raise InputValidationError(
                f"max_duration_sec must be between 1 and {MAX_CALL_SECONDS}, got {seconds}"
            )
        await self.start()
        record = await self.service.place_call(
            args["to"],
            goal=args.get("goal", ""),
            first_message=args.get("first_message", ""),
            max_duration_sec=seconds,
        )
        record = await self.service.wait(
            record.call_id, record.max_duration_sec + _END_REPORT_GRACE
        )
        if not record.ended:
            raise PatterError(f"call {record.call_id} did not report its end in time")
        return PatterToolResult.from_record(record)

    # ------------------------------------------------------------------ schemas

    def openai_schema(self) -> dict[str, Any]:
        """The tool for OpenAI function calling (Chat Completions / Realtime)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": call_arguments_schema(),
            },
        }

    def anthropic_schema(self) -> dict[str, Any]:
        """The tool for Anthropic's Messages API."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": call_arguments_schema(),
        }

    def hermes_schema(self) -> dict[str, Any]:
        """The tool for a Hermes Agent registry (``parameters`` = the Anthropic input schema)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": call_arguments_schema(),
        }

    def hermes_handler(self) -> Callable[..., Awaitable[str]]:
        """An async handler returning the result as JSON, or ``{"error": "..."}`` on failure."""

        async def handle(args: Mapping[str, Any], **_context: Any) -> str:
            try:
                result = await self.execute(args)
            except PatterError as exc:
                return json.dumps({"error": exc.message})
            except Exception as exc:
                return json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            return json.dumps(result.to_dict())

        return handle

    def register_hermes(self, registry: Any, toolset: str = "patter") -> None:
        """Register this tool in a Hermes Agent tool registry in one call."""
        register = getattr(registry, "register", None)
        if not callable(register):
            raise ConfigError(
                f"register_hermes() needs a Hermes tool registry with .register(), "
                f"got {type(registry).__name__}"
            )
        options: dict[str, Any] = {
            "name": self.name,
            "toolset": require_str("toolset", toolset, allow_empty=False),
            "schema": self.hermes_schema(),
            "handler": self.hermes_handler(),
        }
        if "is_async" in inspect.signature(register).parameters:
            options["is_async"] = True
        register(**options)

    def __repr__(self) -> str:
        return f"PatterTool(name={self.name!r}, mode={self.service.mode!r})"
