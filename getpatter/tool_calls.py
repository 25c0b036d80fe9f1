"""Running the tools a model calls: in-process handlers and webhooks (spec 05, TH and TW).

A tool call never raises into the conversation: whatever happens, the model gets a string back,
and on failure that string says what went wrong so the model can tell the caller.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from getpatter.errors import PatterError

__all__ = ["DefaultToolExecutor"]

logger = logging.getLogger("getpatter.tools")

WEBHOOK_TIMEOUT = 10.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_RETRY_DELAY = 0.5
WEBHOOK_MAX_BYTES = 1024 * 1024
HANDLER_TIMEOUT = 30.0


class DefaultToolExecutor:
    r"""Runs tools by name, as every Patter call does: handlers in-process, webhooks by POST.

    ``tools`` takes what ``agent(tools=...)`` takes (:class:`~getpatter.Tool`\ s, ``@tool``
    functions, dicts). Use it to run an agent's tools from your own LLM loop: offer
    :meth:`declarations` to the model, then ``await executor.run(name, arguments, context)``
    for each call it makes. A handler gets ``(arguments, context)`` and has ``handler_timeout``
    seconds; a webhook gets spec TW-1's body, up to 3 attempts of ``webhook_timeout`` seconds.
    """

    def __init__(
        self,
        tools: Sequence[Any] | None = None,
        *,
        webhook_timeout: float = WEBHOOK_TIMEOUT,
        retry_delay: float = WEBHOOK_RETRY_DELAY,
        handler_timeout: float = HANDLER_TIMEOUT,
    ) -> None:
        from getpatter.tools import normalize_tools

        normalized = normalize_tools(list(tools) if tools is not None else None) or []
        self._tools = {tool["name"]: tool for tool in normalized}
        self._webhook_timeout = webhook_timeout
        self._retry_delay = retry_delay
        self._handler_timeout = handler_timeout

    def declarations(self) -> list[dict[str, Any]]:
        """What the model sees of each tool: name, description and JSON-Schema parameters."""
        return [
            {"name": t["name"], "description": t["description"], "parameters": t["parameters"]}
            for t in self._tools.values()
        ]

    def transport(self, name: str) -> str:
        """``handler``, ``webhook`` or ``unknown``: how ``name`` runs (for events and spans)."""
        tool = self._tools.get(name)
        if tool is None:
            return "unknown"
        return "handler" if tool["handler"] is not None else "webhook"

    async def run(
        self,
        name: str,
        arguments: str | Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
    ) -> str:
        """Run tool ``name`` with the model's ``arguments`` (its JSON text, or the parsed
        object); return the result for the model. It never raises: a failure comes back as a
        JSON ``{"error": ...}`` string the model can read out.

        ``context`` carries ``call_id``, ``caller``, ``callee`` (and, for handlers in a call,
        ``call``, the call's :class:`~getpatter.CallControl`).
        """
        context = context if context is not None else {}
        tool = self._tools.get(name)
        if tool is None:
            return _error(f"there is no tool named {name!r}")
        if isinstance(arguments, Mapping):
            parsed: object = dict(arguments)
        else:
            try:
                parsed = json.loads(arguments or "{}")
            except json.JSONDecodeError:
                return _error("the arguments were not valid JSON")
        if not isinstance(parsed, dict):
            return _error("the arguments must be a JSON object")
        if tool["handler"] is not None:
            return await self._run_handler(name, tool["handler"], parsed, context)
        return await self._post_webhook(name, tool["webhook_url"], parsed, context)

    async def _run_handler(
        self, name: str, handler: Any, arguments: dict[str, Any], context: Mapping[str, Any]
    ) -> str:
        try:
            async with asyncio.timeout(self._handler_timeout):
                if inspect.iscoroutinefunction(handler):
                    result = await handler(arguments, dict(context))
                else:
                    result = await asyncio.to_thread(handler, arguments, dict(context))
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError:
            logger.warning("tool %r timed out after %.0f s", name, self._handler_timeout)
            return _error(f"the tool did not answer within {self._handler_timeout:g} seconds")
        except PatterError as exc:
            # Patter's own refusals (a transfer the safety policy refused...) say what happened
            # and hold no secret: the model reads them to tell the caller.
            logger.warning("tool %r: %s", name, exc.message)
            return _error(exc.message)
        except Exception as exc:
            logger.exception("tool %r raised", name)
            return _error(f"the tool failed: {type(exc).__name__}")
        return _as_text(result)

    async def _post_webhook(
        self, name: str, url: str, arguments: dict[str, Any], context: Mapping[str, Any]
    ) -> str:
        from getpatter._webhooks import WebhookError, WebhookTooLarge, post_json

        body = {
            "tool": name,
            "arguments": arguments,
            "call_id": context.get("call_id", ""),
            "caller": context.get("caller", ""),
            "callee": context.get("callee", ""),
        }
        problem = ""
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            if attempt > 1:
                await asyncio.sleep(self._retry_delay)
            try:
                answer = await post_json(
                    url,
                    {**body, "attempt": attempt},
                    time_limit=self._webhook_timeout,
                    max_bytes=WEBHOOK_MAX_BYTES,
                )
            except WebhookTooLarge:
                return _error("the tool's answer was larger than 1 MB")
            except WebhookError as exc:
                problem = f"the tool's server could not be reached ({exc.reason})"
                continue
            if not answer.ok:
                problem = f"the tool's server answered HTTP {answer.status}"
                continue
            try:
                return _as_text(json.loads(answer.body))
            except ValueError:
                return answer.text
        logger.warning("tool %r failed after %d attempts: %s", name, WEBHOOK_ATTEMPTS, problem)
        return _error(problem)


def _as_text(result: object) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result)
    except (TypeError, ValueError):
        return str(result)


def _error(message: str) -> str:
    return json.dumps({"error": message})
