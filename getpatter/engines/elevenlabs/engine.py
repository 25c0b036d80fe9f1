"""One call's conversation with an ElevenLabs Conversational AI agent, over its WebSocket.

The agent runs on ElevenLabs: it hears the caller, decides when they interrupted it, and
speaks. Patter forwards the caller's audio, presses keys as text, runs the client tools the
agent calls, and turns the conversation's messages into engine events:

- ``audio`` becomes :class:`AgentAudio` of the agent's current turn. ConvAI marks no turn's end,
  so a turn ends at the next ``agent_response``, caller transcript, tool call or interruption,
  or once its audio has paused for :data:`TURN_QUIET_S` (ElevenLabs sends speech faster than
  real time, so a pause that long means the turn's audio is all here).
- ``interruption`` becomes :class:`AgentInterrupted`; audio with an ``event_id`` up to the
  interruption's is dropped, and ``agent_response_correction`` gives the turn's transcript as
  heard.
- A normal close by ElevenLabs (its agent ended the conversation) is
  ``EngineClosed(finished=True)``; any other close is an error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from getpatter._validation import require_int, require_number, require_str
from getpatter.audio.convert import AudioConverter
from getpatter.engines._websocket import WebSocketEngine
from getpatter.engines.base import (
    AgentAudio,
    AgentInterrupted,
    AgentTranscript,
    EngineClosed,
    EngineConfig,
    EngineError,
    EngineEvent,
    ResponseDone,
    SpeechStopped,
    ToolCallRequest,
    UserTranscript,
)
from getpatter.engines.elevenlabs import CONVAI_CAPABILITIES
from getpatter.engines.elevenlabs.endpoint import (
    conversation_url,
    fetch_signed_url,
    patter_format,
    refusal,
)
from getpatter.errors import ConfigError, ErrorCode, PatterConnectionError
from getpatter.providers.errors import websocket_open_error

__all__ = ["TURN_QUIET_S", "ConvAIEngine"]

logger = logging.getLogger("getpatter.engines.elevenlabs")

TURN_QUIET_S = 0.5
"""How long the agent's audio must pause before its turn counts as fully received."""

_CONNECT_TIMEOUT_S = 10.0
_MAX_MESSAGE_BYTES = 16 * 2**20
_NORMAL_CLOSE = 1000
_POLICY_VIOLATION = 1008
_QUOTED_FIELD = re.compile(r"'([\w.]+)'")

# What each override ElevenLabs may refuse is called in Patter, for the error message.
_OVERRIDE_SETTINGS = {
    "agent.first_message": "the first message (first_message=)",
    "agent.language": "the agent's language (language=)",
    "agent.prompt.prompt": "the system prompt (system_prompt=)",
    "tts.voice_id": "the voice (ElevenLabsConvAI(voice=...))",
}

_AUDIO_HEAD = '{"user_audio_chunk":"'
_AUDIO_TAIL = '"}'


@dataclass
class _Turn:
    """The agent turn being received."""

    item_id: str
    text: str = ""
    has_audio: bool = False
    interrupted: bool = False
    dropped: bool = False
    """Patter stopped it (:meth:`ConvAIEngine.interrupt`): its remaining audio is not played."""
    generated_chars: int | None = None
    """Set by a correction: the length of the text the agent had generated before it."""


class ConvAIEngine(WebSocketEngine):
    """One call's ElevenLabs conversation; implements :class:`~getpatter.engines.base.Engine`.

    Create one per call (``ElevenLabsConvAI(...).create_engine()``), :meth:`connect`, iterate
    :meth:`events` in one task while other tasks send audio and commands.
    """

    capabilities = CONVAI_CAPABILITIES
    _provider = "ElevenLabs"
    _log = logger

    def __init__(
        self,
        *,
        agent_id: str,
        base_url: str,
        api_key: str = "",
        voice: str = "",
        connect_timeout: float = _CONNECT_TIMEOUT_S,
        turn_quiet: float = TURN_QUIET_S,
    ) -> None:
        self._agent_id = require_str("ConvAIEngine agent_id", agent_id, allow_empty=False)
        self._base_url = require_str("ConvAIEngine base_url", base_url, allow_empty=False)
        self._api_key = require_str("ConvAIEngine api_key", api_key)
        self._voice = require_str("ConvAIEngine voice", voice)
        self._timeout = require_number("connect_timeout", connect_timeout, minimum=0.001)
        self._quiet = require_number("turn_quiet", turn_quiet, minimum=0.001)
        super().__init__()
        self._to_agent: AudioConverter | None = None
        self._from_agent: AudioConverter | None = None
        self._tool_names: frozenset[str] = frozenset()
        self._turns = 0
        self._turn: _Turn | None = None
        self._last_item = ""
        self._dropped_through = 0
        self.conversation_id = ""
        """ElevenLabs' id of the conversation, once connected (to find it in their logs)."""

    # ----------------------------------------------------------------- connecting

    async def connect(self, config: EngineConfig) -> None:
        """Start the conversation with the per-call overrides; wait until ElevenLabs confirms.

        Raises :class:`ConfigError` for an unknown agent, an override the agent does not allow
        or an audio format Patter cannot carry, :class:`AuthenticationError` when the key is
        refused or a private agent is reached without one, :class:`PatterConnectionError` on
        any other failure or after 10 s without an answer.
        """
        if self._ws is not None:
            raise RuntimeError("ConvAIEngine serves one call: create a new engine per call")
        url = await self._url()
        ws = await self._open(url)
        try:
            async with asyncio.timeout(self._timeout):
                await ws.send(json.dumps(client_data(config, self._voice)))
                metadata = await self._wait_for_metadata(ws)
        except TimeoutError:
            await ws.close()
            raise PatterConnectionError(
                f"ElevenLabs did not start the conversation within {self._timeout:g} s",
                code=ErrorCode.TIMEOUT,
            ) from None
        except ConnectionClosed as exc:
            raise self._closed_at_start(exc) from None
        except BaseException:
            await ws.close()
            raise
        self._formats(config, metadata)
        self._tool_names = frozenset(str(tool.get("name", "")) for tool in config.tools)
        self.conversation_id = str(metadata.get("conversation_id", ""))
        self._ws = ws
        if self._closing:  # close() was called while connecting.
            await ws.close()

    async def _url(self) -> str:
        if not self._api_key:
            return conversation_url(self._base_url, self._agent_id)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            return await fetch_signed_url(client, self._base_url, self._api_key, self._agent_id)

    async def _open(self, url: str) -> ClientConnection:
        shown = url.split("?", 1)[0]  # a signed URL's query is a credential: never shown
        try:
            return await connect(
                url, open_timeout=self._timeout, max_size=_MAX_MESSAGE_BYTES, compression=None
            )
        except InvalidStatus as exc:
            response = exc.response
            raise refusal(
                response.status_code, bytes(response.body or b""), self._agent_id, "conversation"
            ) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise websocket_open_error(
                "ElevenLabs", exc, url=shown, timeout=self._timeout
            ) from None

    async def _wait_for_metadata(self, ws: ClientConnection) -> dict[str, Any]:
        """Read messages until ``conversation_initiation_metadata``, answering pings."""
        while True:
            data = _parse(await ws.recv())
            kind = data.get("type")
            if kind == "conversation_initiation_metadata":
                event = data.get("conversation_initiation_metadata_event")
                return event if isinstance(event, dict) else {}
            if kind == "ping":
                await self._pong(ws, data)

    def _closed_at_start(self, exc: ConnectionClosed) -> Exception:
        close = exc.rcvd
        code, reason = (close.code, close.reason) if close is not None else (None, "")
        if code == _POLICY_VIOLATION:
            return _override_refused(self._agent_id, reason)
        return PatterConnectionError(
            f"ElevenLabs closed the conversation before starting it (close code {code}"
            + (f": {reason})" if reason else ")")
        )

    def _formats(self, config: EngineConfig, metadata: dict[str, Any]) -> None:
        """Convert only where the agent's formats differ from the call's."""
        line = config.audio_format
        heard = patter_format(metadata.get("user_input_audio_format"), "user input audio format")
        spoken = patter_format(
            metadata.get("agent_output_audio_format"), "agent output audio format"
        )
        if heard != line:
            self._to_agent = AudioConverter(line, heard)
        if spoken != line:
            self._from_agent = AudioConverter(spoken, line)
        if heard != line or spoken != line:
            logger.warning(
                "the ElevenLabs agent takes %s and speaks %s while the call carries %s: Patter "
                "converts; set the agent to the call's format, or ElevenLabsConvAI(audio_format"
                "=...) to the agent's, to avoid it",
                heard,
                spoken,
                line,
            )

    # ----------------------------------------------------------------- commands

    async def send_audio(self, audio: bytes) -> None:
        """Forward caller audio (in the call's format; converted if the agent takes another)."""
        ws = self._connection()
        if self._to_agent is not None:
            audio = self._to_agent.convert(audio)
        if not audio:
            return
        try:
            await ws.send(_AUDIO_HEAD + base64.b64encode(audio).decode("ascii") + _AUDIO_TAIL)
        except ConnectionClosed:
            logger.debug("caller audio dropped: the ElevenLabs connection is closed")

    async def send_user_text(self, text: str) -> None:
        """Add caller text (such as ``[DTMF: 5]``) as a ``user_message``; the agent answers."""
        require_str("text", text)
        await self._send({"type": "user_message", "text": text})

    async def say(self, text: str) -> None:
        """Refused: a ConvAI agent speaks its own words (``capabilities.speaks_verbatim``)."""
        raise ConfigError(
            "an ElevenLabs ConvAI agent cannot be made to say a text verbatim: give it context "
            "with instruct(), or use OpenAIRealtime or a pipeline"
        )

    async def instruct(self, instruction: str) -> None:
        """Give the agent new context (a ``contextual_update``); it applies from its next reply."""
        require_str("instruction", instruction, allow_empty=False)
        await self._send({"type": "contextual_update", "text": instruction})

    async def interrupt(self, item_id: str, played_ms: int) -> None:
        """Stop playing the agent's current turn: its remaining audio is dropped.

        ConvAI has no message to cancel a reply, and it corrects its transcript itself, so
        ``played_ms`` is not sent anywhere.
        """
        require_str("item_id", item_id)
        require_int("played_ms", played_ms, minimum=0)
        turn = self._turn
        if turn is not None and (not item_id or item_id == turn.item_id):
            turn.dropped = True

    async def send_tool_result(self, call_id: str, output: str) -> None:
        """Return a client tool's output; an ``{"error": ...}`` output is sent as an error."""
        require_str("call_id", call_id, allow_empty=False)
        require_str("output", output)
        await self._send(
            {
                "type": "client_tool_result",
                "tool_call_id": call_id,
                "result": output,
                "is_error": _is_error(output),
            }
        )

    # ----------------------------------------------------------------- events

    async def _stream(self, ws: ClientConnection) -> AsyncIterator[EngineEvent]:
        while True:
            try:
                if self._turn is None:
                    raw = await ws.recv()
                else:
                    async with asyncio.timeout(self._quiet):
                        raw = await ws.recv()
            except TimeoutError:
                for event in self._end_turn():
                    yield event
                continue
            except ConnectionClosed:
                break
            for event in await self._on_message(ws, _parse(raw)):
                yield event
        for event in self._end_turn():
            yield event
        yield self._closed(ws)

    async def _on_message(self, ws: ClientConnection, data: dict[str, Any]) -> list[EngineEvent]:
        kind = data.get("type")
        if kind == "audio":
            return self._agent_audio(data.get("audio_event"))
        if kind == "agent_response":
            return self._agent_response(_field(data, "agent_response_event", "agent_response"))
        if kind == "interruption":
            return self._interruption(data.get("interruption_event"))
        if kind == "agent_response_correction":
            corrected = _field(data, "agent_response_correction_event", "corrected_agent_response")
            return self._correction(corrected)
        if kind == "user_transcript":
            text = _field(data, "user_transcription_event", "user_transcript")
            events = self._end_turn()
            if text.strip():
                events += [SpeechStopped(), UserTranscript(text=text)]
            return events
        if kind == "client_tool_call":
            return [*self._end_turn(), *await self._tool_call(data.get("client_tool_call"))]
        if kind == "ping":
            await self._pong(ws, data)
        return []

    def _agent_audio(self, event: object) -> list[EngineEvent]:
        if not isinstance(event, dict):
            return []
        event_id = event.get("event_id")
        if isinstance(event_id, int) and event_id <= self._dropped_through:
            return []  # spoken before an interruption: not to be played
        try:
            audio = base64.b64decode(str(event.get("audio_base_64", "")), validate=True)
        except binascii.Error:
            logger.warning("ElevenLabs sent agent audio that is not base64: skipped")
            return []
        events: list[EngineEvent] = []
        turn = self._turn
        if turn is not None and turn.interrupted:
            events = self._end_turn()  # audio after the interruption: the agent's next turn
            turn = None
        if turn is None:
            turn = self._start_turn()
        if turn.dropped:
            return events
        if self._from_agent is not None:
            audio = self._from_agent.convert(audio)
        if audio:
            turn.has_audio = True
            events.append(AgentAudio(item_id=turn.item_id, audio=audio))
        return events

    def _agent_response(self, text: str) -> list[EngineEvent]:
        turn = self._turn
        if turn is not None and not turn.text and not turn.interrupted:
            turn.text = text  # the text of the turn whose audio began first
            return []
        events = self._end_turn()
        self._start_turn().text = text
        return events

    def _interruption(self, event: object) -> list[EngineEvent]:
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if isinstance(event_id, int):
            self._dropped_through = max(self._dropped_through, event_id)
        turn = self._turn
        if turn is not None:
            turn.interrupted = True  # its transcript waits for the correction
        return [AgentInterrupted(item_id=turn.item_id if turn is not None else self._last_item)]

    def _correction(self, corrected: str) -> list[EngineEvent]:
        turn = self._turn
        if turn is None or not turn.interrupted:
            logger.debug("ElevenLabs corrected a turn already reported: kept as first reported")
            return []
        turn.generated_chars, turn.text = len(turn.text), corrected
        return self._end_turn()

    async def _tool_call(self, call: object) -> list[EngineEvent]:
        if not isinstance(call, dict):
            return []
        name, call_id = str(call.get("tool_name", "")), str(call.get("tool_call_id", ""))
        parameters = call.get("parameters")
        if name in self._tool_names and call_id:
            arguments = json.dumps(parameters if isinstance(parameters, dict) else {})
            return [ToolCallRequest(call_id=call_id, name=name, arguments=arguments)]
        message = (
            f"the ElevenLabs agent called the client tool {name!r}, which this Patter agent "
            "does not have: add it to tools= (or remove it from the agent on ElevenLabs)"
        )
        logger.error("%s", message)
        if call_id:
            await self._send(
                {
                    "type": "client_tool_result",
                    "tool_call_id": call_id,
                    "result": json.dumps({"error": f"there is no tool named {name!r}"}),
                    "is_error": True,
                }
            )
        return [EngineError(message=message, code="unknown_tool")]

    def _start_turn(self) -> _Turn:
        self._turns += 1
        turn = self._turn = _Turn(item_id=f"convai-{self._turns}")
        self._last_item = turn.item_id
        return turn

    def _end_turn(self) -> list[EngineEvent]:
        """Report the open turn, if any: its transcript, then the end of the response."""
        turn, self._turn = self._turn, None
        if turn is None:
            return []
        events: list[EngineEvent] = []
        if turn.text:
            events.append(
                AgentTranscript(
                    item_id=turn.item_id, text=turn.text, generated_chars=turn.generated_chars
                )
            )
        if turn.has_audio or turn.text:
            status = "cancelled" if turn.interrupted or turn.dropped else "completed"
            events.append(ResponseDone(status=status))
        return events

    def _closed(self, ws: ClientConnection) -> EngineClosed:
        if self._closing:
            return EngineClosed()
        code, reason = ws.close_code, ws.close_reason or ""
        if code == _NORMAL_CLOSE:
            logger.info("ElevenLabs ended conversation %s", self.conversation_id)
            return EngineClosed(finished=True)
        return EngineClosed(
            error=f"the ElevenLabs conversation closed unexpectedly (close code {code})",
            details={"close_code": code, "close_reason": reason},
        )

    # ----------------------------------------------------------------- plumbing

    async def _pong(self, ws: ClientConnection, ping: dict[str, Any]) -> None:
        event = ping.get("ping_event")
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if event_id is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "pong", "event_id": event_id}))


def client_data(config: EngineConfig, voice: str) -> dict[str, Any]:
    """The ``conversation_initiation_client_data`` of a call: only what the user set.

    Each override must be allowed on the ElevenLabs agent, so none is sent that the user did
    not ask for: the first message when there is one, the language when it is not the default
    ``en``, the system prompt when the user gave one, the voice when set.
    """
    agent: dict[str, Any] = {}
    if config.greeting:
        agent["first_message"] = config.greeting
    if config.language and config.language != "en":
        agent["language"] = config.language
    if config.has_system_prompt:
        agent["prompt"] = {"prompt": config.instructions}
    override: dict[str, Any] = {}
    if agent:
        override["agent"] = agent
    if voice:
        override["tts"] = {"voice_id": voice}
    data: dict[str, Any] = {"type": "conversation_initiation_client_data"}
    if override:
        data["conversation_config_override"] = override
    if config.variables:
        data["dynamic_variables"] = dict(config.variables)
    return data


def _override_refused(agent_id: str, reason: str) -> ConfigError:
    match = _QUOTED_FIELD.search(reason)
    field = match.group(1) if match else ""
    setting = _OVERRIDE_SETTINGS.get(field)
    if setting is None:
        return ConfigError(
            f"ElevenLabs refused the conversation settings of agent {agent_id!r}: "
            f"{reason or 'policy violation'}. Allow the overrides Patter sends in the agent's "
            "Security settings on ElevenLabs"
        )
    return ConfigError(
        f"the ElevenLabs agent {agent_id!r} does not allow overriding {field}, "
        f"{setting}: enable that override in the agent's Security settings on ElevenLabs"
        " (or, where the setting is yours to drop, drop it)"
    )


def _is_error(output: str) -> bool:
    """True for a tool output Patter reports as an error: ``{"error": "..."}``."""
    try:
        parsed = json.loads(output)
    except ValueError:
        return False
    return isinstance(parsed, dict) and list(parsed) == ["error"]


def _field(data: dict[str, Any], key: str, name: str) -> str:
    event = data.get(key)
    value = event.get(name) if isinstance(event, dict) else None
    return value if isinstance(value, str) else ""


def _parse(message: str | bytes) -> dict[str, Any]:
    """A server message as a dict; anything else becomes an empty (ignored) message."""
    try:
        parsed = json.loads(message)
    except ValueError:
        logger.warning("ElevenLabs sent a message that is not JSON: skipped")
        return {}
    if not isinstance(parsed, dict):
        logger.warning("ElevenLabs sent a JSON message that is not an object: skipped")
        return {}
    return parsed
