"""What Whisper and OpenAI Transcribe share: ``/v1/audio/transcriptions`` through the ``openai`` SDK.

Each utterance is one ``client.audio.transcriptions.create`` request: a multipart upload of a
WAV file (PCM16 mono at the call's rate). The SDK is the client (it is the vendor's official
one, and a request per utterance is all the hot path needs); one SDK client per provider and
event loop serves every call. ``max_retries`` is 0 by default: a retried upload would answer
the caller seconds late, and the pipeline reports the failure and goes on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import openai

from getpatter._env import env_secret
from getpatter._loop_bound import LoopBoundClient
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.audio.formats import AudioFormat
from getpatter.errors import ConfigError, InputValidationError, PatterError
from getpatter.providers.errors import body_message, connection_error, status_error
from getpatter.providers.transport import TIMEOUT_ERRORS, TRANSPORT_ERRORS
from getpatter.providers.urls import base_url as resolve_base_url
from getpatter.stt.base import STTCapabilities
from getpatter.stt.utterance import HallucinationFilter, Recognition, UtteranceStream

__all__ = ["INPUT_FORMATS", "OpenAITranscriptionSTT"]

_API_KEY_ENV = "OPENAI_API_KEY"
_BASE_URL_ENV = "OPENAI_BASE_URL"
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_MAX_UTTERANCE_SECONDS = 30.0
_LIMIT_SECONDS = 600.0  # 25 MB, OpenAI's upload limit, holds ~13 min of 16 kHz PCM16
_DEFAULT_FORMAT: AudioFormat = "pcm16_16000"

INPUT_FORMATS: tuple[AudioFormat, ...] = (
    "ulaw_8000",
    "pcm16_16000",
    "pcm16_8000",
    "alaw_8000",
    "pcm16_24000",
)
"""What a stream takes: G.711 is decoded to PCM16 at 8 kHz; no rate is converted."""

_LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
"""Models whose ``json`` answer can carry token log-probabilities (``include=["logprobs"]``);
the diarizing variant cannot."""


class OpenAITranscriptionSTT:
    """Base of :class:`~getpatter.stt.whisper.STT` and
    :class:`~getpatter.stt.openai_transcribe.STT`; implements
    :class:`~getpatter.stt.base.STTProvider`."""

    name: ClassVar[str]
    """The provider's key in the price table."""
    owner: ClassVar[str]
    """The flat class name, for errors."""

    capabilities = STTCapabilities(
        streaming=False, interim_results=False, endpointing=False, input_formats=INPUT_FORMATS
    )

    def __init__(
        self,
        api_key: str | None,
        *,
        model: str,
        language: str | None,
        response_format: str,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        max_utterance_seconds: float,
        filter_hallucinations: bool,
    ) -> None:
        owner = self.owner
        if api_key is not None:
            require_str(f"{owner} api_key", api_key)
        self._api_key = env_secret((api_key or "").strip(), _API_KEY_ENV)
        if not self._api_key:
            raise ConfigError(
                f"{owner} needs an OpenAI API key: pass {owner}(api_key=...) or set {_API_KEY_ENV}"
            )
        self.model: str = require_str(f"{owner} model", model, allow_empty=False)
        self.language: str | None = _language(owner, language)
        self.response_format = response_format
        self.base_url: str = resolve_base_url(
            owner, base_url, env_var=_BASE_URL_ENV, default=_DEFAULT_BASE_URL
        )
        self.timeout = require_number(f"{owner} timeout", timeout)
        if self.timeout <= 0:
            raise InputValidationError(f"{owner} timeout must be > 0 seconds, got {timeout!r}")
        self.max_retries = require_int(f"{owner} max_retries", max_retries, minimum=0, maximum=10)
        seconds = require_number(f"{owner} max_utterance_seconds", max_utterance_seconds)
        if not 1 <= seconds <= _LIMIT_SECONDS:
            raise InputValidationError(
                f"{owner} max_utterance_seconds must be between 1 and {_LIMIT_SECONDS:g}, got "
                f"{max_utterance_seconds!r}"
            )
        self.max_utterance_seconds = seconds
        self.filter_hallucinations = require_bool(
            f"{owner} filter_hallucinations", filter_hallucinations
        )
        self._logprobs = response_format == "json" and _with_logprobs(self.model)
        self._client = LoopBoundClient(self._new_client)

    def __repr__(self) -> str:
        return f"{self.owner}(model={self.model!r}, language={self.language!r})"

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> UtteranceStream:
        """A new, unconnected stream for one call, receiving ``audio_format`` (default PCM16
        at 16 kHz); ``language`` replaces the constructor's for this call."""
        fmt = _DEFAULT_FORMAT if audio_format is None else audio_format
        if fmt not in INPUT_FORMATS:
            raise ConfigError(
                f"{self.owner} cannot take audio_format={fmt!r}: use one of {list(INPUT_FORMATS)}"
            )
        lang = self.language if language is None else _language(self.owner, language)

        async def transcribe(wav: bytes) -> Recognition:
            return await self.transcribe(wav, language=lang)

        return UtteranceStream(
            self.owner,
            transcribe,
            fmt,
            max_seconds=self.max_utterance_seconds,
            final_filter=HallucinationFilter() if self.filter_hallucinations else None,
        )

    async def transcribe(self, wav: bytes, *, language: str | None = None) -> Recognition:
        """Transcribe one WAV file (``language`` ``None``: the service detects it).

        Raises :class:`~getpatter.errors.AuthenticationError` (HTTP 401/403),
        :class:`~getpatter.errors.RateLimitError` (429),
        :class:`~getpatter.errors.PatterConnectionError` (5xx, network; code ``TIMEOUT`` when
        no answer came within ``timeout``) or :class:`~getpatter.errors.PatterError`.
        """
        request: dict[str, Any] = {
            "file": ("utterance.wav", wav, "audio/wav"),
            "model": self.model,
            "response_format": self.response_format,
        }
        if language is not None:
            request["language"] = language
        if self._logprobs:
            request["include"] = ["logprobs"]
        try:
            answer = await self._client.get().audio.transcriptions.create(**request)
        except openai.APIStatusError as exc:
            raise status_error(
                "OpenAI transcription",
                exc.status_code,
                body_message(exc.body, exc.message),
                api_key=self._api_key,
                key_hint=f"{self.owner}(api_key=...) or {_API_KEY_ENV}",
                retry_after=exc.response.headers.get("retry-after"),
            ) from None
        except openai.APIConnectionError as exc:
            raise connection_error(
                "OpenAI transcription",
                timed_out=isinstance(exc, openai.APITimeoutError),
                timeout=self.timeout,
            ) from None
        except TRANSPORT_ERRORS as exc:
            raise connection_error(
                "OpenAI transcription",
                timed_out=isinstance(exc, TIMEOUT_ERRORS),
                timeout=self.timeout,
            ) from None
        except openai.APIError as exc:
            raise PatterError(f"OpenAI transcription failed: {exc.message}") from None
        return _recognition(answer)

    async def close(self) -> None:
        """Close the shared HTTP client; a later request opens a new one."""
        await self._client.close()

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )


def _language(owner: str, language: object) -> str | None:
    if language is None:
        return None
    value = require_str(f"{owner} language", language, allow_empty=False).strip()
    if not value.isalpha() or len(value) not in (2, 3):
        raise InputValidationError(
            f"{owner} language={language!r} must be an ISO-639-1 code such as 'en' "
            "(None detects the language)"
        )
    return value.lower()


def _with_logprobs(model: str) -> bool:
    return model.startswith(_LOGPROB_MODELS) and "diarize" not in model


def _recognition(answer: object) -> Recognition:
    """The text and confidence of a ``json``, ``verbose_json`` or ``text`` answer."""
    if isinstance(answer, str):
        return Recognition(answer)
    text = getattr(answer, "text", "")
    segments = getattr(answer, "segments", None)
    if segments:
        return Recognition(text, _segment_confidence(segments))
    logprobs = getattr(answer, "logprobs", None)
    if logprobs:
        values = [p.logprob for p in logprobs if getattr(p, "logprob", None) is not None]
        if values:
            return Recognition(text, _probability(sum(values) / len(values)))
    return Recognition(text if isinstance(text, str) else "")


def _segment_confidence(segments: Sequence[Any]) -> float | None:
    """The segments' mean ``avg_logprob`` weighted by their length, as a probability."""
    total = weight = 0.0
    for segment in segments:
        length = max(float(segment.end) - float(segment.start), 0.01)
        total += float(segment.avg_logprob) * length
        weight += length
    return _probability(total / weight) if weight else None


def _probability(logprob: float) -> float:
    return round(min(1.0, max(0.0, math.exp(logprob))), 4)
