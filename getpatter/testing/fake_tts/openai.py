"""A loopback fake of OpenAI's speech endpoint (``POST /v1/audio/speech``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from getpatter.testing.fake_tts._audio import bytes_per_ms, speech
from getpatter.testing.fake_tts._server import Fail, FakeTTSServer, Stall, status_phrase

__all__ = ["FakeOpenAITTSServer"]

_PCM = "pcm_24000"  # OpenAI's "pcm" response format: 24 kHz PCM16
_FIELDS = ("model", "voice", "input", "response_format")


class FakeOpenAITTSServer(FakeTTSServer):
    """A local OpenAI speech API for offline tests; ``base_url`` ends in ``/v1`` (like
    ``OPENAI_BASE_URL``).

    Needs ``Authorization: Bearer <key>`` and a JSON body with ``model``, ``voice`` and a
    non-empty ``input``; only ``response_format="pcm"`` is produced: 24 kHz PCM16 lasting
    ``scenario.speech_ms(input)``, whatever the ``speed``. Records land in :attr:`requests`
    with ``voice``, ``model``, ``output_format`` (the ``response_format``) and the other fields
    in ``options``.
    """

    _label = "FakeOpenAITTSServer"

    @property
    def _root(self) -> str:
        return "/v1"

    def _routes(self) -> list[BaseRoute]:
        return [Route("/v1/audio/speech", self._speech, methods=["POST"])]

    def _error(self, status: int, message: str) -> JSONResponse:
        error = {"message": message, "type": "invalid_request_error", "code": status_phrase(status)}
        return JSONResponse({"error": error}, status_code=status)

    async def _speech(self, request: Request) -> Response:
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
        for name in ("model", "voice", "input"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                return self._error(400, f"Missing required parameter: '{name}'.")
        response_format = body.get("response_format", "mp3")
        if response_format != "pcm":
            return self._error(
                400, f"The fake produces only response_format='pcm', not {response_format!r}"
            )
        record = self._record(
            "http",
            request.url.path,
            voice=body["voice"],
            model=body["model"],
            output_format=response_format,
            text=body["input"],
            options={k: v for k, v in body.items() if k not in _FIELDS},
        )
        audio = speech(_PCM, self.scenario.speech_ms(body["input"].strip()))
        stall = fault if isinstance(fault, Stall) else None
        return StreamingResponse(
            self._streamed(record, audio, bytes_per_ms(_PCM), stall), media_type="audio/pcm"
        )
