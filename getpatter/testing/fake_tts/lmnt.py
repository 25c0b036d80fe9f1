"""A loopback fake of LMNT's streaming speech endpoint (``POST /v1/ai/speech/bytes``)."""

from __future__ import annotations

import struct

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from getpatter.testing.fake_tts._audio import bytes_per_ms, speech
from getpatter.testing.fake_tts._server import Drop, Fail, FakeTTSServer, Stall

__all__ = ["FakeLMNTServer"]

_RATES = (8000, 16000, 24000)
_FIELDS = ("text", "voice", "model", "format", "language")
_MULAW_TAG = 7  # WAVE_FORMAT_MULAW


def wav_header(sample_rate: int, data_bytes: int) -> bytes:
    """A RIFF/WAVE header for 8-bit G.711 μ-law mono audio of ``data_bytes``."""
    fmt = struct.pack("<HHIIHH", _MULAW_TAG, 1, sample_rate, sample_rate, 1, 8)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class FakeLMNTServer(FakeTTSServer):
    """A local LMNT speech API for offline tests (point ``LMNT_BASE_URL`` at it).

    Needs an ``X-API-Key`` header and a JSON body with ``text`` and ``voice``. ``format``:
    ``pcm_s16le`` (headerless PCM16 at ``sample_rate``, 8000/16000/24000, default 24000) or
    ``ulaw`` (μ-law at 8 kHz behind a WAV header, as LMNT sends it); others are refused.
    Records: ``voice``, ``model``, ``output_format`` the ``format``, ``language_code`` the
    ``language``, the other fields (``sample_rate``, ``temperature``, ``top_p``) in
    ``options``; ``options["lmnt-version"]`` is the version header. Faults: ``fail_next``,
    ``stall_next``, ``drop_next``.
    """

    _label = "FakeLMNTServer"

    @property
    def _root(self) -> str:
        return ""

    def _routes(self) -> list[BaseRoute]:
        return [Route("/v1/ai/speech/bytes", self._bytes, methods=["POST"])]

    def _error(self, status: int, message: str) -> JSONResponse:
        kind = "authentication_error" if status == 401 else "invalid_request_error"
        return JSONResponse({"message": message, "type": kind}, status_code=status)

    async def _bytes(self, request: Request) -> Response:
        fault = self._take_fault("http")
        if isinstance(fault, Fail):
            return self._error(fault.status, f"HTTP {fault.status} injected by fail_next")
        refusal = self._key_refusal(request.headers.get("x-api-key", ""))
        if refusal is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "The request body must be JSON")
        if not isinstance(body, dict):
            return self._error(400, "The request body must be a JSON object")
        for name in ("text", "voice"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                return self._error(400, f"{name} is required")
        wire = body.get("format", "mp3")
        rate = body.get("sample_rate", 8000 if wire == "ulaw" else 24000)
        if wire == "pcm_s16le" and rate in _RATES:
            key = f"pcm_{rate}"
        elif wire == "ulaw" and rate == 8000:
            key = "ulaw_8000"
        else:
            return self._error(400, f"The fake cannot produce format={wire!r} at {rate!r} Hz")
        options = {k: v for k, v in body.items() if k not in _FIELDS}
        options["lmnt-version"] = request.headers.get("lmnt-version")
        record = self._record(
            "http",
            request.url.path,
            voice=body["voice"],
            model=body.get("model"),
            output_format=wire,
            text=body["text"],
            language_code=body.get("language"),
            options=options,
        )
        audio = speech(key, self.scenario.speech_ms(body["text"].strip()))
        head = wav_header(8000, len(audio)) if wire == "ulaw" else b""
        return StreamingResponse(
            self._streamed(
                record,
                audio,
                bytes_per_ms(key),
                fault if isinstance(fault, Stall) else None,
                drop=fault if isinstance(fault, Drop) else None,
                head=head,
            ),
            media_type="application/octet-stream",
        )
