"""One client connection of the fake Realtime server: the conversation and its responses."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from getpatter.engines.base import VERBATIM_PREFIX
from getpatter.testing._energy_vad import WINDOW_MS, EnergyVad, rms
from getpatter.testing._fake_audio import CHUNK_MS, Codec, new_id, tone_chunk
from getpatter.testing.fake_realtime._protocol import (
    BETA_NAMES,
    ClientError,
    check_update,
    default_session,
    merge,
    read_settings,
)
from getpatter.testing.fake_realtime._usage import UsageMeter
from getpatter.testing.fake_realtime.records import (
    Cancellation,
    FakeRealtimeSession,
    FakeResponse,
    ToolOutput,
    Truncation,
)
from getpatter.testing.scenario import Reply, ToolCall

logger = logging.getLogger("getpatter.testing")

_MIN_COMMIT_MS = 100


@dataclass
class _Item:
    """A conversation item, as much of it as truncation and usage need."""

    id: str
    payload: dict[str, Any]
    text: str = ""
    heard_ms: float = 0
    audio_ms: int = 0
    planned_ms: int = 0
    response_id: str = ""


@dataclass(frozen=True)
class _Plan:
    """What a response will do, decided when it is asked for."""

    text: str
    duration_ms: int
    instructions: str
    tool_call: ToolCall | None = None
    follow_up: Reply | None = None
    """The reply to speak once the tool call's result comes back."""


@dataclass
class _Active:
    """The response being generated, and how to stop it."""

    id: str
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str = ""


def _parse(message: str | bytes) -> dict[str, Any]:
    try:
        event = json.loads(message)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ClientError("invalid_json", "Expected a JSON object with a 'type'.")
    return event


class Connection:
    """Reads one client's events and runs its responses, one at a time, on a worker task."""

    def __init__(
        self,
        ws: ServerConnection,
        record: FakeRealtimeSession,
        speedup: float,
        *,
        silent: bool = False,
        session_delay: float = 0.0,
    ) -> None:
        self.ws = ws
        self.record = record
        self._silent = silent
        """Once the session is confirmed, nothing more is sent (a fault of the server)."""
        self._session_delay = session_delay
        self.finished = asyncio.Event()
        self._beta = record.beta
        self._speedup = speedup
        self._session = default_session(record.beta, record.model)
        self._settings = read_settings(self._session, record.beta)
        self._conversation_id = new_id("conv")
        self._pending_audio = bytearray()
        self._received_ms = 0.0
        self._uncommitted_ms = 0.0
        self._position_ms = 0
        self._vad = EnergyVad()
        self._speech_item_id = ""
        self._caller_turns = 0
        self._reply_index = 0
        self._items: dict[str, _Item] = {}
        self._last_item_id: str | None = None
        self._function_calls: dict[str, tuple[str, Reply]] = {}
        self._tool_result: tuple[Reply, str] | None = None
        self._meter = UsageMeter()
        self._queue: asyncio.Queue[_Plan] = asyncio.Queue()
        self._active: _Active | None = None
        self._handlers = {
            "session.update": self._on_session_update,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }

    async def run(self) -> None:
        """Serve the connection until it closes; no task outlives it."""
        worker = asyncio.create_task(self._respond_forever())
        try:
            await self._send("session.created", session=self._session)
            async for message in self.ws:
                await self._dispatch(message)
        except ConnectionClosed:
            logger.debug("the peer closed the connection")
        finally:
            worker.cancel()
            await asyncio.wait([worker])
            self.record.closed = True
            self.finished.set()

    async def _send(self, event_type: str, **fields: Any) -> None:
        name = BETA_NAMES.get(event_type, event_type) if self._beta else event_type
        if name is not None:
            await self.ws.send(json.dumps({"type": name, "event_id": new_id("event"), **fields}))

    async def _dispatch(self, message: str | bytes) -> None:
        event: dict[str, Any] = {}
        try:
            event = _parse(message)
            silenced = self._silent and self.record.session_config is not None
            if event["type"] == "input_audio_buffer.append":
                if not silenced:
                    await self._on_append(event)
                return
            self.record.received.append(event)
            if silenced:
                return
            handler = self._handlers.get(event["type"])
            if handler is None:
                supported = ", ".join(["'input_audio_buffer.append'", *map(repr, self._handlers)])
                raise ClientError(
                    "invalid_value",
                    f"Invalid value: '{event['type']}'. Supported values are: {supported}.",
                    "type",
                )
            await handler(event)
        except ClientError as refused:
            await self._send(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": refused.code,
                    "message": refused.message,
                    "param": refused.param,
                    "event_id": event.get("event_id"),
                },
            )

    # Session and caller audio

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = check_update(event.get("session"), self._beta)
        session = merge(self._session, update)
        self._settings = read_settings(session, self._beta)
        self._session = session
        if self._session_delay:
            await asyncio.sleep(self._session_delay)
        self.record.session_config = update
        await self._send("session.updated", session=session)

    async def _on_append(self, event: dict[str, Any]) -> None:
        try:
            audio = base64.b64decode(str(event.get("audio", "")), validate=True)
        except binascii.Error:
            raise ClientError(
                "invalid_value", "Invalid 'audio'. Expected base64-encoded audio.", "audio"
            ) from None
        codec = self._settings.input
        self._received_ms += len(audio) / codec.bytes_per_ms
        self._uncommitted_ms += len(audio) / codec.bytes_per_ms
        self.record.audio_received_ms = int(self._received_ms)
        self._pending_audio += audio
        window = codec.bytes_per_ms * WINDOW_MS
        while len(self._pending_audio) >= window:
            chunk = bytes(self._pending_audio[:window])
            del self._pending_audio[:window]
            await self._on_window(chunk, codec)

    async def _on_window(self, chunk: bytes, codec: Codec) -> None:
        start_ms = self._position_ms
        self._position_ms += WINDOW_MS
        settings = self._settings
        if not settings.vad:
            return
        voiced = rms(codec.to_pcm16(chunk)) >= settings.rms_threshold
        change = self._vad.feed(start_ms, voiced, settings.silence_ms)
        if change == "started":
            self._speech_item_id = new_id("item")
            await self._send(
                "input_audio_buffer.speech_started",
                audio_start_ms=self._vad.start_ms,
                item_id=self._speech_item_id,
            )
            if settings.interrupt_response:
                await self._cancel("turn_detected")
        elif change == "stopped":
            item_id = self._speech_item_id
            await self._send(
                "input_audio_buffer.speech_stopped", audio_end_ms=self._position_ms, item_id=item_id
            )
            await self._commit(item_id, self._position_ms - self._vad.start_ms)
            if settings.create_response:
                self._queue.put_nowait(self._next_reply(settings.instructions))

    async def _on_commit(self, event: dict[str, Any]) -> None:
        if self._uncommitted_ms < _MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{_MIN_COMMIT_MS}ms of audio, but buffer only has {self._uncommitted_ms:.2f}ms "
                "of audio.",
            )
        item_id = self._speech_item_id if self._vad.speaking else new_id("item")
        self._vad = EnergyVad()
        await self._commit(item_id, self._uncommitted_ms)

    async def _on_clear(self, event: dict[str, Any]) -> None:
        self._pending_audio.clear()
        self._uncommitted_ms = 0
        self._vad = EnergyVad()
        await self._send("input_audio_buffer.cleared")

    async def _commit(self, item_id: str, heard_ms: float) -> None:
        """Turn the buffered caller audio into a user item and "transcribe" it."""
        self._uncommitted_ms = 0
        lines = self.record.scenario.caller_lines
        transcript = lines[self._caller_turns] if self._caller_turns < len(lines) else ""
        self._caller_turns += 1
        await self._send(
            "input_audio_buffer.committed", previous_item_id=self._last_item_id, item_id=item_id
        )
        payload = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._add_item(_Item(item_id, payload, text=transcript, heard_ms=heard_ms))
        self.record.transcripts.append(transcript)
        for word in re.findall(r"\s*\S+", transcript):  # as gpt-4o-transcribe: word by word
            await self._send(
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=word,
            )
        await self._send(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=transcript,
            usage={"type": "duration", "seconds": round(heard_ms / 1000, 3)},
        )

    # Conversation items

    async def _add_item(self, item: _Item, *, done: bool = True) -> None:
        previous = self._last_item_id
        self._items[item.id] = item
        self._last_item_id = item.id
        await self._send("conversation.item.added", previous_item_id=previous, item=item.payload)
        if done:
            await self._send("conversation.item.done", previous_item_id=previous, item=item.payload)

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            raise ClientError(
                "invalid_type", "Invalid type for 'item': expected an object.", "item"
            )
        item_id = str(item.get("id") or new_id("item"))
        payload = {"object": "realtime.item", "status": "completed", **item, "id": item_id}
        kind = item.get("type")
        if kind == "message":
            parts = [part for part in item.get("content") or [] if isinstance(part, dict)]
            text = "".join(str(part.get("text") or part.get("transcript") or "") for part in parts)
            await self._add_item(_Item(item_id, payload, text=text))
        elif kind == "function_call":
            text = f"{item.get('name', '')}{item.get('arguments', '')}"
            await self._add_item(_Item(item_id, payload, text=text))
        elif kind == "function_call_output":
            await self._on_tool_output(_Item(item_id, payload, text=str(item.get("output"))))
        else:
            raise ClientError(
                "invalid_value",
                f"Invalid value: {kind!r}. Supported values are: 'message', 'function_call', "
                "and 'function_call_output'.",
                "item.type",
            )

    async def _on_tool_output(self, item: _Item) -> None:
        call_id, output = item.payload.get("call_id"), item.payload.get("output")
        if not isinstance(output, str):
            raise ClientError(
                "invalid_type", "Invalid type for 'item.output': expected a string.", "item.output"
            )
        if not isinstance(call_id, str) or call_id not in self._function_calls:
            raise ClientError(
                "invalid_value",
                f"Tool call ID '{call_id}' not found in conversation.",
                "item.call_id",
            )
        name, follow_up = self._function_calls.pop(call_id)
        self.record.tool_outputs.append(ToolOutput(call_id, name, output))
        self._tool_result = (follow_up, output)
        await self._add_item(item)

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if not isinstance(item_id, str) or self._items.pop(item_id, None) is None:
            raise ClientError(
                "item_delete_invalid_item_id",
                f"Error deleting item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        await self._send("conversation.item.deleted", item_id=item_id)

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        item = self._items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            raise ClientError(
                "item_retrieve_invalid_item_id",
                f"Error retrieving item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        await self._send("conversation.item.retrieved", item=item.payload)

    async def _on_truncate(self, event: dict[str, Any]) -> None:
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        content_index = event.get("content_index", 0)
        item = self._items.get(item_id) if isinstance(item_id, str) else None
        if item is None or not isinstance(item_id, str):
            raise ClientError(
                "item_truncate_invalid_item_id",
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        if not item.planned_ms:
            raise ClientError(
                "invalid_value", "Only model output audio messages can be truncated.", "item_id"
            )
        if isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            raise ClientError(
                "invalid_value", "'audio_end_ms' must be an integer >= 0.", "audio_end_ms"
            )
        if end_ms > item.audio_ms:
            raise ClientError(
                "invalid_value",
                f"Audio content of {item.audio_ms}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        # The model forgets the words the caller never heard.
        item.text = item.text[: len(item.text) * end_ms // item.planned_ms]
        self.record.truncations.append(Truncation(item_id, end_ms, content_index))
        await self._send(
            "conversation.item.truncated",
            item_id=item_id,
            content_index=content_index,
            audio_end_ms=end_ms,
        )

    # Responses

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        spec = event.get("response") or {}
        if not isinstance(spec, dict):
            raise ClientError(
                "invalid_type", "Invalid type for 'response': expected an object.", "response"
            )
        if self._active is not None or not self._queue.empty():
            busy = self._active.id if self._active is not None else "(queued)"
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {busy}. Wait "
                "until the response is finished before creating a new one.",
            )
        override = spec.get("instructions")
        instructions = override if isinstance(override, str) else self._settings.instructions
        if isinstance(override, str) and override.startswith(VERBATIM_PREFIX):
            text = override.removeprefix(VERBATIM_PREFIX)
            plan = _Plan(text, self.record.scenario.speech_ms(text), instructions)
        elif self._tool_result is not None:
            follow_up, output = self._tool_result
            self._tool_result = None
            said = replace(follow_up, text=follow_up.text.replace("{result}", output))
            plan = _Plan(said.text, self._reply_ms(said), instructions)
        else:
            plan = self._next_reply(instructions)
        self._queue.put_nowait(plan)

    def _next_reply(self, instructions: str) -> _Plan:
        """The next scripted reply; a response with no output once the script has run out."""
        replies = self.record.scenario.replies
        if self._reply_index >= len(replies):
            return _Plan("", 0, instructions)
        reply = replies[self._reply_index]
        self._reply_index += 1
        if reply.tool_call is not None:
            return _Plan("", 0, instructions, tool_call=reply.tool_call, follow_up=reply)
        return _Plan(reply.text, self._reply_ms(reply), instructions)

    def _reply_ms(self, reply: Reply) -> int:
        if reply.audio_ms is not None:
            return reply.audio_ms
        return self.record.scenario.speech_ms(reply.text)

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        active = self._active
        mine = active is not None and wanted in (None, "", active.id)
        if not (mine and await self._cancel("client_cancelled")):
            raise ClientError(
                "response_cancel_not_active", "Cancellation failed: no active response found."
            )

    async def _cancel(self, reason: str) -> bool:
        """Stop the response in flight and wait for its ``response.done``; False if none."""
        active = self._active
        if active is None or active.cancel_reason:
            return False
        active.cancel_reason = reason
        active.cancel.set()
        await active.finished.wait()
        return True

    async def _respond_forever(self) -> None:
        try:
            while True:
                plan = await self._queue.get()
                active = _Active(new_id("resp"))
                self._active = active
                try:
                    await self._respond(plan, active)
                finally:
                    if self._active is active:
                        self._active = None
                    active.finished.set()
        except ConnectionClosed:
            return
        except Exception:
            logger.exception("fake Realtime server failed on connection %d", self.record.index)
            await self.ws.close(1011, "fake server error")

    async def _respond(self, plan: _Plan, active: _Active) -> None:
        record = FakeResponse(active.id, plan.text, plan.tool_call)
        self.record.responses.append(record)
        await self._send("response.created", response=self._response(active.id, "in_progress"))
        output: list[dict[str, Any]] = []
        output_text = ""
        if plan.tool_call is not None:
            output.append(await self._call_tool(plan, active.id))
            output_text = output[0]["name"] + output[0]["arguments"]
        elif plan.duration_ms:
            item, output_text = await self._speak(plan, active, record)
            output.append(item)
        status, details = "completed", None
        if active.cancel_reason:
            status, details = "cancelled", {"type": "cancelled", "reason": active.cancel_reason}
            self.record.cancellations.append(Cancellation(active.id, active.cancel_reason))
        earlier = [item for item in self._items.values() if item.response_id != active.id]
        usage = self._meter.usage(
            input_texts=[plan.instructions, *(item.text for item in earlier)],
            heard_ms=sum(item.heard_ms for item in earlier),
            output_text=output_text,
            output_audio_ms=record.audio_ms,
        )
        record.status, record.reason = status, active.cancel_reason
        # Free the slot before the client can learn the response is over and ask for another.
        self._active = None
        await self._send(
            "response.done", response=self._response(active.id, status, output, details, usage)
        )

    async def _call_tool(self, plan: _Plan, response_id: str) -> dict[str, Any]:
        assert plan.tool_call is not None and plan.follow_up is not None
        item_id, call_id = new_id("item"), new_id("call")
        name, arguments = plan.tool_call.name, json.dumps(plan.tool_call.arguments)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        where = {"response_id": response_id, "output_index": 0}
        ids = {**where, "item_id": item_id, "call_id": call_id}
        await self._send("response.output_item.added", **where, item=item)
        entry = _Item(item_id, item, text=name + arguments, response_id=response_id)
        await self._add_item(entry, done=False)
        await self._send("response.function_call_arguments.delta", **ids, delta=arguments)
        await self._send(
            "response.function_call_arguments.done", **ids, name=name, arguments=arguments
        )
        entry.payload = item = item | {"status": "completed", "arguments": arguments}
        self._function_calls[call_id] = (name, plan.follow_up)
        await self._send("response.output_item.done", **where, item=item)
        await self._send("conversation.item.done", item=item)
        return item

    async def _speak(
        self, plan: _Plan, active: _Active, record: FakeResponse
    ) -> tuple[dict[str, Any], str]:
        """Stream the reply's tone and transcript; stop early when the response is cancelled."""
        item_id = record.item_id = new_id("item")
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        where = {"response_id": active.id, "output_index": 0}
        ids = {**where, "item_id": item_id, "content_index": 0}
        await self._send("response.output_item.added", **where, item=item)
        entry = _Item(item_id, item, plan.text, planned_ms=plan.duration_ms, response_id=active.id)
        await self._add_item(entry, done=False)
        await self._send(
            "response.content_part.added", **ids, part={"type": "audio", "transcript": ""}
        )
        codec = self._settings.output
        pieces = [piece for piece in re.split(r"(?<=\s)(?=\S)", plan.text) if piece]
        chunks = math.ceil(plan.duration_ms / CHUNK_MS)
        said = 0
        for index in range(chunks):
            if active.cancel_reason:
                break
            if (upto := math.ceil((index + 1) * len(pieces) / chunks)) > said:
                delta = "".join(pieces[said:upto])
                said = upto
                await self._send("response.output_audio_transcript.delta", **ids, delta=delta)
            chunk_ms = min(CHUNK_MS, plan.duration_ms - index * CHUNK_MS)
            audio = tone_chunk(codec)[: chunk_ms * codec.bytes_per_ms]
            await self._send(
                "response.output_audio.delta", **ids, delta=base64.b64encode(audio).decode()
            )
            entry.audio_ms = record.audio_ms = entry.audio_ms + chunk_ms
            if index < chunks - 1:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(chunk_ms / 1000 / self._speedup):
                        await active.cancel.wait()
        transcript = "".join(pieces[:said])
        await self._send("response.output_audio.done", **ids)
        await self._send("response.output_audio_transcript.done", **ids, transcript=transcript)
        part = {"type": "audio", "transcript": transcript}
        await self._send("response.content_part.done", **ids, part=part)
        entry.payload = item = item | {
            "status": "incomplete" if active.cancel_reason else "completed",
            "content": [
                {"type": "audio" if self._beta else "output_audio", "transcript": transcript}
            ],
        }
        await self._send("response.output_item.done", **where, item=item)
        await self._send("conversation.item.done", item=item)
        return item, transcript

    def _response(
        self,
        response_id: str,
        status: str,
        output: list[dict[str, Any]] | None = None,
        status_details: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``response`` object of ``response.created`` and ``response.done``."""
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": output or [],
            "conversation_id": self._conversation_id,
            "max_output_tokens": "inf",
            "metadata": None,
            "usage": usage,
        }
        codec, voice = self._settings.output, self._settings.voice
        if self._beta:
            return response | {
                "modalities": ["audio", "text"],
                "voice": voice,
                "output_audio_format": codec.beta,
                "temperature": 0.8,
            }
        return response | {
            "output_modalities": ["audio"],
            "audio": {"output": {"format": dict(codec.ga), "voice": voice}},
        }
