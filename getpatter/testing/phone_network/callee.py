"""The person (or answering machine) on the simulated call: what their line plays and when.

A :class:`CalleeLine` is the callee's handset. It holds the sounds the callee makes (scheduled
in event-loop time, so media frames can be cut from them on any schedule) and follows the
agent's audio as the media stream plays it out, which tells the script when the agent talks.
:func:`run_script` plays a :class:`~getpatter.testing.scenario.Callee`'s steps on the line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from getpatter.testing.phone_network.call import DtmfEvent, SimulatedCall, Utterance
from getpatter.testing.phone_network.sound import BEEP_MS, Sound, beep, speech
from getpatter.testing.scenario import Callee, HangUp, Menu, Press, Say, Step

__all__ = ["AGENT_QUIET_MS", "DTMF_GAP_MS", "VOICEMAIL_GREETING", "CalleeLine", "run_script"]

AGENT_QUIET_MS = 200
"""The agent counts as having stopped talking once nothing played for this long."""

DTMF_GAP_MS = 100
"""Time between the keys of one ``Press``."""

VOICEMAIL_GREETING = "(voicemail greeting)"
"""``Utterance.text`` of a voicemail machine's greeting and beep."""

_SOUND_MEMORY_S = 1.0
_FRAME_S = 0.02


class OpenStream(Protocol):
    """The open media stream, as the script sees it."""

    @property
    def next_frame_at(self) -> float:
        """Event-loop time of the next media frame to send."""
        ...

    async def send_dtmf(self, digit: str) -> bool:
        """Send one ``dtmf`` event; ``False`` if the stream could not send it."""
        ...


class CalleeLine:
    """The callee's handset: its outgoing sounds and what it knows of the agent's audio."""

    def __init__(self, call: SimulatedCall) -> None:
        self._call = call
        self._sounds: list[Sound] = []
        self._tick = asyncio.Event()
        self.stream: OpenStream | None = None
        self.on_key: Callable[[str], None] | None = None
        """Told of every key the callee presses, stream or not (Telnyx's DTMF webhook)."""
        self.agent_talking_since: float | None = None
        """Event-loop time the agent's current stretch of audio began; ``None`` when quiet."""
        self.agent_audio_end = float("-inf")
        """Event-loop time the agent's last audio finished (or will finish) playing."""

    @property
    def call(self) -> SimulatedCall:
        """The call this handset is on."""
        return self._call

    def speak(self, text: str, ulaw: bytes) -> Sound:
        """Start playing ``ulaw`` at the next media frame and record it as ``text``."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        if self.stream is not None:
            start = max(start, self.stream.next_frame_at)
        sound = Sound(start, ulaw)
        self._sounds.append(sound)
        self._call.said.append(Utterance(text, self._call._ms(start), self._call._ms(sound.end)))
        self._call._touch()
        return sound

    async def press(self, digit: str) -> None:
        """The callee presses ``digit``: the open stream sends it, ``on_key`` hears of it, and
        the call records it once if either delivered it."""
        delivered = self.stream is not None and await self.stream.send_dtmf(digit)
        if self.on_key is not None:
            self.on_key(digit)
            delivered = True
        if delivered:
            at_ms = self._call._ms(asyncio.get_running_loop().time())
            self._call.dtmf_sent.append(DtmfEvent(digit, at_ms))
            self._call._touch()

    def play_voicemail_greeting(self, greeting_ms: int) -> Sound:
        """The answering machine's greeting followed by its beep, from now on."""
        return self.speak(VOICEMAIL_GREETING, speech(greeting_ms) + beep(BEEP_MS))

    def frame(self, at: float, length: int) -> bytes:
        """The ``length`` μ-law bytes the callee's line sends from event-loop time ``at``."""
        out = bytearray(b"\xff" * length)
        for sound in self._sounds:
            sound.paint(out, at)
        self._sounds = [s for s in self._sounds if s.end > at - _SOUND_MEMORY_S]
        return bytes(out)

    def agent_played(self, at: float, length: int) -> None:
        """The stream played ``length`` bytes of agent audio starting at ``at`` (or nothing)."""
        if length:
            if self.agent_talking_since is None:
                self.agent_talking_since = at
            self.agent_audio_end = at + length / 8000
        elif (
            self.agent_talking_since is not None
            and at - self.agent_audio_end >= AGENT_QUIET_MS / 1000
        ):
            self.agent_talking_since = None
        self._tick.set()
        self._tick = asyncio.Event()

    def stream_closed(self) -> None:
        """The media stream ended: the agent can no longer be heard."""
        self.stream = None
        self.agent_talking_since = None

    def agent_cleared(self, at: float) -> None:
        """The app sent ``clear``: the agent's audio stops now."""
        self.agent_audio_end = min(self.agent_audio_end, at)

    async def next_tick(self, limit_s: float) -> None:
        """Wait for the next media frame, or ``limit_s`` seconds, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, limit_s)):
                await self._tick.wait()


async def run_script(
    line: CalleeLine, callee: Callee, hang_up: Callable[[], None], after: float
) -> None:
    """Play the callee's steps on ``line``, starting no earlier than event-loop time ``after``.

    ``Say`` starts ``pause_ms`` after the agent's audio stopped (once it has been quiet for
    :data:`AGENT_QUIET_MS`), or after the previous step when the agent was silent. With
    ``interrupt_after_ms`` it starts that long after the agent's current or next stretch of
    audio began, talking over it. ``Press`` and ``HangUp`` follow the previous step after
    their ``pause_ms``. Key presses reach the app over the open media stream (and, on Telnyx,
    as webhooks). A ``Menu`` speaks as soon as the previous step is over, listens for the keys
    the agent presses and branches (see :class:`~getpatter.testing.scenario.Menu`); a callee
    with menus records what it says in ``callee.spoken``.
    """
    loop = asyncio.get_running_loop()
    script = _Script(line, callee, hang_up)
    await script.run(callee.steps, max(loop.time(), after))


class _Script:
    """One run of a callee's steps; ``run`` returns the end of the last step, or None once
    the callee has hung up."""

    def __init__(self, line: CalleeLine, callee: Callee, hang_up: Callable[[], None]) -> None:
        self._line = line
        self._hang_up = hang_up
        self._spoken = callee.spoken if _has_menu(callee.steps) else None
        self._keys_used = 0

    def _say(self, text: str, audio_ms: int) -> Sound:
        if self._spoken is not None:
            self._spoken.append(text)
        return self._line.speak(text, speech(audio_ms))

    async def run(self, steps: tuple[Step, ...], previous_end: float) -> float | None:
        loop = asyncio.get_running_loop()
        line = self._line
        for step in steps:
            if isinstance(step, Say):
                if step.interrupt_after_ms is None:
                    await _wait_for_gap(line, previous_end, step.pause_ms)
                else:
                    await _wait_for_agent(line, step.interrupt_after_ms)
                sound = self._say(step.text, step.audio_ms)
                await asyncio.sleep(max(0.0, sound.end - loop.time()))
                previous_end = sound.end
            elif isinstance(step, Press):
                await asyncio.sleep(max(0.0, previous_end + step.pause_ms / 1000 - loop.time()))
                for i, digit in enumerate(step.digits):
                    if i:
                        await asyncio.sleep(DTMF_GAP_MS / 1000)
                    await line.press(digit)
                previous_end = loop.time()
            elif isinstance(step, HangUp):
                await asyncio.sleep(max(0.0, previous_end + step.pause_ms / 1000 - loop.time()))
                self._hang_up()
                return None
            else:
                end = await self._menu(step, previous_end)
                if end is None:
                    return None
                previous_end = end
        return previous_end

    async def _menu(self, menu: Menu, previous_end: float) -> float | None:
        loop = asyncio.get_running_loop()
        call = self._line.call
        await asyncio.sleep(max(0.0, previous_end - loop.time()))
        for attempt in range(menu.attempts):
            self._keys_used = len(call.dtmf_heard)  # keys pressed before the prompt are stale
            text = menu.utterance(attempt)
            sound = self._say(text, menu.audio_ms(text))
            deadline = sound.end + menu.wait_ms / 1000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await call.wait_until(lambda c: len(c.dtmf_heard) > self._keys_used)
            key = call.dtmf_heard[self._keys_used : self._keys_used + 1]
            await asyncio.sleep(max(0.0, sound.end - loop.time()))
            if key in menu.choices:
                self._keys_used += 1
                return await self.run(menu.choices[key], loop.time())
        self._hang_up()
        return None


def _has_menu(steps: tuple[Step, ...]) -> bool:
    return any(isinstance(step, Menu) for step in steps)


async def _wait_for_gap(line: CalleeLine, previous_end: float, pause_ms: int) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = max(line.agent_audio_end, previous_end) + pause_ms / 1000
        if line.agent_talking_since is None and loop.time() >= start:
            return
        await line.next_tick(max(start - loop.time(), _FRAME_S))


async def _wait_for_agent(line: CalleeLine, interrupt_after_ms: int) -> None:
    loop = asyncio.get_running_loop()
    while line.agent_talking_since is None:
        await line.next_tick(3600.0)
    start = line.agent_talking_since + interrupt_after_ms / 1000
    await asyncio.sleep(max(0.0, start - loop.time()))
