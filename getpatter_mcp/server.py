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
* When the policy wants every call confirmed, a person confirms it, never the model: the client
  asks them by form or URL elicitation when it can (in both protocol eras), and otherwise the
  person presses Confirm on a local page whose address ``plan_call`` returns; ``confirm_call``
  places nothing before that (see :mod:`getpatter_mcp.confirming`).
* Resources ``patter://calls`` and ``patter://calls/{call_id}`` notify subscribers of every
  change in both protocol eras (see :mod:`getpatter_mcp.updates`).
"""

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import InputRequiredResult, ToolAnnotations
from pydantic import Field

from getpatter._validation import require_amount, require_int
from getpatter.control.numbers import preload
from getpatter.control.record import CallRecord
from getpatter.control.service import CallService, acting_for
from getpatter.errors import ConfigError, InputValidationError, PatterError, PolicyError
from getpatter_mcp.confirming import CallConfirmation, Confirmations, elicitation_mode
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
- If the server needs a person to confirm calls, make_call asks the user through your client \
when it can. Otherwise call plan_call, show the receipt to the user and give them its \
confirm_url: they press Confirm on that page, then you call confirm_call(token). You cannot \
confirm a call yourself, and a call the user declined or refused is void.
- list_calls shows the calls placed and the inbound calls the agent answered."""
"""What the server tells the model about its tools (MCP ``instructions``)."""


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
    service: CallService,
    *,
    wait_seconds: float = 45.0,
    progress_every: float = 5.0,
    confirm_port: int = 0,
) -> MCPServer:
    """An MCP server named ``patter`` whose tools and resources drive ``service``.

    ``wait_seconds`` bounds how long any tool waits for a call, or for a person to answer on the
    confirmation page (tools default to at most 45 s of it); ``progress_every`` is the longest
    gap between progress notifications while waiting. ``confirm_port`` is the port of the
    confirmation page on 127.0.0.1 (0, the default, picks a free one; the page runs only while
    the policy requires confirmation and a client is connected). The server starts ``service``
    when a client connects; closing it stays with the caller.
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
    port = require_int("confirm_port", confirm_port, minimum=0, maximum=65535)
    tools = _CallTools(service, wait_bound, heartbeat, port)
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

    def __init__(
        self, service: CallService, wait_bound: float, heartbeat: float, confirm_port: int
    ) -> None:
        self.service = service
        self.wait_bound = wait_bound
        self.heartbeat = heartbeat
        self.updates = CallUpdates()
        self.confirmations = Confirmations(service, wait_bound=wait_bound, port=confirm_port)
        self._connections = 0
        self._unsubscribe: Callable[[], None] | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        """Per client connection (once for stdio/HTTP): start the service, publish updates."""
        await self.service.start()
        await preload()
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
                await self.confirmations.aclose()

    def wait_for(self, requested: float) -> float:
        """``requested`` seconds, within the server's bound."""
        return min(max(requested, 0.0), self.wait_bound)

    async def make_call(
        self, ctx: Context, request: dict[str, Any], wait_seconds: float
    ) -> CallResult | InputRequiredResult:
        """Place the call (once a person confirmed it, if they must), then follow it."""
        service = self.service
        earlier = service.find_by_ref(request["client_ref"]) if request["client_ref"] else None
        if earlier is not None and self.confirmations.needed:
            found = earlier
            return await self.place_and_follow(ctx, lambda: _done(found), wait_seconds)
        if not self.confirmations.needed or elicitation_mode(ctx) is None:
            # Without a way to ask the person, place_call refuses and points to plan_call.
            return await self.place_and_follow(
                ctx, lambda: service.place_call(**request), wait_seconds
            )
        try:
            with _as_mcp(), _tool_errors():
                confirmed = await self.confirmations.for_new_call(
                    ctx, request, _waiting_progress(ctx)
                )
        except ToolError as refusal:
            cause = refusal.__cause__
            if isinstance(cause, PolicyError):
                await self._audit_refusal(request, cause.rule, str(refusal))
            elif isinstance(cause, PatterError):
                await self._audit_refusal(request, "", str(refusal))
            else:
                await self._audit_refusal(request, "confirmation", str(refusal))
            raise
        if isinstance(confirmed, InputRequiredResult):
            return confirmed
        return await self.place_and_follow(
            ctx, lambda: service.confirm_call(confirmed.token), wait_seconds
        )

    async def confirm_call(
        self, ctx: Context, token: str, wait_seconds: float
    ) -> CallResult | InputRequiredResult:
        """Place a planned call; when a person must confirm it, ask them first if nobody has."""
        with _as_mcp(), _tool_errors():
            asked = await self.confirmations.for_plan(ctx, token, _waiting_progress(ctx))
        if asked is not None:
            return asked
        return await self.place_and_follow(
            ctx, lambda: self.service.confirm_call(token), wait_seconds
        )

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

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def make_call(
        ctx: Context,
        to: To,
        goal: Goal = "",
        first_message: FirstMessage = "",
        max_duration_sec: MaxDuration = 180,
        client_ref: ClientRef = "",
        voicemail_message: VoicemailMessage = "",
        wait_seconds: WaitSeconds = default_wait,
    ) -> CallResult | InputRequiredResult:
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
        return await tools.make_call(ctx, request, wait_seconds)

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

        Show the receipt (number, goal, opening line, time limit) to the user. When the server
        needs a person to confirm calls, give the user confirm_url: they confirm there (or
        confirm_call asks them, if your client can); you cannot confirm for them. Then call
        confirm_call with the token (valid 10 minutes).
        """
        await preload()
        with _as_mcp(), _tool_errors():
            plan = service.plan_call(
                to,
                goal=goal,
                first_message=first_message,
                max_duration_sec=max_duration_sec,
                client_ref=client_ref,
                voicemail_message=voicemail_message,
            )
        confirmations = tools.confirmations
        url = await confirmations.link(plan) if confirmations.needed else ""
        return CallReceipt.of(plan, service.mode, confirm_url=url)

    @server.tool(annotations=_CALL_TOOL, structured_output=True)
    async def confirm_call(
        ctx: Context,
        token: Annotated[str, Field(description="The token from plan_call's receipt")],
        wait_seconds: WaitSeconds = default_wait,
    ) -> CallResult | InputRequiredResult:
        """Place the call plan_call planned, once the user has agreed to its receipt.

        When the server needs a person to confirm calls, this fails until they have confirmed
        (on the receipt's confirm_url, or when your client asks them). Returns like make_call:
        within wait_seconds, with the call_id and transcript so far.
        """
        return await tools.confirm_call(ctx, token, wait_seconds)

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


async def _done(record: CallRecord) -> CallRecord:
    return record


def _waiting_progress(ctx: Context) -> Callable[[str], Awaitable[None]]:
    """Progress notifications while a tool waits for the person (a no-op without a token)."""
    sent = 0

    async def report(message: str) -> None:
        nonlocal sent
        sent += 1
        try:
            await ctx.report_progress(sent, message=message)
        except Exception:
            logger.debug("could not report progress", exc_info=True)

    return report


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
