"""How the MCP server gets a person, not the model, to confirm a call.

When the safety policy requires confirmation, ``make_call`` and ``confirm_call`` ask the person
through the client, by the strongest means it declares:

* **form elicitation**: the client shows the receipt and a Confirm box to the person;
* **URL elicitation** (a client that declares URL mode only): the client offers the person a
  link to the local :class:`~getpatter.control.confirmation.ConfirmationPage`, where they press
  Confirm or Refuse; the tool waits for that decision;
* **neither**: nothing can ask the person, so ``plan_call`` returns the page's address for the
  model to hand to the user, and ``confirm_call`` fails until the person confirmed there.

A declined or dismissed question voids the plan. Both protocol eras are served: the handshake
era (2025-11-25 and before) sends ``elicitation/create`` while the tool runs (and
``notifications/elicitation/complete`` once the page was answered); 2026-07-28 returns an
``InputRequiredResult`` that the client answers and retries, with the plan named in the
``request_state`` (which the SDK seals), so a retried round never files a second plan.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from mcp.server.elicitation import render_elicitation_schema
from mcp.server.mcpserver import AcceptedElicitation, Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field, ValidationError

from getpatter.control.confirmation import ConfirmationPage
from getpatter.control.plans import CallPlan
from getpatter.control.service import CallService

__all__ = ["CallConfirmation", "Confirmations", "elicitation_mode"]

logger = logging.getLogger("getpatter_mcp")

_KEY = "patter_confirmation"
"""The key of our question in ``InputRequiredResult.input_requests``."""
_MODERN = "2026-07-28"
_CLIENT = "mcp"

Mode = Literal["form", "url"]


class CallConfirmation(BaseModel):
    """The form a person fills in to confirm a call (MCP elicitation)."""

    confirm: bool = Field(default=True, title="Place this call", description="Untick to refuse")


def elicitation_mode(ctx: Context) -> Mode | None:
    """``"form"`` or ``"url"``: how the client can ask its user; ``None`` when it cannot."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None:
        return None
    # A bare `elicitation: {}` predates modes and means forms.
    if elicitation.form is not None or elicitation.url is None:
        return "form"
    return "url"


@dataclass(frozen=True)
class _State:
    """What one round tells the next (2026-07-28): the question asked, the plan it is about."""

    question: str = ""
    plan: str = ""

    def encode(self) -> str:
        return json.dumps({"q": self.question, "plan": self.plan})

    @classmethod
    def decode(cls, text: str | None) -> _State:
        try:
            data = json.loads(text or "{}")
            return cls(question=str(data.get("q", "")), plan=str(data.get("plan", "")))
        except (ValueError, AttributeError):
            return cls()


class _Unanswered(ToolError):
    """The person has not answered on the page within the wait; the plan still waits."""


Answer = Literal["accept", "decline", "cancel"]
Progress = Callable[[str], Awaitable[None]]


class Confirmations:
    """Asks the person to confirm calls for one server; owns its confirmation page.

    ``wait_bound`` is the longest a tool waits for the person to answer on the page.
    """

    def __init__(self, service: CallService, *, wait_bound: float, port: int = 0) -> None:
        self.service = service
        self.wait_bound = wait_bound
        self._port = port
        self._page: ConfirmationPage | None = None

    @property
    def needed(self) -> bool:
        """True when the policy wants a person to confirm every call."""
        return self.service.policy.require_confirmation

    async def link(self, plan: CallPlan) -> str:
        """The confirmation page of ``plan`` (the page starts on first use)."""
        if self._page is None:
            self._page = ConfirmationPage(self.service, port=self._port)
        return await self._page.link(plan)

    async def aclose(self) -> None:
        """Stop the confirmation page, if it runs."""
        page, self._page = self._page, None
        if page is not None:
            await page.aclose()

    async def for_new_call(
        self, ctx: Context, request: dict[str, Any], progress: Progress
    ) -> CallPlan | InputRequiredResult:
        """make_call: a plan the person confirmed, or the question for the client to ask.

        Raises :class:`ToolError` when the person declines, dismisses the question, refuses on
        the page or does not answer in time; :class:`PatterError` when the policy refuses the
        call itself. The caller knows the client can ask (:func:`elicitation_mode`).
        """
        mode = elicitation_mode(ctx)
        if mode == "form":
            preview = self.service.preview_call(**request)
            answer = await self._ask_form(ctx, preview, _State())
            if isinstance(answer, InputRequiredResult):
                return answer
            if answer != "accept":
                raise ToolError(_refusal(answer, preview.to))
            # Filed only now that the person said yes, so no round leaves a plan behind.
            plan = self.service.plan_call(**request)
            await self.service.plans.confirm(plan.token, plan.secret, client=_CLIENT)
            return plan
        earlier = self._earlier_plan(ctx, request)
        plan = earlier if earlier is not None else self.service.plan_call(**request)
        try:
            outcome = await self._ask_url(ctx, plan, progress)
        except _Unanswered:
            raise  # the error hands the model the token, for confirm_call once the person agreed
        except BaseException:
            # A make_call cancelled or failed here leaves no plan behind: the model never saw
            # its token. (Declined or refused plans are void already.)
            if self.service.plans.state(plan.token) == "pending":
                with anyio.CancelScope(shield=True):
                    await self.service.plans.refuse(
                        plan.token, "the request that asked for it ended", client=_CLIENT
                    )
            raise
        return outcome if isinstance(outcome, InputRequiredResult) else plan

    async def for_plan(
        self, ctx: Context, token: str, progress: Progress
    ) -> InputRequiredResult | None:
        """confirm_call: ``None`` once a person confirmed the plan, else the question to ask.

        Raises :class:`ToolError` as :meth:`for_new_call` does, and when nothing can ask the
        person (the error gives the model the page to hand to the user).
        """
        if not self.needed:
            return None
        plans = self.service.plans
        plan = plans.get(token)
        if plans.state(token) == "confirmed":
            return None
        mode = elicitation_mode(ctx)
        if mode is None:
            url = await self.link(plan)
            message = (
                f"No person has confirmed the call to {plan.to} yet, and this client cannot ask "
                f"them. Ask the user to open {url} and press Confirm there, then call "
                "confirm_call again with the same token. You cannot confirm it yourself."
            )
            await self.service.audit.record(
                "confirm_call",
                {"token": "***"},
                "refused",
                rule="confirmation",
                detail=f"no person has confirmed the call to {plan.to} yet",
                client=_CLIENT,
            )
            raise ToolError(message)
        if mode == "url":
            outcome = await self._ask_url(ctx, plan, progress)
            return outcome if isinstance(outcome, InputRequiredResult) else None
        answer = await self._ask_form(ctx, plan, _State(plan=token))
        if isinstance(answer, InputRequiredResult):
            return answer
        if answer != "accept":
            await plans.refuse(token, _reason(answer), client=_CLIENT)
            raise ToolError(_refusal(answer, plan.to))
        await plans.confirm(token, plan.secret, client=_CLIENT)
        return None

    # ------------------------------------------------------------------ form mode

    async def _ask_form(
        self, ctx: Context, plan: CallPlan, state: _State
    ) -> Answer | InputRequiredResult:
        question = self.question(plan)
        if not _modern(ctx):
            result = await ctx.elicit(question, CallConfirmation)
            if isinstance(result, AcceptedElicitation):
                return "accept" if result.data.confirm else "decline"
            return "decline" if result.action == "decline" else "cancel"
        digest = _digest(question)
        asked = _State.decode(ctx.request_state)
        answer = (ctx.input_responses or {}).get(_KEY)
        # An answer counts only for the question this round would ask, about the same plan.
        if asked.question != digest or asked.plan != state.plan or answer is None:
            return _input_required(
                ElicitRequestFormParams(
                    message=question, requested_schema=render_elicitation_schema(CallConfirmation)
                ),
                _State(question=digest, plan=state.plan),
            )
        if not isinstance(answer, ElicitResult):
            raise ToolError("The client answered the confirmation with something else.")
        if answer.action != "accept":
            return answer.action
        try:
            confirmed = CallConfirmation.model_validate(answer.content or {}).confirm
        except ValidationError:
            raise ToolError("The client's confirmation form was not filled in as asked.") from None
        return "accept" if confirmed else "decline"

    # ------------------------------------------------------------------ URL mode

    async def _ask_url(
        self, ctx: Context, plan: CallPlan, progress: Progress
    ) -> Literal["confirmed"] | InputRequiredResult:
        url = await self.link(plan)
        message = self._page_message(plan)
        if _modern(ctx):
            asked = _State.decode(ctx.request_state)
            answer = (ctx.input_responses or {}).get(_KEY)
            if asked.plan != plan.token or not isinstance(answer, ElicitResult):
                return _input_required(
                    ElicitRequestURLParams(message=message, url=url), _State(plan=plan.token)
                )
            action: str = answer.action
        else:
            action = (await ctx.elicit_url(message, url, plan.token)).action
        if action != "accept":
            # "accept" only means the person agreed to open the page.
            await self.service.plans.refuse(plan.token, _reason(action), client=_CLIENT)
            raise ToolError(_refusal(action, plan.to))
        state = await self._person_decides(plan, progress)
        if state == "confirmed":
            if not _modern(ctx):
                with contextlib.suppress(Exception):
                    await ctx.session.send_elicit_complete(plan.token, ctx.request_id)
            return "confirmed"
        if state == "refused":
            raise ToolError(
                f"The person refused the call to {plan.to} on the confirmation page: nothing "
                "was dialed."
            )
        if state == "expired":
            raise ToolError(
                f"The confirmation of the call to {plan.to} lapsed: nothing was dialed."
            )
        raise _Unanswered(
            f"The person has not answered on the confirmation page yet: nothing was dialed. "
            f"Once they have pressed Confirm at {url}, call confirm_call with token "
            f"{plan.token}."
        )

    async def _person_decides(self, plan: CallPlan, progress: Progress) -> str:
        """Wait for the page's answer, at most ``wait_bound`` seconds, reporting progress."""
        plans = self.service.plans
        waited = 0.0
        step = 5.0
        while True:
            await progress(f"waiting for the person to confirm the call to {plan.to}")
            slice_ = min(step, self.wait_bound - waited)
            state = await plans.wait(plan.token, max(slice_, 0.0))
            waited += slice_
            if state != "pending" or waited >= self.wait_bound:
                return state

    def _earlier_plan(self, ctx: Context, request: dict[str, Any]) -> CallPlan | None:
        """The plan an earlier round of this make_call filed (2026-07-28), if it still matches.

        Raises :class:`ToolError` when the person refused it on the page in the meantime.
        """
        if not _modern(ctx):
            return None
        token = _State.decode(ctx.request_state).plan
        if not token:
            return None
        state = self.service.plans.state(token)
        if state == "refused":
            raise ToolError(
                "The person refused the call on the confirmation page: nothing was dialed."
            )
        if state not in ("pending", "confirmed"):
            return None
        plan = self.service.plans.get(token)
        preview = self.service.preview_call(**request)
        fields = (
            "to",
            "goal",
            "first_message",
            "voicemail_message",
            "max_duration_sec",
            "client_ref",
        )
        if all(getattr(preview, name) == getattr(plan, name) for name in fields):
            return plan
        return None

    # ------------------------------------------------------------------ wording

    def question(self, plan: CallPlan) -> str:
        """The receipt as the person reads it in a confirmation form."""
        lines = [f"Place a phone call to {plan.to}? {self._stakes()}"]
        if plan.goal:
            lines.append(f"Goal: {plan.goal}")
        lines.append(f"Opening line: {plan.first_message}")
        if plan.voicemail_message:
            lines.append(f"Voicemail message: {plan.voicemail_message}")
        lines.append(f"Hangs up after {plan.max_duration_sec} s at most.")
        return "\n".join(lines)

    def _page_message(self, plan: CallPlan) -> str:
        return (
            f"Your assistant wants to phone {plan.to}. {self._stakes()} Open the page to see "
            "what it would say, and confirm or refuse the call there."
        )

    def _stakes(self) -> str:
        if self.service.mode == "live":
            return "This calls a real person and costs money."
        return "Sandbox: a simulated call, nobody is dialed."


def _modern(ctx: Context) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _MODERN)


def _input_required(
    params: ElicitRequestFormParams | ElicitRequestURLParams, state: _State
) -> InputRequiredResult:
    return InputRequiredResult(
        input_requests={_KEY: ElicitRequest(params=params)}, request_state=state.encode()
    )


def _digest(question: str) -> str:
    digest = hashlib.sha256(question.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _reason(action: str) -> str:
    if action == "decline":
        return "the person declined it"
    return "the person dismissed the confirmation"


def _refusal(action: str, to: str) -> str:
    if action == "decline":
        return f"The person declined the call to {to}: nothing was dialed."
    return f"The person dismissed the confirmation of the call to {to}: nothing was dialed."
