"""A loopback fake of the ElevenLabs text-to-speech API: HTTP streaming and stream-input."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from getpatter._validation import require_int, require_str
from getpatter.testing.fake_tts._audio import SUPPORTED_FORMATS, bytes_per_ms, speech
from getpatter.testing.fake_tts._server import (
    ErrorFrame,
    Fail,
    FakeTTSServer,
    HugeFrame,
    Stall,
    status_phrase,
)
from getpatter.testing.fake_tts._stream_input import StreamInputSession

__all__ = ["FakeElevenLabsServer"]

_HTTP_FIELDS = ("text", "model_id", "voice_settings", "language_code")


class FakeElevenLabsServer(FakeTTSServer):
    """A local ElevenLabs TTS API for offline tests (point ``ELEVENLABS_BASE_URL`` at it).

    Serves ``POST /v1/text-to-speech/{voice_id}/stream?output_format=...`` (raw audio as it is
    "synthesised") and the ``/v1/text-to-speech/{voice_id}/stream-input`` WebSocket (opening
    ``{"text": " "}`` message, text messages, ``flush``, ``{"text": ""}`` to end; answers
    ``{"audio": <base64>, "normalizedAlignment": null, "alignment": null}`` frames, a final
    ``{"isFinal": true}``, then a normal close). Both need an ``xi-api-key`` header. Output
    formats: ``pcm_8000``, ``pcm_16000``, ``pcm_24000``, ``pcm_48000``, ``ulaw_8000``,
    ``alaw_8000``. Errors are ``{"detail": {"status": ..., "message": ...}}`` (a refused key:
    status ``invalid_api_key``), and 422s the API's validation error
    (``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``).

    Besides ``fail_next`` and ``stall_next``, :meth:`error_next` and :meth:`huge_frame_next`
    script the next socket's failures.
    """

    _label = "FakeElevenLabsServer"
    _websockets = True

    def error_next(self, message: str = "Internal error", *, error: str = "internal_error") -> None:
        """Answer the next stream-input socket's opening message with an error frame
        (``{"message": ..., "error": ..., "code": 1008}``), then close it."""
        require_str("error_next message", message, allow_empty=False)
        require_str("error_next error", error, allow_empty=False)
        self._faults.append(ErrorFrame(message, error))

    def huge_frame_next(self, size: int = 600 * 1024) -> None:
        """Send the next stream-input socket one audio frame of ``size`` bytes before its audio."""
        require_int("huge_frame_next size", size, minimum=1, maximum=900 * 1024)
        self._faults.append(HugeFrame(size))

    @property
    def _root(self) -> str:
        return ""

    def _routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/text-to-speech/{voice_id}/stream", self._stream, methods=["POST"]),
            WebSocketRoute("/v1/text-to-speech/{voice_id}/stream-input", self._stream_input),
        ]

    def _error(self, status: int, message: str) -> JSONResponse:
        if status == 422:
            return _validation_error(("body",), message)
        detail = {"status": status_phrase(status), "message": message}
        return JSONResponse({"detail": detail}, status_code=status)

    def _key_refusal(self, key: str) -> JSONResponse | None:
        if not key or (self._api_key is not None and key != self._api_key):
            detail = {"status": "invalid_api_key", "message": "Invalid API key"}
            return JSONResponse({"detail": detail}, status_code=401)
        return None

    async def _stream(self, request: Request) -> Response:
        fault = self._take_fault("http")
        if isinstance(fault, Fail):
            return self._error(fault.status, f"HTTP {fault.status} injected by fail_next")
        refusal = self._key_refusal(request.headers.get("xi-api-key", ""))
        if refusal is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "The request body must be JSON")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "The text to speak must not be empty")
        output_format = request.query_params.get("output_format", "mp3_44100_128")
        if output_format not in SUPPORTED_FORMATS:
            message = f"The fake cannot produce output_format={output_format}"
            return _validation_error(("query", "output_format"), message)
        record = self._record(
            "http",
            request.url.path,
            voice=request.path_params["voice_id"],
            model=body.get("model_id"),
            output_format=output_format,
            text=text,
            voice_settings=body.get("voice_settings"),
            language_code=body.get("language_code"),
            options={k: v for k, v in body.items() if k not in _HTTP_FIELDS},
        )
        audio = speech(output_format, self.scenario.speech_ms(text.strip()))
        stall = fault if isinstance(fault, Stall) else None
        return StreamingResponse(
            self._streamed(record, audio, bytes_per_ms(output_format), stall),
            media_type="application/octet-stream",
        )

    async def _stream_input(self, websocket: WebSocket) -> None:
        fault = self._take_fault("websocket")
        if isinstance(fault, Fail):
            message = f"HTTP {fault.status} injected by fail_next"
            await websocket.send_denial_response(self._error(fault.status, message))
            return
        refusal = self._key_refusal(websocket.headers.get("xi-api-key", ""))
        if refusal is not None:
            await websocket.send_denial_response(refusal)
            return
        query = dict(websocket.query_params)
        output_format = query.pop("output_format", "mp3_44100_128")
        if output_format not in SUPPORTED_FORMATS:
            message = f"The fake cannot produce output_format={output_format}"
            refusal = _validation_error(("query", "output_format"), message)
            await websocket.send_denial_response(refusal)
            return
        options: dict[str, Any] = dict(query)
        model = options.pop("model_id", None)
        record = self._record(
            "websocket",
            websocket.url.path,
            voice=websocket.path_params["voice_id"],
            model=model,
            output_format=output_format,
            language_code=options.pop("language_code", None),
            options=options,
        )
        await websocket.accept()
        session = StreamInputSession(websocket, record, self, fault)
        await session.run()


def _validation_error(loc: tuple[str, ...], message: str) -> JSONResponse:
    """A 422 shaped as the API's ``HTTPValidationError`` (a list of failed fields)."""
    detail = [{"loc": list(loc), "msg": message, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)
