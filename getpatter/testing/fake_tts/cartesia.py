"""A loopback fake of Cartesia's TTS WebSocket (``/tts/websocket``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from getpatter._validation import require_str
from getpatter.testing.fake_tts._audio import bytes_per_ms, speech
from getpatter.testing.fake_tts._server import (
    Drop,
    ErrorFrame,
    Fail,
    FakeTTSServer,
    Fault,
    Stall,
)
from getpatter.testing.fake_tts.records import TTSRequest

__all__ = ["FakeCartesiaServer"]

_FORMATS = {
    ("pcm_mulaw", 8000): "ulaw_8000",
    ("pcm_alaw", 8000): "alaw_8000",
    **{("pcm_s16le", rate): f"pcm_{rate}" for rate in (8000, 16000, 24000, 48000)},
}
_REQUEST_FIELDS = ("model_id", "transcript", "voice", "output_format", "language", "context_id")
_INTERNAL_ERROR = 1011


class FakeCartesiaServer(FakeTTSServer):
    """A local Cartesia TTS WebSocket for offline tests (point ``CARTESIA_BASE_URL`` at it).

    The handshake needs the key (``Authorization: Bearer``, ``X-API-Key`` or ``?api_key=``) and
    a ``Cartesia-Version`` header (or ``?cartesia_version=``). Each generation request
    (``context_id``, ``model_id``, ``transcript``, ``voice``, raw ``output_format``) is answered
    with ``{"type": "chunk", "data": <base64>, ...}`` frames then ``{"type": "done"}``;
    ``{"context_id": ..., "cancel": true}`` stops a context. More transcripts may follow on a
    context with ``"continue": true`` (``flush: true`` answers ``flush_done`` once spoken); one
    without ``continue`` ends it. Contexts of one socket run
    concurrently, each recorded as a :class:`TTSRequest` (``output_format`` such as
    ``"pcm_mulaw_8000"``, other fields in ``options``, ``cancelled`` once cancelled).
    Encodings: ``pcm_s16le`` (8/16/24/48 kHz), ``pcm_mulaw`` and ``pcm_alaw`` (8 kHz).

    :attr:`connections` counts sockets opened. Faults: ``fail_next`` (refused handshake),
    ``stall_next``, ``drop_next`` (the socket closes with code 1011 mid-audio) and
    :meth:`error_next` (an ``error`` frame for the next context).
    """

    _label = "FakeCartesiaServer"
    _websockets = True
    connections: int = 0

    def error_next(
        self,
        message: str = "Internal error",
        *,
        error: str = "internal_error",
        status_code: int | None = 500,
    ) -> None:
        """Answer the next context with ``{"type": "error", "status_code": ..., "error_code":
        error, "message": message}`` (``status_code=None`` leaves the field out)."""
        require_str("error_next message", message, allow_empty=False)
        require_str("error_next error", error, allow_empty=False)
        self._faults.append(ErrorFrame(message, error, status_code))

    @property
    def _root(self) -> str:
        return ""

    def _routes(self) -> list[BaseRoute]:
        return [WebSocketRoute("/tts/websocket", self._socket)]

    def _error(self, status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message, "message": message}, status_code=status)

    async def _socket(self, websocket: WebSocket) -> None:
        fault = self._take_fault("websocket")
        if isinstance(fault, Fail):
            message = f"HTTP {fault.status} injected by fail_next"
            await websocket.send_denial_response(self._error(fault.status, message))
            return
        headers, query = websocket.headers, websocket.query_params
        bearer = headers.get("authorization", "")
        key = (
            bearer.removeprefix("Bearer ").strip()
            if bearer.startswith("Bearer ")
            else headers.get("x-api-key", "") or query.get("api_key", "")
        )
        refusal = self._key_refusal(key)
        if refusal is not None:
            await websocket.send_denial_response(refusal)
            return
        if not (headers.get("cartesia-version") or query.get("cartesia_version")):
            refusal = self._error(400, "A Cartesia-Version header is required")
            await websocket.send_denial_response(refusal)
            return
        self.connections += 1
        await websocket.accept()
        if fault is not None:
            self._faults.appendleft(fault)  # the next context takes it
        await _Session(websocket, self).run()


class _Context:
    """One context: its record, the transcripts still to speak, the task speaking them."""

    def __init__(self, record: TTSRequest) -> None:
        self.record = record
        self.parts: list[str] = []
        self.inputs: asyncio.Queue[tuple[str, bool, bool]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.ended = False


class _Session:
    """One socket: reads requests, speaks each context in a task of its own."""

    def __init__(self, websocket: WebSocket, server: FakeCartesiaServer) -> None:
        self._ws = websocket
        self._server = server
        self._contexts: dict[str, _Context] = {}
        self._send_lock = asyncio.Lock()
        self._gone = asyncio.Event()

    async def run(self) -> None:
        try:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                while True:
                    text = await self._ws.receive_text()
                    await self._handle(text)
        finally:
            self._gone.set()
            tasks = [c.task for c in self._contexts.values() if c.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self._send({"type": "error", "done": True, "message": "Invalid JSON"})
            return
        context_id = message.get("context_id")
        if message.get("cancel") is True:
            context = self._contexts.pop(context_id, None) if isinstance(context_id, str) else None
            if context is not None and context.task is not None:
                context.record.cancelled = True
                context.task.cancel()
            return
        missing = [f for f in ("context_id", "model_id", "transcript", "voice") if f not in message]
        fmt: Any = message.get("output_format")
        key = None
        if isinstance(fmt, dict) and fmt.get("container") == "raw":
            key = _FORMATS.get((str(fmt.get("encoding")), int(fmt.get("sample_rate") or 0)))
        if missing or key is None or not isinstance(context_id, str):
            detail = f"missing {missing}" if missing else f"unsupported output_format {fmt!r}"
            await self._send_error(context_id, 400, "invalid_request", detail)
            return
        transcript = str(message["transcript"])
        last = message.get("continue") is not True
        context = self._contexts.get(context_id)
        if context is None:
            voice = message["voice"]
            record = self._server._record(
                "websocket",
                "/tts/websocket",
                voice=str(voice.get("id")) if isinstance(voice, dict) else str(voice),
                model=message.get("model_id"),
                output_format=f"{fmt['encoding']}_{fmt['sample_rate']}",
                language_code=message.get("language"),
                options={k: v for k, v in message.items() if k not in _REQUEST_FIELDS},
            )
            context = self._contexts[context_id] = _Context(record)
            fault = self._server._take_fault("websocket")
            context.task = asyncio.create_task(self._speak(context_id, context, key, fault))
        elif context.ended:
            await self._send_error(context_id, 400, "context_closed", "The context has ended")
            return
        context.parts.append(transcript)
        context.record.text = "".join(context.parts)
        context.ended = last
        context.inputs.put_nowait((transcript, message.get("flush") is True, last))

    async def _speak(
        self, context_id: str, context: _Context, key: str, fault: Fault | None
    ) -> None:
        record = context.record
        flushes = 0
        try:
            if isinstance(fault, ErrorFrame):
                await self._send_error(context_id, fault.status, fault.error, fault.message)
                return
            stall = fault if isinstance(fault, Stall) else None
            drop = fault if isinstance(fault, Drop) else None
            while True:
                transcript, flush, last = await context.inputs.get()
                if transcript.strip():
                    audio = speech(key, self._server.scenario.speech_ms(transcript.strip()))
                    async for piece in self._server._paced(
                        audio,
                        bytes_per_ms(key),
                        sent_before=record.audio_bytes,
                        stall=stall,
                        gone=self._gone,
                    ):
                        if drop is not None and record.audio_bytes + len(piece) >= drop.after_bytes:
                            piece = piece[: drop.after_bytes - record.audio_bytes]
                            if piece:
                                await self._chunk(context_id, record, piece)
                            await self._ws.close(_INTERNAL_ERROR, "dropped by drop_next")
                            return
                        await self._chunk(context_id, record, piece)
                if flush:
                    flushes += 1
                    await self._send(
                        {
                            "type": "flush_done",
                            "done": False,
                            "flush_done": True,
                            "flush_id": flushes,
                            "status_code": 206,
                            "context_id": context_id,
                        }
                    )
                if last:
                    break
            await self._send(
                {"type": "done", "done": True, "status_code": 206, "context_id": context_id}
            )
            record.completed = True
        except (OSError, RuntimeError, WebSocketDisconnect):
            pass
        finally:
            self._contexts.pop(context_id, None)
            record.disconnected = not record.completed and not record.cancelled
            record._finished.set()

    async def _chunk(self, context_id: str, record: TTSRequest, audio: bytes) -> None:
        await self._send(
            {
                "type": "chunk",
                "data": base64.b64encode(audio).decode("ascii"),
                "done": False,
                "status_code": 206,
                "step_time": 1.0,
                "context_id": context_id,
            }
        )
        record.audio_bytes += len(audio)

    async def _send_error(
        self, context_id: object, status: int | None, code: str, message: str
    ) -> None:
        frame: dict[str, Any] = {
            "type": "error",
            "done": True,
            "error_code": code,
            "title": "Error",
            "message": message,
        }
        if isinstance(context_id, str):
            frame["context_id"] = context_id
        if status is not None:
            frame["status_code"] = status
        await self._send(frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._gone.is_set():
            raise RuntimeError("socket gone")
        async with self._send_lock:
            await self._ws.send_text(json.dumps(frame))
