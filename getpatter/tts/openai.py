"""OpenAI text-to-speech (``OpenAITTS``) through the official ``openai`` SDK.

OpenAI's ``pcm`` output is 24 kHz PCM16. Other formats are made here, per sentence: a streaming
resampler to 16 or 8 kHz, then G.711 encoding for the 8 kHz telephone formats, chunk by chunk
so the first audio is not delayed. Importing this module imports the SDK, so that cost is
paid when the agent is built, not in the middle of a call.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import openai

from getpatter._env import env_secret
from getpatter._validation import require_int, require_number, require_str
from getpatter.audio.convert import AudioConverter
from getpatter.engines.base import AudioFormat
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    PatterError,
    RateLimitError,
)
from getpatter.tts._timeouts import require_seconds
from getpatter.tts.base import TTSCapabilities

__all__ = ["TTS", "OpenAITTS"]

_OWNER = "OpenAITTS"
_API_KEY_ENV = "OPENAI_API_KEY"
_NATIVE_FORMAT: AudioFormat = "pcm16_24000"
# OpenAI sends 24 kHz PCM16 only; the other formats are converted here, sentence by sentence.
_FORMATS: tuple[AudioFormat, ...] = ("pcm16_24000", "pcm16_16000", "ulaw_8000", "alaw_8000")
_SPEED_RANGE = (0.25, 4.0)
_NO_INSTRUCTIONS = ("tts-1", "tts-1-hd")


def _http_library() -> ModuleType:
    """The HTTP library under the SDK (httpx2 in recent SDKs, httpx in older ones): errors
    while a response body streams are its own, not the SDK's."""
    for base in openai.DefaultAsyncHttpxClient.__mro__:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    return importlib.import_module("httpx")


_http = _http_library()


class TTS:
    """OpenAI speech synthesis (flat name ``OpenAITTS``; spec TTS-2).

    ``api_key`` falls back to ``OPENAI_API_KEY``; ``base_url`` (``None``: the SDK reads
    ``OPENAI_BASE_URL``, else the public API). ``voice``: ``alloy``, ``echo``, ``fable``,
    ``onyx``, ``nova``, ``shimmer`` and the newer voices of the model. ``model``: ``tts-1``,
    ``tts-1-hd`` or ``gpt-4o-mini-tts``; ``instructions`` (tone, accent...) need the latter.
    ``speed``: 0.25-4.0.

    OpenAI answers with 24 kHz PCM16; :meth:`synthesize` converts it to the format asked for,
    by default 16 kHz PCM16. ``timeout`` bounds connecting; ``stall_timeout`` is the longest
    wait for the next audio bytes. ``max_retries`` is the SDK's retry count, 0 by default: on a
    live call a fast failure (and the pipeline's fallback) beats seconds of silent back-off.
    """

    capabilities = TTSCapabilities(output_formats=_FORMATS)

    def __init__(
        self,
        api_key: str | None = None,
        *,
        voice: str = "alloy",
        model: str = "tts-1",
        speed: float | None = None,
        instructions: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        stall_timeout: float = 10.0,
        max_retries: int = 0,
    ) -> None:
        if api_key is not None:
            require_str(f"{_OWNER} api_key", api_key)
        self._api_key = env_secret(api_key or "", _API_KEY_ENV)
        if not self._api_key:
            raise ConfigError(
                f"{_OWNER} needs an OpenAI API key: pass {_OWNER}(api_key=...) or set "
                f"{_API_KEY_ENV}"
            )
        self.voice: str = require_str(f"{_OWNER} voice", voice, allow_empty=False)
        self.model: str = require_str(f"{_OWNER} model", model, allow_empty=False)
        self.name: str = "openai_tts_hd" if self.model == "tts-1-hd" else "openai_tts"
        self.speed = _require_speed(speed)
        self.instructions = _require_instructions(instructions, self.model)
        self.base_url = (
            None
            if base_url is None
            else require_str(f"{_OWNER} base_url", base_url, allow_empty=False)
        )
        self._timeout = require_seconds(f"{_OWNER} timeout", timeout)
        self._stall_timeout = require_seconds(f"{_OWNER} stall_timeout", stall_timeout)
        self._max_retries = require_int(f"{_OWNER} max_retries", max_retries, minimum=0, maximum=10)
        self._client: openai.AsyncOpenAI | None = None
        self._closed = False

    async def synthesize(
        self, text: str, *, audio_format: AudioFormat | None = None
    ) -> AsyncIterator[bytes]:
        """Speak ``text``, yielding audio as it streams, in ``audio_format`` (default 16 kHz
        PCM16). Blank text yields nothing. Leaving the loop early cancels the request."""
        require_str("text", text)
        target: AudioFormat = "pcm16_16000" if audio_format is None else audio_format
        if target not in _FORMATS:
            raise ConfigError(
                f"{_OWNER} cannot produce audio_format={target!r}: use one of {list(_FORMATS)}"
            )
        if not text.strip():
            return
        client = self._openai()
        request: dict[str, Any] = {
            "model": self.model,
            "voice": self.voice,
            "input": text,
            "response_format": "pcm",
        }
        if self.speed is not None:
            request["speed"] = self.speed
        if self.instructions is not None:
            request["instructions"] = self.instructions
        transcoder = AudioConverter(_NATIVE_FORMAT, target)
        try:
            async with client.audio.speech.with_streaming_response.create(**request) as response:
                async for chunk in response.iter_bytes():
                    audio = transcoder.convert(chunk)
                    if audio:
                        yield audio
            tail = transcoder.flush()
            if tail:
                yield tail
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise AuthenticationError(
                f"OpenAI refused the API key (HTTP {exc.status_code}); check "
                f"{_OWNER}(api_key=...) or {_API_KEY_ENV}"
            ) from None
        except openai.RateLimitError:
            raise RateLimitError("OpenAI TTS is rate limiting (HTTP 429)") from None
        except openai.APIStatusError as exc:
            message = f"OpenAI TTS failed (HTTP {exc.status_code}): {exc.message}"
            if exc.status_code >= 500:
                raise PatterConnectionError(message) from None
            raise PatterError(message, code=ErrorCode.PROVIDER_ERROR) from None
        except openai.APITimeoutError:
            raise PatterConnectionError(
                f"OpenAI TTS timed out before any audio ({_OWNER} timeout={self._timeout:g} s to "
                f"connect, stall_timeout={self._stall_timeout:g} s to answer)",
                code=ErrorCode.TIMEOUT,
            ) from None
        except _http.TimeoutException:
            raise PatterConnectionError(
                f"OpenAI TTS stalled: no audio for {self._stall_timeout:g} s "
                f"({_OWNER} stall_timeout)",
                code=ErrorCode.TIMEOUT,
            ) from None
        except (openai.APIConnectionError, _http.HTTPError) as exc:
            raise PatterConnectionError(f"OpenAI TTS connection failed: {exc!r}") from None

    async def close(self) -> None:
        """Close the SDK client and its connection pool; the provider is unusable afterwards."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _openai(self) -> openai.AsyncOpenAI:
        if self._closed:
            raise PatterError("this OpenAITTS is closed: create a new one to synthesize")
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                timeout=openai.Timeout(self._timeout, read=self._stall_timeout),
                max_retries=self._max_retries,
            )
        return self._client


OpenAITTS = TTS


def _require_speed(speed: object) -> float | None:
    if speed is None:
        return None
    value = require_number(f"{_OWNER} speed", speed)
    low, high = _SPEED_RANGE
    if not low <= value <= high:
        raise InputValidationError(f"{_OWNER} speed must be between {low} and {high}, got {speed}")
    return value


def _require_instructions(instructions: object, model: str) -> str | None:
    if instructions is None:
        return None
    text = require_str(f"{_OWNER} instructions", instructions)
    if model in _NO_INSTRUCTIONS:
        raise ConfigError(
            f"{_OWNER} instructions need a model that takes them, such as 'gpt-4o-mini-tts'; "
            f"model={model!r} does not"
        )
    return text
