"""One media WebSocket as a carrier opens it toward the app: pacing, play-out, marks, clear.

This is the part of Twilio's Media Streams and Telnyx's media streaming that is the same on
both carriers; a subclass supplies the wire format (:meth:`MediaStream._start_body` and the
other hooks).

Carrier side: a ``connected`` message, ``start``, then a ``media`` frame every 20 ms on a
monotonic schedule (catching up after a stall rather than skipping), ``dtmf`` for key presses,
``mark`` echoes and a final ``stop``.

App side: ``media`` goes into a playout buffer that drains in real time (one 20 ms frame a
tick; the buffer holds 8 kHz μ-law, whatever the codec on the wire); a ``mark`` is echoed on
the tick after the audio queued before it finished playing (at once when nothing is queued);
``clear`` drops the buffer and echoes every pending mark at once. What plays out is listened
to for in-band DTMF key presses (``SimulatedCall.dtmf_heard``). Malformed messages are
recorded as errors (31950 binary frame, 31951 invalid message) and ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from getpatter.audio.g711 import ULAW_SILENCE
from getpatter.testing.phone_network.call import (
    CallError,
    HeardFrame,
    MarkEvent,
    SimulatedCall,
    StreamRecord,
)
from getpatter.testing.phone_network.callee import CalleeLine
from getpatter.testing.phone_network.webhooks import loopback_url

__all__ = ["FRAME_BYTES", "MAX_BUFFERED_BYTES", "MediaStream"]

FRAME_BYTES = 160
"""One 20 ms frame of 8 kHz μ-law."""

MAX_BUFFERED_BYTES = 8 * 1000 * 300
"""The playout buffer holds at most five minutes of agent audio; more is dropped."""

_FRAME_S = 0.02
_APP_EVENTS = ("media", "mark", "clear")

logger = logging.getLogger("getpatter.testing")


@dataclass(frozen=True)
class _Mark:
    """A mark waiting in the playout buffer behind the audio sent before it."""

    name: str


class MediaStream(ABC):
    """The simulator's end of one media WebSocket, playing ``line`` to the app.

    Subclasses give the carrier's wire format; the pacing, the playout buffer and the error
    handling live here once.
    """

    carrier: ClassVar[Literal["twilio", "telnyx"]]
    """Names the carrier in ``StreamRecord.closed_by`` when the simulator ends the stream."""
    user_agent: ClassVar[str]
    marks_at_once_when_idle: ClassVar[bool] = False
    """Echo a mark as soon as it arrives when no audio is queued (Telnyx), rather than on the
    next tick (Twilio)."""

    def __init__(
        self, call: SimulatedCall, line: CalleeLine, url: str, parameters: dict[str, str]
    ) -> None:
        self.stream_sid = self._new_stream_id()
        self.failure: str | None = None
        """Why the WebSocket could not be opened, if it could not."""
        self._call = call
        self._line = line
        self._url = url
        self._parameters = parameters
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._sequence = 0
        self._stopped = False
        self._playout: deque[bytes | _Mark] = deque()
        self._buffered = 0
        self._reached: list[_Mark] = []
        self.next_frame_at = 0.0

    async def run(self, halt: asyncio.Event, on_start: Callable[[], None]) -> None:
        """Connect, stream until the app closes the socket or ``halt`` is set, then clean up.

        When ``halt`` ends the stream, ``stop`` is sent before the socket is closed.
        """
        loop = asyncio.get_running_loop()
        if (refusal := self._refused_url()) is not None:
            self.failure = refusal
            self._error(31922, refusal)
            return
        try:
            self._ws = await connect(
                loopback_url(self._url),
                additional_headers=self._handshake_headers(),
                user_agent_header=self.user_agent,
                proxy=None,
                compression=None,
                open_timeout=10,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.failure = f"media WebSocket {self._url} handshake failed: {exc!r}"
            self._error(31920, self.failure)
            return
        record = self._record(self._call._ms(loop.time()))
        self._call.streams.append(record)
        self._call._socket = self
        self._line.stream = self
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._ws.send(json.dumps(self._connected()))
            await self._send("start", {"start": self._start_body()})
            on_start()
            halted = asyncio.create_task(self._wait(halt))
            tasks = [
                asyncio.create_task(self._pace()),
                asyncio.create_task(self._receive()),
                halted,
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a failure here is a simulator bug: let it surface
            if halted.done():
                await self._stop()
        except ConnectionClosed:
            logger.debug("the peer closed the connection")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._ws.close()
            record.closed_ms = self._call._ms(loop.time())
            record.closed_by = self.carrier if self._stopped else "app"
            self._call._socket = None
            self._line.stream_closed()
            self._call._touch()

    @staticmethod
    async def _wait(event: asyncio.Event) -> None:
        await event.wait()

    async def send_dtmf(self, digit: str) -> bool:
        """Send a ``dtmf`` event for one key; ``False`` once the stream has ended."""
        return await self._send("dtmf", {"dtmf": self._dtmf_body(digit)})

    async def send_raw(self, data: str | bytes) -> None:
        """Send ``data`` unchanged (for fault injection)."""
        if self._ws is None:
            raise RuntimeError("the media WebSocket is not connected")
        async with self._send_lock:
            await self._ws.send(data)

    # --- the carrier's wire format ----------------------------------------------------------

    @abstractmethod
    def _new_stream_id(self) -> str:
        """A new stream id (Twilio ``streamSid``, Telnyx ``stream_id``)."""

    def _refused_url(self) -> str | None:
        """Why the carrier would not connect to the stream URL, if it would not."""
        return None

    @abstractmethod
    def _handshake_headers(self) -> dict[str, str]:
        """Headers of the WebSocket handshake."""

    def _record(self, started_ms: float) -> StreamRecord:
        """The call's record of this stream."""
        return StreamRecord(self._url, self.stream_sid, dict(self._parameters), started_ms)

    @abstractmethod
    def _connected(self) -> dict[str, Any]:
        """The first, unnumbered message."""

    @abstractmethod
    def _start_body(self) -> dict[str, Any]:
        """The body of ``start``."""

    @abstractmethod
    def _envelope(self, event: str, sequence: int) -> dict[str, Any]:
        """The fields every numbered message starts with."""

    @abstractmethod
    def _dtmf_body(self, digit: str) -> dict[str, Any]:
        """The ``dtmf`` object of a key press."""

    @abstractmethod
    def _stop_body(self) -> dict[str, Any]:
        """The ``stop`` object."""

    def _media_bodies(
        self, chunk: int, callee_ulaw: bytes, played_ulaw: bytes
    ) -> list[dict[str, Any]]:
        """The ``media`` objects of one 20 ms tick: the callee's frame, as an inbound track."""
        return [
            {
                "track": "inbound",
                "chunk": str(chunk + 1),
                "timestamp": str(chunk * 20),
                "payload": base64.b64encode(callee_ulaw).decode("ascii"),
            }
        ]

    @abstractmethod
    def _addressed_to_us(self, data: dict[str, Any], event: str) -> bool:
        """Whether an app message names this stream (recording an error if it does not)."""

    def _decode_audio(self, audio: bytes) -> bytes | None:
        """The app's ``media`` payload as 8 kHz μ-law, or ``None`` (error recorded)."""
        return audio

    # --- pacing and play-out ----------------------------------------------------------------

    async def _send(self, event: str, body: dict[str, Any], *, last: bool = False) -> bool:
        """Send a numbered message; ``False`` once ``stop`` was sent or the socket closed.

        ``last`` marks the message after which nothing more is sent (``stop``).
        """
        assert self._ws is not None
        async with self._send_lock:
            if self._stopped:
                return False
            self._stopped = last
            self._sequence += 1
            message = self._envelope(event, self._sequence) | body
            try:
                await self._ws.send(json.dumps(message))
            except ConnectionClosed:
                return False
            return True

    async def _stop(self) -> None:
        if await self._send("stop", {"stop": self._stop_body()}, last=True):
            self._call.stop_sent = True

    async def _pace(self) -> None:
        """Every 20 ms: play out agent audio, then send the callee's next frame."""
        loop = asyncio.get_running_loop()
        origin = loop.time()
        chunk = 0
        while True:
            at = origin + chunk * _FRAME_S
            self.next_frame_at = at
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            played = await self._play_out(at)
            callee = self._line.frame(at, FRAME_BYTES)
            for media in self._media_bodies(chunk, callee, played):
                if not await self._send("media", {"media": media}):
                    return
            chunk += 1

    async def _play_out(self, at: float) -> bytes:
        """Echo the marks whose audio has finished, then play one frame of agent audio."""
        while self._playout and isinstance(head := self._playout[0], _Mark):
            self._reached.append(head)
            self._playout.popleft()
        reached, self._reached = self._reached, []
        await self._echo_marks([mark.name for mark in reached])
        played = bytearray()
        while self._playout and len(played) < FRAME_BYTES:
            item = self._playout.popleft()
            if isinstance(item, _Mark):
                self._reached.append(item)
                continue
            take = FRAME_BYTES - len(played)
            played += item[:take]
            if len(item) > take:
                self._playout.appendleft(item[take:])
        self._buffered -= len(played)
        if played:
            self._call.heard.append(HeardFrame(self._call._ms(at), bytes(played)))
        # The callee hears silence while the agent sends nothing: that ends a key press too.
        if keys := self._call._dtmf.feed(bytes(played.ljust(FRAME_BYTES, ULAW_SILENCE))):
            self._call.dtmf_heard += keys
        self._line.agent_played(at, len(played))
        self._call._touch()
        return bytes(played)

    async def _echo_marks(self, names: list[str]) -> None:
        loop = asyncio.get_running_loop()
        for name in names:
            if await self._send("mark", {"mark": {"name": name}}):
                self._call.marks_echoed.append(MarkEvent(name, self._call._ms(loop.time())))

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if isinstance(message, bytes):
                    self._error(31950, "binary WebSocket frame: only JSON text is accepted")
                    continue
                try:
                    data = json.loads(message)
                except ValueError:
                    self._error(31951, f"message is not JSON: {message[:80]!r}")
                    continue
                await self._handle(data)
        except ConnectionClosed:
            return

    async def _handle(self, data: object) -> None:
        loop = asyncio.get_running_loop()
        if not isinstance(data, dict):
            self._error(31951, f"message is not a JSON object: {data!r:.80}")
            return
        event = data.get("event")
        if event not in _APP_EVENTS:
            self._error(31951, f"unknown event {event!r}")
            return
        if not self._addressed_to_us(data, event):
            return
        if event == "media":
            self._queue_audio(data.get("media"))
        elif event == "mark":
            mark = data.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if not isinstance(name, str):
                self._error(31951, "mark without a string mark.name")
                return
            self._call.marks_received.append(MarkEvent(name, self._call._ms(loop.time())))
            if self.marks_at_once_when_idle and not self._playout:
                await self._echo_marks([name])
            else:
                self._playout.append(_Mark(name))
        else:
            self._call.clears.append(self._call._ms(loop.time()))
            pending = self._reached + [item for item in self._playout if isinstance(item, _Mark)]
            self._reached = []
            self._playout.clear()
            self._buffered = 0
            self._line.agent_cleared(loop.time())
            await self._echo_marks([mark.name for mark in pending])
        self._call._touch()

    def _queue_audio(self, media: object) -> None:
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            self._error(31951, "media without a string media.payload")
            return
        try:
            audio = self._decode_audio(base64.b64decode(payload, validate=True))
        except binascii.Error:
            self._error(31951, "media.payload is not base64")
            return
        if audio is None:
            return
        if self._buffered + len(audio) > MAX_BUFFERED_BYTES:
            self._error(31951, "playout buffer full (five minutes): audio dropped")
            return
        if audio:
            self._playout.append(audio)
            self._buffered += len(audio)

    def _error(self, code: int, message: str) -> None:
        at_ms = self._call._ms(asyncio.get_running_loop().time())
        self._call.errors.append(CallError(code, message, at_ms))
        self._call._touch()
