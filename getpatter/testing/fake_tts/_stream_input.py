"""One ElevenLabs ``stream-input`` socket of the fake: the server's half of the protocol."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from getpatter.testing.fake_tts._audio import bytes_per_ms, speech
from getpatter.testing.fake_tts._server import ErrorFrame, Fault, HugeFrame, Stall
from getpatter.testing.fake_tts.records import TTSRequest

if TYPE_CHECKING:
    from getpatter.testing.fake_tts.elevenlabs import FakeElevenLabsServer

_POLICY_VIOLATION = 1008


class _ClientGone(Exception):
    """The client closed the socket: stop speaking."""


class StreamInputSession:
    """Read the client's messages while speaking each flushed stretch of text.

    A reader task takes incoming messages, so a client that leaves is noticed at once, even
    during a stall.
    """

    def __init__(
        self,
        websocket: WebSocket,
        record: TTSRequest,
        server: FakeElevenLabsServer,
        fault: Fault | None,
    ) -> None:
        self._ws = websocket
        self._record = record
        self._server = server
        self._fault = fault
        self._messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._gone = asyncio.Event()

    async def run(self) -> None:
        """Serve the socket until the input ends, the client leaves, or a fault ends it."""
        reader = asyncio.create_task(self._read())
        try:
            with contextlib.suppress(_ClientGone, WebSocketDisconnect, OSError):
                await self._serve()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._record.disconnected = not self._record.completed and self._gone.is_set()
            self._record._finished.set()

    async def _read(self) -> None:
        try:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                while True:
                    text = await self._ws.receive_text()
                    try:
                        message = json.loads(text)
                    except ValueError:
                        message = None
                    self._messages.put_nowait(message if isinstance(message, dict) else {})
        finally:
            self._gone.set()
            self._messages.put_nowait(None)

    async def _serve(self) -> None:
        opening = await self._next()
        if opening.get("text") != " ":
            await self._refuse(
                "The first message must have text set to a single space", "invalid_input_message"
            )
            return
        self._record.voice_settings = opening.get("voice_settings")
        extra = {k: v for k, v in opening.items() if k not in ("text", "voice_settings")}
        self._record.options.update(extra)
        if isinstance(self._fault, ErrorFrame):
            await self._refuse(self._fault.message, self._fault.error)
            return
        parts: list[str] = []
        pending = ""
        while True:
            message = await self._next()
            text = message.get("text")
            if not isinstance(text, str):
                await self._refuse("Each message needs a text field", "invalid_input_message")
                return
            if text == "":
                await self._speak(pending)
                await self._send({"isFinal": True})  # the spec's FinalOutput: nothing else
                self._record.completed = True
                await self._ws.close()
                return
            parts.append(text)
            self._record.text = "".join(parts).strip()
            pending += text
            if message.get("flush"):
                await self._speak(pending)
                pending = ""

    async def _next(self) -> dict[str, Any]:
        message = await self._messages.get()
        if message is None:
            raise _ClientGone
        return message

    async def _speak(self, text: str) -> None:
        if not text.strip():
            return
        output_format = self._record.output_format
        if isinstance(self._fault, HugeFrame):
            size, self._fault = self._fault.size, None
            await self._send_audio(bytes(size))
        audio = speech(output_format, self._server.scenario.speech_ms(text.strip()))
        stall = self._fault if isinstance(self._fault, Stall) else None
        pieces = self._server._paced(
            audio,
            bytes_per_ms(output_format),
            sent_before=self._record.audio_bytes,
            stall=stall,
            gone=self._gone,
        )
        async for piece in pieces:
            await self._send_audio(piece)

    async def _send_audio(self, audio: bytes) -> None:
        encoded = base64.b64encode(audio).decode("ascii")
        # The spec's AudioOutput: no isFinal (FinalOutput's is only ever true).
        await self._send({"audio": encoded, "normalizedAlignment": None, "alignment": None})
        self._record.audio_bytes += len(audio)

    async def _send(self, message: dict[str, Any]) -> None:
        if self._gone.is_set():
            raise _ClientGone
        await self._ws.send_text(json.dumps(message))

    async def _refuse(self, message: str, error: str) -> None:
        """An error frame as ElevenLabs sends it, then a policy-violation close."""
        await self._send({"message": message, "error": error, "code": _POLICY_VIOLATION})
        with contextlib.suppress(RuntimeError, OSError):
            await self._ws.close(_POLICY_VIOLATION, error)
