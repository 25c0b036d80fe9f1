"""A loopback fake of Rime's streaming HTTP endpoint (``POST /v1/rime-tts``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from getpatter.testing.fake_tts._audio import bytes_per_ms, speech
from getpatter.testing.fake_tts._server import Drop, Fail, FakeTTSServer, Stall

__all__ = ["FakeRimeServer"]

_PCM = ("audio/pcm", "audio/l16")
_MULAW = ("audio/x-mulaw", "audio/pcmu")
_PCM_RATES = (8000, 16000, 24000)
_FIELDS = ("text", "speaker", "modelId", "lang")


class FakeRimeServer(FakeTTSServer):
    """A local Rime TTS API for offline tests (point ``RIME_BASE_URL`` at it).

    Needs ``Authorization: Bearer <key>``, a JSON body with ``text``, ``speaker`` and
    ``modelId``, and an ``Accept`` of ``audio/pcm`` (or ``audio/L16``: headerless PCM16 at
    ``samplingRate``, 8000/16000/24000, default 16000) or ``audio/x-mulaw`` (or ``audio/PCMU``:
    headerless μ-law, 8 kHz only). Records: ``voice`` the speaker, ``model`` the ``modelId``,
    ``output_format`` the ``Accept`` value, ``language_code`` the ``lang``, every other body
    field (``samplingRate``, ``speedAlpha``, ``temperature``...) in ``options``.
    Faults: ``fail_next``, ``stall_next``, ``drop_next``.
    """

    _label = "FakeRimeServer"

    @property
    def _root(self) -> str:
        return ""

    def _routes(self) -> list[BaseRoute]:
        return [Route("/v1/rime-tts", self._tts, methods=["POST"])]

    def _error(self, status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status)

    async def _tts(self, request: Request) -> Response:
        fault = self._take_fault("http")
        if isinstance(fault, Fail):
            return self._error(fault.status, f"HTTP {fault.status} injected by fail_next")
        authorization = request.headers.get("authorization", "")
        refusal = self._key_refusal(
            authorization.removeprefix("Bearer ").strip()
            if authorization.startswith("Bearer ")
            else ""
        )
        if refusal is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "The request body must be JSON")
        if not isinstance(body, dict):
            return self._error(400, "The request body must be a JSON object")
        for name in ("text", "speaker", "modelId"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                return self._error(400, f"{name} is required")
        accept = request.headers.get("accept", "")
        rate = body.get("samplingRate", 16000 if accept.lower() in _PCM else 8000)
        if accept.lower() in _PCM and rate in _PCM_RATES:
            key = f"pcm_{rate}"
        elif accept.lower() in _MULAW and rate == 8000:
            key = "ulaw_8000"
        else:
            return self._error(400, f"The fake cannot produce {accept!r} at {rate!r} Hz")
        record = self._record(
            "http",
            request.url.path,
            voice=body["speaker"],
            model=body["modelId"],
            output_format=accept,
            text=body["text"],
            language_code=body.get("lang"),
            options={k: v for k, v in body.items() if k not in _FIELDS},
        )
        audio = speech(key, self.scenario.speech_ms(body["text"].strip()))
        return StreamingResponse(
            self._streamed(
                record,
                audio,
                bytes_per_ms(key),
                fault if isinstance(fault, Stall) else None,
                drop=fault if isinstance(fault, Drop) else None,
            ),
            media_type=accept,
        )
