"""What user code sees of a call: :class:`CallEvent`, :class:`IncomingMessage`, :class:`CallControl`,
and the :class:`TransferGuard` that may stand between a call and the number it is moved to."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from getpatter._validation import require_e164

__all__ = [
    "OPEN_TRANSFERS",
    "CallActions",
    "CallControl",
    "CallEvent",
    "IncomingMessage",
    "TransferGuard",
    "TransferPermit",
    "TransferRequest",
]


@dataclass(frozen=True)
class CallEvent:
    """The identity of a call."""

    call_id: str
    caller: str = ""
    callee: str = ""
    direction: str = ""


@dataclass(frozen=True)
class IncomingMessage:
    """One finished caller utterance, as text."""

    text: str
    call_id: str
    caller: str


@dataclass(frozen=True)
class TransferRequest:
    """Someone asks to move call ``call_id`` to ``number``.

    ``by`` says who: ``agent`` (the in-call model's ``transfer_call`` tool), ``call_control``
    (user code: a tool handler or ``on_message``), or the integration that asked the
    call-control service (``mcp``, ``langchain``, ``python``).
    """

    call_id: str
    caller: str
    callee: str
    direction: str
    number: str
    by: str


@dataclass(frozen=True)
class TransferPermit:
    """A transfer allowed: the number to dial, and the Unix time the transferred leg must end
    by (``None``: no limit)."""

    number: str
    ends_at: float | None = None

    def seconds_left(self) -> int | None:
        """Whole seconds the transferred leg may last from now (at least 1), or ``None``."""
        if self.ends_at is None:
            return None
        return max(1, math.floor(self.ends_at - time.time()))


class TransferGuard(Protocol):
    """Decides whether a transfer may happen, and hears how it went.

    ``transfer(request)`` is an async context manager: entering it allows the request (the
    :class:`TransferPermit` says how) or raises :class:`~getpatter.errors.PolicyError`; the
    transfer is carried out inside it, and an exception leaving it means the transfer failed.
    """

    def transfer(self, request: TransferRequest) -> AbstractAsyncContextManager[TransferPermit]:
        """Allow ``request`` or refuse it; see the class docstring."""
        ...


class _OpenTransfers:
    """No guard: every transfer to a valid number goes ahead, with no time limit."""

    @contextlib.asynccontextmanager
    async def transfer(self, request: TransferRequest) -> AsyncIterator[TransferPermit]:
        yield TransferPermit(number=request.number)


OPEN_TRANSFERS: TransferGuard = _OpenTransfers()
"""The guard of a server without a safety policy (plain ``serve()``): transfers are free."""


class CallActions(Protocol):
    """What a call session does when user code asks to transfer or hang up."""

    async def transfer(self, number: str) -> None:
        """Move the call to ``number`` (E.164)."""
        ...

    async def hangup(self) -> None:
        """End the call."""
        ...


class LiveCall(Protocol):
    """A call in progress, as code outside it acts on it (:meth:`getpatter.Patter.live_call`).

    Each action waits for the agent to finish its sentence first. ``say`` and ``instruct``
    raise :class:`~getpatter.errors.ConfigError` when the call's engine cannot do them.
    """

    @property
    def call_id(self) -> str:
        """The call's public id (the carrier's)."""
        ...

    async def hangup(self) -> None:
        """End the call (a call still ringing is canceled)."""
        ...

    async def transfer(self, number: str, *, by: str = "call_control") -> None:
        """Transfer the call to ``number`` (E.164), through the server's transfer guard."""
        ...

    async def say(self, text: str) -> None:
        """Speak ``text`` verbatim."""
        ...

    async def instruct(self, instruction: str) -> None:
        """Give the agent a new instruction for its next replies."""
        ...

    async def send_dtmf(self, digits: str) -> None:
        """Press keys on the line."""
        ...


class CallControl:
    """Passed as the second argument to a two-parameter ``on_message`` handler.

    Its identity fields are read-only. ``transfer()`` and ``hangup()`` ask the call session to
    act; a reply returned by the same handler is still spoken before the call leaves the agent.
    """

    __slots__ = ("_actions", "_call_id", "_callee", "_caller", "_telephony_provider")

    def __init__(
        self,
        call_id: str,
        caller: str,
        callee: str,
        telephony_provider: str,
        actions: CallActions,
    ) -> None:
        self._call_id = call_id
        self._caller = caller
        self._callee = callee
        self._telephony_provider = telephony_provider
        self._actions = actions

    @property
    def call_id(self) -> str:
        """The carrier's id of this call."""
        return self._call_id

    @property
    def caller(self) -> str:
        """The calling number (E.164)."""
        return self._caller

    @property
    def callee(self) -> str:
        """The called number (E.164)."""
        return self._callee

    @property
    def telephony_provider(self) -> str:
        """``"twilio"``, ``"telnyx"``, or ``"test"`` in terminal test mode."""
        return self._telephony_provider

    async def transfer(self, number: str) -> None:
        """Transfer the call to ``number``, an E.164 phone number."""
        await self._actions.transfer(require_e164("transfer number", number))

    async def hangup(self) -> None:
        """Hang up the call."""
        await self._actions.hangup()

    def __repr__(self) -> str:
        return (
            f"CallControl(call_id={self._call_id!r}, caller={self._caller!r}, "
            f"callee={self._callee!r}, telephony_provider={self._telephony_provider!r})"
        )
