"""The fake transcription server: multipart parsing, WAV checks, scripted answers, faults."""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import secrets
import wave
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from getpatter._validation import require_amount, require_int, require_str
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing._energy_vad import rms
from getpatter.testing._loopback_http import LoopbackHTTPFake
from getpatter.testing.fake_deepgram._connection import UNSCRIPTED_TEXT
from getpatter.testing.fake_stt_http._multipart import Part, parse_form
from getpatter.testing.fake_stt_http.records import FakeTranscriptionRequest
from getpatter.testing.scenario import Scenario

__all__ = ["FakeTranscriptionServer"]

_PATH = "/v1/audio/transcriptions"
_FORMATS = ("json", "verbose_json", "text", "srt", "vtt", "diarized_json")
_SERVED_FORMATS = ("json", "verbose_json", "text")
_MIN_SECONDS = 0.1
_MAX_BYTES = 25 * 1024 * 1024
_LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
_POLL_S = 0.05

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Access denied."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 1s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class FakeTranscriptionServer(LoopbackHTTPFake):
    """A local OpenAI transcription API for offline calls and tests.

    Use it as ``async with FakeTranscriptionServer(scenario) as fake:`` and give the SDK
    ``base_url=fake.base_url`` (``http://127.0.0.1:<port>/v1``, what ``OPENAI_BASE_URL``
    holds). It serves ``POST /v1/audio/transcriptions`` with a ``multipart/form-data`` body:
    ``file`` (a WAV file: mono or stereo PCM16, at least 0.1 s, at most 25 MB), ``model``,
    and optionally ``language``, ``response_format`` (``json``, the default, ``verbose_json``
    or ``text``) and ``include[]`` (``logprobs``). Requests need ``Authorization: Bearer
    <key>`` (any key, or exactly ``api_key`` when given). Refusals are HTTP 400 with OpenAI's
    JSON error body, as the API's: a file that is not WAV, too short, an unknown
    ``response_format``, ``verbose_json`` from a model other than ``whisper-1``, ``logprobs``
    without ``json`` or from a model that has none.

    Scripting: the n-th file received is heard as ``scenario.caller_lines[n]`` (``"hello"``
    past the end); a file sent again right after a request that got no transcript (a retry)
    is the same utterance. The calls of a server share this count, so one server serves one
    call at a time (the HTTP API carries nothing that tells calls apart). Faults:
    :meth:`fail_next`, :meth:`stall_next`. Every request is kept in :attr:`requests`.
    """

    def __init__(self, scenario: Scenario | None = None, *, api_key: str | None = None) -> None:
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ConfigError(
                f"FakeTranscriptionServer scenario must be a Scenario, got {type(scenario).__name__}"
            )
        if api_key is not None:
            require_str("FakeTranscriptionServer api_key", api_key, allow_empty=False)
        self.scenario = scenario if scenario is not None else Scenario()
        self.api_key = api_key or "sk-fake-transcription"
        """The key the server takes (any non-empty key when none was given)."""
        self._strict_key = api_key is not None
        self._faults: deque[int] = deque()
        self._stalls: deque[float] = deque()
        self._utterances = 0
        self._unanswered: tuple[str, int] | None = None
        """The file of the last request that got no transcript, and its utterance: a retry."""
        self.requests: list[FakeTranscriptionRequest] = []
        """Every request received, in arrival order."""

    def _app(self) -> Starlette:
        return Starlette(routes=[Route(_PATH, self._handle, methods=["POST"])])

    @property
    def base_url(self) -> str:
        """The API root to hand the SDK (``base_url=``), known once the server runs."""
        return f"{self._origin('base_url')}/v1"

    @property
    def transcripts(self) -> list[str]:
        """The text of every answered request, in order."""
        return [r.text for r in self.requests if r.status == 200]

    def fail_next(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with HTTP ``status`` (429 adds ``retry-after``)."""
        require_int("fail_next status", status, minimum=400, maximum=599)
        require_int("fail_next times", times, minimum=1)
        self._faults.extend([status] * times)

    def stall_next(self, seconds: float) -> None:
        """Hold the next request ``seconds`` before answering (or until the client leaves)."""
        if require_amount("stall_next seconds", seconds) <= 0:
            raise InputValidationError(f"stall_next seconds must be > 0, got {seconds!r}")
        self._stalls.append(float(seconds))

    async def _handle(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        key = authorization.removeprefix("Bearer ").strip() if authorization else ""
        record = FakeTranscriptionRequest(index=len(self.requests), api_key=key)
        self.requests.append(record)
        if not key or (self._strict_key and key != self.api_key):
            return _error(record, 401)
        body = await request.body()
        if len(body) > _MAX_BYTES:
            return _error(record, 413, "Maximum content size limit (26214400) exceeded.")
        try:
            form = parse_form(request.headers.get("content-type", ""), body)
        except ValueError:
            return _error(record, 400, "Could not parse multipart form.")
        problem, audio = _read(form, record)
        if problem:
            return _error(record, 400, problem)
        if record.response_format not in _SERVED_FORMATS:
            message = f"FakeTranscriptionServer does not produce {record.response_format!r}"
            return _error(record, 501, message)
        fault = self._faults.popleft() if self._faults else None
        stall = self._stalls.popleft() if self._stalls else 0.0
        digest = hashlib.sha256(audio).hexdigest()
        record.utterance = self._utterance(digest)
        self._unanswered = (digest, record.utterance)
        if stall:
            record.stalled = True
            if await _left_within(request, stall):
                record.disconnected = True
                record.status = 499
                return Response(status_code=499)
        if fault is not None:
            response = _error(record, fault)
            if fault == 429:
                response.headers["retry-after"] = "1"
            return response
        lines = self.scenario.caller_lines
        text = lines[record.utterance] if record.utterance < len(lines) else UNSCRIPTED_TEXT
        record.text, record.status = text, 200
        self._unanswered = None
        return _answer(record, text)

    def _utterance(self, digest: str) -> int:
        """The utterance a file is: the next one, or the same as the request it retries."""
        if self._unanswered is not None and self._unanswered[0] == digest:
            return self._unanswered[1]
        self._utterances += 1
        return self._utterances - 1


def _read(form: list[Part], record: FakeTranscriptionRequest) -> tuple[str, bytes]:
    """Fill ``record`` from the form; the reason the API would refuse it ("" if none), and the
    file's bytes."""
    fields = {part.name: part.data.decode("utf-8", "replace") for part in form if not part.filename}
    upload = next((part for part in form if part.name == "file"), None)
    model = fields.get("model", "")
    if not model:
        return "you must provide a model parameter", b""
    record.model = model
    record.language = fields.get("language", "")
    record.response_format = fields.get("response_format") or "json"
    record.include = tuple(p.data.decode() for p in form if p.name == "include[]")
    if upload is None or upload.filename is None:
        return "you must provide a file parameter", b""
    audio = upload.data
    record.filename = upload.filename
    record.content_type = upload.content_type
    record.file_bytes = len(audio)
    if record.response_format not in _FORMATS:
        return (
            f"'{record.response_format}' is not one of {list(_FORMATS)} - 'response_format'",
            audio,
        )
    if record.response_format == "verbose_json" and not model.startswith("whisper"):
        return (
            f"response_format 'verbose_json' is not compatible with model '{model}'. Use 'json' "
            "or 'text' instead.",
            audio,
        )
    if "logprobs" in record.include and (
        record.response_format != "json" or not model.startswith(_LOGPROB_MODELS)
    ):
        return (
            f"logprobs are only supported with response_format 'json' and the models "
            f"{list(_LOGPROB_MODELS)}; got model '{model}'",
            audio,
        )
    problem = _check_wav(audio, record)
    return problem, audio


def _check_wav(audio: bytes, record: FakeTranscriptionRequest) -> str:
    supported = "['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"
    if not record.filename.lower().endswith(".wav"):
        return f"Invalid file format. Supported formats: {supported}"
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            record.sample_rate = wav.getframerate()
            record.channels = wav.getnchannels()
            record.sample_width = wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        return f"Invalid file format. Supported formats: {supported}"
    if record.sample_width != 2 or record.channels not in (1, 2) or record.sample_rate <= 0:
        return "The audio file could not be decoded or its format is not supported."
    samples = len(frames) // (2 * record.channels)
    record.duration = samples / record.sample_rate
    record.rms = round(rms(frames[: len(frames) // 2 * 2]), 1)
    if record.duration < _MIN_SECONDS:
        return "Audio file is too short. Minimum audio length is 0.1 seconds."
    return ""


def _answer(record: FakeTranscriptionRequest, text: str) -> Response:
    if record.response_format == "text":
        return PlainTextResponse(text + "\n")
    body: dict[str, Any] = {"text": text}
    seconds = max(1, math.ceil(record.duration))
    if record.response_format == "verbose_json":
        body = {
            "task": "transcribe",
            "language": record.language or "english",
            "duration": round(record.duration, 2),
            "text": text,
            "segments": [
                {
                    "id": 0,
                    "seek": 0,
                    "start": 0.0,
                    "end": round(record.duration, 2),
                    "text": f" {text}",
                    "tokens": [50364 + i for i in range(len(text.split()))],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 1.0,
                    "no_speech_prob": 0.01,
                }
            ],
            "usage": {"type": "duration", "seconds": seconds},
        }
    elif record.model.startswith("whisper"):
        body["usage"] = {"type": "duration", "seconds": seconds}
    else:
        tokens = max(1, len(text.split()))
        audio_tokens = max(1, round(record.duration * 10))
        body["usage"] = {
            "type": "tokens",
            "input_tokens": audio_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            "output_tokens": tokens,
            "total_tokens": audio_tokens + tokens,
        }
    if "logprobs" in record.include:
        body["logprobs"] = [
            {"token": word, "logprob": -0.1, "bytes": list(word.encode())}
            for word in text.split(" ")
        ]
    return JSONResponse(body, headers={"x-request-id": f"req_{secrets.token_hex(16)}"})


def _error(record: FakeTranscriptionRequest, status: int, message: str = "") -> JSONResponse:
    record.status = status
    kind, code, usual = _ERRORS.get(status, ("invalid_request_error", None, "Invalid request."))
    error = {"message": message or usual, "type": kind, "param": None, "code": code}
    return JSONResponse({"error": error}, status_code=status)


async def _left_within(request: Request, seconds: float) -> bool:
    """Wait ``seconds``; True as soon as the client has gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(_POLL_S, max(0.0, deadline - loop.time())))
    return False
