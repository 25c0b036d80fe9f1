"""One Telnyx call's life in the simulator: initiated, answered, streamed, bridged, hung up.

A :class:`TelnyxLeg` is a :class:`~getpatter.testing.phone_network.leg.BaseLeg` driven by the
app's call-control commands rather than by a document: the REST API calls :meth:`command`,
which checks the call's state, records the command and changes what the leg's task does next
(answer, start or stop a stream, transfer, hang up).

Outbound (``POST /v2/calls``): ``call.initiated`` (outgoing), then by the callee's script
``call.hangup`` (``user_busy``, ``timeout``...) or ``call.answered``, answering-machine
detection, and the dial's stream. Inbound (:meth:`TelnyxSimulator.place_inbound_call`):
``call.initiated`` (incoming, parked) and nothing more until the app answers, rejects or hangs
up, or the caller gives up (``originator_cancel``). At the end: ``streaming.stopped``,
``call.hangup``, ``call.recording.saved``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from getpatter.testing.phone_network.call import HangupBy, SimulatedCall
from getpatter.testing.phone_network.leg import BaseLeg, Halted
from getpatter.testing.scenario import Callee
from getpatter.testing.telnyx_simulator.account import (
    CallControlApplication,
    iso,
    new_call_control_id,
    new_uuid,
)
from getpatter.testing.telnyx_simulator.media import TelnyxMediaStream
from getpatter.testing.telnyx_simulator.params import (
    ApiError,
    StreamConfig,
    checked_number,
    stream_config,
)
from getpatter.testing.telnyx_simulator.webhooks import EventQueue, TelnyxWebhooks

__all__ = ["Recording", "TelnyxLeg", "call_ended"]

_SIP_CAUSE = {
    "normal_clearing": "200",
    "user_busy": "486",
    "timeout": "487",
    "originator_cancel": "487",
    "call_rejected": "603",
    "not_found": "404",
}
_REJECT_CAUSE = {
    "CALL_REJECTED": "call_rejected",
    "USER_BUSY": "user_busy",
    "NOT_FOUND": "not_found",
    "TEMPORARILY_UNAVAILABLE": "unspecified",
}
_WAITS_FOR_BEEP = ("greeting_end", "detect_words", "detect_beep")
_PROGRESS = {"call.initiated": "initiated", "call.answered": "in-progress"}


def call_ended() -> ApiError:
    """Telnyx's answer to a command for a call that has ended (Pipecat checks this code)."""
    return ApiError(
        422,
        "90018",
        "Call has already ended",
        "This call is no longer active and can't receive commands.",
    )


def _bad_state(detail: str) -> ApiError:
    return ApiError(422, "10015", "Invalid call state", detail)


@dataclass(frozen=True)
class _TargetLeg:
    """The leg a call is transferred to."""

    call_control_id: str
    client_state: str | None
    url: str | None
    to: str
    from_: str


@dataclass
class Recording:
    """A recording of the call, from ``record_start`` (or ``record-from-answer``) to its end."""

    id: str
    channels: str
    format: str
    started: datetime
    ended: datetime | None = None


class TelnyxLeg(BaseLeg):
    """Drives one :class:`SimulatedCall` for the Telnyx simulator."""

    carrier = "telnyx"

    def __init__(
        self,
        call: SimulatedCall,
        params: dict[str, Any],
        *,
        application: CallControlApplication,
        webhooks: TelnyxWebhooks,
        user_id: str,
        recordings_url: str,
        callee_for: Callable[[str], Callee],
        transfer_talk_s: float,
        answer_timeout_s: float,
    ) -> None:
        super().__init__(
            call, transfer_talk_s=transfer_talk_s, time_limit_s=params.get("time_limit_secs")
        )
        self.params = params
        self.application = application
        self.call_leg_id = new_uuid()
        self.call_session_id = new_uuid()
        self.client_state: str | None = params.get("client_state")
        self.webhook_url: str | None = params.get("webhook_url")
        self.stream: TelnyxMediaStream | None = None
        self.recording: Recording | None = None
        self.recording_id = new_uuid() if params.get("record") else None
        self._webhooks = webhooks
        self._events = EventQueue(call, webhooks)
        self._user_id = user_id
        self._recordings_url = recordings_url
        self._callee_for = callee_for
        self._answer_timeout_s = answer_timeout_s
        self._answer: dict[str, Any] | None = None
        self._answered_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._pending_stream: StreamConfig | None = None
        self._transfer: dict[str, Any] | None = None
        self._cause: tuple[str, str] | None = None
        self._command_ids: set[str] = set()
        self.line.on_key = self._key_pressed

    # --- commands ---------------------------------------------------------------------------

    def command(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run call command ``name`` (already checked against its spec); the response data.

        Raises :class:`ApiError` when the call's state does not allow it. A repeated
        ``command_id`` is answered ``ok`` and ignored, as Telnyx does.
        """
        if not self.is_live:
            raise call_ended()
        command_id = params.get("command_id")
        if command_id is not None and command_id in self._command_ids:
            return {"result": "ok"}
        handler: Callable[[dict[str, Any]], dict[str, Any] | None] = getattr(self, f"_cmd_{name}")
        data = handler(params) or {"result": "ok"}
        if command_id is not None:
            self._command_ids.add(command_id)
        if "client_state" in params:
            self.client_state = params["client_state"]
        self.call._touch()
        return data

    def _cmd_answer(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.call.direction != "inbound":
            raise _bad_state("answer is for incoming calls; this call is outgoing")
        if self._answer is not None:
            raise _bad_state("the call is already answered")
        stream_config(params)
        self._answer = params
        if params.get("webhook_url"):
            self.webhook_url = params["webhook_url"]
        self._answered_event.set()
        data: dict[str, Any] = {"result": "ok"}
        if params.get("record"):
            self.recording_id = new_uuid()
            data["recording_id"] = self.recording_id
        return data

    def _cmd_hangup(self, params: dict[str, Any]) -> None:
        if self._answered_at is None and self.call.direction == "outbound-api":
            self._hang_up("canceled", "app", "originator_cancel")
        else:
            self._hang_up("completed", "app", "normal_clearing")

    def _cmd_reject(self, params: dict[str, Any]) -> None:
        if self.call.direction != "inbound" or self._answer is not None:
            raise _bad_state("only an incoming call that was not answered can be rejected")
        self._hang_up("busy", "app", _REJECT_CAUSE[params["cause"]])

    def _cmd_transfer(self, params: dict[str, Any]) -> None:
        self._require_answered("transfer")
        checked_number("to", params["to"])
        if self._transfer is not None:
            raise _bad_state("the call is already being transferred")
        self._transfer = params
        self._halt.set()

    def _cmd_record_start(self, params: dict[str, Any]) -> None:
        self._require_answered("record_start")
        if self.recording is not None and self.recording.ended is None:
            raise _bad_state("the call is already being recorded")
        self._start_recording(params["channels"], params["format"])

    def _cmd_record_stop(self, params: dict[str, Any]) -> None:
        if self.recording is None or self.recording.ended is not None:
            raise _bad_state("the call is not being recorded")
        self._save_recording()

    def _cmd_send_dtmf(self, params: dict[str, Any]) -> None:
        self._require_answered("send_dtmf")
        self.call.dtmf_heard += "".join(d for d in params["digits"] if d not in "wW").upper()
        self.call._touch()

    def _cmd_streaming_start(self, params: dict[str, Any]) -> None:
        self._require_answered("streaming_start")
        if self.stream is not None or self._pending_stream is not None:
            raise _bad_state("the call is already streaming: send streaming_stop first")
        self._pending_stream = stream_config(params)
        self._wake.set()

    def _cmd_streaming_stop(self, params: dict[str, Any]) -> None:
        stream = self.stream
        if stream is None:
            raise _bad_state("the call has no media stream")
        if params.get("stream_id") not in (None, stream.stream_sid):
            raise ApiError(404, "10005", "Resource not found", "No stream with that stream_id.")
        self._halt.set()

    def _cmd_client_state_update(self, params: dict[str, Any]) -> None:
        return None

    def _require_answered(self, command: str) -> None:
        if self._answered_at is None:
            raise _bad_state(f"{command} needs an answered call")

    # --- the call ---------------------------------------------------------------------------

    def _hang_up(
        self, status: str, hangup_by: HangupBy, cause: str, source: str | None = None
    ) -> None:
        """End the call with Telnyx's ``cause``; ``source`` defaults to whoever ``hangup_by``
        is on this call (the app is the caller of an outbound call, the callee of an inbound)."""
        if not self.is_live:
            return
        if source is None:
            app_called = self.call.direction == "outbound-api"
            source = {
                "app": "caller" if app_called else "callee",
                "callee": "callee" if app_called else "caller",
            }.get(hangup_by, "unknown")
        self._cause = (cause, source)
        self.end(status, hangup_by)

    def shut_down(self) -> None:
        """The simulator is closing: Telnyx ends the call."""
        if self._answered_at is not None:
            self._hang_up("completed", "telnyx", "normal_clearing")
        else:
            self._hang_up("canceled", "telnyx", "originator_cancel")

    def _time_up(self) -> None:
        self._hang_up("completed", "telnyx", "time_limit")

    def _callee_hung_up(self) -> None:
        self._hang_up("completed", "callee", "normal_clearing")

    async def cancel(self) -> None:
        """Stop the leg's task and its webhooks at once."""
        await super().cancel()
        self._events.abort()

    async def _drive(self) -> None:
        try:
            if self.call.direction == "inbound":
                answered = await self._ring_in()
            else:
                answered = await self._dial_out()
            if answered:
                await self._connected()
        except Halted:
            return

    async def _dial_out(self) -> bool:
        callee = self.call.callee
        self._notify("call.initiated", direction="outgoing", state="bridging")
        if callee.answer == "fail":
            self._hang_up("failed", "telnyx", "unspecified")
            return False
        ring_s, timeout_s = callee.ring_ms / 1000, self.params.get("timeout_secs", 30)
        if callee.answer != "busy":
            self.call.status = "ringing"
        if callee.answer == "no-answer" or ring_s > timeout_s:
            await self._sleep(min(ring_s, timeout_s))
            self._hang_up("no-answer", "telnyx", "timeout")
            return False
        await self._sleep(ring_s)
        if callee.answer == "busy":
            self._hang_up("busy", "callee", "user_busy")
            return False
        self._pick_up(self.params)
        return True

    async def _ring_in(self) -> bool:
        self._notify("call.initiated", direction="incoming", state="parked")
        try:
            async with asyncio.timeout(self._answer_timeout_s):
                await self._guard(self._answered_event.wait())
        except TimeoutError:
            self._hang_up("no-answer", "callee", "originator_cancel")
            return False
        assert self._answer is not None
        self._pick_up(self._answer)
        return True

    def _pick_up(self, params: dict[str, Any]) -> None:
        """The call is answered: webhook, recording, detection, DTMF on answer, stream."""
        self._mark_answered()
        self._notify("call.answered", state="answered")
        if params.get("record") == "record-from-answer":
            self._start_recording(
                params.get("record_channels", "single"), params.get("record_format", "mp3")
            )
        mode = self.params.get("answering_machine_detection", "disabled")
        if self.call.direction == "outbound-api" and mode != "disabled":
            self._spawn(self._detect(mode))
        if digits := params.get("send_digits_on_answer"):
            self.call.dtmf_heard += "".join(d for d in digits if d not in "wW").upper()
        self._pending_stream = stream_config(params)

    async def _connected(self) -> None:
        """Stream, wait for commands, or bridge a transfer, until the call ends."""
        while self.is_live:
            if self._transfer is not None:
                self._halt.clear()
                await self._bridge(self._transfer)
                return
            config, self._pending_stream = self._pending_stream, None
            if config is not None:
                await self._stream(config)
            else:
                with contextlib.suppress(Halted):
                    await self._guard(self._wake.wait())
                self._wake.clear()
            if self.is_live:
                self._halt.clear()

    async def _stream(self, config: StreamConfig) -> None:
        self._notify("streaming.started", stream_url=config.url)
        stream = TelnyxMediaStream(
            self.call,
            self.line,
            config,
            user_id=self._user_id,
            call_session_id=self.call_session_id,
            client_state=self.client_state,
        )
        self.stream = stream
        await stream.run(self._halt, self._callee_joined)
        self.stream = None
        if stream.failure is None:
            self._notify("streaming.stopped", stream_url=config.url)
            return
        self._notify(
            "streaming.failed",
            failure_reason=stream.failure,
            stream_id=stream.stream_sid,
            stream_params={"stream_url": config.url, "track": config.track},
            stream_type="websocket",
        )

    async def _bridge(self, params: dict[str, Any]) -> None:
        """The transfer target answers and talks (until the time limit, if sooner).

        The target is a new leg with its own ``call_control_id``: its events
        (``call.initiated``, ``call.answered``, ``call.bridged``, ``call.hangup``) carry the
        transfer's ``target_leg_client_state`` and go to the transfer's ``webhook_url`` (else
        the call's).
        """
        to, time_limit = params["to"], params.get("time_limit_secs")
        self.call.transferred_to, self.call.dial_time_limit = to, time_limit
        self.call._touch()
        target = _TargetLeg(
            new_call_control_id(),
            params.get("target_leg_client_state"),
            params.get("webhook_url") or self.webhook_url or self.application.webhook_event_url,
            to,
            params.get("from") or self.call.from_,
        )
        self._notify_target(target, "call.initiated", direction="outgoing", state="bridging")
        await self._sleep(self._callee_for(to).ring_ms / 1000)
        answered = datetime.now(UTC)
        self._notify_target(target, "call.answered", start_time=iso(answered))
        self._notify_target(target, "call.bridged")
        self._notify("call.bridged")
        talk_s = (
            self._transfer_talk_s if time_limit is None else min(self._transfer_talk_s, time_limit)
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        limited = time_limit is not None and time_limit <= self._transfer_talk_s
        try:
            await self._sleep(talk_s)
        except Halted:
            self.call.dial_duration_s = round(loop.time() - started)
            self._target_hung_up(target, answered, "normal_clearing")
            raise
        self.call.dial_duration_s = round(talk_s)
        self._target_hung_up(target, answered, "time_limit" if limited else "normal_clearing")
        if limited:
            self._hang_up("completed", "telnyx", "time_limit")
        else:
            self._hang_up("completed", "app", "normal_clearing", "unknown")

    def _target_hung_up(self, target: _TargetLeg, answered: datetime, cause: str) -> None:
        self._notify_target(
            target,
            "call.hangup",
            start_time=iso(answered),
            end_time=iso(datetime.now(UTC)),
            hangup_cause=cause,
            hangup_source="unknown",
            state="hangup",
        )

    def _notify_target(self, target: _TargetLeg, event_type: str, **fields: Any) -> None:
        """Queue an event of a transfer's target leg (not recorded as the call's status)."""
        if not target.url:
            return
        payload: dict[str, Any] = {
            "call_control_id": target.call_control_id,
            "call_leg_id": new_uuid(),
            "call_session_id": self.call_session_id,
            "connection_id": self.application.id,
            "client_state": target.client_state,
            "from": target.from_,
            "to": target.to,
        }
        self._events.put(self._webhooks.event(event_type, target.url, payload | fields))

    async def _detect(self, mode: str) -> None:
        """Answering-machine detection: the result, then the end of a machine's greeting."""
        premium = mode.startswith("premium")
        machine, detection_ms = self._machine_detection(wait_for_beep=False)
        await asyncio.sleep(detection_ms / 1000)
        result = "machine" if machine else ("human_residence" if premium else "human")
        self.call.answered_by = result
        kind = "call.machine.premium" if premium else "call.machine"
        self._notify(f"{kind}.detection.ended", result=result)
        if machine and (premium or mode in _WAITS_FOR_BEEP):
            await asyncio.sleep(max(0.0, self._greeting_end - asyncio.get_running_loop().time()))
            self._notify(f"{kind}.greeting.ended", result="beep_detected")

    def _key_pressed(self, digit: str) -> None:
        self._notify("call.dtmf.received", digit=digit)

    def _start_recording(self, channels: str, format_: str) -> None:
        recording_id = self.recording_id or new_uuid()
        self.recording_id = None
        self.recording = Recording(recording_id, channels, format_, datetime.now(UTC))
        self.call.recording_sid = recording_id
        self.call._touch()

    def _save_recording(self) -> None:
        recording = self.recording
        if recording is None or recording.ended is not None:
            return
        recording.ended = datetime.now(UTC)
        url = f"{self._recordings_url}/{recording.id}.{recording.format}"
        self._notify(
            "call.recording.saved",
            recording_id=recording.id,
            channels=recording.channels,
            format=recording.format,
            recording_started_at=iso(recording.started),
            recording_ended_at=iso(recording.ended),
            recording_urls={recording.format: url},
            public_recording_urls={},
        )

    def _settled(self, now: float) -> None:
        cause, source = self._cause or ("unspecified", "unknown")
        self.call.hangup_cause, self.call.hangup_source = cause, source

    async def _final_webhooks(self) -> None:
        cause = self.call.hangup_cause or "unspecified"
        self._notify(
            "call.hangup",
            hangup_cause=cause,
            hangup_source=self.call.hangup_source,
            sip_hangup_cause=_SIP_CAUSE.get(cause, "unspecified"),
            start_time=iso(self.created),
            end_time=iso(self.ended or datetime.now(UTC)),
            state="hangup",
            call_quality_stats=None,
        )
        self._save_recording()
        await self._events.drain()

    def _notify(self, event_type: str, **fields: Any) -> None:
        """Queue webhook ``event_type`` to the call's webhook URL (or its application's)."""
        status = _PROGRESS.get(event_type)
        if event_type == "call.hangup":
            status = self.call.status
        if status is not None:
            self.call.statuses.append(status)
        url = self.webhook_url or self.application.webhook_event_url
        if not url:
            self._error(11200, f"{event_type}: no webhook URL for the call or its application")
            return
        payload: dict[str, Any] = {
            "call_control_id": self.call.sid,
            "call_leg_id": self.call_leg_id,
            "call_session_id": self.call_session_id,
            "connection_id": self.application.id,
            "client_state": self.client_state,
            "from": self.call.from_,
            "to": self.call.to,
        }
        if event_type in ("call.initiated", "call.answered"):
            payload["start_time"] = iso(self.created)
        self._events.put(self._webhooks.event(event_type, url, payload | fields))
