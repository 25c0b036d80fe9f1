"""Planned calls waiting for a person to confirm them.

:meth:`CallService.plan_call <getpatter.control.service.CallService.plan_call>` checks a call
against the policy and files a :class:`CallPlan` here. Its ``token`` names the plan (the model
may see it); its ``secret`` proves that a person confirmed it, and never leaves the process
through :meth:`CallPlan.receipt`. When the policy requires confirmation a plan is dialed only
once it is confirmed: by the confirmation page, by an MCP client that asked the person, or by a
host application passing the secret. A refused plan, or one a wrong secret was tried on, is void:
it can never be confirmed.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from getpatter._validation import require_str
from getpatter.control.audit import AuditLog
from getpatter.errors import InputValidationError, PolicyError

__all__ = ["CallPlan", "PlanBook", "PlanState"]

PLAN_TTL_SECONDS = 600.0
"""How long a plan can be confirmed and dialed (10 minutes)."""

PlanState = Literal["pending", "confirmed", "refused", "expired"]
"""Where a plan stands: waiting for a person, confirmed, refused (void), or gone (expired or
dialed)."""

_KEPT_VOID = 200


@dataclass(frozen=True)
class CallPlan:
    """A call checked against the policy, waiting to be confirmed and dialed.

    ``to`` is the canonical E.164 number that will be dialed. Pass ``token`` to
    :meth:`~getpatter.control.service.CallService.confirm_call`; when the policy requires
    confirmation, a person confirms first (or the host application passes ``secret``, which only
    it holds: ``receipt()`` and ``repr()`` leave it out).
    """

    token: str
    to: str
    goal: str
    first_message: str
    max_duration_sec: int
    client_ref: str
    expires_at: float
    voicemail_message: str = ""
    secret: str = field(default="", repr=False, compare=False)

    def receipt(self) -> dict[str, Any]:
        """What a person should see before saying yes: target, purpose, opening line, limit.

        Holds no secret: it is what the model asking for the call is shown.
        """
        return {
            "token": self.token,
            "to": self.to,
            "goal": self.goal,
            "first_message": self.first_message,
            "max_duration_sec": self.max_duration_sec,
            "voicemail_message": self.voicemail_message,
            "expires_at": self.expires_at,
        }


@dataclass
class _Entry:
    plan: CallPlan
    confirmed: bool = False
    decided: asyncio.Event = field(default_factory=asyncio.Event)


class PlanBook:
    """The plans of one service and their confirmations (``CallService.plans``).

    Confirmations and refusals are written to ``audit`` as ``confirm_plan`` entries.
    """

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit
        self._entries: dict[str, _Entry] = {}
        self._void: dict[str, str] = {}
        """token -> why it was voided, so a late confirm_call can say so."""

    def add(self, plan: CallPlan) -> None:
        """File ``plan`` (pending)."""
        self._forget_expired()
        self._entries[plan.token] = _Entry(plan)

    def get(self, token: str) -> CallPlan:
        """The plan ``token`` names, or :class:`InputValidationError` saying why there is none."""
        return self._entry(token).plan

    def waiting(self) -> list[CallPlan]:
        """The plans not dialed yet, pending or confirmed, oldest first."""
        self._forget_expired()
        return [entry.plan for entry in self._entries.values()]

    def state(self, token: str) -> PlanState:
        """``"pending"``, ``"confirmed"``, ``"refused"`` or ``"expired"`` (also once dialed)."""
        self._forget_expired()
        entry = self._entries.get(token)
        if entry is not None:
            return "confirmed" if entry.confirmed else "pending"
        return "refused" if token in self._void else "expired"

    async def confirm(self, token: str, secret: str, *, client: str) -> CallPlan:
        """Record that a person confirmed the plan; nothing is dialed yet.

        ``secret`` must be the plan's: a wrong one voids the plan (it was not the person, and
        there is no second try) and raises :class:`PolicyError` (rule ``"confirmation"``).
        ``client`` says how the person confirmed (``"page"``, ``"mcp"``...), for the audit log.
        """
        entry = self._entry(token)
        try:
            self._check_secret(entry, secret)
        except PolicyError as exc:
            await self._record(entry.plan, "refused", exc.message, client)
            raise
        entry.confirmed = True
        entry.decided.set()
        await self._record(entry.plan, "ok", "", client)
        return entry.plan

    async def refuse(self, token: str, reason: str, *, client: str) -> CallPlan | None:
        """Void the plan (a person refused, or dismissed the question); return it if it was
        still waiting. ``reason`` is what a later confirm_call is told."""
        plan = self._void_plan(token, reason)
        if plan is not None:
            await self._record(plan, "refused", reason, client)
        return plan

    def take(self, token: str, *, secret: str | None, person_needed: bool) -> CallPlan:
        """Remove and return the plan for dialing.

        With ``person_needed`` the plan must have been confirmed, or ``secret`` be its secret.
        Raises :class:`PolicyError` (rule ``"confirmation"``) otherwise, leaving a pending plan
        in place for the person to confirm.
        """
        require_str("token", token, allow_empty=False)
        entry = self._entry(token)
        if secret is not None:
            self._check_secret(entry, secret)
        elif person_needed and not entry.confirmed:
            raise PolicyError(
                f"refused by the confirmation rule: no person has confirmed the call to "
                f"{entry.plan.to} yet. The person must confirm it first (on the confirmation "
                "page, or when your client asks them); the model cannot confirm it",
                rule="confirmation",
            )
        del self._entries[token]
        entry.decided.set()
        return entry.plan

    def put_back(self, plan: CallPlan, *, confirmed: bool) -> None:
        """Return a taken plan whose dialing was refused (e.g. by a full concurrency cap)."""
        if plan.expires_at > time.time():
            self._entries[plan.token] = _Entry(plan, confirmed=confirmed)

    async def wait(self, token: str, seconds: float) -> PlanState:
        """Wait until the plan is confirmed or refused, at most ``seconds`` (and never past its
        expiry); return its state then."""
        entry = self._entries.get(token)
        if entry is None or entry.confirmed:
            return self.state(token)
        limit = min(seconds, entry.plan.expires_at - time.time())
        if limit > 0:
            try:
                async with asyncio.timeout(limit):
                    await entry.decided.wait()
            except TimeoutError:
                pass
        return self.state(token)

    def _entry(self, token: str) -> _Entry:
        self._forget_expired()
        entry = self._entries.get(token) if isinstance(token, str) else None
        if entry is not None:
            return entry
        if isinstance(token, str) and token in self._void:
            raise InputValidationError(
                f"this plan is void: {self._void[token]}. Nothing was dialed; plan the call again "
                "only if the person asks for it"
            )
        raise InputValidationError("unknown or expired confirmation token: call plan_call again")

    def _void_plan(self, token: str, reason: str) -> CallPlan | None:
        entry = self._entries.pop(token, None)
        if entry is None:
            return None
        self._void[token] = reason
        while len(self._void) > _KEPT_VOID:
            del self._void[next(iter(self._void))]
        entry.decided.set()
        return entry.plan

    async def _record(self, plan: CallPlan, outcome: str, detail: str, client: str) -> None:
        await self._audit.record(
            "confirm_plan",
            {"token": "***", "to": plan.to},
            outcome,
            rule="confirmation" if outcome == "refused" else "",
            detail=detail,
            client=client,
        )

    def _check_secret(self, entry: _Entry, secret: str) -> None:
        if isinstance(secret, str) and hmac.compare_digest(
            secret.encode(), entry.plan.secret.encode()
        ):
            return
        self._void_plan(entry.plan.token, "a wrong confirmation secret was given for it")
        raise PolicyError(
            f"refused by the confirmation rule: wrong confirmation secret for the call to "
            f"{entry.plan.to}; the plan is now void",
            rule="confirmation",
        )

    def _forget_expired(self) -> None:
        now = time.time()
        for token, entry in list(self._entries.items()):
            if entry.plan.expires_at < now:
                del self._entries[token]
                entry.decided.set()
