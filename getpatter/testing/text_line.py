"""A text line in place of a phone line: what test mode plugs into a real call session.

Test mode (spec 08) runs :class:`~getpatter.session.session.CallSession` and the pipeline engine
exactly as a call does; only the ends of the line change:

- the caller's typed text enters where a speech-to-text final would (:class:`TextSTT`), so it
  takes the same path as a transcribed utterance (``after_transcribe``, the conversation, the
  brain);
- each sentence the agent would speak reaches the listener of the line at the point where
  text-to-speech would synthesise it (:class:`TextTTS`): after ``on_sentence``, the text
  transforms, the guardrails and ``before_synthesize``. One 20 ms frame of silence stands for
  its audio, so the session's playback, transcript ("heard") and turn metrics work as on a call;
- the carrier's media stream (:class:`TextMedia`) echoes every mark at once, and its actions
  (:class:`TextCarrier`) simulate hang-ups and transfers: nothing is sent anywhere.

:class:`TextEngine` wraps the call's engine to know when the agent has finished what it was
doing (:meth:`TextLine.settled`), so the terminal reads the next line only then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from getpatter.audio.formats import AudioFormat, frame_size, silence
from getpatter.engines.base import EngineConfig, EngineEvent, ResponseDone
from getpatter.stt.base import STTCapabilities, STTEvent, Transcript
from getpatter.tts.base import TTSCapabilities

if TYPE_CHECKING:
    from getpatter.pipeline.engine import PipelineEngine
    from getpatter.session.session import CallSession

__all__ = [
    "LINE_FORMAT",
    "TextCarrier",
    "TextEngine",
    "TextLine",
    "TextMedia",
    "TextSTT",
    "TextTTS",
]

LINE_FORMAT: AudioFormat = "ulaw_8000"
"""The audio format of the (silent) text line."""


class TextLine:
    """The state one test call's text line shares between its parts.

    ``on_sentence(text)`` gets each sentence the agent says; ``on_notice(text)`` what the
    simulated carrier did (a hang-up, a transfer).
    """

    def __init__(
        self, on_sentence: Callable[[str], None], on_notice: Callable[[str], None]
    ) -> None:
        self.on_sentence = on_sentence
        self.on_notice = on_notice
        self.session: CallSession | None = None
        self.reason = ""
        """Why the call ended, in test mode's words (``caller_hangup``, ``agent_hangup``,
        ``transferred``, ``quit``); ``""`` while it goes on."""
        self._finals: asyncio.Queue[str | None] = asyncio.Queue()
        self._taken = asyncio.Event()
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._engine: PipelineEngine | None = None
        self._expected = 0
        self._handled = 0
        self._actions = 0

    # ------------------------------------------------------------------ the caller's side

    async def type(self, text: str) -> None:
        """The caller says ``text``: it reaches the engine as a final transcript; returns once
        the engine has taken it (and started answering, unless a hook dropped it)."""
        self._taken.clear()
        self._finals.put_nowait(text)
        await self._wait_or_end(self._taken)
        engine = self._engine
        if engine is not None and engine.responding:
            self.expect_response()

    def end_of_input(self) -> None:
        """No more caller text: the STT stream ends."""
        self._finals.put_nowait(None)

    async def ready(self) -> None:
        """Wait until the agent listens (its greeting, if any, is under way), or the call ended."""
        await self._wait_or_end(self._ready)

    async def settled(self) -> None:
        """Wait until the agent has answered everything and every call action it asked for
        (hang-up, transfer) is done, or the call has ended."""
        while not self.ended:
            if self.reason and self.session is not None:
                await self.session.wait_finished()  # the call is ending: its report is due
                return
            if self._handled >= self._expected and not self._actions:
                return
            self._changed.clear()
            await self._wait_or_end(self._changed)

    @property
    def ended(self) -> bool:
        """True once the session has reported the end of the call."""
        return self.session is not None and self.session.finished

    async def _wait_or_end(self, event: asyncio.Event) -> None:
        session = self.session
        if session is None or session.finished:
            return
        waiting = asyncio.ensure_future(event.wait())
        ending = asyncio.ensure_future(session.wait_finished())
        try:
            await asyncio.wait({waiting, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            ending.cancel()

    # ------------------------------------------------------------------ bookkeeping

    async def next_final(self) -> str | None:
        """The caller's next line for the STT stream (``None``: no more input)."""
        return await self._finals.get()

    def final_taken(self) -> None:
        """The engine has handled the last line (started answering it, or dropped it)."""
        self._taken.set()

    def attach(self, engine: PipelineEngine) -> None:
        """``engine`` is the call's pipeline."""
        self._engine = engine

    def listening(self) -> None:
        """The session reads the engine's events: the agent listens."""
        self._ready.set()

    def expect_response(self) -> None:
        """A response was started: :meth:`settled` waits for its end."""
        self._expected += 1

    def response_handled(self) -> None:
        self._handled += 1
        self._changed.set()

    def action_started(self) -> None:
        """The session began a hang-up or a transfer: :meth:`settled` waits for it."""
        self._actions += 1

    def action_finished(self) -> None:
        self._actions -= 1
        self._changed.set()

    def end(self, reason: str) -> None:
        """Note why the call ends, for its end report (the first reason given stands)."""
        self.reason = self.reason or reason
        if self.session is not None:
            self.session.report_extra["reason"] = self.reason


class TextSTTStream:
    """One call's "speech recognition": each typed line is a final transcript."""

    def __init__(self, line: TextLine) -> None:
        self._line = line

    async def connect(self) -> None:
        """Nothing to connect to."""

    async def send_audio(self, chunk: bytes) -> None:
        """Audio is ignored: the caller types."""

    async def finalize(self) -> None:
        """Every line is final already."""

    def receive_transcripts(self) -> AsyncIterator[STTEvent]:
        """The caller's lines, as finals that end the turn."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[STTEvent]:
        line = self._line
        while True:
            text = await line.next_final()
            if text is None:
                return
            yield Transcript(text=text, is_final=True, speech_final=True)
            # Resumed once the engine has handled the final: the turn is taken (or dropped).
            line.final_taken()

    async def close(self) -> None:
        """Nothing to close."""


class TextSTT:
    """The "speech-to-text" of a text line (no price key: it costs nothing)."""

    name = ""
    capabilities = STTCapabilities(
        streaming=True, interim_results=False, endpointing=True, input_formats=(LINE_FORMAT,)
    )

    def __init__(self, line: TextLine) -> None:
        self._line = line

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> TextSTTStream:
        """The call's stream of typed lines."""
        return TextSTTStream(self._line)


class TextTTS:
    """The "text-to-speech" of a text line: hands each sentence to the line's listener (no
    price key: it costs nothing)."""

    name = ""
    voice = ""
    capabilities = TTSCapabilities(output_formats=(LINE_FORMAT,))

    def __init__(self, line: TextLine) -> None:
        self._line = line
        self._frame = silence(LINE_FORMAT) * frame_size(LINE_FORMAT)

    async def synthesize(self, text: str, *, audio_format: AudioFormat) -> AsyncIterator[bytes]:
        """Show ``text``; one frame of silence stands for its audio."""
        self._line.on_sentence(text)
        yield self._frame

    async def close(self) -> None:
        """Nothing to close."""


class TextMedia:
    """The media stream of a text line: audio goes nowhere, and plays at once."""

    def __init__(self, line: TextLine) -> None:
        self._line = line

    async def send_audio(self, frame: bytes) -> None:
        """Nothing to play."""

    async def send_mark(self, name: str) -> None:
        """Played already: the mark comes back at once."""
        session = self._line.session
        if session is not None:
            session.on_mark(name)

    async def send_clear(self) -> None:
        """Nothing is buffered."""


class TextCarrier:
    """The carrier of a text line: hang-ups and transfers are simulated, never sent."""

    sends_dtmf = True

    def __init__(self, line: TextLine) -> None:
        self._line = line

    async def transfer(self, call_id: str, number: str, *, time_limit: int | None = None) -> None:
        """The call leaves the agent for ``number``: its (text) stream stops, as a carrier's does."""
        self._line.end("transferred")
        self._line.on_notice(f"[Call transferred to {number}]")
        session = self._line.session
        if session is not None:
            # Runs after the session has recorded the transfer, as a carrier's stream stop does.
            session.run_in_background(_stopped(session))

    async def hangup(self, call_id: str) -> None:
        """The agent's side hangs up."""
        if not self._line.reason:
            self._line.end("agent_hangup")
            self._line.on_notice("[Agent hung up]")

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        """Keys the agent presses are shown."""
        self._line.on_notice(f"[Agent pressed {digits}]")


async def _stopped(session: CallSession) -> None:
    await session.on_media_stopped()


class TextEngine:
    """The call's pipeline engine, watched: the line learns when each response is over."""

    def __init__(self, inner: PipelineEngine, line: TextLine) -> None:
        self._inner = inner
        self._line = line
        self.capabilities = inner.capabilities
        line.attach(inner)

    async def connect(self, config: EngineConfig) -> None:
        await self._inner.connect(config)

    async def send_audio(self, audio: bytes) -> None:
        await self._inner.send_audio(audio)

    async def send_user_text(self, text: str) -> None:
        self._line.expect_response()
        await self._inner.send_user_text(text)

    async def say(self, text: str) -> None:
        self._line.expect_response()
        await self._inner.say(text)

    async def instruct(self, instruction: str) -> None:
        await self._inner.instruct(instruction)

    async def interrupt(self, item_id: str, played_ms: int) -> None:
        await self._inner.interrupt(item_id, played_ms)

    async def send_tool_result(self, call_id: str, output: str) -> None:
        answering = self._inner.responding
        await self._inner.send_tool_result(call_id, output)
        if self._inner.responding and not answering:  # a new response (a refused transfer)
            self._line.expect_response()

    def events(self) -> AsyncIterator[EngineEvent]:
        return self._watched()

    async def _watched(self) -> AsyncIterator[EngineEvent]:
        # The session reads events once it has said its greeting: the agent now listens.
        self._line.listening()
        async for event in self._inner.events():
            yield event
            # Resumed once the session has handled the event.
            if isinstance(event, ResponseDone):
                self._line.response_handled()

    async def close(self) -> None:
        await self._inner.close()
