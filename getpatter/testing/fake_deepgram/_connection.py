"""One client connection of the fake Deepgram server: audio in, transcripts out."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from getpatter.testing._energy_vad import WINDOW_MS, EnergyVad, rms
from getpatter.testing.fake_deepgram._protocol import (
    SEGMENT_SILENCE_MS,
    Settings,
    request_id,
    results,
)
from getpatter.testing.fake_deepgram.records import FakeDeepgramSession
from getpatter.testing.scenario import Scenario

logger = logging.getLogger("getpatter.testing")

UNSCRIPTED_TEXT = "hello"
"""What the fake hears for an utterance the scenario does not script."""

_RMS_THRESHOLD = 500.0  # about -36 dBFS, as the fake Realtime server's default
_INTERIM_EVERY_MS = 200
_KEYTERM_LIMIT = 500  # tokens; the fake counts words
_IDLE_CLOSE_REASON = "NET-0001: no audio data or text message received within the timeout window"


@dataclass
class _Utterance:
    text: str
    start_ms: int
    interims: int = 0


class Connection:
    """Runs one client's stream: the energy VAD, the script, and the control messages."""

    def __init__(
        self,
        ws: ServerConnection,
        record: FakeDeepgramSession,
        settings: Settings,
        scenario: Scenario,
        idle_timeout: float,
    ) -> None:
        self.ws = ws
        self.record = record
        self.finished = asyncio.Event()
        self._settings = settings
        self._lines = scenario.caller_lines
        self._idle_timeout = idle_timeout
        self._model = record.query.get("model", "general")
        self._request_id = request_id()
        self._sha256 = hashlib.sha256()
        self._window_bytes = settings.bytes_per_second * WINDOW_MS // 1000
        self._pending = bytearray()
        self._position_ms = 0
        self._last_voiced_ms = 0
        self._vad = EnergyVad()
        self._utterance: _Utterance | None = None
        self._heard = 0
        self._awaiting_utterance_end = False

    async def run(self) -> None:
        """Serve the connection until the client closes it, it idles out, or it drops."""
        try:
            while await self._next():
                pass
        except ConnectionClosed:
            logger.debug("the Deepgram client closed the connection")
        finally:
            self.record.closed = True
            self.finished.set()

    async def fail(self, description: str, *, unparsed: str | None = None) -> None:
        """Send an ``Error`` message and close the connection, as Deepgram does on a fault.

        ``unparsed``: the client text message the server could not parse; the error is then a
        ``SchemaError`` carrying it as ``message``, as the listen API spec describes.
        """
        error: dict[str, Any] = {"type": "Error", "variant": "InternalError"}
        if unparsed is not None:
            error.update(variant="SchemaError", message=unparsed)
        error["description"] = description
        await self._send(error)
        await self.ws.close(1011, description[:100])

    async def _next(self) -> bool:
        """Handle one client message; False once the connection is over."""
        try:
            async with asyncio.timeout(self._idle_timeout):
                message = await self.ws.recv()
        except TimeoutError:
            self.record.timed_out = True
            await self.ws.close(1011, _IDLE_CLOSE_REASON)
            return False
        if isinstance(message, bytes):
            await self._on_audio(message)
            return True
        return await self._on_control(message)

    async def _send(self, message: dict[str, Any]) -> None:
        self.record.sent.append(message)
        await self.ws.send(json.dumps(message))

    async def _on_control(self, text: str) -> bool:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        self.record.controls.append(str(kind))
        if kind == "KeepAlive":
            return True
        if kind == "Finalize":
            await self._final(from_finalize=True)
            self._vad = EnergyVad()
            return True
        if kind == "Configure":
            return await self._configure(message, text)
        if kind == "CloseStream":
            if self._utterance is not None:
                await self._final()
            await self._send(self._metadata())
            await self.ws.close()
            return False
        await self.fail(f"Unknown control message type {kind!r}.", unparsed=text)
        return False

    async def _configure(self, message: dict[str, Any], text: str) -> bool:
        """Apply a mid-stream ``Configure``: answer ``ConfigureSuccess`` or ``ConfigureFailure``."""
        keyterms, features = message.get("keyterms"), message.get("features")
        if not (keyterms is None or _strings(keyterms)) or not (
            features is None or _flags(features)
        ):
            await self.fail(
                "Configure needs keyterms as a list of strings and features as booleans.",
                unparsed=text,
            )
            return False
        failure = None
        if keyterms is not None and not self._model.startswith("nova-3"):
            failure = ("CONFIGURE_KEYTERMS_NOT_SUPPORTED", "Only Nova-3 models take keyterms.")
        elif keyterms is not None and sum(len(term.split()) for term in keyterms) > _KEYTERM_LIMIT:
            failure = ("CONFIGURE_KEYTERM_LIMIT_EXCEEDED", "The keyterms exceed 500 tokens.")
        if failure is not None:
            code, description = failure
            await self._send(
                {
                    "type": "ConfigureFailure",
                    "request_id": self._request_id,
                    "code": code,
                    "description": description,
                }
            )
            return True
        reply: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": self._request_id}
        if keyterms is not None:
            self.record.keyterms = list(keyterms)
            reply["keyterms"] = self.record.keyterms
        self.record.features.update(features or {})
        await self._send(reply)
        return True

    # Caller audio

    async def _on_audio(self, audio: bytes) -> None:
        record = self.record
        record.audio_bytes += len(audio)
        record.audio_seconds = record.audio_bytes / self._settings.bytes_per_second
        self._sha256.update(audio)
        self._pending += audio
        size = self._window_bytes
        while len(self._pending) >= size:
            window = bytes(self._pending[:size])
            del self._pending[:size]
            await self._on_window(self._settings.to_pcm16(window))

    async def _on_window(self, pcm: bytes) -> None:
        start_ms = self._position_ms
        self._position_ms += WINDOW_MS
        voiced = rms(pcm) >= _RMS_THRESHOLD
        if voiced:
            self._last_voiced_ms = self._position_ms
        endpointing = self._settings.endpointing_ms
        silence_ms = SEGMENT_SILENCE_MS if endpointing is None else endpointing
        change = self._vad.feed(start_ms, voiced, silence_ms)
        if change == "started":
            await self._speech_started()
        elif change == "stopped":
            await self._final(speech_final=endpointing is not None)
        elif self._vad.speaking:
            await self._interim()
        await self._check_utterance_end()

    async def _speech_started(self) -> None:
        text = self._lines[self._heard] if self._heard < len(self._lines) else UNSCRIPTED_TEXT
        self._heard += 1
        self._utterance = _Utterance(text, self._vad.start_ms)
        self._awaiting_utterance_end = False
        if self._settings.vad_events:
            await self._send(
                {"type": "SpeechStarted", "channel": [0, 1], "timestamp": self._vad.start_ms / 1000}
            )

    async def _interim(self) -> None:
        utterance = self._utterance
        if not self._settings.interim_results or utterance is None:
            return
        words = utterance.text.split()
        due = (self._position_ms - utterance.start_ms) // _INTERIM_EVERY_MS
        if not words or utterance.interims >= due:
            return
        utterance.interims += 1
        prefix = " ".join(words[: min(utterance.interims, len(words))])
        await self._send(self._results(prefix, utterance.start_ms, is_final=False))

    async def _final(self, *, speech_final: bool = False, from_finalize: bool = False) -> None:
        """Send the current utterance's final result (an empty one when there is none)."""
        utterance, self._utterance = self._utterance, None
        text = utterance.text if utterance is not None else ""
        start_ms = utterance.start_ms if utterance is not None else self._position_ms
        message = self._results(
            text,
            start_ms,
            is_final=True,
            speech_final=speech_final,
            from_finalize=from_finalize,
        )
        await self._send(message)
        if utterance is not None:
            self.record.transcripts.append(text)
            self._awaiting_utterance_end = True

    async def _check_utterance_end(self) -> None:
        gap_ms = self._settings.utterance_end_ms
        if (
            gap_ms is None
            or not self._awaiting_utterance_end
            or self._position_ms - self._last_voiced_ms < gap_ms
        ):
            return
        self._awaiting_utterance_end = False
        await self._send(
            {
                "type": "UtteranceEnd",
                "channel": [0, 1],
                "last_word_end": self._last_voiced_ms / 1000,
            }
        )

    def _results(self, text: str, start_ms: int, **flags: bool) -> dict[str, Any]:
        return results(
            text,
            start_ms=start_ms,
            end_ms=self._position_ms,
            speech_end_ms=self._last_voiced_ms,
            model=self._model,
            request=self._request_id,
            **flags,
        )

    def _metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self._request_id,
            "sha256": self._sha256.hexdigest(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(),
            "duration": round(self.record.audio_seconds, 3),
            "channels": 1,
        }


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _flags(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, bool) for k, v in value.items()
    )
