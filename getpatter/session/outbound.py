"""Paced outbound audio: the agent's speech goes to the carrier in real time, one frame at a time.

Sending at real-time speed keeps one or two frames in the carrier's buffer, so a barge-in ``clear``
silences the agent at once. A carrier mark follows every frame; when the carrier echoes it, that
frame has been played, which tells how much of each agent message the caller actually heard.

The carrier sends a caller frame every 20 ms for the whole call, silence included. When one
arrives and the next agent frame is due within a frame's time, that frame goes out in the same
event-loop wakeup, up to one frame early; the pacer's own timer sends it only when caller frames
stop. Waking a quiet process costs far more CPU than the few microseconds a frame needs, so
riding the caller's clock saves a wakeup per agent frame.

Key presses are the exception: a DTMF tone must reach the far end without a gap, or the
detector there hears the key twice (or not at all). Their audio is queued with
:meth:`OutboundAudio.push_whole` and goes to the carrier at once, to play from its buffer; a
busy event loop cannot cut it. Speech after it waits until it has played.

Background audio (:class:`~getpatter.audio.background.mixer.BackgroundMix`) rides the same
pacing: while it plays, every frame slot carries either an agent frame with the background
mixed under it or, when the agent is silent, a frame of background alone (sent without a mark:
it is not the agent speaking). Key presses are never mixed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from getpatter.audio.frames import FrameBuffer

if TYPE_CHECKING:
    from getpatter.audio.background.mixer import BackgroundMix

__all__ = ["MediaOut", "OutboundAudio"]

logger = logging.getLogger("getpatter.session")


class MediaOut(Protocol):
    """The carrier side of a call's media: where outbound frames, marks and clears go."""

    async def send_audio(self, frame: bytes) -> None:
        """Send one frame of agent audio in the carrier's native format."""
        ...

    async def send_mark(self, name: str) -> None:
        """Ask the carrier to echo ``name`` once the audio sent before it has played."""
        ...

    async def send_clear(self) -> None:
        """Drop the audio the carrier has buffered."""
        ...


@dataclass
class _Frame:
    item_id: str
    audio: bytes
    end_ms: int
    """How much of the item has been sent once this frame is out."""
    paced: bool = True
    """False for audio that must play without a gap: it is sent without waiting its turn."""


class OutboundAudio:
    """Queues agent audio and sends it to a :class:`MediaOut` at real-time speed.

    ``frame_size`` is one frame in bytes (160 for 20 ms of 8 kHz μ-law), ``frame_ms`` its
    length, ``silence`` one byte of silence used to pad an item's last frame.
    """

    def __init__(
        self,
        media: MediaOut,
        *,
        frame_size: int = 160,
        frame_ms: int = 20,
        silence: bytes = b"\xff",
        background: BackgroundMix | None = None,
    ) -> None:
        self._media = media
        self._frame_size = frame_size
        self._frame_ms = frame_ms
        self._silence = silence
        self._queue: deque[_Frame] = deque()
        self._buffers: dict[str, FrameBuffer] = {}
        self._sent_ms: dict[str, int] = {}
        self._played_ms: dict[str, int] = {}
        self._pending_marks: dict[str, tuple[str, int]] = {}
        self._mark_seq = 0
        self._wakeup = asyncio.Event()
        self._next_at = 0.0
        """When the next frame is due (``time.monotonic()``); 0 while the line is idle."""
        self._tick: asyncio.Future[None] | None = None
        """What the sending task awaits while the next frame is not due yet."""
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._background = background
        self._last_was_background = False
        self.first_frame_sent_at: dict[str, float] = {}
        """``time.monotonic()`` when each item's first frame went to the carrier."""

    def start(self) -> None:
        """Start the sending task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="patter-outbound-audio")

    async def stop(self) -> None:
        """Stop the sending task; queued audio is dropped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def play_background(self, mix: BackgroundMix | None) -> BackgroundMix | None:
        """Play ``mix`` from now on in place of the current background (None: stop it);
        return the one it replaces."""
        previous, self._background = self._background, mix
        self._wakeup.set()
        return previous

    def thinking(self, on: bool) -> None:
        """The agent starts or stops preparing an answer (a background cue)."""
        if self._background is not None:
            self._background.thinking(on)
            self._wakeup.set()

    def tool_running(self, started: bool) -> None:
        """A tool started (True) or returned (False) (a background cue)."""
        if self._background is not None:
            if started:
                self._background.tool_started()
            else:
                self._background.tool_finished()
            self._wakeup.set()

    def push(self, item_id: str, audio: bytes) -> None:
        """Queue agent audio of message ``item_id``."""
        buffer = self._buffers.get(item_id)
        if buffer is None:
            buffer = self._buffers[item_id] = FrameBuffer(self._frame_size, silence=self._silence)
        for frame in buffer.push(audio):
            self._enqueue(item_id, frame)

    def push_whole(self, item_id: str, audio: bytes) -> None:
        """Queue complete message ``item_id`` to be sent at once rather than paced.

        For audio a gap would corrupt, such as DTMF tones: the carrier plays it from its buffer.
        The last partial frame is padded with silence, as :meth:`end_item` does.
        """
        buffer = FrameBuffer(self._frame_size, silence=self._silence)
        frames = buffer.push(audio)
        if buffer.buffered:
            frames.append(buffer.flush(pad=True))
        for frame in frames:
            self._enqueue(item_id, frame, paced=False)

    def end_item(self, item_id: str) -> None:
        """The message is complete: send its last partial frame, padded with silence."""
        buffer = self._buffers.pop(item_id, None)
        if buffer is not None and buffer.buffered:
            self._enqueue(item_id, buffer.flush(pad=True))

    def _enqueue(self, item_id: str, frame: bytes, *, paced: bool = True) -> None:
        end_ms = self._sent_ms.get(item_id, 0) + self._frame_ms
        self._sent_ms[item_id] = end_ms
        self._queue.append(_Frame(item_id, frame, end_ms, paced))
        self._wakeup.set()

    @property
    def speaking(self) -> bool:
        """True while agent audio is queued here or not yet played by the carrier."""
        return bool(self._queue) or bool(self._pending_marks)

    def played_ms(self, item_id: str) -> int:
        """How much of ``item_id`` the carrier has confirmed as played."""
        return self._played_ms.get(item_id, 0)

    def current_item(self) -> str:
        """The message being played (the oldest not fully played), or ``""``."""
        if self._pending_marks:
            return next(iter(self._pending_marks.values()))[0]
        return self._queue[0].item_id if self._queue else ""

    def on_mark(self, name: str) -> None:
        """The carrier echoed mark ``name``: the audio before it has been played."""
        entry = self._pending_marks.pop(name, None)
        if entry is None:
            return
        item_id, end_ms = entry
        self._played_ms[item_id] = max(self._played_ms.get(item_id, 0), end_ms)

    async def clear(self) -> None:
        """Barge-in: drop queued audio and tell the carrier to drop its buffer.

        Marks the carrier echoes after a clear do not mean "played", so they are forgotten.
        """
        self._queue.clear()
        self._buffers.clear()
        self._pending_marks.clear()
        if self._background is not None:
            self._background.thinking(False)
        await self._media.send_clear()

    async def send_now(self) -> None:
        """If the line is idle, put the first queued frame on it at once, from the caller's task.

        This is how a new message's first frame skips a trip through the event loop; the pacing
        of the frames after it is unchanged.
        """
        idle = self._next_at == 0.0 or self._last_was_background
        if idle and self._queue and self._task is not None:
            await self._send_next()

    def on_caller_frame(self) -> None:
        """A caller frame arrived: if the next frame is due within a frame, send it now.

        The sending task runs right after the caller's frame is handled, in the same wakeup,
        instead of waking on its own timer.
        """
        tick = self._tick
        if (
            tick is not None
            and not tick.done()
            and self._next_at - time.monotonic() <= self._frame_ms / 1000
        ):
            tick.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            background = self._background
            if not self._queue and (background is None or not background.active):
                self._next_at = 0.0
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            delay = self._next_at - time.monotonic()
            if delay > 0 and (not self._queue or self._queue[0].paced):
                tick = self._tick = loop.create_future()
                self._timer = loop.call_later(delay, _wake, tick)
                try:
                    await tick
                finally:
                    self._tick = None
                    self._timer.cancel()
                if not self._queue and (background is None or not background.active):
                    continue  # cleared meanwhile
            if not await self._send_next():
                return

    async def _send_next(self) -> bool:
        """Send the oldest queued frame and its mark (or a frame of background alone when none
        is queued); False once the carrier's line is gone."""
        background = self._background
        if not self._queue:
            audio = background.frame() if background is not None else None
            if audio is None:
                return True
            return await self._send_background(audio)
        frame = self._queue.popleft()
        audio = frame.audio
        if background is not None and frame.paced:
            background.thinking(False)  # the answer has started
            audio = background.mix(audio)
        self._last_was_background = False
        sent_at = time.monotonic()
        self._pace(sent_at)
        self.first_frame_sent_at.setdefault(frame.item_id, sent_at)
        self._mark_seq += 1
        name = str(self._mark_seq)
        self._pending_marks[name] = (frame.item_id, frame.end_ms)
        try:
            await self._media.send_audio(audio)
            await self._media.send_mark(name)
        except Exception:
            logger.debug("carrier media closed while sending audio", exc_info=True)
            self._queue.clear()
            self._pending_marks.clear()
            return False
        return True

    async def _send_background(self, audio: bytes) -> bool:
        self._pace(time.monotonic())
        self._last_was_background = True
        try:
            await self._media.send_audio(audio)
        except Exception:
            logger.debug("carrier media closed while sending background audio", exc_info=True)
            self._background = None
            return False
        return True

    def _pace(self, sent_at: float) -> None:
        """A frame goes out at ``sent_at``: when the next one is due."""
        period = self._frame_ms / 1000
        if self._next_at:
            self._next_at = max(self._next_at + period, sent_at - period)
        else:
            self._next_at = sent_at + period


def _wake(tick: asyncio.Future[None]) -> None:
    if not tick.done():
        tick.set_result(None)
