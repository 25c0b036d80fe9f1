"""Tools that read and steer a call in progress: get, hang up, transfer, press keys.

Each returns ``(summary + transcript, envelope)`` like :class:`~getpatter_langchain.PatterCallTool`
and turns refusals and bad input into an error :class:`~langchain_core.messages.ToolMessage`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field

from getpatter._validation import E164_PATTERN
from getpatter_langchain.base import PatterServiceTool, ToolResult, call_content
from getpatter_langchain.runner import Emit

__all__ = [
    "CallIdInput",
    "PatterGetCallTool",
    "PatterHangupCallTool",
    "PatterSendDtmfTool",
    "PatterTransferCallTool",
    "SendDtmfInput",
    "TransferCallInput",
]

_CALL_ID = "The call's id, as patter_make_call returned it."


class CallIdInput(BaseModel):
    """The arguments of ``patter_get_call`` and ``patter_hangup_call``."""

    call_id: str = Field(description=_CALL_ID, min_length=1)


class TransferCallInput(BaseModel):
    """The arguments of ``patter_transfer_call``."""

    call_id: str = Field(description=_CALL_ID, min_length=1)
    to: str = Field(
        description="Where to transfer the call, in E.164 format (e.g. +14155550123).",
        pattern=E164_PATTERN,
    )


class SendDtmfInput(BaseModel):
    """The arguments of ``patter_send_dtmf``."""

    call_id: str = Field(description=_CALL_ID, min_length=1)
    digits: str = Field(
        description="Keys to press: 0-9, *, #, A-D; 'w' pauses half a second.",
        pattern=r"^[0-9*#A-DwW]+$",
    )


class PatterGetCallTool(PatterServiceTool):
    """Where a call stands now: status, transcript so far, cost once it has ended."""

    name: str = "patter_get_call"
    description: str = (
        "Read a phone call placed with patter_make_call: its status, the transcript so far "
        "and, once it has ended, its duration and cost."
    )
    args_schema: ArgsSchema | None = CallIdInput

    async def _act(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        request = CallIdInput.model_validate(arguments)
        record = self.service.get_call(request.call_id)
        return call_content(record), record.to_dict()


class PatterHangupCallTool(PatterServiceTool):
    """Hang up a call, after the agent's current sentence."""

    name: str = "patter_hangup_call"
    description: str = (
        "Hang up a phone call in progress (after the voice agent finishes its current sentence)."
    )
    args_schema: ArgsSchema | None = CallIdInput

    async def _act(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        request = CallIdInput.model_validate(arguments)
        record = await self.service.hangup(request.call_id)
        return call_content(record, f"Hanging up call {record.call_id}."), record.to_dict()


class PatterTransferCallTool(PatterServiceTool):
    """Transfer a call to another number, which the safety policy must allow."""

    name: str = "patter_transfer_call"
    description: str = (
        "Transfer a phone call in progress to another number (E.164, e.g. +14155550123), for "
        "example to hand the person over to a human. The number must be one the user allows."
    )
    args_schema: ArgsSchema | None = TransferCallInput

    async def _act(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        request = TransferCallInput.model_validate(arguments)
        record = await self.service.transfer(request.call_id, request.to)
        headline = f"Transferring call {record.call_id} to {request.to}."
        return call_content(record, headline), record.to_dict()


class PatterSendDtmfTool(PatterServiceTool):
    """Press keys on a call (to get through a phone menu)."""

    name: str = "patter_send_dtmf"
    description: str = (
        "Press keys (DTMF tones) on a phone call in progress, e.g. to choose an option in a "
        "phone menu: digits 0-9, * and #."
    )
    args_schema: ArgsSchema | None = SendDtmfInput

    async def _act(self, arguments: dict[str, Any], emit: Emit) -> ToolResult:
        request = SendDtmfInput.model_validate(arguments)
        record = await self.service.send_dtmf(request.call_id, request.digits)
        headline = f"Pressed {request.digits} on call {record.call_id}."
        return call_content(record, headline), record.to_dict()
