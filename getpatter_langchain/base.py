"""What every Patter LangChain tool shares: the service, error mapping, content and progress.

A tool subclass parses its arguments and asks the :class:`~getpatter.control.CallService`;
:class:`PatterServiceTool` runs that on the service's event loop (``invoke`` and ``ainvoke``
both work), marks the requests as LangChain's in the audit log, turns Patter's refusals and
input errors into :class:`ToolException` so the agent loop goes on, and returns
``(content, artifact)``: text for the model, and the call's full result envelope (with
``response_format="content"``, the text alone).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import patch_config
from langchain_core.tools import BaseTool, ToolException
from langchain_core.tools.base import ToolExceptionHandlerOutput

from getpatter.control.record import CallRecord
from getpatter.control.service import CallService, acting_for
from getpatter.errors import PatterError, PolicyError
from getpatter_langchain.runner import Emit, runner_for

__all__ = ["PROGRESS_EVENT", "PatterServiceTool", "call_content", "progress_report"]

PROGRESS_EVENT = "patter_progress"
"""The name of the custom event a tool dispatches on every update of the call it waits for."""

ToolResult = tuple[str, dict[str, Any]]

_CLIENT = "langchain"
_SPEAKERS = {"agent": "Agent", "user": "User"}


def call_content(record: CallRecord, headline: str = "") -> str:
    """What the model reads about a call: a headline, the summary, the transcript so far."""
    lines = [headline] if headline else []
    lines.append(record.summary())
    if not record.ended:
        lines.append(
            "The call is still going on: read it again with patter_get_call, or end it "
            "with patter_hangup_call."
        )
    if record.transcript:
        lines.append("Transcript:")
        lines.extend(f"{_SPEAKERS[line.role]}: {line.text}" for line in record.transcript)
    return "\n".join(lines)


def progress_report(record: CallRecord) -> dict[str, Any]:
    """The data of a :data:`PROGRESS_EVENT`: where the call stands and its latest line."""
    last = record.transcript[-1] if record.transcript else None
    return {
        "call_id": record.call_id,
        "status": record.status,
        "to": record.to,
        "line": None if last is None else {"role": last.role, "text": last.text},
        "lines": len(record.transcript),
        "ended": record.ended,
    }


class PatterServiceTool(BaseTool):
    """Base of the Patter tools: subclasses implement :meth:`_act`.

    ``service`` is the :class:`CallService` that places and controls the calls; tools built on
    one service share its calls, safety policy and audit log. A service started by your code
    must be used with ``ainvoke`` on the loop it started on; with plain ``invoke`` let the
    tools start it (they run it on a background event loop; close it with
    :meth:`PatterToolkit.close <getpatter_langchain.PatterToolkit.close>`).
    """

    service: CallService
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool | str | Callable[[ToolException], ToolExceptionHandlerOutput] | None = (
        True
    )

    @abstractmethod
    async def _act(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        """Do the tool's work on the service's loop; ``emit`` reports progress."""

    def _run(
        self,
        *,
        run_manager: CallbackManagerForToolRun | None = None,
        config: RunnableConfig,
        **arguments: Any,
    ) -> ToolResult | str:
        writer = _stream_writer()
        events = (
            None if run_manager is None else patch_config(config, callbacks=run_manager.get_child())
        )

        def on_progress(report: dict[str, Any]) -> None:
            if events is not None:
                dispatch_custom_event(PROGRESS_EVENT, report, config=events)
            if writer is not None:
                writer({"type": PROGRESS_EVENT, **report})

        return self._shaped(
            runner_for(self.service).run(lambda emit: self._guarded(arguments, emit), on_progress)
        )

    async def _arun(
        self,
        *,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        config: RunnableConfig,
        **arguments: Any,
    ) -> ToolResult | str:
        writer = _stream_writer()
        events = (
            None if run_manager is None else patch_config(config, callbacks=run_manager.get_child())
        )

        async def on_progress(report: dict[str, Any]) -> None:
            if events is not None:
                await adispatch_custom_event(PROGRESS_EVENT, report, config=events)
            if writer is not None:
                writer({"type": PROGRESS_EVENT, **report})

        return self._shaped(
            await runner_for(self.service).arun(
                lambda emit: self._guarded(arguments, emit), on_progress
            )
        )

    def _shaped(self, result: ToolResult) -> ToolResult | str:
        """``(content, envelope)``, or the content alone with ``response_format="content"``."""
        return result if self.response_format == "content_and_artifact" else result[0]

    async def _guarded(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        token = acting_for.set(_CLIENT)
        try:
            return await self._act(arguments, emit)
        except PolicyError as exc:
            raise ToolException(f"Refused by rule '{exc.rule}': {exc.message}") from exc
        except PatterError as exc:
            raise ToolException(exc.message) from exc
        finally:
            acting_for.reset(token)


def _stream_writer() -> Callable[[Any], None] | None:
    """LangGraph's custom-stream writer when a graph runs this tool, else ``None``."""
    try:
        from langgraph.config import get_stream_writer
    except ImportError:
        return None
    try:
        return get_stream_writer()
    except (RuntimeError, KeyError):
        return None
