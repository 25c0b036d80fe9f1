"""LMNT text-to-speech over HTTP streaming (``LMNTTTS``; spec TTS-9).

Each sentence is one ``POST /v1/ai/speech/bytes`` (``X-API-Key`` and ``lmnt-version`` headers,
a JSON body of ``text``, ``voice``, ``model``, ``format``, ``sample_rate``, ``language``,
``temperature``, ``top_p``), answered with the audio as it is generated: the wire facts of the
official ``lmnt`` SDK (API version 1.2), with a lean aiohttp client instead of the SDK on the
hot path (:mod:`getpatter.tts._http_audio`).

Formats: the spec's ``format="raw"`` is LMNT's ``pcm_s16le`` (headerless PCM16) and
``"mulaw"`` its ``ulaw`` (G.711 μ-law at 8 kHz, which LMNT sends behind a WAV header that is
removed here), both streamable. ``aac``, ``mp3`` and ``wav`` are containers a phone call cannot
play and LMNT cannot stream (aac, wav) — they are refused at construction.
"""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator
from typing import Any

from getpatter._validation import require_int, require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, InputValidationError
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import base_url as kit_base_url
from getpatter.tts._http_audio import AudioPoster, resolve_api_key
from getpatter.tts._samples import SampleAligner
from getpatter.tts._timeouts import require_seconds
from getpatter.tts.base import TTSCapabilities

__all__ = ["LMNTTTS", "TTS"]

_OWNER = "LMNTTTS"
API_KEY_ENV = "LMNT_API_KEY"
BASE_URL_ENV = "LMNT_BASE_URL"
DEFAULT_BASE_URL = "https://api.lmnt.com"
API_VERSION = "1.2"
"""The ``lmnt-version`` header: the API version whose wire format this client speaks."""
PATH = "/v1/ai/speech/bytes"

WIRE_FORMATS = WireFormats[tuple[str, int]](
    _OWNER,
    {
        "ulaw_8000": ("ulaw", 8000),
        "pcm16_16000": ("pcm_s16le", 16000),
        "pcm16_24000": ("pcm_s16le", 24000),
        "pcm16_8000": ("pcm_s16le", 8000),
    },
)
"""Patter's formats and LMNT's (``format``, ``sample_rate``) for each."""

_FORMAT_NAMES = {"raw": "pcm_s16le", "mulaw": "ulaw"}
_UNPLAYABLE = ("aac", "mp3", "wav")
_MODELS = {"blizzard": "auto", "aurora": "en"}
_RATES = (8000, 16000, 24000)


class TTS:
    """LMNT speech synthesis (flat name ``LMNTTTS``; spec TTS-9).

    ``api_key`` falls back to ``LMNT_API_KEY``, ``base_url`` to ``LMNT_BASE_URL`` (the SDK's
    variable; default ``https://api.lmnt.com``). ``model``: ``blizzard`` or ``aurora``;
    ``voice`` an LMNT voice id; ``language`` an ISO 639-1 code, ``None`` for the model's
    default (``"auto"`` on Blizzard, ``"en"`` on Aurora). ``format``: ``"raw"`` (PCM16) or
    ``"mulaw"`` (μ-law, 8 kHz only); ``aac``/``mp3``/``wav`` are refused (not playable on a
    call). ``sample_rate``: 8000, 16000 or 24000. ``temperature`` (> 0) and ``top_p`` (0-1)
    shape the delivery.

    :meth:`synthesize` returns the constructor's format unless given an ``audio_format``.
    ``timeout`` bounds connecting; ``stall_timeout`` is the longest wait for more audio.
    """

    name: str = "lmnt"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = "blizzard",
        voice: str = "leah",
        language: str | None = None,
        format: str = "raw",
        sample_rate: int = 16000,
        temperature: float = 1.0,
        top_p: float = 0.8,
        base_url: str | None = None,
        timeout: float = 10.0,
        stall_timeout: float = 10.0,
    ) -> None:
        self._api_key = resolve_api_key(api_key, _OWNER, "LMNT", API_KEY_ENV)
        self.model: str = require_str(f"{_OWNER} model", model, allow_empty=False)
        if self.model not in _MODELS:
            raise ConfigError(
                f"{_OWNER} model={self.model!r} is not an LMNT model: use 'blizzard' or 'aurora'"
            )
        self.voice: str = require_str(f"{_OWNER} voice", voice, allow_empty=False)
        self.language: str = (
            _MODELS[self.model]
            if language is None
            else require_str(f"{_OWNER} language", language, allow_empty=False)
        )
        self.format: str = _require_format(format)
        self.sample_rate: int = require_int(f"{_OWNER} sample_rate", sample_rate)
        if self.sample_rate not in _RATES:
            raise InputValidationError(
                f"{_OWNER} sample_rate={self.sample_rate} is not supported: use one of "
                f"{list(_RATES)}"
            )
        if self.format == "mulaw" and self.sample_rate != 8000:
            raise ConfigError(
                f"{_OWNER} format='mulaw' is not supported at sample_rate={self.sample_rate}: "
                "μ-law is 8 kHz only, pass sample_rate=8000"
            )
        self.output_format: AudioFormat = WIRE_FORMATS.format_of(
            (_FORMAT_NAMES[self.format], self.sample_rate)
        )
        self.temperature: float = _require_positive("temperature", temperature)
        self.top_p: float = _require_positive("top_p", top_p)
        if self.top_p > 1:
            raise InputValidationError(f"{_OWNER} top_p must be between 0 and 1, got {top_p}")
        self.capabilities = TTSCapabilities(
            output_formats=WIRE_FORMATS.preferring(self.output_format)
        )
        self.base_url: str = kit_base_url(
            _OWNER, base_url, env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL
        )
        self._poster = AudioPoster(
            owner=_OWNER,
            vendor="LMNT",
            base_url=self.base_url,
            headers={
                "X-API-Key": self._api_key,
                "lmnt-version": API_VERSION,
                "Accept": "application/octet-stream",
            },
            api_key=self._api_key,
            key_hint=f"{_OWNER}(api_key=...) or {API_KEY_ENV}",
            timeout=require_seconds(f"{_OWNER} timeout", timeout),
            stall_timeout=require_seconds(f"{_OWNER} stall_timeout", stall_timeout),
        )

    async def synthesize(
        self, text: str, *, audio_format: AudioFormat | None = None
    ) -> AsyncIterator[bytes]:
        """Speak ``text``, yielding audio as it streams in ``audio_format`` (one of
        ``capabilities.output_formats``), else the constructor's ``format``/``sample_rate``.
        Blank text yields nothing; leaving the loop early abandons the request."""
        require_str("text", text)
        wire, rate = WIRE_FORMATS.wire(self.output_format if audio_format is None else audio_format)
        if not text.strip():
            return
        body: dict[str, Any] = {
            "text": text,
            "voice": self.voice,
            "model": self.model,
            "format": wire,
            "sample_rate": rate,
            "language": self.language,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        unwrap = _WavStripper() if wire == "ulaw" else None
        aligner = SampleAligner() if wire == "pcm_s16le" else None
        async for chunk in self._poster.stream(PATH, body):
            audio = chunk
            if unwrap is not None:
                audio = unwrap.feed(audio)
            if aligner is not None:
                audio = aligner.align(audio)
            if audio:
                yield audio

    async def close(self) -> None:
        """Close the connection pool; the provider is unusable afterwards."""
        await self._poster.close()

    def __repr__(self) -> str:
        return (
            f"LMNTTTS(model={self.model!r}, voice={self.voice!r}, format={self.format!r}, "
            f"sample_rate={self.sample_rate})"
        )


LMNTTTS = TTS


class _WavStripper:
    """Drops a RIFF/WAVE header at the start of a stream, passing the samples after it.

    A stream that does not start with ``RIFF`` passes untouched. The header is read up to the
    ``data`` chunk, whatever chunks come before it (``fmt ``, ``LIST``, ``fact``).
    """

    def __init__(self) -> None:
        self._head = b""
        self._done = False

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return chunk
        self._head += chunk
        if len(self._head) < 12:
            if not b"RIFF".startswith(self._head[:4]):
                return self._finish(self._head)
            return b""
        if self._head[:4] != b"RIFF" or self._head[8:12] != b"WAVE":
            return self._finish(self._head)
        offset = 12
        while len(self._head) >= offset + 8:
            chunk_id = self._head[offset : offset + 4]
            (size,) = struct.unpack("<I", self._head[offset + 4 : offset + 8])
            if chunk_id == b"data":
                return self._finish(self._head[offset + 8 :])
            offset += 8 + size + (size & 1)
        return b""

    def _finish(self, rest: bytes) -> bytes:
        self._done, self._head = True, b""
        return rest


def _require_format(value: object) -> str:
    name = require_str(f"{_OWNER} format", value, allow_empty=False)
    if name in _UNPLAYABLE:
        raise ConfigError(
            f"{_OWNER} format={name!r} is a container a phone call cannot play: use 'raw' "
            "(PCM16) or 'mulaw' (μ-law 8 kHz)"
        )
    if name not in _FORMAT_NAMES:
        raise ConfigError(f"{_OWNER} format={name!r} is not an LMNT format: use 'raw' or 'mulaw'")
    return name


def _require_positive(option: str, value: object) -> float:
    number = require_number(f"{_OWNER} {option}", value)
    if not math.isfinite(number) or number <= 0:
        raise InputValidationError(f"{_OWNER} {option} must be a number > 0, got {value!r}")
    return number
