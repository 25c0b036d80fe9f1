"""What a carrier is, in the words the rest of Patter uses.

A carrier brings calls to the embedded server and carries out what the calls ask of it. Each
carrier is one folder under ``getpatter/carriers/`` that provides a :class:`CarrierPort`:

* its **routes**: the webhooks the carrier posts to and the media WebSocket it opens, mounted by
  the server (which knows no carrier). The routes check signatures, translate the carrier's
  messages into the calls of :class:`CallDesk`, and answer in the carrier's way;
* its **media codec**: wire messages of one media stream to neutral events (caller audio, a
  played mark, a key press, start, stop) and neutral commands (agent audio, mark, clear) back to
  wire messages, in an :data:`~getpatter.audio.formats.AudioFormat` chosen per call;
* its **REST actions**: dial, hang up, transfer, record, press keys, bind a number.

Call states, end causes and machine-detection results are in the neutral words below; each
carrier maps its own to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from getpatter.audio.formats import AudioFormat

if TYPE_CHECKING:
    from starlette.routing import BaseRoute
    from starlette.websockets import WebSocket

    from getpatter.session import CallSession

__all__ = [
    "TERMINAL_STATES",
    "CallDesk",
    "CallSnapshot",
    "CallState",
    "CarrierActions",
    "CarrierConfig",
    "CarrierPort",
    "DialRequest",
    "KeyPressed",
    "MachineResult",
    "MalformedFrame",
    "MarkPlayed",
    "MediaCodec",
    "MediaEvent",
    "StreamStarted",
    "StreamStopped",
    "TransferEnded",
]

CallState = Literal[
    "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"
]
"""Where a call stands. ``in-progress``: answered. The last five end a call: ``completed``
(it was connected), ``busy``, ``no-answer``, ``failed`` (never connected) and ``canceled``
(hung up by Patter while it rang)."""

TERMINAL_STATES: frozenset[str] = frozenset(
    {"completed", "busy", "no-answer", "failed", "canceled"}
)

MachineResult = Literal["human", "machine", "fax", "unknown"]
"""Who answered an outbound call, as the carrier's answering-machine detection heard it."""


# ---------------------------------------------------------------------- media stream


class MalformedFrame(Exception):
    """A media-stream message that breaks the carrier's protocol; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The media stream started (once, before any audio).

    ``call_id`` is the carrier's id of the call the stream belongs to; ``custom_parameters``
    what the app attached to the stream when it asked for it (Patter's own are kept).
    """

    call_id: str
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """A mark the app sent came back: the audio sent before it has played (or was cleared)."""

    name: str


@dataclass(frozen=True, slots=True)
class KeyPressed:
    """The caller pressed a key: ``digit`` is one of ``0-9``, ``*``, ``#``, ``A-D``."""

    digit: str


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """The carrier stopped the stream: the call ended, or left the agent (a transfer)."""


MediaEvent = bytes | StreamStarted | MarkPlayed | KeyPressed | StreamStopped
"""What :meth:`MediaCodec.decode` returns. Caller audio is plain ``bytes`` in the codec's
:attr:`~MediaCodec.audio_format`: the one event of the per-frame path carries no wrapper."""


class MediaCodec(Protocol):
    """One media stream's wire format, both ways. Built per stream; may keep its state
    (the stream id it learns from the start message, say)."""

    audio_format: AudioFormat
    """The format of the audio :meth:`decode` returns and :meth:`audio` takes."""

    def decode(self, message: str | bytes) -> MediaEvent | None:
        """The event in one message; ``None`` for messages with nothing to act on.

        Raises :class:`MalformedFrame` for a message that breaks the protocol.
        """
        ...

    def audio(self, frame: bytes) -> str:
        """The message carrying one frame of agent audio."""
        ...

    def mark(self, name: str) -> str:
        """The message asking the carrier to echo ``name`` once what was sent before played."""
        ...

    def clear(self) -> str:
        """The message dropping the audio the carrier has buffered."""
        ...


# ---------------------------------------------------------------------- what the server offers


@dataclass(frozen=True)
class TransferEnded:
    """The leg a call was transferred to ended, after ``duration_seconds`` bridged."""

    call_id: str
    status: str
    dial_call_id: str
    duration_seconds: int


class CallDesk(Protocol):
    """What the server does for a carrier's routes; the routes tell it what the carrier said."""

    @property
    def accepting(self) -> bool:
        """False while the server stops: new calls are refused."""
        ...

    def public_url(self, path: str, **query: str) -> str:
        """The public ``https://`` URL of ``path`` on this server."""
        ...

    def media_url(self, path: str, session: CallSession) -> str:
        """A ``wss://`` URL of ``path`` + ``/<token>`` for the media stream of ``session``.

        The token is single-use and short-lived; the session expects its stream from now on.
        """
        ...

    async def incoming(
        self, call_id: str, caller: str, callee: str, *, patter_id: str = ""
    ) -> CallSession | None:
        """The call ``call_id`` asks for its media stream: its session, or ``None`` to refuse.

        ``patter_id`` names a call Patter dialed. A new inbound call gets a session; a call
        that already has its stream (live or ended) is a replay and is refused, as is any call
        while the server stops or one the carrier does not confirm (``verify_with_carrier``).
        """
        ...

    def find(self, call_id: str, *, patter_id: str = "") -> CallSession | None:
        """The live call ``call_id`` (or the dialed call ``patter_id``), if any."""
        ...

    def note_rejected(self, reason: str, *, path: str = "") -> None:
        """A request was refused (bad signature, replay...): counted and logged once."""
        ...

    async def call_state(
        self, call_id: str, state: str, *, duration: int | None = None, patter_id: str = ""
    ) -> None:
        """The carrier reports a :data:`CallState` for ``call_id`` (or the dialed call
        ``patter_id``, whose carrier id may not be known yet)."""
        ...

    def machine_detected(
        self, call_id: str, result: str, *, greeting_ended: bool, patter_id: str = ""
    ) -> None:
        """The carrier's machine detection heard ``result`` (a :data:`MachineResult`).

        ``greeting_ended``: a machine's greeting has ended (the beep), so a message left now
        is recorded whole.
        """
        ...

    async def key_pressed(self, call_id: str, digit: str, *, patter_id: str = "") -> None:
        """The caller pressed ``digit``, as reported outside the media stream."""
        ...

    def recording_ready(
        self, call_id: str, details: dict[str, object], *, patter_id: str = ""
    ) -> None:
        """A recording of ``call_id`` is ready (often after the call ended)."""
        ...

    def transfer_ended(self, ended: TransferEnded) -> None:
        """The leg a call was transferred to has ended."""
        ...

    async def relay_media(self, websocket: WebSocket, codec: MediaCodec) -> None:
        """Run one media WebSocket (its token is the last path segment) until it ends."""
        ...


# ---------------------------------------------------------------------- what a carrier does


class CarrierActions(Protocol):
    """What a call session asks the carrier to do to its call."""

    sends_dtmf: bool
    """True when :meth:`send_dtmf` presses keys out of band; otherwise the session plays
    the tones into the call's audio."""

    async def transfer(self, call_id: str, number: str, *, time_limit: int | None = None) -> None:
        """Move the call to ``number``; the transferred leg may last ``time_limit`` seconds."""
        ...

    async def hangup(self, call_id: str) -> None:
        """End the call; a call that has already ended is left alone."""
        ...

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        """Press ``digits`` on the call (only when :attr:`sends_dtmf`)."""
        ...


@dataclass(frozen=True)
class DialRequest:
    """An outbound call for the carrier to place; its webhooks come back to the server."""

    to: str
    from_number: str
    patter_id: str
    ring_timeout: int | None = None
    machine_detection: bool = False
    wait_for_greeting: bool = False
    """Report a machine only once its greeting ended (a voicemail message will be left)."""
    record: bool = False


@dataclass(frozen=True)
class CallSnapshot:
    """A call as the carrier has it now; ``to`` and ``from_`` are ``None`` when not reported."""

    live: bool
    to: str | None = None
    from_: str | None = None


class CarrierPort(CarrierActions, Protocol):
    """One carrier account, as the embedded server uses it."""

    name: str
    """The provider name of metrics, prices and logs (``"twilio"``)."""

    def routes(self, desk: CallDesk) -> Sequence[BaseRoute]:
        """The webhook and media routes to mount; they, and every later action, report to
        ``desk``. Called once, before any call."""
        ...

    def stream_format(self, engine_formats: Sequence[AudioFormat]) -> AudioFormat:
        """The format to stream a call in, for an engine taking ``engine_formats`` (best
        first) as they are: the first of them the carrier can stream, else its own."""
        ...

    async def dial(self, request: DialRequest) -> str:
        """Place ``request``; return the carrier's call id."""
        ...

    async def start_recording(self, call_id: str) -> None:
        """Record the live call ``call_id``; :meth:`CallDesk.recording_ready` gets the file."""
        ...

    async def call_snapshot(self, call_id: str) -> CallSnapshot | None:
        """The call as the carrier has it now, ``None`` if it has no such call."""
        ...

    def inbound_webhook_url(self) -> str:
        """The URL the carrier must call when someone calls the number."""
        ...

    async def configure_number(self, phone_number: str) -> None:
        """Point ``phone_number`` at this server (:meth:`inbound_webhook_url`)."""
        ...

    async def aclose(self) -> None:
        """Release the REST client."""
        ...


@runtime_checkable
class CarrierConfig(Protocol):
    """A carrier's account settings, as ``Patter(carrier=...)`` takes them (``Twilio()``,
    ``Telnyx()``): they name the provider and open the port a server runs on."""

    @property
    def provider(self) -> str:
        """The provider name of metrics, prices and logs."""
        ...

    def port(self, phone_number: str) -> CarrierPort:
        """The account as the embedded server uses it, answering ``phone_number``."""
        ...
