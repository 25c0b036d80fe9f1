"""One WebSocket conversation of the fake ConvAI server: initiation, turns, interruptions."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from getpatter.testing._energy_vad import WINDOW_MS, EnergyVad, rms
from getpatter.testing._fake_audio import CHUNK_MS, Codec, new_id, tone_chunk
from getpatter.testing.fake_convai.records import (
    AgentReply,
    FakeAgent,
    FakeConversation,
    ToolResult,
)
from getpatter.testing.scenario import Reply, ToolCall

logger = logging.getLogger("getpatter.testing")

INIT_WAIT_S = 1.0
"""How long the fake waits for ``conversation_initiation_client_data`` before starting."""
_RMS_THRESHOLD = 500.0
_POLICY_VIOLATION = 1008
_VARIABLE = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")


def codec(audio_format: str) -> Codec:
    """The :class:`Codec` of an ElevenLabs audio format name (``ulaw_8000``, ``pcm_16000``)."""
    law, rate = audio_format.split("_")
    return Codec("ulaw" if law == "ulaw" else "pcm", int(rate), {}, audio_format)


@dataclass
class _Turn:
    """Something the agent will do: speak ``text``, or first call ``tool_call``."""

    text: str
    start_ms: int
    """The caller's audio position when the turn began: what they heard is measured from it."""
    tool_call: ToolCall | None = None


@dataclass
class _Speaking:
    """The reply being spoken, and how to stop it."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    heard_ms: int = 0


def _leaves(tree: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the set (non-null, non-object) values of an override object."""
    if not isinstance(tree, dict):
        return [prefix.rstrip(".")] if tree is not None and prefix else []
    return [leaf for key, value in tree.items() for leaf in _leaves(value, f"{prefix}{key}.")]


def _get(tree: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        tree = tree.get(key) if isinstance(tree, dict) else None  # type: ignore[assignment]
    return tree


class Conversation:
    """Reads one client's messages; a worker task speaks the agent's turns one at a time."""

    def __init__(
        self,
        ws: ServerConnection,
        record: FakeConversation,
        agent: FakeAgent,
        *,
        speedup: float,
        silence_ms: int,
        silent: bool = False,
    ) -> None:
        self.ws = ws
        self.record = record
        self.finished = asyncio.Event()
        self._agent = agent
        self._speedup = speedup
        self._silence_ms = silence_ms
        self._silent = silent
        self._input = codec(agent.input_audio_format)
        self._output = codec(agent.audio_format)
        self._pending_audio = bytearray()
        self._received_ms = 0.0
        self._position_ms = 0
        self._vad = EnergyVad()
        self._caller_turns = 0
        self._reply_index = 0
        self._event_id = 0
        self._ping_id = 0
        self._last_ping_ms: int | None = None
        self._pongs: dict[int, asyncio.Future[None]] = {}
        self._tool_calls: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self._queue: asyncio.Queue[_Turn] = asyncio.Queue()
        self._speaking: _Speaking | None = None

    async def run(self) -> None:
        """Serve the conversation until the socket closes; no task outlives it."""
        worker: asyncio.Task[None] | None = None
        try:
            first = await self._first_message()
            if not await self._initiate(first):
                return
            worker = asyncio.create_task(self._speak_forever())
            if first is not None and first.get("type") != "conversation_initiation_client_data":
                await self._dispatch(first)
            async for message in self.ws:
                await self._dispatch(_parse(message))
        except ConnectionClosed:
            logger.debug("the ConvAI client closed the conversation")
        finally:
            if worker is not None:
                worker.cancel()
                await asyncio.wait([worker])
            for future in [*self._pongs.values(), *(f for _, f in self._tool_calls.values())]:
                future.cancel()
            self.record.closed = True
            self.finished.set()

    async def ping(self) -> int:
        """Send a ``ping`` and wait for its ``pong``; returns the ping's ``event_id``."""
        self._ping_id += 1
        event_id = self._ping_id
        pong = self._pongs[event_id] = asyncio.get_running_loop().create_future()
        sent = time.monotonic()
        await self._send("ping", "ping_event", event_id=event_id, ping_ms=self._last_ping_ms)
        await pong
        self._last_ping_ms = round((time.monotonic() - sent) * 1000)
        return event_id

    async def _send(self, event_type: str, key: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": event_type, key: fields}))

    # Initiation

    async def _first_message(self) -> dict[str, Any] | None:
        try:
            async with asyncio.timeout(INIT_WAIT_S):
                return _parse(await self.ws.recv())
        except TimeoutError:
            return None

    async def _initiate(self, first: dict[str, Any] | None) -> bool:
        """Apply the client data and confirm the conversation; False if it was refused."""
        agent, record = self._agent, self.record
        overrides: dict[str, Any] = {}
        if first is not None and first.get("type") == "conversation_initiation_client_data":
            record.client_data = first
            record.received.append(first)
            overrides = first.get("conversation_config_override") or {}
            variables = first.get("dynamic_variables") or {}
            record.dynamic_variables = dict(variables) if isinstance(variables, dict) else {}
            forbidden = [leaf for leaf in _leaves(overrides) if leaf not in agent.allow_overrides]
            if forbidden:
                record.refused = f"Override for field '{forbidden[0]}' is not allowed by config."
                await self.ws.close(_POLICY_VIOLATION, record.refused)
                return False

        def setting(path: str, default: str) -> str:
            value = _get(overrides, path)
            return self._fill(str(value)) if value is not None else self._fill(default)

        record.first_message = setting("agent.first_message", agent.first_message)
        record.prompt = setting("agent.prompt.prompt", agent.prompt)
        record.language = setting("agent.language", agent.language)
        record.voice_id = setting("tts.voice_id", agent.voice_id)
        await self._send(
            "conversation_initiation_metadata",
            "conversation_initiation_metadata_event",
            conversation_id=record.conversation_id,
            agent_output_audio_format=agent.audio_format,
            user_input_audio_format=agent.input_audio_format,
        )
        if record.first_message and not self._silent:
            self._queue.put_nowait(_Turn(record.first_message, self._position_ms))
        return True

    def _fill(self, text: str) -> str:
        """``text`` with each known ``{{variable}}`` replaced by its dynamic variable."""
        variables = self.record.dynamic_variables

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(variables[name]) if name in variables else match.group(0)

        return _VARIABLE.sub(value, text)

    # Client messages

    async def _dispatch(self, message: dict[str, Any]) -> None:
        if "user_audio_chunk" in message:
            if not self._silent:
                await self._on_audio(message["user_audio_chunk"])
            return
        if message:
            self.record.received.append(message)
        kind = message.get("type")
        if kind == "pong":
            event_id = message.get("event_id")
            if isinstance(event_id, int):
                self.record.pongs.append(event_id)
                pong = self._pongs.pop(event_id, None)
                if pong is not None and not pong.done():
                    pong.set_result(None)
        elif kind == "client_tool_result":
            self._on_tool_result(message)
        elif kind == "contextual_update":
            self.record.contextual_updates.append(str(message.get("text", "")))
        elif kind == "user_message":
            self.record.user_messages.append(str(message.get("text", "")))
            if not self._silent:
                self._queue.put_nowait(self._next_turn())

    def _on_tool_result(self, message: dict[str, Any]) -> None:
        call_id = message.get("tool_call_id")
        entry = self._tool_calls.pop(call_id, None) if isinstance(call_id, str) else None
        if entry is None:
            logger.debug("fake ConvAI: client_tool_result for an unknown tool call")
            return
        name, future = entry
        result = message.get("result")
        self.record.tool_results.append(
            ToolResult(str(call_id), name, result, bool(message.get("is_error", False)))
        )
        if not future.done():
            future.set_result(result)

    async def _on_audio(self, chunk: Any) -> None:
        try:
            audio = base64.b64decode(str(chunk), validate=True)
        except binascii.Error:
            logger.debug("fake ConvAI: user_audio_chunk is not base64; ignored")
            return
        self._received_ms += len(audio) / self._input.bytes_per_ms
        self.record.audio_received_ms = int(self._received_ms)
        self._pending_audio += audio
        window = self._input.bytes_per_ms * WINDOW_MS
        while len(self._pending_audio) >= window:
            pcm = self._input.to_pcm16(bytes(self._pending_audio[:window]))
            del self._pending_audio[:window]
            start_ms = self._position_ms
            self._position_ms += WINDOW_MS
            change = self._vad.feed(start_ms, rms(pcm) >= _RMS_THRESHOLD, self._silence_ms)
            if change == "started":
                await self._interrupt(self._vad.start_ms)
            elif change == "stopped":
                await self._end_caller_turn()

    async def _interrupt(self, at_ms: int) -> None:
        """The caller talks over the agent: stop the reply being spoken, if any."""
        speaking = self._speaking
        if speaking is None or speaking.stop.is_set():
            return
        speaking.heard_ms = at_ms
        speaking.stop.set()
        await speaking.stopped.wait()

    async def _end_caller_turn(self) -> None:
        lines = self.record.scenario.caller_lines
        transcript = lines[self._caller_turns] if self._caller_turns < len(lines) else ""
        self._caller_turns += 1
        self.record.transcripts.append(transcript)
        await self._send("user_transcript", "user_transcription_event", user_transcript=transcript)
        self._queue.put_nowait(self._next_turn())

    def _next_turn(self) -> _Turn:
        """The next scripted reply; an empty turn once the script has run out."""
        replies = self.record.scenario.replies
        if self._reply_index >= len(replies):
            return _Turn("", self._position_ms)
        reply: Reply = replies[self._reply_index]
        self._reply_index += 1
        return _Turn(reply.text, self._position_ms, reply.tool_call)

    # Agent turns

    async def _speak_forever(self) -> None:
        try:
            while True:
                turn = await self._queue.get()
                if turn.tool_call is not None:
                    result = await self._call_tool(turn.tool_call)
                    text = turn.text.replace("{result}", _as_text(result))
                    turn = _Turn(text, self._position_ms)
                if turn.text:
                    await self._speak(turn)
        except ConnectionClosed:
            return
        except Exception:
            logger.exception("fake ConvAI server failed on conversation %d", self.record.index)
            await self.ws.close(1011, "fake server error")

    async def _call_tool(self, tool_call: ToolCall) -> Any:
        call_id = new_id("toolu")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._tool_calls[call_id] = (tool_call.name, future)
        await self._send(
            "client_tool_call",
            "client_tool_call",
            tool_name=tool_call.name,
            tool_call_id=call_id,
            parameters=dict(tool_call.arguments),
            expects_response=True,
        )
        return await future

    async def _speak(self, turn: _Turn) -> None:
        """Send ``agent_response`` and the reply's audio; stop early when interrupted."""
        text = self._fill(turn.text)
        reply = AgentReply(text, heard=text)
        self.record.replies.append(reply)
        speaking = self._speaking = _Speaking()
        try:
            await self._send("agent_response", "agent_response_event", agent_response=text)
            planned = self.record.scenario.speech_ms(text)
            chunks = math.ceil(planned / CHUNK_MS)
            for index in range(chunks):
                if speaking.stop.is_set():
                    break
                chunk_ms = min(CHUNK_MS, planned - index * CHUNK_MS)
                audio = tone_chunk(self._output)[: chunk_ms * self._output.bytes_per_ms]
                self._event_id += 1
                await self._send(
                    "audio",
                    "audio_event",
                    audio_base_64=base64.b64encode(audio).decode(),
                    event_id=self._event_id,
                )
                reply.audio_ms += chunk_ms
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(chunk_ms / 1000 / self._speedup):
                        await speaking.stop.wait()
            if speaking.stop.is_set():
                await self._correct(reply, turn, planned, speaking.heard_ms - turn.start_ms)
        finally:
            self._speaking = None
            speaking.stopped.set()

    async def _correct(self, reply: AgentReply, turn: _Turn, planned: int, heard_ms: int) -> None:
        """Report the interruption and the words the caller heard, on the caller's clock."""
        heard_ms = max(0, min(planned, heard_ms))
        pieces = [piece for piece in re.split(r"(?<=\s)(?=\S)", reply.text) if piece]
        reply.interrupted = True
        reply.heard = "".join(pieces[: len(pieces) * heard_ms // planned]).strip()
        self.record.interruptions.append(self._event_id)
        await self._send("interruption", "interruption_event", event_id=self._event_id)
        await self._send(
            "agent_response_correction",
            "agent_response_correction_event",
            original_agent_response=reply.text,
            corrected_agent_response=reply.heard,
        )


def _as_text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result)


def _parse(message: str | bytes) -> dict[str, Any]:
    """A client message as a dict; anything else becomes an empty (ignored) message."""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        logger.debug("fake ConvAI: a client message is not a JSON object; ignored")
        return {}
    return parsed
