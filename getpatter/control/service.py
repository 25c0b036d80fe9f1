"""The call-control service: the phone as a tool, whatever the caller's framework.

:class:`CallService` places calls with a goal, tracks them (status, live transcript, cost),
waits for them with a bound, and controls them while they run: hang up, transfer, press keys,
say a sentence verbatim, or give the in-call agent a new instruction. A :class:`SafetyPolicy`
is enforced on every call it places, and every request lands in an :class:`AuditLog`.
``PatterTool``, ``getpatter_mcp`` and ``getpatter_langchain`` are thin translators over it.

```python
service = CallService.sandbox()                # or CallService(phone, agent, policy=...)
await service.start()
call = await service.place_call("+15550101234", goal="Confirm Friday's delivery")
call = await service.wait(call.call_id, 45)
print(call.to_dict()["transcript"])
await service.aclose()
```
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Literal

from getpatter._validation import require_e164, require_number, require_str
from getpatter.agent import Agent, build_agent
from getpatter.call import LiveCall
from getpatter.calls.events import (
    CallEnded,
    CallEvent,
    CallPlaced,
    CallStarted,
    CallStatusChanged,
    TranscriptFinal,
    TransferFinished,
)
from getpatter.calls.store import CallStore, feed
from getpatter.calls.stream import CallEventStream
from getpatter.client import Patter
from getpatter.control.audit import AuditLog, utc_day_start
from getpatter.control.lines import Line, LiveLine, SandboxLine
from getpatter.control.numbers import preload
from getpatter.control.plans import PLAN_TTL_SECONDS, CallPlan, PlanBook
from getpatter.control.policy import SafetyPolicy
from getpatter.control.record import CallRecord
from getpatter.control.transfers import PolicyTransferGuard
from getpatter.errors import ConfigError, InputValidationError, PatterError, PolicyError
from getpatter.session.session import VOICEMAIL_ACTION

__all__ = ["CallPlan", "CallService", "acting_for"]

logger = logging.getLogger("getpatter.control")

acting_for: ContextVar[str] = ContextVar("patter_control_client", default="python")
"""Which integration is asking (``"mcp"``, ``"langchain"``...); recorded in the audit log."""

UpdateHandler = Callable[[CallRecord], Awaitable[None]]

_MAX_GOAL_CHARS = 4000
_MAX_MESSAGE_CHARS = 1000
_MAX_REF_CHARS = 200
_KEPT_ENDED_CALLS = 500
_FOLLOWED = (CallStatusChanged, CallStarted, TranscriptFinal, CallEnded, TransferFinished)
"""The call events the service keeps its records from."""
_SAY_ACTION = "speak a text verbatim: use instruct to have the agent say it in its own words"
_SANDBOX_PROMPT = (
    "You are a polite assistant placing a phone call for your user. Say who you are, pursue "
    "the goal below, keep it short, and end the call once the goal is reached."
)


class CallService:
    """Places, follows and controls calls for external agents; see the module docstring.

    ``phone`` must have a carrier (Twilio or Telnyx); ``agent`` is the in-call agent, whose system prompt
    gets each call's goal appended. Build a sandbox service, which dials nobody, with
    :meth:`sandbox`. ``port``/``host``/``recording`` go to ``phone.serve()``.

    ``history`` (e.g. a :class:`~getpatter.calls.sqlite_store.SQLiteCallStore`) keeps every call
    the service sees, so that :meth:`get_call` and :meth:`list_calls` still know them after a
    restart; the service closes it in :meth:`aclose`.
    """

    def __init__(
        self,
        phone: Patter | None = None,
        agent: Agent | None = None,
        *,
        policy: SafetyPolicy | None = None,
        audit: AuditLog | None = None,
        port: int = 8000,
        host: str = "0.0.0.0",
        recording: bool = False,
        line: Line | None = None,
        history: CallStore | None = None,
    ) -> None:
        if line is None:
            if not isinstance(phone, Patter):
                raise ConfigError(
                    "CallService needs phone=Patter(carrier=Twilio(...) or Telnyx(...), ...), "
                    "or use CallService.sandbox() to try it without an account"
                )
            line = LiveLine(phone, port=port, host=host, recording=recording)
        if policy is not None and not isinstance(policy, SafetyPolicy):
            raise ConfigError(f"policy must be a SafetyPolicy, got {type(policy).__name__}")
        if audit is not None and not isinstance(audit, AuditLog):
            raise ConfigError(f"audit must be an AuditLog, got {type(audit).__name__}")
        if history is not None and not isinstance(history, CallStore):
            raise ConfigError(
                "history must be a getpatter.calls.store.CallStore (e.g. the phone's "
                f"SQLiteCallStore), got {type(history).__name__}"
            )
        self._history = history
        if agent is None and line.mode == "sandbox":
            agent = build_agent(_SANDBOX_PROMPT)
        if not isinstance(agent, Agent):
            raise ConfigError(
                "CallService needs agent=phone.agent(system_prompt=...): the AI that talks on calls"
            )
        self._line = line
        self._agent = dataclasses.replace(agent, first_message="")
        """The in-call agent; its greeting is each call's first message."""
        self.policy = policy if policy is not None else SafetyPolicy()
        self.audit = audit if audit is not None else AuditLog()
        self._records: dict[str, CallRecord] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._by_ref: dict[str, asyncio.Future[CallRecord]] = {}
        self.plans = PlanBook(self.audit)
        """The planned calls and their confirmations (:meth:`plan_call`)."""
        self._limits: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[CallRecord], None]] = []
        self._dial_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._unsubscribe: list[Callable[[], None]] = []
        self._stream: CallEventStream | None = None
        """The call events the records follow, once started."""
        self._transfers = PolicyTransferGuard(
            self.policy, self.audit, live=self.mode == "live", deadline=self._deadline
        )

    @classmethod
    def sandbox(
        cls,
        agent: Agent | None = None,
        *,
        policy: SafetyPolicy | None = None,
        audit: AuditLog | None = None,
        ms_per_char: int = 60,
        history: CallStore | None = None,
    ) -> CallService:
        """A service on the sandbox's loopback phone network: nothing is dialed, no AI is paid.

        The people called follow :func:`~getpatter.control.lines.sandbox_callee`; the in-call
        agent is the sandbox's scripted model whatever ``agent`` says, reached through the
        agent's engine: a fake OpenAI Realtime, or for ``engine=ElevenLabsConvAI(...)`` a fake
        ElevenLabs ConvAI server (so the engine's limits hold, e.g. no verbatim :meth:`say`).
        """
        line = SandboxLine(ms_per_char=ms_per_char)
        return cls(agent=agent, line=line, policy=policy, audit=audit, history=history)

    # ------------------------------------------------------------------ lifecycle

    @property
    def mode(self) -> Literal["live", "sandbox"]:
        """``"sandbox"`` on the loopback phone network, ``"live"`` on a real carrier."""
        return self._line.mode

    @property
    def line(self) -> Line:
        """The phone network the calls go through."""
        return self._line

    @property
    def agent(self) -> Agent:
        """The in-call agent; each call's goal is appended to its system prompt. Once started,
        the agent as the line runs it (on the sandbox, its engine points at the fakes)."""
        return self._agent

    async def start(self) -> None:
        """Start answering and dialing; further calls do nothing."""
        async with self._start_lock:
            if self._started:
                return
            self._agent = await self._line.prepare_agent(self._agent)
            await self._load_history()
            stream = self._stream = self._line.phone.call_events
            self._unsubscribe = [stream.subscribe(self._on_event, kinds=_FOLLOWED, name="calls")]
            if self._history is not None and self._history is not self._line.phone.call_store:
                self._unsubscribe.append(feed(stream, self._history))
            try:
                await self._line.serve(self._agent, {"transfer_guard": self._transfers})
            except BaseException:
                self._stop_listening()
                raise
            self._started = True

    async def aclose(self) -> None:
        """Hang up calls in progress (their ends are recorded), stop serving, close the log."""
        for task in self._limits.values():
            task.cancel()
        await self._line.aclose()
        if self._stream is not None:
            await self._stream.drain()  # the ends of the calls just hung up
        self._stop_listening()
        self._started = False
        await self.audit.aclose()
        if self._history is not None:
            await self._history.aclose()

    async def __aenter__(self) -> CallService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def subscribe(self, listener: Callable[[CallRecord], None]) -> Callable[[], None]:
        """Call ``listener(record)`` after every change of any call; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ placing calls

    async def place_call(
        self,
        to: str,
        *,
        goal: str = "",
        first_message: str = "",
        max_duration_sec: int | None = None,
        client_ref: str = "",
        voicemail_message: str = "",
    ) -> CallRecord:
        """Dial ``to`` with an in-call agent pursuing ``goal``; return the call's record at once.

        A ``client_ref`` seen before returns the first call's record and dials nobody. Raises
        :class:`PolicyError` (with ``rule``) when the safety policy refuses, including when the
        policy wants confirmation first (:meth:`plan_call`, then :meth:`confirm_call`).
        """
        arguments = {
            "to": to,
            "goal": goal,
            "first_message": first_message,
            "max_duration_sec": max_duration_sec,
            "client_ref": client_ref,
            "voicemail_message": voicemail_message,
        }
        async with self._audited("make_call", arguments) as audit:
            await preload()
            plan = self._plan(
                to, goal, first_message, max_duration_sec, client_ref, voicemail_message
            )
            if self.policy.require_confirmation:
                raise PolicyError(
                    "refused by the confirmation rule: a person must confirm every call this "
                    "server places. Call plan_call, have the person confirm its receipt, then "
                    "call confirm_call(token)",
                    rule="confirmation",
                )
            record = await self._dial_once(plan)
            audit["call_id"] = record.call_id
            return record

    def plan_call(
        self,
        to: str,
        *,
        goal: str = "",
        first_message: str = "",
        max_duration_sec: int | None = None,
        client_ref: str = "",
        voicemail_message: str = "",
    ) -> CallPlan:
        """Check a call against the policy without dialing; it can be dialed for 10 minutes.

        Show ``plan.receipt()`` to the person. When the policy requires confirmation the call is
        dialed only after a person confirmed it: on a
        :class:`~getpatter.control.confirmation.ConfirmationPage`, through
        ``service.plans.confirm(plan.token, plan.secret)``, or with
        ``confirm_call(plan.token, secret=plan.secret)`` after your own confirmation step. Never
        hand ``plan.secret`` to the model that asked for the call.
        """
        plan = self._plan(to, goal, first_message, max_duration_sec, client_ref, voicemail_message)
        self.plans.add(plan)
        return plan

    def preview_call(
        self,
        to: str,
        *,
        goal: str = "",
        first_message: str = "",
        max_duration_sec: int | None = None,
        client_ref: str = "",
        voicemail_message: str = "",
    ) -> CallPlan:
        """Like :meth:`plan_call`, but the plan is not filed: nothing can confirm or dial it.

        For showing a person what would be dialed before anything exists to confirm.
        """
        return self._plan(to, goal, first_message, max_duration_sec, client_ref, voicemail_message)

    async def confirm_call(self, token: str, *, secret: str | None = None) -> CallRecord:
        """Place the call :meth:`plan_call` returned ``token`` for (once).

        When the policy requires confirmation the plan must have been confirmed by a person
        (``service.plans.confirm``), or ``secret`` must be the plan's secret; otherwise this raises
        :class:`PolicyError` (rule ``"confirmation"``) and the plan stays waiting. A wrong
        secret voids it.
        """
        async with self._audited("confirm_call", {"token": "***"}) as audit:
            require_str("token", token, allow_empty=False)
            confirmed = self.plans.state(token) == "confirmed"
            plan = self.plans.take(
                token, secret=secret, person_needed=self.policy.require_confirmation
            )
            try:
                record = await self._dial_once(plan)
            except PolicyError:
                # A cap refused the dial: the person's confirmation still stands.
                self.plans.put_back(plan, confirmed=confirmed or secret is not None)
                raise
            audit["call_id"] = record.call_id
            return record

    def _plan(
        self,
        to: str,
        goal: str,
        first_message: str,
        max_duration_sec: int | None,
        client_ref: str,
        voicemail_message: str,
    ) -> CallPlan:
        require_e164("to", to)
        _require_text("goal", goal, _MAX_GOAL_CHARS)
        _require_text("first_message", first_message, _MAX_MESSAGE_CHARS)
        _require_text("client_ref", client_ref, _MAX_REF_CHARS)
        _require_text("voicemail_message", voicemail_message, _MAX_MESSAGE_CHARS)
        if voicemail_message:
            # Refused before a person confirms a call that could not be dialed.
            self._require_engine("speaks_verbatim", VOICEMAIL_ACTION)
        dialed = self.policy.check_destination(to, live=self.mode == "live")
        return CallPlan(
            # It names the plan for the model, which sees it; the person's part is the secret.
            token=f"plan_{secrets.token_hex(12)}",
            to=dialed,
            goal=goal,
            first_message=self.policy.first_message(first_message),
            max_duration_sec=self.policy.call_seconds(max_duration_sec),
            client_ref=client_ref,
            expires_at=time.time() + PLAN_TTL_SECONDS,
            voicemail_message=self.policy.first_message(voicemail_message)
            if voicemail_message
            else "",
            secret=secrets.token_urlsafe(32),
        )

    async def _dial_once(self, plan: CallPlan) -> CallRecord:
        """Dial ``plan``, unless a call with its ``client_ref`` exists: then return that one."""
        if not plan.client_ref:
            return await self._dial(plan)
        earlier = self._by_ref.get(plan.client_ref)
        if earlier is not None:
            return await asyncio.shield(earlier)
        future: asyncio.Future[CallRecord] = asyncio.get_running_loop().create_future()
        self._by_ref[plan.client_ref] = future
        try:
            record = await self._dial(plan)
        except BaseException as exc:
            del self._by_ref[plan.client_ref]
            future.set_exception(exc if isinstance(exc, Exception) else PatterError("cancelled"))
            future.exception()  # retrieved: a concurrent retry may not be waiting for it
            raise
        future.set_result(record)
        return record

    async def _dial(self, plan: CallPlan) -> CallRecord:
        await self.start()
        async with self._dial_lock:
            since = utc_day_start()
            self.policy.check_capacity(
                active_calls=sum(
                    1 for r in self._records.values() if r.direction == "outbound" and not r.ended
                ),
                calls_today=await self.audit.calls_placed_since(since),
                spend_today_usd=await self.audit.spend_since(since),
            )
            self._line.before_dial(plan.to)
            call_agent = dataclasses.replace(
                self._agent, system_prompt=_with_goal(self._agent.system_prompt, plan.goal)
            )
            call_id = await self._line.phone.call(
                plan.to,
                first_message=plan.first_message,
                agent=call_agent,
                machine_detection=True,
                voicemail_message=plan.voicemail_message,
            )
        record = self._records.get(call_id)
        if record is None:
            record = self._records[call_id] = self._new_record(call_id, "outbound")
        record.to, record.from_ = plan.to, self._line.phone.phone_number
        record.goal, record.first_message = plan.goal, plan.first_message
        record.client_ref, record.max_duration_sec = plan.client_ref, plan.max_duration_sec
        if record.status == "queued":
            record.status = "ringing"
        self._line.phone.call_events.publish(
            CallPlaced(
                call_id=call_id,
                caller=record.from_,
                callee=record.to,
                goal=plan.goal,
                client_ref=plan.client_ref,
                max_duration_sec=plan.max_duration_sec,
                mode=self.mode,
            )
        )
        self._limits[call_id] = asyncio.create_task(
            self._enforce_limit(record), name=f"patter-limit-{call_id}"
        )
        self._changed_now(record)
        return record

    # ------------------------------------------------------------------ reading calls

    def get_call(self, call_id: str) -> CallRecord:
        """The record of call ``call_id``; :class:`InputValidationError` if there is none."""
        require_str("call_id", call_id, allow_empty=False)
        record = self._records.get(call_id)
        if record is None:
            raise InputValidationError(
                f"no call {call_id!r}: list_calls shows the calls this server knows"
            )
        return record

    def find_by_ref(self, client_ref: str) -> CallRecord | None:
        """The call placed with ``client_ref``, if its dialing has finished."""
        future = self._by_ref.get(client_ref)
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    def list_calls(self, *, active_only: bool = False) -> list[CallRecord]:
        """Every call this service knows (placed or answered), newest first."""
        records = sorted(self._records.values(), key=lambda r: r.created_at, reverse=True)
        return [r for r in records if not (active_only and r.ended)]

    async def wait(
        self,
        call_id: str,
        seconds: float,
        *,
        on_update: UpdateHandler | None = None,
        heartbeat: float = 5.0,
    ) -> CallRecord:
        """Wait until the call ends or ``seconds`` pass; return its record either way.

        ``on_update(record)`` runs after each change (a new line of transcript, a status) and
        at least every ``heartbeat`` seconds, so a client can show progress and stay alive.
        """
        record = self.get_call(call_id)
        require_number("seconds", seconds, minimum=0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        seen = record.version
        while not record.ended:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed = self._changed.setdefault(call_id, asyncio.Event())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives in the same step as the update.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(heartbeat, remaining)):
                    await changed.wait()
            if on_update is not None and (record.version != seen or not record.ended):
                seen = record.version
                await on_update(record)
        return record

    # ------------------------------------------------------------------ controlling calls

    async def hangup(self, call_id: str) -> CallRecord:
        """Hang up the call (after the agent's current sentence)."""
        async with self._audited("hangup_call", {"call_id": call_id}, call_id=call_id):
            await self._session(call_id).hangup()
            return self.get_call(call_id)

    async def transfer(self, call_id: str, to: str) -> CallRecord:
        """Transfer the call to ``to``, after the agent's current sentence.

        The policy checks it as it checks every transfer of this service's calls (see
        :mod:`getpatter.control.transfers`), and the audit log records it once.
        """
        client = acting_for.get()
        arguments = {"call_id": call_id, "to": to}
        try:
            require_e164("to", to)
            # Refused at once, even for a call that has ended: the guard checks again below.
            to = self.policy.check_destination(to, live=self.mode == "live")
            session = self._session(call_id)
        except PolicyError as exc:
            await self.audit.record(
                "transfer_call",
                arguments,
                "refused",
                rule=exc.rule,
                detail=exc.message,
                call_id=call_id,
                client=client,
            )
            raise
        except PatterError as exc:
            await self.audit.record(
                "transfer_call",
                arguments,
                "error",
                detail=exc.message,
                call_id=call_id,
                client=client,
            )
            raise
        await session.transfer(to, by=client)
        return self.get_call(call_id)

    async def send_dtmf(self, call_id: str, digits: str) -> CallRecord:
        """Press ``digits`` (``0-9 * # A-D``, ``w`` = half a second's pause) on the call."""
        arguments = {"call_id": call_id, "digits": digits}
        async with self._audited("send_dtmf", arguments, call_id=call_id):
            require_str("digits", digits, allow_empty=False)
            await self._session(call_id).send_dtmf(digits)
            record = self.get_call(call_id)
            record.keys_sent += digits
            self._changed_now(record)
            return record

    async def say(self, call_id: str, text: str) -> CallRecord:
        """Have the agent say ``text`` word for word, after its current sentence.

        Raises :class:`ConfigError` naming the engine when it cannot speak a text verbatim
        (ElevenLabs ConvAI): :meth:`instruct` gives such an agent the words to use instead.
        """
        async with self._audited("say", {"call_id": call_id, "text": text}, call_id=call_id):
            self._require_engine("speaks_verbatim", _SAY_ACTION)
            _require_text("text", text, _MAX_MESSAGE_CHARS, allow_empty=False)
            await self._session(call_id).say(text)
            return self.get_call(call_id)

    async def instruct(self, call_id: str, instruction: str) -> CallRecord:
        """Give the in-call agent a new instruction; it follows it from its next reply."""
        arguments = {"call_id": call_id, "instruction": instruction}
        async with self._audited("instruct", arguments, call_id=call_id):
            _require_text("instruction", instruction, _MAX_GOAL_CHARS, allow_empty=False)
            await self._session(call_id).instruct(instruction)
            record = self.get_call(call_id)
            record.instructions.append(instruction)
            self._changed_now(record)
            return record

    def _require_engine(self, ability: str, action: str) -> None:
        """Refuse ``action`` at once, whatever the call, when the in-call agent's engine lacks
        ``ability`` (a name of :class:`~getpatter.engines.base.EngineCapabilities`)."""
        engine = self._agent.engine
        if engine is not None:
            engine.factory().require(ability, action)

    def _session(self, call_id: str) -> LiveCall:
        record = self.get_call(call_id)
        session = self._line.phone.live_call(call_id)
        if session is None or record.ended:
            raise InputValidationError(f"call {call_id} has ended ({record.status})")
        return session

    async def _enforce_limit(self, record: CallRecord) -> None:
        await asyncio.sleep(record.max_duration_sec)
        if record.ended:
            return
        record.timed_out = True
        session = self._line.phone.live_call(record.call_id)
        if session is not None:
            logger.info("call %s reached its %d s limit", record.call_id, record.max_duration_sec)
            await session.hangup()

    async def _load_history(self) -> None:
        """Take the calls of earlier runs from the history store (newest first, as many as
        are kept in memory). A call still marked active there was cut off by a stop."""
        if self._history is None:
            return
        for stored in await self._history.list(limit=_KEPT_ENDED_CALLS):
            if stored.call_id in self._records:
                continue
            lines = await self._history.transcript(stored.call_id)
            record = CallRecord.from_stored(stored, lines, mode=self.mode)
            if stored.active:
                record.error = record.error or "the server stopped before the call ended"
            self._records[stored.call_id] = record

    # ------------------------------------------------------------------ told by the calls

    async def _on_event(self, event: CallEvent) -> None:
        if isinstance(event, CallStatusChanged):
            self._on_status(event)
        elif isinstance(event, CallStarted):
            self._on_call_start(event)
        elif isinstance(event, TranscriptFinal):
            self._on_transcript(event)
        elif isinstance(event, CallEnded):
            await self._on_call_end(event)
        elif isinstance(event, TransferFinished):
            await self._on_transfer_ended(event)

    def _on_status(self, event: CallStatusChanged) -> None:
        record = self._records.get(event.call_id)
        if record is None or record.ended:
            return
        if event.status == "ringing" and record.status == "queued":
            record.status = "ringing"
            self._changed_now(record)

    async def _on_transfer_ended(self, event: TransferFinished) -> None:
        """The transferred leg of one of our calls ended: its cost joins the day's spend."""
        record = self._records.get(event.call_id)
        if record is None:
            return
        cost = event.cost_usd
        await self.audit.record(
            "transfer_ended",
            {"status": event.status, "duration_seconds": event.duration_seconds},
            "ok",
            call_id=record.call_id,
            cost_usd=cost,
            client=acting_for.get(),
        )
        record.cost_usd += cost
        record.cost["telephony"] = record.cost.get("telephony", 0.0) + cost
        self._changed_now(record)

    def _deadline(self, call_id: str) -> float | None:
        """When call ``call_id`` must end (Unix time): its own limit, else the policy's."""
        record = self._records.get(call_id)
        if record is None:
            return None
        if record.max_duration_sec:
            return record.created_at + record.max_duration_sec
        start = record.answered_at or record.created_at
        return start + self.policy.max_call_seconds

    def _stop_listening(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._stream = None

    def _on_call_start(self, event: CallStarted) -> None:
        record = self._record_for(event.payload())
        record.status = "in-progress"
        record.answered_at = event.at
        self._changed_now(record)

    def _on_transcript(self, event: TranscriptFinal) -> None:
        record = self._records.get(event.call_id)
        if record is not None:
            record.add_line(event.role, event.text, heard=event.heard)
            self._changed_now(record)

    async def _on_call_end(self, event: CallEnded) -> None:
        record = self._record_for(event.payload())
        call_id = record.call_id
        record.end(event.report)
        limit = self._limits.pop(call_id, None)
        if limit is not None and limit is not asyncio.current_task():
            limit.cancel()
        self._changed_now(record)
        self._forget_old_records()
        await self.audit.record(
            "call_ended",
            {"status": record.status, "outcome": record.outcome},
            "ok",
            call_id=call_id,
            cost_usd=record.cost_usd,
            client=acting_for.get(),
        )

    # ------------------------------------------------------------------ helpers

    def _new_record(self, call_id: str, direction: Literal["outbound", "inbound"]) -> CallRecord:
        return CallRecord(call_id=call_id, mode=self.mode, direction=direction, to="", from_="")

    def _record_for(self, payload: dict[str, Any]) -> CallRecord:
        """The record of the call a session event is about; a call not placed here (an
        inbound call) gets one on its first event."""
        call_id = str(payload["call_id"])
        record = self._records.get(call_id)
        if record is None:
            if payload.get("direction") == "inbound":
                record = self._new_record(call_id, "inbound")
                record.from_, record.to = str(payload["caller"]), str(payload["callee"])
            else:
                record = self._new_record(call_id, "outbound")
            self._records[call_id] = record
        return record

    def _changed_now(self, record: CallRecord) -> None:
        record.version += 1
        event = self._changed.pop(record.call_id, None)
        if event is not None:
            event.set()
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                logger.exception("a call-update listener raised")

    def _forget_old_records(self) -> None:
        ended = [r for r in self._records.values() if r.ended]
        if len(ended) <= _KEPT_ENDED_CALLS:
            return
        ended.sort(key=lambda r: r.ended_at or 0.0)
        for record in ended[: len(ended) - _KEPT_ENDED_CALLS]:
            del self._records[record.call_id]
            self._changed.pop(record.call_id, None)
            if record.client_ref:
                self._by_ref.pop(record.client_ref, None)

    @contextlib.asynccontextmanager
    async def _audited(self, tool: str, arguments: dict[str, Any], *, call_id: str = "") -> Any:
        """Record the request and its outcome (ok / refused by a rule / error) in the audit log."""
        details: dict[str, str] = {"call_id": call_id}
        client = acting_for.get()
        try:
            yield details
        except PolicyError as exc:
            await self.audit.record(
                tool,
                arguments,
                "refused",
                rule=exc.rule,
                detail=exc.message,
                call_id=details["call_id"],
                client=client,
            )
            raise
        except PatterError as exc:
            await self.audit.record(
                tool,
                arguments,
                "error",
                detail=exc.message,
                call_id=details["call_id"],
                client=client,
            )
            raise
        except Exception as exc:
            await self.audit.record(
                tool,
                arguments,
                "error",
                detail=type(exc).__name__,
                call_id=details["call_id"],
                client=client,
            )
            raise
        await self.audit.record(tool, arguments, "ok", call_id=details["call_id"], client=client)


def _with_goal(system_prompt: str, goal: str) -> str:
    if not goal:
        return system_prompt
    return f"{system_prompt}\n\nThe goal of this call: {goal}"


def _require_text(param: str, value: object, limit: int, *, allow_empty: bool = True) -> str:
    text = require_str(param, value, allow_empty=allow_empty)
    if len(text) > limit:
        raise InputValidationError(f"{param} is {len(text)} characters; keep it under {limit}")
    return text
