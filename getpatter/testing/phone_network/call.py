"""What a carrier simulator records about each call, for tests to read and await.

The record is the same for every simulated carrier (Twilio, Telnyx), with the same meanings, so
a test parametrised by carrier reads one set of fields: ``sid`` is the carrier's call id (Twilio's
``CallSid``, Telnyx's ``call_control_id``), ``heard`` is always 8 kHz μ-law whatever the codec
on the wire, ``status`` and ``outcome`` use Twilio's call statuses as the common vocabulary.

Times (``at_ms``, ``start_ms``...) are milliseconds since the call began: the REST request that
created an outbound call, or the simulator's ``place_inbound_call`` for an inbound one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from getpatter.testing.phone_network.dtmf_detector import DtmfDetector
from getpatter.testing.scenario import Callee

__all__ = [
    "CallError",
    "Command",
    "DtmfEvent",
    "HangupBy",
    "HeardFrame",
    "MarkEvent",
    "SimulatedCall",
    "StreamRecord",
    "Utterance",
    "Webhook",
]

HangupBy = Literal["callee", "app", "twilio", "telnyx"]
"""Who ended the call: the callee's script, the app, or the carrier itself (a time limit, a
failure, the simulator closing), named ``"twilio"`` or ``"telnyx"``."""


@dataclass(frozen=True)
class HeardFrame:
    """Agent audio the callee heard: μ-law bytes that started playing at ``at_ms``."""

    at_ms: float
    ulaw: bytes


@dataclass(frozen=True)
class Utterance:
    """Something the callee's side played: a scripted ``Say``, or a voicemail greeting."""

    text: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class MarkEvent:
    """A media-stream ``mark``: received from the app, or echoed back to it."""

    name: str
    at_ms: float


@dataclass(frozen=True)
class DtmfEvent:
    """A key press of the callee delivered to the app: a media-stream ``dtmf`` event, and on
    Telnyx also a ``call.dtmf.received`` webhook (recorded once)."""

    digit: str
    at_ms: float


@dataclass(frozen=True)
class Webhook:
    """A signed request the simulator made to the app.

    ``kind`` is, on Twilio, ``voice``, ``status``, ``amd``, ``recording`` or ``dial`` (``params``
    holds the form), and on Telnyx the ``event_type`` (``call.initiated``...), with the JSON
    ``body`` and the ``headers`` (signature, timestamp) exactly as sent, for replay tests. ``url``
    is the URL as configured (and signed); ``status_code`` is ``None`` when the app could not be
    reached.
    """

    kind: str
    method: str
    url: str
    params: dict[str, str]
    status_code: int | None
    at_ms: float
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> dict[str, Any]:
        """The ``data.payload`` of a JSON webhook (Telnyx); empty for a form webhook."""
        if not self.body:
            return {}
        payload = json.loads(self.body)["data"]["payload"]
        return payload if isinstance(payload, dict) else {}


@dataclass(frozen=True)
class Command:
    """A call-control command the app sent (Telnyx ``POST /v2/calls/{id}/actions/<name>``).

    ``params`` is the JSON body as received; ``status_code`` is the HTTP status answered.
    """

    name: str
    params: dict[str, Any]
    status_code: int
    at_ms: float


@dataclass(frozen=True)
class CallError:
    """A problem the carrier would report in its debugger, with Twilio's error code.

    Both simulators use Twilio's codes, which are public, for the same problems (Telnyx publishes
    no numbered codes for them). Codes used: 0 (a bug in the simulator itself), 11200 (webhook unreachable, or the voice
    URL answered non-2xx), 12100 (TwiML parse failure), 12200 (TwiML verb the simulator does
    not run), 12300 (TwiML with a wrong Content-Type), 15003 (a callback answered non-2xx),
    31920 (media WebSocket handshake failed), 31922 (``<Stream>`` URL not ``wss://``), 31950
    (binary media message), 31951 (invalid media message: not JSON, unknown event, missing
    fields, wrong ``streamSid``/``stream_id``, audio not in the agreed codec, playout buffer
    full).
    """

    code: int
    message: str
    at_ms: float


@dataclass
class StreamRecord:
    """One media WebSocket (Twilio ``<Connect><Stream>``, Telnyx ``stream_url``).

    ``closed_by`` is ``"app"`` when the app closed the socket, ``"twilio"``/``"telnyx"`` when the
    simulator sent ``stop`` and closed it (call ended, transfer, redirect), ``None`` while it is
    open. ``stream_sid`` is Twilio's ``streamSid`` or Telnyx's ``stream_id``. ``codec`` and
    ``sample_rate`` describe the callee audio sent to the app, ``bidirectional_codec`` and
    ``bidirectional_sample_rate`` the audio the app must send back (μ-law 8 kHz on Twilio).
    """

    url: str
    stream_sid: str
    custom_parameters: dict[str, str]
    started_ms: float
    closed_ms: float | None = None
    closed_by: Literal["app", "twilio", "telnyx"] | None = None
    codec: str = "PCMU"
    sample_rate: int = 8000
    bidirectional_codec: str = "PCMU"
    bidirectional_sample_rate: int = 8000


class _MediaSocket(Protocol):
    async def send_raw(self, data: str | bytes) -> None: ...


@dataclass(eq=False)
class SimulatedCall:
    """One simulated call and everything that happened on it.

    The simulator fills the lists as the call runs; await :meth:`finished` before reading the
    final values, or :meth:`wait_until` for something in between.

    ``dtmf_heard`` holds the keys the callee heard the agent press, in order: DTMF tones the
    agent played into its outbound audio (Media Streams have no message for sending keys),
    detected in what actually played out, as an IVR would hear them. A key held for several
    frames counts once; pressing it again needs a gap of silence (about 40 ms) in between.
    """

    sid: str
    """The carrier's call id: Twilio's ``CallSid``, Telnyx's ``call_control_id``."""
    account_sid: str
    """Twilio's account sid; on Telnyx, the account's ``user_id``."""
    direction: Literal["inbound", "outbound-api"]
    to: str
    from_: str
    callee: Callee
    status: str
    outcome: str | None = None
    """Final result once finished: ``completed``, ``transferred``, ``busy``, ``no-answer``,
    ``failed`` or ``canceled``."""
    hangup_by: HangupBy | None = None
    hangup_cause: str | None = None
    """Telnyx's ``hangup_cause`` (``normal_clearing``, ``user_busy``, ``timeout``...); ``None``
    on Twilio."""
    hangup_source: str | None = None
    """Telnyx's ``hangup_source`` (``caller``, ``callee``, ``unknown``); ``None`` on Twilio."""
    answered_by: str | None = None
    """Twilio's ``AnsweredBy``, or the result of Telnyx's ``call.machine.detection.ended``."""
    transferred_to: str | None = None
    dial_time_limit: int | None = None
    """The time limit of the transfer (``<Dial timeLimit>``, the transfer's ``time_limit_secs``),
    if it had one."""
    dial_duration_s: int | None = None
    """How long the transferred leg stayed connected (when the app asked to hear of it)."""
    recording_sid: str | None = None
    """Twilio's ``RecordingSid``, Telnyx's ``recording_id``."""
    duration_s: int | None = None
    stop_sent: bool = False
    statuses: list[str] = field(default_factory=list)
    """The call status each progress webhook told the app, in order: Twilio's ``CallStatus`` of
    every status callback sent; on Telnyx, ``initiated`` for ``call.initiated``,
    ``in-progress`` for ``call.answered`` and the final status for ``call.hangup``."""
    webhooks: list[Webhook] = field(default_factory=list, repr=False)
    commands: list[Command] = field(default_factory=list, repr=False)
    """Telnyx call-control commands the app sent for this call (dial included), in order."""
    twiml: list[str] = field(default_factory=list, repr=False)
    """Every TwiML document the call ran (fetched or inline), in order."""
    verbs: list[tuple[str, str]] = field(default_factory=list)
    """TwiML verbs run, e.g. ``("Say", "Hello")``, ``("Stream", url)``, ``("Dial", "+1555...")``."""
    streams: list[StreamRecord] = field(default_factory=list, repr=False)
    heard: list[HeardFrame] = field(default_factory=list, repr=False)
    marks_received: list[MarkEvent] = field(default_factory=list, repr=False)
    marks_echoed: list[MarkEvent] = field(default_factory=list, repr=False)
    clears: list[float] = field(default_factory=list, repr=False)
    """When each ``clear`` arrived (ms)."""
    dtmf_sent: list[DtmfEvent] = field(default_factory=list, repr=False)
    dtmf_heard: str = ""
    """Keys the agent pressed, as the callee heard them: in-band DTMF tones, and on Telnyx the
    digits of ``send_dtmf`` commands."""
    said: list[Utterance] = field(default_factory=list, repr=False)
    errors: list[CallError] = field(default_factory=list)
    _started_at: float = field(default=0.0, repr=False)
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _change: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _socket: _MediaSocket | None = field(default=None, repr=False)
    _dtmf: DtmfDetector = field(default_factory=DtmfDetector, repr=False)

    @property
    def heard_ms(self) -> float:
        """How much agent audio the callee heard, in milliseconds (8 μ-law bytes a ms)."""
        return sum(len(frame.ulaw) for frame in self.heard) / 8

    @property
    def heard_ulaw(self) -> bytes:
        """All agent audio the callee heard, as one μ-law byte string."""
        return b"".join(frame.ulaw for frame in self.heard)

    @property
    def is_finished(self) -> bool:
        """True once the call has ended and its last callbacks were sent."""
        return self._done.is_set()

    async def finished(self) -> SimulatedCall:
        """Wait until the call has ended and its final callbacks were sent; return the call.

        Bound the wait yourself: ``async with asyncio.timeout(10): await call.finished()``.
        """
        await self._done.wait()
        return self

    async def wait_until(self, predicate: Callable[[SimulatedCall], bool]) -> SimulatedCall:
        """Wait until ``predicate(call)`` is true; it is re-checked whenever the call changes.

        Bound the wait with ``asyncio.timeout``.
        """
        while not predicate(self):
            await self._change.wait()
        return self

    async def send_raw(self, data: str | bytes) -> None:
        """Send ``data`` as-is on the open media WebSocket (a text or binary frame).

        For fault tests: malformed JSON, unknown events, binary frames. Raises ``RuntimeError``
        when no media stream is open.
        """
        if self._socket is None:
            raise RuntimeError(
                f"call {self.sid} has no open media stream: await "
                "call.wait_until(lambda c: c.streams and c.streams[-1].closed_by is None) first"
            )
        await self._socket.send_raw(data)

    def _ms(self, at: float) -> float:
        """Milliseconds from the call's start to event-loop time ``at``."""
        return round((at - self._started_at) * 1000, 1)

    def _touch(self) -> None:
        """Wake everything waiting in :meth:`wait_until`."""
        self._change.set()
        self._change = asyncio.Event()
