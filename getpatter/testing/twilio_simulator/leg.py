"""One Twilio call's life in the simulator: ringing, answer, TwiML, media stream, callbacks.

A :class:`CallLeg` is a :class:`~getpatter.testing.phone_network.leg.BaseLeg`: outside events
(the app's REST hang-up or redirect, the callee hanging up, a time limit, the simulator
closing) only *request* a change and set the leg's halt event; the leg's task notices at its
next wait, stops the media stream (``stop`` then close) and either runs the new TwiML or
finishes the call and sends the final callbacks.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from urllib.parse import urljoin

from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.leg import (
    HUMAN_DETECTION_MS,
    MACHINE_START_MS,
    BaseLeg,
    Halted,
)
from getpatter.testing.twilio_simulator.media import MediaStream
from getpatter.testing.twilio_simulator.twiml import (
    ConnectStream,
    Dial,
    Hangup,
    Pause,
    Play,
    Redirect,
    Reject,
    Say,
    TwimlError,
    Unsupported,
    Verb,
    parse_twiml,
)
from getpatter.testing.twilio_simulator.webhooks import WebhookSender

__all__ = [
    "API_VERSION",
    "HUMAN_DETECTION_MS",
    "MACHINE_START_MS",
    "CallLeg",
    "LegConfig",
    "Recording",
    "rfc2822",
]

API_VERSION = "2010-04-01"

_PROGRESS_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}
_SIP_RESPONSE = {"completed": "200", "busy": "486", "no-answer": "487", "canceled": "487"}
_ANSWERING_VERBS = (Say, Play, Pause, ConnectStream, Dial)

_Document = tuple[Verb, ...]


def rfc2822(moment: datetime) -> str:
    """A timestamp the way Twilio writes them: ``Tue, 25 Nov 2025 22:44:00 +0000``."""
    return format_datetime(moment)


@dataclass(frozen=True)
class LegConfig:
    """How the app asked for the call to be handled (the REST create parameters)."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset()
    timeout_s: int = 60
    time_limit_s: int | None = None
    machine_detection: str | None = None
    async_amd: bool = False
    amd_callback: str | None = None
    amd_callback_method: str = "POST"
    record: bool = False
    recording_callback: str | None = None
    recording_callback_method: str = "POST"
    recording_events: frozenset[str] = frozenset({"completed"})


@dataclass
class Recording:
    """A recording of the call, started by ``Record=true`` or the Recordings API."""

    sid: str
    call_sid: str
    started_at: float
    started: datetime
    source: str
    callback: str | None
    callback_method: str
    events: frozenset[str]
    channels: int = 1
    duration_s: int | None = None


class CallLeg(BaseLeg):
    """Drives one :class:`SimulatedCall` from dialing to its last callback."""

    carrier = "twilio"

    def __init__(
        self,
        call: SimulatedCall,
        config: LegConfig,
        *,
        auth_token: str,
        webhooks: WebhookSender,
        recordings_url: str,
        transfer_talk_s: float = 1.0,
    ) -> None:
        super().__init__(call, transfer_talk_s=transfer_talk_s, time_limit_s=config.time_limit_s)
        self.config = config
        self.recording: Recording | None = None
        self._auth_token = auth_token
        self._webhooks = webhooks
        self._recordings_url = recordings_url
        self._redirect: Callable[[], Awaitable[_Document | None]] | None = None
        self._document_url = ""
        self._callback_sequence = 0

    def hang_up(self, requested: str) -> None:
        """The REST ``Status`` update: cancel a call not yet answered, or complete one.

        ``Status=canceled`` on an answered call does nothing, as on Twilio.
        """
        if self._end is not None:
            return
        if self._answered_at is None:
            self.end("canceled", "app")
        elif requested == "completed":
            self.end("completed", "app")

    def redirect(
        self, *, twiml: str | None = None, url: str | None = None, method: str = "POST"
    ) -> None:
        """Replace the running TwiML with ``twiml``, or with the TwiML fetched from ``url``."""
        if url is not None:
            self._redirect = partial(self._fetch, url, method)
        else:
            self._redirect = partial(self._inline, twiml or "")
        self._halt.set()

    def start_recording(
        self,
        source: str,
        callback: str | None,
        callback_method: str = "POST",
        events: frozenset[str] = frozenset({"completed"}),
        channels: int = 1,
    ) -> Recording:
        """Start recording the call now; the status callback follows at the end of the call."""
        loop = asyncio.get_running_loop()
        recording = Recording(
            "RE" + secrets.token_hex(16),
            self.call.sid,
            loop.time(),
            datetime.now(UTC),
            source,
            callback,
            callback_method,
            events,
            channels,
        )
        self.recording = recording
        self.call.recording_sid = recording.sid
        if callback and "in-progress" in events:
            self._spawn(self._recording_callback("in-progress"))
        self.call._touch()
        return recording

    async def _drive(self) -> None:
        step: Callable[[], Awaitable[_Document | None]] = self._open
        while self._end is None:
            try:
                document = await step()
            except Halted:
                if self._end is not None or self._redirect is None:
                    return
                step, self._redirect = self._redirect, None
                self._halt.clear()
                continue
            if document is None:
                return
            step = partial(self._execute, document)

    async def _open(self) -> _Document | None:
        """Dial (outbound) and fetch the first TwiML; ``None`` if the call ended on the way."""
        if self.call.direction == "inbound":
            return await self._first_document()
        callee = self.call.callee
        await self._status("initiated")
        if callee.answer == "fail":
            self.end("failed", "twilio")
            return None
        ring_s = callee.ring_ms / 1000
        if callee.answer != "busy":
            self.call.status = "ringing"
            await self._status("ringing")
        if callee.answer == "no-answer" or ring_s > self.config.timeout_s:
            await self._sleep(min(ring_s, self.config.timeout_s))
            self.end("no-answer", "twilio")
            return None
        await self._sleep(ring_s)
        if callee.answer == "busy":
            self.end("busy", "callee")
            return None
        self._answer()
        await self._status("answered")
        if self.config.machine_detection and not self.config.async_amd:
            answered_by, detection_ms = self._detection()
            await self._sleep(detection_ms / 1000)
            self.call.answered_by = answered_by
        return await self._first_document()

    async def _first_document(self) -> _Document | None:
        if self.config.url is not None:
            return await self._fetch(self.config.url, self.config.method)
        return await self._inline(self.config.twiml or "")

    async def _execute(self, document: _Document) -> _Document | None:
        """Run the verbs; the next document for ``<Redirect>``, else ``None`` (call ended)."""
        for verb in document:
            self._check_halt()
            if isinstance(verb, _ANSWERING_VERBS):
                self._answer()
            match verb:
                case Say(text=text):
                    self._verb("Say", text)
                case Play(url=url):
                    self._verb("Play", url)
                case Pause(seconds=seconds):
                    self._verb("Pause", f"{seconds:g}")
                    await self._sleep(seconds)
                case ConnectStream():
                    self._verb("Stream", verb.url)
                    stream = MediaStream(
                        self.call, self.line, verb.url, verb.parameters, self._auth_token
                    )
                    await stream.run(self._halt, self._callee_joined)
                case Dial(target=target):
                    self._verb("Dial", target)
                    self.call.transferred_to = target
                    if verb.action is None:
                        self.end("completed", "app")
                    else:
                        return await self._bridge(verb, verb.action)
                case Hangup():
                    self._verb("Hangup", "")
                    self.end("completed", "app")
                case Reject(reason=reason):
                    self._verb("Reject", reason)
                    self.end("completed" if self._answered_at is not None else "busy", "app")
                case Redirect(url=url, method=method):
                    self._verb("Redirect", url)
                    return await self._fetch(urljoin(self._document_url, url), method)
                case Unsupported(name=name):
                    self._verb(name, "")
                    self._error(12200, f"<{name}> is not supported by the simulator: skipped")
        self._check_halt()
        self.end("completed", "app")
        return None

    async def _bridge(self, dial: Dial, action: str) -> _Document | None:
        """The dialed party talks (until the time limit, if sooner), then ``action`` is asked
        what to do next, with the dialed leg's status and duration. If the caller hangs up
        first, the action URL still hears of the dialed leg, as on Twilio."""
        talk_s = self._transfer_talk_s
        if dial.time_limit is not None:
            talk_s = min(talk_s, dial.time_limit)
        self.call.dial_time_limit = dial.time_limit
        loop = asyncio.get_running_loop()
        started = loop.time()
        url = urljoin(self._document_url, action)
        try:
            await self._sleep(talk_s)
        except Halted:
            self.call.dial_duration_s = round(loop.time() - started)
            params = self._call_params() | self._dial_result()
            await self._webhooks.send(self.call, "dial", url, params, dial.method)
            raise
        self.call.dial_duration_s = round(talk_s)
        return await self._fetch(url, dial.method, self._dial_result())

    def _dial_result(self) -> dict[str, str]:
        return {
            "DialCallStatus": "completed",
            "DialCallSid": "CA" + secrets.token_hex(16),
            "DialCallDuration": str(self.call.dial_duration_s or 0),
        }

    def _answer(self) -> None:
        if not self._mark_answered():
            return
        if self.call.direction == "outbound-api":
            if self.config.machine_detection and self.config.async_amd:
                self._spawn(self._detect_async())
            if self.config.record:
                self.start_recording(
                    "OutboundAPI",
                    self.config.recording_callback,
                    self.config.recording_callback_method,
                    self.config.recording_events,
                )
        self.call._touch()

    def _detection(self) -> tuple[str, int]:
        """``AnsweredBy`` and how long detection took (ms), from the callee and the mode."""
        wait_for_beep = self.config.machine_detection == "DetectMessageEnd"
        machine, detection_ms = self._machine_detection(wait_for_beep)
        if not machine:
            return "human", detection_ms
        return ("machine_end_beep" if wait_for_beep else "machine_start"), detection_ms

    async def _detect_async(self) -> None:
        answered_by, detection_ms = self._detection()
        await asyncio.sleep(detection_ms / 1000)
        self.call.answered_by = answered_by
        self.call._touch()
        if self.config.amd_callback:
            params = {
                "AccountSid": self.call.account_sid,
                "CallSid": self.call.sid,
                "AnsweredBy": answered_by,
                "MachineDetectionDuration": str(detection_ms),
            }
            await self._webhooks.send(
                self.call, "amd", self.config.amd_callback, params, self.config.amd_callback_method
            )

    async def _fetch(
        self, url: str, method: str, extra: dict[str, str] | None = None
    ) -> _Document | None:
        """Request TwiML from the app; on failure Twilio hangs up (recorded as an error)."""
        self._document_url = url
        params = self._call_params() | (extra or {})
        if self.call.answered_by is not None and not self.config.async_amd:
            params["AnsweredBy"] = self.call.answered_by
        response = await self._guard(self._webhooks.send(self.call, "voice", url, params, method))
        if response is None or not response.is_success:
            return self._fail()
        content_type = response.headers.get("content-type", "")
        if "xml" not in content_type and "html" not in content_type:
            self._error(12300, f"TwiML from {url} has Content-Type {content_type!r}, not XML")
            return self._fail()
        return await self._inline(response.text)

    async def _inline(self, document: str) -> _Document | None:
        self.call.twiml.append(document)
        self.call._touch()
        try:
            return parse_twiml(document)
        except TwimlError as exc:
            self._error(12100, str(exc))
            return self._fail()

    def _fail(self) -> _Document | None:
        """An application error: Twilio apologises and hangs up."""
        self.end("completed" if self._answered_at is not None else "failed", "twilio")
        return None

    async def _status(self, event: str) -> None:
        """Send a status callback for a progress ``event`` or a final status, if configured."""
        url = self.config.status_callback
        if url is None:
            return
        if event in _PROGRESS_STATUS and event not in self.config.status_events:
            return
        status = _PROGRESS_STATUS.get(event, event)
        params = self._call_params(status)
        params |= {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self._callback_sequence),
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        self._callback_sequence += 1
        if event not in _PROGRESS_STATUS:
            params["CallDuration"] = str(self.call.duration_s or 0)
            params["SipResponseCode"] = _SIP_RESPONSE.get(status, "500")
            if self.recording is not None and self.recording.source == "OutboundAPI":
                params |= {
                    "RecordingSid": self.recording.sid,
                    "RecordingUrl": f"{self._recordings_url}/{self.recording.sid}",
                    "RecordingDuration": str(self.recording.duration_s or 0),
                }
        self.call.statuses.append(status)
        await self._webhooks.send(
            self.call, "status", url, params, self.config.status_callback_method
        )

    async def _recording_callback(self, status: str) -> None:
        recording = self.recording
        if recording is None or recording.callback is None or status not in recording.events:
            return
        params = {
            "AccountSid": self.call.account_sid,
            "CallSid": self.call.sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": f"{self._recordings_url}/{recording.sid}",
            "RecordingStatus": status,
            "RecordingChannels": str(recording.channels),
            "RecordingSource": recording.source,
            "RecordingStartTime": rfc2822(recording.started),
            "RecordingTrack": "both",
            "ErrorCode": "0",
        }
        if recording.duration_s is not None:
            params["RecordingDuration"] = str(recording.duration_s)
        await self._webhooks.send(
            self.call, "recording", recording.callback, params, recording.callback_method
        )

    def _call_params(self, status: str | None = None) -> dict[str, str]:
        call = self.call
        return {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status or call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        } | ({"AnsweredBy": call.answered_by} if call.answered_by else {})

    def _settled(self, now: float) -> None:
        if self.recording is not None:
            self.recording.duration_s = round(now - self.recording.started_at)

    async def _final_webhooks(self) -> None:
        await self._status(self.call.status)
        await self._recording_callback("completed")

    def _verb(self, name: str, argument: str) -> None:
        self.call.verbs.append((name, argument))
        self.call._touch()
