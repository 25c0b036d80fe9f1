"""One call's connection to the OpenAI Realtime API over a WebSocket.

GA or beta: ``*-realtime-preview*`` models (the default ``gpt-4o-mini-realtime-preview``) are
spoken to with the beta protocol, every other model with GA; see
:mod:`getpatter.engines.openai.session`. Server events of both protocols are accepted.

Fatal errors: an ``error`` event whose code is :data:`FATAL_ERROR_CODES` (bad key, quota, expired
session...) or whose type is an authentication/permission error means the session cannot
continue. The engine then yields ``EngineError(fatal=True)``, closes the socket and ends with
``EngineClosed(error=...)``. Every other error event (a refused client event, a failed
transcription) is reported with ``fatal=False`` and the session goes on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from getpatter._validation import require_int, require_number, require_str
from getpatter.engines._websocket import WebSocketEngine
from getpatter.engines.base import (
    VERBATIM_PREFIX,
    AgentAudio,
    AgentTextDelta,
    AgentTranscript,
    EngineClosed,
    EngineConfig,
    EngineError,
    EngineEvent,
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
    ToolCallRequest,
    UserTranscript,
    UserTranscriptPartial,
)
from getpatter.engines.openai import REALTIME_CAPABILITIES
from getpatter.engines.openai.endpoint import DEFAULT_BASE_URL, realtime_url
from getpatter.engines.openai.events import (
    AUDIO_DELTA_TYPES,
    INPUT_TRANSCRIPT_DELTA,
    TRANSCRIPT_DELTA_TYPES,
    AudioTranscriptDelta,
    AudioTranscriptDone,
    ErrorDetails,
    ErrorEvent,
    FunctionCallArgumentsDone,
    InputTranscriptionCompleted,
    InputTranscriptionDelta,
    InputTranscriptionFailed,
    ResponseCreated,
    ResponseDoneEvent,
    ServerEvent,
    SessionUpdated,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    decode_audio_delta,
    parse_server_event,
)
from getpatter.engines.openai.session import session_update, uses_beta_protocol, wire_format
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
)
from getpatter.observability.cost import RealtimeUsage
from getpatter.providers.errors import websocket_open_error

__all__ = ["FATAL_ERROR_CODES", "RealtimeEngine"]

logger = logging.getLogger("getpatter.engines.openai")

#: ``error.code`` values after which the session cannot continue.
FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "session_expired", "model_not_found"}
)
_FATAL_ERROR_TYPES = frozenset({"authentication_error", "permission_error"})
_AUTH_ERROR_CODES = frozenset({"invalid_api_key"})

# Cancelling a response that has just ended races with the server; that refusal is harmless.
_BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active"})

_CONNECT_TIMEOUT_S = 10.0
# session.updated echoes the instructions and tools, which can exceed websockets' 1 MiB default.
_MAX_MESSAGE_BYTES = 16 * 2**20
# Audio bytes received are remembered for this many recent items (to clamp truncation).
_TRACKED_ITEMS = 16

_AUDIO_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'
_AUDIO_APPEND_TAIL = '"}'


class RealtimeEngine(WebSocketEngine):
    """One call's OpenAI Realtime session; implements :class:`~getpatter.engines.base.Engine`.

    Create one per call (``Realtime(...).create_engine()``), :meth:`connect`, iterate
    :meth:`events` in one task while other tasks send audio and commands. Commands sent after the
    connection closed are dropped: :meth:`events` reports the closure.
    """

    capabilities = REALTIME_CAPABILITIES
    _provider = "OpenAI Realtime"
    _log = logger

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = _CONNECT_TIMEOUT_S,
    ) -> None:
        self._api_key = require_str("RealtimeEngine api_key", api_key, allow_empty=False)
        self._base_url = require_str("RealtimeEngine base_url", base_url, allow_empty=False)
        self._timeout = require_number("connect_timeout", connect_timeout, minimum=0.001)
        super().__init__()
        self._bytes_per_ms = 8
        self._fatal: ErrorDetails | None = None
        self._response_active = False
        self._interrupted_item = ""
        self._audio_bytes: dict[str, int] = {}
        self._text_deltas = False
        self._partials = False
        self._heard_so_far: dict[str, str] = {}
        """Each caller utterance's text so far, from transcription deltas (partials only)."""

    async def connect(self, config: EngineConfig) -> None:
        """Open the WebSocket, send ``session.update`` and wait for ``session.updated``.

        Raises :class:`ConfigError` for an audio format Realtime cannot use or a session the
        server refuses, :class:`AuthenticationError` when the key is refused (HTTP 401/403 or an
        ``invalid_api_key`` error), :class:`PatterConnectionError` on any other failure or after
        10 s without an answer.
        """
        if self._ws is not None:
            raise RuntimeError("RealtimeEngine serves one call: create a new engine per call")
        fmt = wire_format(config.audio_format)
        beta = uses_beta_protocol(config.model)
        url = realtime_url(self._base_url, config.model)
        headers = {"Authorization": f"Bearer {self._api_key}"}
        if beta:
            headers["OpenAI-Beta"] = "realtime=v1"
        ws = await self._open(url, headers)
        try:
            async with asyncio.timeout(self._timeout):
                await ws.send(json.dumps(session_update(config, beta=beta)))
                await _wait_for_session_updated(ws)
        except TimeoutError:
            await ws.close()
            raise PatterConnectionError(
                f"OpenAI Realtime did not confirm the session within {self._timeout:g} s",
                code=ErrorCode.TIMEOUT,
            ) from None
        except ConnectionClosed as exc:
            raise PatterConnectionError(
                f"OpenAI Realtime closed the connection before confirming the session ({exc})"
            ) from None
        except BaseException:
            await ws.close()
            raise
        self._bytes_per_ms = fmt.bytes_per_ms
        self._text_deltas = config.stream_agent_text
        self._partials = config.stream_partial_transcripts
        self._ws = ws
        if self._closing:  # close() was called while connecting.
            await ws.close()

    async def _open(self, url: str, headers: dict[str, str]) -> ClientConnection:
        try:
            return await connect(
                url,
                additional_headers=headers,
                open_timeout=self._timeout,
                max_size=_MAX_MESSAGE_BYTES,
                # Base64 audio does not compress; deflate would only cost CPU per frame.
                compression=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise websocket_open_error(
                "OpenAI Realtime",
                exc,
                url=url,
                timeout=self._timeout,
                api_key=self._api_key,
                key_hint="OpenAIRealtime(api_key=...) or OPENAI_API_KEY",
            ) from None

    async def send_audio(self, audio: bytes) -> None:
        """Append caller audio (in the configured format) to the input buffer."""
        ws = self._connection()
        if not audio:
            return
        try:
            await ws.send(
                _AUDIO_APPEND_HEAD + base64.b64encode(audio).decode("ascii") + _AUDIO_APPEND_TAIL
            )
        except ConnectionClosed:
            logger.debug("caller audio dropped: the OpenAI Realtime connection is closed")

    async def send_user_text(self, text: str) -> None:
        """Add a caller text message (such as ``[DTMF: 5]``) and ask for a reply."""
        require_str("text", text)
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            },
            {"type": "response.create"},
        )

    async def say(self, text: str) -> None:
        """Start a response in which the model speaks ``text`` verbatim."""
        require_str("text", text)
        await self._send(
            {"type": "response.create", "response": {"instructions": VERBATIM_PREFIX + text}}
        )

    async def instruct(self, instruction: str) -> None:
        """Add a system message to the conversation; the model follows it from its next reply."""
        require_str("instruction", instruction, allow_empty=False)
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": instruction}],
                },
            }
        )

    async def interrupt(self, item_id: str, played_ms: int) -> None:
        """Cancel the response in progress and truncate ``item_id`` to what the caller heard.

        ``played_ms`` is clamped to the audio received for the item (the server refuses a
        truncation past it). An unknown or empty ``item_id`` only cancels. Audio of the
        interrupted item that still arrives afterwards is dropped.
        """
        require_str("item_id", item_id)
        require_int("played_ms", played_ms, minimum=0)
        messages: list[dict[str, Any]] = []
        if self._response_active:
            self._response_active = False
            messages.append({"type": "response.cancel"})
        received = self._audio_bytes.get(item_id) if item_id else None
        if received is None:
            logger.debug("no agent audio received for item %r: nothing to truncate", item_id)
        else:
            self._interrupted_item = item_id
            messages.append(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": min(played_ms, received // self._bytes_per_ms),
                }
            )
        await self._send(*messages)

    async def send_tool_result(self, call_id: str, output: str) -> None:
        """Return a tool's output for ``call_id`` and let the model continue."""
        require_str("call_id", call_id, allow_empty=False)
        require_str("output", output)
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id, "output": output},
            },
            {"type": "response.create"},
        )

    async def _stream(self, ws: ClientConnection) -> AsyncIterator[EngineEvent]:
        # A closed socket ends the loop; how it closed is reported below from the close code.
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                try:
                    data = json.loads(raw)
                except ValueError:
                    logger.warning("OpenAI Realtime sent a message that is not JSON: skipped")
                    continue
                if not isinstance(data, dict):
                    logger.warning("OpenAI Realtime sent a JSON message that is not an object")
                    continue
                kind = data.get("type")
                if kind in AUDIO_DELTA_TYPES:
                    audio = self._agent_audio(data)
                    if audio is not None:
                        yield audio
                    continue
                if kind in TRANSCRIPT_DELTA_TYPES and not self._text_deltas:
                    continue  # as frequent as words: skip them unless guardrails read them
                if kind == INPUT_TRANSCRIPT_DELTA and not self._partials:
                    continue  # as frequent too: only when someone listens to partials
                server_event = parse_server_event(data)
                if server_event is None:
                    continue
                event = self._engine_event(server_event)
                if event is not None:
                    yield event
                if self._fatal is not None:
                    break
        yield await self._closed(ws)

    def _agent_audio(self, data: dict[str, Any]) -> AgentAudio | None:
        decoded = decode_audio_delta(data)
        if decoded is None:
            return None
        item_id, audio = decoded
        if item_id == self._interrupted_item:
            return None
        received = self._audio_bytes
        if item_id not in received:
            if len(received) >= _TRACKED_ITEMS:
                del received[next(iter(received))]
            received[item_id] = 0
        received[item_id] += len(audio)
        return AgentAudio(item_id=item_id, audio=audio)

    def _engine_event(self, event: ServerEvent) -> EngineEvent | None:
        if isinstance(event, InputTranscriptionCompleted | InputTranscriptionFailed):
            self._heard_so_far.pop(event.item_id, None)
        match event:
            case SpeechStartedEvent():
                return SpeechStarted()
            case SpeechStoppedEvent():
                return SpeechStopped()
            case InputTranscriptionCompleted(transcript=text) if text.strip():
                return UserTranscript(text=text)
            case InputTranscriptionDelta(item_id=item_id, delta=text) if self._partials:
                return self._partial(item_id, text)
            case InputTranscriptionFailed(error=error):
                return EngineError(
                    message=f"transcription of the caller failed: {error.message}",
                    code=error.code or "",
                )
            case AudioTranscriptDelta(item_id=item_id, delta=text) if self._text_deltas:
                if item_id != self._interrupted_item:
                    return AgentTextDelta(item_id=item_id, text=text)
            case AudioTranscriptDone(item_id=item_id, transcript=text):
                return AgentTranscript(item_id=item_id, text=text)
            case FunctionCallArgumentsDone(call_id=call_id, name=name, arguments=arguments):
                return ToolCallRequest(call_id=call_id, name=name, arguments=arguments)
            case ResponseCreated():
                self._response_active = True
            case ResponseDoneEvent(response=response):
                self._response_active = False
                return ResponseDone(status=response.status, usage=_usage(response.usage))
            case ErrorEvent(error=error):
                return self._error(error)
            case SessionUpdated():
                logger.debug("OpenAI Realtime session updated")
        return None

    def _partial(self, item_id: str, delta: str) -> UserTranscriptPartial | None:
        """The caller's utterance so far: OpenAI sends only what is new, partials carry it all."""
        heard = self._heard_so_far
        if item_id not in heard and len(heard) >= _TRACKED_ITEMS:
            del heard[next(iter(heard))]
        text = heard[item_id] = heard.get(item_id, "") + delta
        return UserTranscriptPartial(text=text.strip()) if text.strip() else None

    def _error(self, error: ErrorDetails) -> EngineError | None:
        code = error.code or ""
        if code in _BENIGN_ERROR_CODES:
            logger.debug("OpenAI Realtime: %s", error.message)
            return None
        fatal = code in FATAL_ERROR_CODES or error.type in _FATAL_ERROR_TYPES
        if fatal:
            self._fatal = error
            logger.error("OpenAI Realtime fatal error %s: %s", code or error.type, error.message)
        else:
            logger.warning("OpenAI Realtime error %s: %s", code or error.type, error.message)
        return EngineError(message=error.message or error.type, fatal=fatal, code=code)

    async def _closed(self, ws: ClientConnection) -> EngineClosed:
        if self._fatal is not None:
            await ws.close()
            return EngineClosed(
                error=f"OpenAI Realtime ended the session: {self._fatal.message}",
                details={"error_code": self._fatal.code or self._fatal.type},
            )
        if self._closing:
            return EngineClosed()
        await ws.close()
        close = ws.close_code
        return EngineClosed(
            error=f"OpenAI Realtime connection closed unexpectedly (close code {close})",
            details={"close_code": close, "close_reason": ws.close_reason or ""},
        )


async def _wait_for_session_updated(ws: ClientConnection) -> None:
    """Read events until ``session.updated``; raise the matching error on an error event."""
    while True:
        raw = await ws.recv()
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        event = parse_server_event(data)
        if isinstance(event, SessionUpdated):
            return
        if isinstance(event, ErrorEvent):
            raise _setup_error(event.error)


def _setup_error(error: ErrorDetails) -> PatterError:
    code = error.code or ""
    detail = f"{error.message} ({code or error.type})"
    if code in _AUTH_ERROR_CODES or error.type in _FATAL_ERROR_TYPES:
        return AuthenticationError(f"OpenAI Realtime refused the API key: {detail}")
    if error.type == "invalid_request_error":
        return ConfigError(f"OpenAI Realtime refused the session configuration: {detail}")
    return PatterConnectionError(
        f"OpenAI Realtime failed to start the session: {detail}", code=ErrorCode.PROVIDER_ERROR
    )


def _usage(usage: dict[str, Any] | None) -> RealtimeUsage | None:
    if not usage:
        return None
    try:
        return RealtimeUsage.from_openai_usage(usage)
    except ValueError as exc:
        logger.warning("OpenAI Realtime sent unreadable usage, ignored: %s", exc)
        return None
