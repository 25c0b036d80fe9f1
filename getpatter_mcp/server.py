"""The Patter MCP server: tools that place, follow and steer phone calls, and call resources.

:func:`build_server` wraps a :class:`~getpatter.control.service.CallService` in the official
``mcp`` SDK's ``MCPServer``; the service does the work (policy, audit, idempotency), the server
translates. Serve it with any transport::

    service = CallService.sandbox()
    server = build_server(service)
    async with service:
        await server.run_stdio_async()

Decisions worth knowing:

* A call outlives a tool call. ``make_call`` waits at most ``wait_seconds`` (default 45 s,
  because most clients give up on a tool call near 60 s) and returns the call id with the
  transcript so far; ``wait_for_call`` and ``get_call`` follow it.
* While waiting, progress is reported after every change and at least every
  ``progress_every`` seconds, which keeps clients that reset their timeout on progress alive.
* Cancelling ``make_call``/``confirm_call`` (the client gave up or the user pressed stop) hangs
  the call up: nobody is left talking to an agent that no one is watching. Cancelling
  ``wait_for_call`` only stops watching.
* When the policy wants every call confirmed, a client that declares form elicitation is asked
  (in both protocol eras); any other client gets a tool error pointing to ``plan_call`` and
  ``confirm_call(token)``.
* Resources ``patter://calls`` and ``patter://calls/{call_id}`` notify subscribers of every
  change in both protocol eras (see :mod:`getpatter_mcp.updates`).
"""

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from getpatter._validation import require_amount
from getpatter.control.record import CallRecord
from getpatter.control.service import CallPlan, CallService, acting_for
from getpatter.errors import ConfigError, InputValidationError, PatterError, PolicyError
from getpatter_mcp.results import CallList, CallReceipt, CallResult, CallSummary
from getpatter_mcp.updates import CALLS_URI, CallUpdates, call_uri

__all__ = ["INSTRUCTIONS", "CallConfirmation", "build_server"]

logger = logging.getLogger("getpatter_mcp")

_CLIENT_TIMEOUT_SAFE_WAIT = 45.0
"""The longest default wait: most clients abandon a tool call near 60 s."""
_DEFAULT_FOLLOW_WAIT = 30.0
_HANGUP_GRACE_SECONDS = 10.0
"""How long a cancelled make_call keeps trying to hang its call up before giving up."""
_HANGUP_RETRY_SECONDS = 0.5
_PROGRESS_TEXT_CHARS = 120

INSTRUCTIONS = """\
Patter places phone calls in which an AI voice agent talks to a person for you.

- make_call dials, then waits up to about 45 seconds and returns the call_id, its status and \
the transcript so far. A call that has not ended keeps running: follow it with \
wait_for_call(call_id) (waits up to 45 s at a time) or get_call(call_id) until its status is \
completed, no-answer, busy, failed or timeout.
- Always pass a unique client_ref to make_call. If make_call times out or fails without a \
result, retry with the same client_ref: you get the first call back instead of dialing twice.
- While a call runs you can steer it: say (spoken word for word), instruct (a new instruction \
for the agent), send_dtmf (press keys, e.g. in phone menus), transfer_call, hangup_call.
- Calls reach real people and cost money (results say mode "live"; mode "sandbox" dials \
nobody). Call only numbers the user asked you to call, and say in goal what the call is for.
- A result saying "Refused by rule '...'" is the server's safety policy: do not work around it; \
tell the user which setting would allow the call. get_policy shows the limits.
- If the server needs confirmation and your client cannot ask the user, call plan_call, show \
the receipt to the user, and call confirm_call(token) only after they say yes.
- list_calls shows the calls placed and the inbound calls the agent answered."""
"""What the server tells the model about its tools (MCP ``instructions``)."""


class CallConfirmation(BaseModel):
    """The form a person fills in to confirm a call (MCP elicitation)."""

    confirm: bool = Field(default=True, title="Place this call", description="Untick to refuse")


To = Annotated[str, Field(description="The number to call, in E.164 form, e.g. +15550101234")]
Goal = Annotated[
    str, Field(description="What the call should achieve; the in-call agent pursues it")
]
FirstMessage = Annotated[
    str,
    Field(
        description="What the agent says when the call is answered (the AI disclosure is added "
        "in front when it is missing); empty for the disclosure alone"
    ),
]
MaxDuration = Annotated[
    int,
    Field(
        ge=1,
        le=1800,
        description="Hang up after this many seconds (the server's policy may lower it)",
    ),
]
ClientRef = Annotated[
    str,
    Field(
        description="Your unique id for this call (an idempotency key). Pass one and reuse it "
        "when retrying: the same client_ref returns the first call instead of dialing again"
    ),
]
VoicemailMessage = Annotated[
    str, Field(description="Left as a message when a voicemail answers; empty to hang up")
]
CallId = Annotated[str, Field(description="The call_id make_call (or list_calls) returned")]

_CALL_TOOL = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)
_READ_TOOL = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def build_server(
    service: CallService, *, wait_seconds: float = 45.0, progress_every: float = 5.0
) -> MCPServer:
    """An MCP server named ``patter`` whose tools and resources drive ``service``.

    ``wait_seconds`` bounds how long any tool waits for a call (tools default to at most 45 s
    of it); ``progress_every`` is the longest gap between progress notifications while waiting.
    The server starts ``service`` when a client connects; closing it stays with the caller.
    """
    if not isinstance(service, CallService):
        raise ConfigError(
            f"build_server needs a CallService (e.g. CallService.sandbox()), "
            f"got {type(service).__name__}"
        )
    wait_bound = require_amount("wait_seconds", wait_seconds)
    heartbeat = require_amount("progress_every", progress_every)
    if heartbeat <= 0:
        raise InputValidationError(
            f"progress_every must be > 0 seconds, e.g. 5.0, got {progress_every}"
        )
    tools = _CallTools(service, wait_bound, heartbeat)
    server: MCPServer = MCPServer(
        "patter",
        title="Patter phone calls",
        instructions=INSTRUCTIONS,
        lifespan=tools.lifespan,
        subscriptions=tools.updates.bus,
        # MCPServer runs logging.basicConfig at this level when nothing configured logging yet;
        # at INFO every library (the carrier's HTTP client included) would chatter on stderr.
        log_level="WARNING",
    )
    tools.updates.install(server)
    _add_call_tools(server, tools)
    _add_control_tools(server, tools)
    _add_resources(server, service)
    return server


class _CallTools:
    """What the tools do, over one service; the tool functions only declare their schemas."""

    def __init__(self, service: CallService, wait_bound: float, heartbeat: float) -> None:
        self.service = service
        self.wait_bound = wait_bound
        self.heartbeat = heartbeat
        self.updates = CallUpdates()
        self._connections = 0
        self._unsubscribe: Callable[[], None] | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        """Per client connection (once for stdio/HTTP): start the service, publish updates."""
        await self.service.start()
        if self._connections == 0:
            self._unsubscribe = self.service.subscribe(self.updates.call_changed)
        self._connections += 1
        try:
            yield {}
        finally:
            self._connections -= 1
            if self._connections == 0 and self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
                await self.updates.aclose()

    def wait_for(self, requested: float) -> float:
        """``requested`` seconds, within the server's bound."""
        return min(max(requested, 0.0), self.wait_bound)

    async def confirmation(
        self,
        to: str,
        goal: str,
        first_message: str,
        max_duration_sec: int,
        client_ref: str,
        voicemail_message: str,
        ctx: Context,
    ) -> Elicit[CallConfirmation] | None:
        """Ask the person to confirm the call, when the policy wants it and the client can ask.

        Returns ``None`` (nothing asked) otherwise; place_call then refuses, pointing the model
        to plan_call. In the 2026-07-28 era this runs on every round of the request, so the
        question must read the same each time: it holds no token or expiry.
        """
        if not self.service.policy.require_confirmation or not _can_elicit_form(ctx):
            return None
        if client_ref and self.service.find_by_ref(client_ref) is not None:
            return None
        request: dict[str, Any] = {
            "to": to,
            "goal": goal,
            "first_message": first_message,
            "max_duration_sec": max_duration_sec,
            "client_ref": client_ref,
            "voicemail_message": voicemail_message,
        }
        try:
            with _tool_errors():
                plan = self.service.plan_call(**request)
        except ToolError as refusal:
            # place_call would have logged this refusal; planning is not audited by the service.
            rule = refusal.__cause__.rule if isinstance(refusal.__cause__, PolicyError) else ""
            await self._audit_refusal(request, rule, str(refusal))
            raise
        return Elicit(_question(plan, live=self.service.mode == "live"), CallConfirmation)

    async def make_call(
        self,
        ctx: Context,
        confirmation: ElicitationResult[CallConfirmation],
        request: dict[str, Any],
        wait_seconds: float,
    ) -> CallResult:
        """Place the call (once confirmed, if it had to be), then follow it."""
        service = self.service
        try:
            asked = _confirmed(confirmation, request["to"])
        except ToolError as refusal:
            await self._audit_refusal(request, "confirmation", str(refusal))
            raise

        async def place() -> CallRecord:
            if asked:
                plan = service.plan_call(**request)
                return await service.confirm_call(plan.token)
            earlier = service.find_by_ref(request["client_ref"]) if request["client_ref"] else None
            if earlier is not None and service.policy.require_confirmation:
                return earlier
            return await service.place_call(**request)

        return await self.place_and_follow(ctx, place, wait_seconds)

    async def _audit_refusal(self, request: dict[str, Any], rule: str, detail: str) -> None:
        outcome = "refused" if rule else "error"
        await self.service.audit.record(
            "make_call", request, outcome, rule=rule, detail=detail, client="mcp"
        )

    async def place_and_follow(
        self, ctx: Context, place: Callable[[], Awaitable[CallRecord]], wait_seconds: float
    ) -> CallResult:
        """Dial (never interrupted halfway), then wait; a cancelled wait hangs the call up."""
        with _as_mcp(), _tool_errors():
            with anyio.CancelScope(shield=True):
                record = await place()
            return await self.follow(ctx, record, wait_seconds, end_on_cancel=True)

    async def follow(
        self, ctx: Context, record: CallRecord, wait_seconds: float, *, end_on_cancel: bool
    ) -> CallResult:
        """Wait for the call to end, at most ``wait_seconds``, reporting progress."""
        progress = _Progress(ctx)
        await progress(record)
        try:
            record = await self.service.wait(
                record.call_id,
                self.wait_for(wait_seconds),
                on_update=progress,
                heartbeat=self.heartbeat,
            )
        except anyio.get_cancelled_exc_class():
            if end_on_cancel:
                with anyio.CancelScope(shield=True):
                    await self._hang_up_abandoned(record)
            raise
        return CallResult.of(record)

    async def _hang_up_abandoned(self, record: CallRecord) -> None:
        logger.info("the client cancelled while call %s ran: hanging it up", record.call_id)
        with anyio.move_on_after(_HANGUP_GRACE_SECONDS):
            while not record.ended:
                try:
                    await self.service.hangup(record.call_id)
                    return
                except PatterError as exc:
                    logger.debug("hanging up %s: %s", record.call_id, exc.message)
                await anyio.sleep(_HANGUP_RETRY_SECONDS)
        if not record.ended:
            logger.warning(
                "could not hang up call %s after its client cancelled; it ends at its %d s limit",
                record.call_id,
                record.max_duration_sec,
            )


def _add_call_tools(server: MCPServer, tools: _CallTools) -> None:
    service = tools.service
    bound = tools.wait_bound
    default_wait = min(_CLIENT_TIMEOUT_SAFE_WAIT, bound)
    WaitSeconds = Annotated[
        float,
        Field(
            ge=0,
            description=f"Return after at most this many seconds (up to {bound:g}) even if the "
            "call goes on; keep it under your client's tool timeout",
        ),
    ]
    Confirmation = Annotated[ElicitationResult[CallConfirmation], Resolve(tools.confirmation)]

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def make_call(
        confirmation: Confirmation,
        ctx: Context,
        to: To,
        goal: Goal = "",
        first_message: FirstMessage = "",
        max_duration_sec: MaxDuration = 180,
        client_ref: ClientRef = "",
        voicemail_message: VoicemailMessage = "",
        wait_seconds: WaitSeconds = default_wait,
    ) -> CallResult:
        """Phone `to`: an AI voice agent talks to whoever answers, pursuing `goal`.

        Returns within wait_seconds with the call_id, status and the transcript so far; if the
        call is still going, follow it with wait_for_call or get_call. Pass a unique client_ref
        and reuse it on retries, so a retry never dials twice. This reaches a real person and
        costs money (unless the result's mode is "sandbox").
        """
        request = {
            "to": to,
            "goal": goal,
            "first_message": first_message,
            "max_duration_sec": max_duration_sec,
            "client_ref": client_ref,
            "voicemail_message": voicemail_message,
        }
        return await tools.make_call(ctx, confirmation, request, wait_seconds)

    @server.tool(annotations=_READ_TOOL, structured_output=True)
    async def plan_call(
        to: To,
        goal: Goal = "",
        first_message: FirstMessage = "",
        max_duration_sec: MaxDuration = 180,
        voicemail_message: VoicemailMessage = "",
        client_ref: ClientRef = "",
    ) -> CallReceipt:
        """Check a call against the server's policy without dialing; return its receipt.

        Show the receipt (number, goal, opening line, time limit) to the user; only after they
        agree, call confirm_call with its token (valid 10 minutes). Use this when make_call
        says the server needs confirmation.
        """
        with _as_mcp(), _tool_errors():
            plan = service.plan_call(
                to,
                goal=goal,
                first_message=first_message,
                max_duration_sec=max_duration_sec,
                client_ref=client_ref,
                voicemail_message=voicemail_message,
            )
        return CallReceipt.of(plan, service.mode)

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def confirm_call(
        ctx: Context,
        token: Annotated[str, Field(description="The token from plan_call's receipt")],
        wait_seconds: WaitSeconds = default_wait,
    ) -> CallResult:
        """Place the call plan_call planned, once the user has agreed to its receipt.

        Returns like make_call: within wait_seconds, with the call_id and transcript so far.
        """
        return await tools.place_and_follow(ctx, lambda: service.confirm_call(token), wait_seconds)

    @server.tool(annotations=_READ_TOOL, structured_output=True)
    async def wait_for_call(
        ctx: Context,
        call_id: CallId,
        timeout_seconds: Annotated[
            float,
            Field(ge=0, description=f"Wait at most this many seconds (up to {bound:g})"),
        ] = min(_DEFAULT_FOLLOW_WAIT, bound),
    ) -> CallResult:
        """Wait until the call ends or timeout_seconds pass; return it with its transcript.

        Call it again while the status is queued, ringing or in-progress.
        """
        with _as_mcp(), _tool_errors():
            record = service.get_call(call_id)
            return await tools.follow(ctx, record, timeout_seconds, end_on_cancel=False)

    @server.tool(annotations=_READ_TOOL, structured_output=True)
    async def get_call(call_id: CallId) -> CallResult:
        """The call now: status, transcript so far, and duration and cost once it has ended."""
        with _tool_errors():
            return CallResult.of(service.get_call(call_id))

    @server.tool(annotations=_READ_TOOL, structured_output=True)
    async def list_calls(
        active_only: Annotated[bool, Field(description="Only calls that have not ended")] = False,
    ) -> CallList:
        """The calls this server knows, newest first: placed ones and inbound ones it answered."""
        calls = [CallSummary.of(r) for r in service.list_calls(active_only=active_only)]
        return CallList(mode=service.mode, count=len(calls), calls=calls)

    @server.tool(annotations=_READ_TOOL, structured_output=True)
    async def get_policy() -> dict[str, Any]:
        """The safety limits this server enforces: allowed and blocked numbers, call length,
        concurrent calls, daily calls and spend, AI disclosure, confirmation."""
        return {"mode": service.mode, **service.policy.describe()}


def _add_control_tools(server: MCPServer, tools: _CallTools) -> None:
    service = tools.service

    async def control(action: Callable[[], Awaitable[CallRecord]]) -> CallResult:
        with _as_mcp(), _tool_errors():
            return CallResult.of(await action())

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def hangup_call(call_id: CallId) -> CallResult:
        """End the call, after the agent finishes its current sentence."""
        return await control(lambda: service.hangup(call_id))

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def transfer_call(
        call_id: CallId,
        to: Annotated[str, Field(description="Where to transfer the call, in E.164 form")],
    ) -> CallResult:
        """Transfer the person on the call to another number (the policy must allow it)."""
        return await control(lambda: service.transfer(call_id, to))

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def send_dtmf(
        call_id: CallId,
        digits: Annotated[
            str,
            Field(description="Keys to press: 0-9, *, #, A-D; w pauses half a second"),
        ],
    ) -> CallResult:
        """Press keys on the call, e.g. to get through a phone menu."""
        return await control(lambda: service.send_dtmf(call_id, digits))

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def say(
        call_id: CallId,
        text: Annotated[str, Field(description="The exact words to say")],
    ) -> CallResult:
        """Have the agent say `text` word for word, after its current sentence."""
        return await control(lambda: service.say(call_id, text))

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=True
        ),
        structured_output=True,
    )
    async def instruct(
        call_id: CallId,
        instruction: Annotated[
            str, Field(description="What the agent should do from now on, e.g. 'Ask for Friday'")
        ],
    ) -> CallResult:
        """Give the in-call agent a new instruction; it follows it from its next reply."""
        return await control(lambda: service.instruct(call_id, instruction))


def _add_resources(server: MCPServer, service: CallService) -> None:
    @server.resource(
        CALLS_URI,
        name="calls",
        title="Calls",
        description="The calls this server knows, newest first (call_id, status, direction, "
        "to, from, created_at). Updated whenever a call changes.",
        mime_type="application/json",
    )
    async def calls() -> str:
        return json.dumps([CallSummary.of(r).model_dump(mode="json") for r in service.list_calls()])

    @server.resource(
        call_uri("{call_id}"),
        name="call",
        title="Call",
        description="One call with its transcript so far; updated on every line and status.",
        mime_type="application/json",
    )
    async def call(call_id: str) -> str:
        try:
            record = service.get_call(call_id)
        except InputValidationError as exc:
            raise ResourceNotFoundError(exc.message) from exc
        return json.dumps(record.to_dict())


class _Progress:
    """Sends a progress notification for each update of a call (a no-op without a token)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._sent = 0
        self._lines = 0
        self._status = ""

    async def __call__(self, record: CallRecord) -> None:
        self._sent += 1
        try:
            await self._ctx.report_progress(self._sent, message=self._message(record))
        except Exception:
            logger.debug("could not report progress of call %s", record.call_id, exc_info=True)

    def _message(self, record: CallRecord) -> str:
        new_status = record.status != self._status
        self._status = record.status
        new_line = len(record.transcript) > self._lines
        self._lines = len(record.transcript)
        if new_line and not (record.ended and new_status):
            line = record.transcript[-1]
            return _shortened(f"{line.role}: {line.text}")
        return record.status


def _shortened(text: str) -> str:
    if len(text) <= _PROGRESS_TEXT_CHARS:
        return text
    return text[: _PROGRESS_TEXT_CHARS - 1].rstrip() + "…"


def _can_elicit_form(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` predates modes and means forms; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _question(plan: CallPlan, *, live: bool) -> str:
    stakes = (
        "This calls a real person and costs money."
        if live
        else "Sandbox: a simulated call, nobody is dialed."
    )
    lines = [f"Place a phone call to {plan.to}? {stakes}"]
    if plan.goal:
        lines.append(f"Goal: {plan.goal}")
    lines.append(f"Opening line: {plan.first_message}")
    if plan.voicemail_message:
        lines.append(f"Voicemail message: {plan.voicemail_message}")
    lines.append(f"Hangs up after {plan.max_duration_sec} s at most.")
    return "\n".join(lines)


def _confirmed(confirmation: ElicitationResult[CallConfirmation], to: str) -> bool:
    """True when a person was asked and agreed; a ToolError when they refused."""
    if isinstance(confirmation, AcceptedElicitation):
        # Nothing was asked when the resolver returned None: the "answer" is that None.
        answer: object = confirmation.data
        if not isinstance(answer, CallConfirmation):
            return False
        if answer.confirm:
            return True
        raise ToolError(f"The person declined the call to {to}: nothing was dialed.")
    if confirmation.action == "decline":
        raise ToolError(f"The person declined the call to {to}: nothing was dialed.")
    raise ToolError(
        f"The person dismissed the confirmation of the call to {to}: nothing was dialed."
    )


@contextlib.contextmanager
def _as_mcp() -> Iterator[None]:
    """Mark the service calls made inside as asked for by an MCP client (for the audit log)."""
    token = acting_for.set("mcp")
    try:
        yield
    finally:
        acting_for.reset(token)


@contextlib.contextmanager
def _tool_errors() -> Iterator[None]:
    """Turn Patter's errors into tool errors the model can read (their messages hold no secrets)."""
    try:
        yield
    except PolicyError as exc:
        raise ToolError(f"Refused by rule '{exc.rule}': {exc.message}") from exc
    except PatterError as exc:
        raise ToolError(exc.message) from exc
