"""The safety policy on transfers: every way a call can be moved to another number.

A transfer reaches a number as surely as dialing does, so the call-control service checks each
one, whoever asks: the in-call agent's ``transfer_call`` tool (also after an ``instruct``), a
tool handler or ``on_message`` through ``CallControl.transfer()``, and MCP/LangChain
``transfer_call``. :class:`PolicyTransferGuard` is what the service gives ``phone.serve()``:

- the destination passes the same rules as a dialed number (do-not-call list, premium and
  special numbers, allowlist), and the number transferred to is the one that was checked;
- a transfer is refused once the day's spend has reached the cap;
- the transferred leg may last only what is left of the call's time limit (the carrier enforces
  it, e.g. Twilio's ``<Dial timeLimit>``), and what it costs is added to the day's spend when it
  ends;
- every request lands in the audit log (``transfer_call``: ok, refused with its rule, error).

A refusal raises :class:`~getpatter.errors.PolicyError`; the in-call model gets it as a tool
error naming the rule, and the call goes on.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from getpatter.call import TransferPermit, TransferRequest
from getpatter.control.audit import AuditLog, utc_day_start
from getpatter.errors import PatterError, PolicyError

if TYPE_CHECKING:
    from getpatter.control.policy import SafetyPolicy

__all__ = ["PolicyTransferGuard"]


class PolicyTransferGuard:
    """Checks and records the transfers of a service's calls; see the module docstring.

    ``deadline(call_id)`` is the Unix time the call must end by (``None``: the policy's
    ``max_call_seconds`` from now).
    """

    def __init__(
        self,
        policy: SafetyPolicy,
        audit: AuditLog,
        *,
        live: bool,
        deadline: Callable[[str], float | None],
    ) -> None:
        self._policy = policy
        self._audit = audit
        self._live = live
        self._deadline = deadline

    @contextlib.asynccontextmanager
    async def transfer(self, request: TransferRequest) -> AsyncIterator[TransferPermit]:
        """Allow ``request`` (or raise :class:`PolicyError`); record how the transfer went."""
        arguments: dict[str, Any] = {"call_id": request.call_id, "to": request.number}
        try:
            permit = await self._permit(request)
        except PolicyError as exc:
            await self._record(request, arguments, "refused", rule=exc.rule, detail=exc.message)
            raise
        except PatterError as exc:
            await self._record(request, arguments, "error", detail=exc.message)
            raise
        try:
            yield permit
        except PatterError as exc:
            await self._record(request, arguments, "error", detail=exc.message)
            raise
        except Exception as exc:
            await self._record(request, arguments, "error", detail=type(exc).__name__)
            raise
        await self._record(request, arguments, "ok")

    async def _permit(self, request: TransferRequest) -> TransferPermit:
        number = self._policy.check_destination(request.number, live=self._live)
        spent = await self._audit.spend_since(utc_day_start())
        # Only the spend cap applies: a transfer is not a new call of the day, nor a concurrent one.
        self._policy.check_capacity(active_calls=0, calls_today=0, spend_today_usd=spent)
        deadline = self._deadline(request.call_id)
        if deadline is None:
            deadline = time.time() + self._policy.max_call_seconds
        left = math.floor(deadline - time.time())
        if left < 1:
            raise PolicyError(
                f"refused by the call's time limit: call {request.call_id} has no time left for "
                f"a transfer (max_call_seconds is {self._policy.max_call_seconds})",
                rule="time_limit",
            )
        return TransferPermit(number=number, ends_at=deadline)

    async def _record(
        self,
        request: TransferRequest,
        arguments: dict[str, Any],
        outcome: str,
        *,
        rule: str = "",
        detail: str = "",
    ) -> None:
        await self._audit.record(
            "transfer_call",
            arguments,
            outcome,
            rule=rule,
            detail=detail,
            call_id=request.call_id,
            client=request.by,
        )
