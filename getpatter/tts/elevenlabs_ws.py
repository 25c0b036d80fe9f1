"""ElevenLabs text-to-speech over the ``stream-input`` WebSocket (``ElevenLabsWebSocketTTS``).

Each :meth:`TTS.synthesize` opens its own socket on
``/v1/text-to-speech/{voice_id}/stream-input``, sends the opening message (a single space plus
the voice settings), the text with ``flush``, and the end-of-input message (``{"text": ""}``),
then reads ``{"audio": <base64>, "isFinal": ...}`` frames until ``isFinal`` or the server
closes. The socket is always closed when the iteration ends, however it ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import CloseCode
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from getpatter._validation import require_bool, require_int, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, ErrorCode, PatterError
from getpatter.providers.errors import websocket_open_error
from getpatter.tts._elevenlabs import (
    WIRE_FORMATS,
    TelephonyPresets,
    error_detail,
    require_language_code,
    require_output_format,
    require_voice_settings,
    resolve_api_key,
    resolve_base_url,
    wire_format,
)
from getpatter.tts._samples import SampleAligner
from getpatter.tts._timeouts import require_seconds
from getpatter.tts.base import TTSCapabilities

__all__ = ["TTS", "ElevenLabsTTSError", "ElevenLabsWebSocketTTS"]


_OWNER = "ElevenLabsWebSocketTTS"
MAX_AUDIO_FRAME_BYTES = 512 * 1024
"""The largest audio frame accepted (raw bytes, or base64-decoded): larger is refused (TTS-6)."""
# Room for a maximal audio frame in base64 inside its JSON; websockets refuses bigger frames.
_MAX_MESSAGE_BYTES = 1024 * 1024
_CLOSE_TIMEOUT = 2.0
_MAX_INACTIVITY_S = 180
_SCHEDULE_RANGE = (5, 500)


class ElevenLabsTTSError(PatterError):
    """The ElevenLabs stream-input socket failed mid-sentence: an ``error`` frame from the
    server, no frame within ``frame_timeout`` (``code == ErrorCode.TIMEOUT``), an audio frame
    over 512 KB, or an unexpected close."""

    default_code = ErrorCode.PROVIDER_ERROR


class TTS(TelephonyPresets):
    """ElevenLabs text-to-speech over WebSocket (flat name ``ElevenLabsWebSocketTTS``; TTS-4..6).

    Options as :class:`getpatter.tts.elevenlabs.TTS` (``api_key`` / ``ELEVENLABS_API_KEY``,
    ``base_url`` / ``ELEVENLABS_BASE_URL`` with ``https`` mapped to ``wss``, ``voice_id``,
    ``model_id``, ``output_format``, ``voice_settings``, ``language_code``), plus:

    - ``auto_mode``: let ElevenLabs choose when to generate (lowest latency for whole sentences);
    - ``inactivity_timeout``: seconds (1-180) the server keeps an idle socket open;
    - ``chunk_length_schedule``: characters buffered before each generation (values 5-500);
      it needs ``auto_mode=False`` (refused otherwise);
    - ``open_timeout``: seconds to open the socket; ``frame_timeout``: longest wait for the next
      frame before :class:`ElevenLabsTTSError`.

    ``eleven_v3`` models cannot stream input and are refused here: use the HTTP ``ElevenLabsTTS``.
    """

    name: str = "elevenlabs"
    capabilities = TTSCapabilities(output_formats=WIRE_FORMATS.formats)

    def __init__(
        self,
        api_key: str | None = None,
        *,
        voice_id: str = "21m00Tcm4TlvDq8ikWAM",
        model_id: str = "eleven_flash_v2_5",
        output_format: str = "pcm_16000",
        voice_settings: Mapping[str, Any] | None = None,
        language_code: str | None = None,
        auto_mode: bool = True,
        inactivity_timeout: int = 60,
        chunk_length_schedule: Sequence[int] | None = None,
        open_timeout: float = 5.0,
        frame_timeout: float = 30.0,
        base_url: str | None = None,
    ) -> None:
        self._api_key = resolve_api_key(api_key, _OWNER)
        self.voice: str = require_str(f"{_OWNER} voice_id", voice_id, allow_empty=False)
        self.model_id: str = _require_model(model_id)
        self.output_format: str = require_output_format(_OWNER, output_format)
        self.voice_settings = require_voice_settings(_OWNER, voice_settings)
        self.language_code = require_language_code(_OWNER, language_code)
        self.auto_mode: bool = require_bool(f"{_OWNER} auto_mode", auto_mode)
        self.inactivity_timeout: int = require_int(
            f"{_OWNER} inactivity_timeout", inactivity_timeout, minimum=1, maximum=_MAX_INACTIVITY_S
        )
        self.chunk_length_schedule = _require_schedule(chunk_length_schedule)
        if self.chunk_length_schedule is not None and self.auto_mode:
            raise ConfigError(
                f"{_OWNER} chunk_length_schedule has no effect while auto_mode=True (ElevenLabs "
                "then chooses when to generate): pass auto_mode=False with it, or drop it"
            )
        self._open_timeout = require_seconds(f"{_OWNER} open_timeout", open_timeout)
        self._frame_timeout = require_seconds(f"{_OWNER} frame_timeout", frame_timeout)
        http_url = resolve_base_url(base_url, _OWNER, ("https", "http", "wss", "ws"))
        self.base_url: str = "ws" + http_url.removeprefix("http")
        # The environment's proxy for base_url, looked up at the first socket (websockets'
        # default reads os.environ again on every connect: ~0.2 ms of each sentence).
        self._proxy: str | None = None
        self._proxy_known = False

    async def synthesize(
        self, text: str, *, audio_format: AudioFormat | None = None
    ) -> AsyncIterator[bytes]:
        """Speak ``text`` on a fresh socket, yielding audio bytes as frames arrive.

        ``audio_format`` (one of ``capabilities.output_formats``) overrides the constructor's
        ``output_format``. Blank text yields nothing. Leaving the loop early closes the socket.
        """
        require_str("text", text)
        wire = wire_format(_OWNER, audio_format, self.output_format)
        if not text.strip():
            return
        ws = await self._open(wire)
        aligner = SampleAligner() if wire.startswith("pcm_") else None
        ended_input = False
        try:
            await self._send(ws, self._opening_message())
            await self._send(
                ws, {"text": text if text.endswith(" ") else text + " ", "flush": True}
            )
            await self._send(ws, {"text": ""})
            ended_input = True
            while True:
                audio, final = await self._next_frame(ws)
                if aligner is not None:
                    audio = aligner.align(audio)
                if audio:
                    yield audio
                if final:
                    return
        finally:
            if not ended_input:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_TIMEOUT):
                        await ws.send(json.dumps({"text": ""}))
            await ws.close()

    async def close(self) -> None:
        """Nothing to release: every socket closes with its own :meth:`synthesize`."""

    def _opening_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"text": " "}
        if self.voice_settings is not None:
            message["voice_settings"] = self.voice_settings
        if self.chunk_length_schedule is not None:
            message["generation_config"] = {"chunk_length_schedule": self.chunk_length_schedule}
        return message

    async def _open(self, wire: str) -> ClientConnection:
        query: dict[str, str] = {
            "model_id": self.model_id,
            "output_format": wire,
            "auto_mode": "true" if self.auto_mode else "false",
            "inactivity_timeout": str(self.inactivity_timeout),
        }
        if self.language_code is not None:
            query["language_code"] = self.language_code
        path = f"/v1/text-to-speech/{quote(self.voice, safe='')}/stream-input"
        url = f"{self.base_url}{path}?{urlencode(query)}"
        try:
            if not self._proxy_known:
                self._proxy, self._proxy_known = get_proxy(parse_uri(url)), True
            return await connect(
                url,
                additional_headers={"xi-api-key": self._api_key},
                proxy=self._proxy,
                open_timeout=self._open_timeout,
                close_timeout=_CLOSE_TIMEOUT,
                max_size=_MAX_MESSAGE_BYTES,
                compression=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            detail = ""
            if isinstance(exc, InvalidStatus):
                detail = error_detail(bytes(exc.response.body or b""))
            raise websocket_open_error(
                "ElevenLabs",
                exc,
                url=f"{self.base_url} ({_OWNER} open_timeout)"
                if isinstance(exc, TimeoutError)
                else self.base_url,
                timeout=self._open_timeout,
                api_key=self._api_key,
                key_hint=f"{_OWNER}(api_key=...) or ELEVENLABS_API_KEY",
                detail=detail,
            ) from None

    async def _send(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise _closed_error(exc) from None

    async def _next_frame(self, ws: ClientConnection) -> tuple[bytes, bool]:
        """The audio of the next frame and whether it is the last; a normal close is the last."""
        try:
            async with asyncio.timeout(self._frame_timeout):
                frame = await ws.recv()
        except TimeoutError:
            raise ElevenLabsTTSError(
                f"ElevenLabs TTS stalled: no frame for {self._frame_timeout:g} s "
                f"({_OWNER} frame_timeout)",
                code=ErrorCode.TIMEOUT,
            ) from None
        except ConnectionClosedOK:
            return b"", True
        except ConnectionClosed as exc:
            raise _closed_error(exc) from None
        if isinstance(frame, bytes):
            _check_size(len(frame))
            return frame, False
        return _parse_message(frame)


ElevenLabsWebSocketTTS = TTS


def _parse_message(frame: str) -> tuple[bytes, bool]:
    try:
        message = json.loads(frame)
    except ValueError:
        raise ElevenLabsTTSError(
            f"ElevenLabs sent a frame that is not JSON: {frame[:80]!r}"
        ) from None
    if not isinstance(message, dict):
        raise ElevenLabsTTSError(f"ElevenLabs sent an unexpected frame: {frame[:80]!r}")
    if message.get("error"):
        detail = message.get("message") or message["error"]
        raise ElevenLabsTTSError(f"ElevenLabs TTS error ({message['error']}): {detail}")
    encoded = message.get("audio")
    audio = b""
    if isinstance(encoded, str) and encoded:
        # Decoded size is 3/4 of the encoded one: refuse before allocating it.
        _check_size(len(encoded) * 3 // 4)
        try:
            audio = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ElevenLabsTTSError("ElevenLabs sent audio that is not valid base64") from None
    return audio, bool(message.get("isFinal"))


def _check_size(size: int) -> None:
    if size > MAX_AUDIO_FRAME_BYTES:
        raise ElevenLabsTTSError(
            f"ElevenLabs sent an audio frame of {size} bytes, over the "
            f"{MAX_AUDIO_FRAME_BYTES // 1024} KB limit"
        )


def _closed_error(exc: ConnectionClosed) -> ElevenLabsTTSError:
    if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
        return ElevenLabsTTSError(
            f"ElevenLabs sent a frame over {_MAX_MESSAGE_BYTES // 1024} KB; the socket was closed"
        )
    close = exc.rcvd
    reason = f"code {close.code}: {close.reason}" if close is not None else "no close frame"
    return ElevenLabsTTSError(f"ElevenLabs closed the TTS socket mid-sentence ({reason})")


def _require_model(model_id: object) -> str:
    model = require_str(f"{_OWNER} model_id", model_id, allow_empty=False)
    if model.startswith("eleven_v3"):
        raise ConfigError(
            f"{_OWNER} model_id={model!r}: eleven_v3 models do not support the stream-input "
            "WebSocket; use ElevenLabsTTS (HTTP streaming) or a model such as 'eleven_flash_v2_5'"
        )
    return model


def _require_schedule(schedule: object) -> list[int] | None:
    if schedule is None:
        return None
    param = f"{_OWNER} chunk_length_schedule"
    if isinstance(schedule, str | bytes) or not isinstance(schedule, Sequence) or not schedule:
        raise ConfigError(f"{param} must be a non-empty list of ints, e.g. [120, 160, 250]")
    low, high = _SCHEDULE_RANGE
    return [
        require_int(f"{param}[{i}]", v, minimum=low, maximum=high) for i, v in enumerate(schedule)
    ]
