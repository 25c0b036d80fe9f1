"""Rime text-to-speech over HTTP streaming (``RimeTTS``; spec TTS-8).

Each sentence is one ``POST /v1/rime-tts`` with ``Authorization: Bearer <key>`` and a JSON body
(``text``, ``speaker``, ``modelId``, ``lang``, ``samplingRate`` and the model's own options);
the ``Accept`` header picks the audio: ``audio/pcm`` (headerless PCM16) or ``audio/x-mulaw``
(headerless G.711 μ-law at 8 kHz, what Twilio carries). Rime publishes no official Python SDK
(the PyPI package named ``rime`` is an unrelated contest tool), so this is a lean aiohttp client
(:mod:`getpatter.tts._http_audio`).

Arcana (``model="arcana"``) and Mist (``"mist"``, ``"mistv2"``, any ``mist*``) take different
options; passing one to the other model is refused rather than silently ignored by the API.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, InputValidationError
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import base_url as kit_base_url
from getpatter.tts._http_audio import AudioPoster, resolve_api_key
from getpatter.tts._samples import SampleAligner
from getpatter.tts._timeouts import require_seconds
from getpatter.tts.base import TTSCapabilities

__all__ = ["TTS", "RimeTTS"]

_OWNER = "RimeTTS"
API_KEY_ENV = "RIME_API_KEY"
BASE_URL_ENV = "RIME_BASE_URL"
DEFAULT_BASE_URL = "https://users.rime.ai"
PATH = "/v1/rime-tts"

WIRE_FORMATS = WireFormats[tuple[str, int]](
    _OWNER,
    {
        "ulaw_8000": ("audio/x-mulaw", 8000),
        "pcm16_16000": ("audio/pcm", 16000),
        "pcm16_24000": ("audio/pcm", 24000),
        "pcm16_8000": ("audio/pcm", 8000),
    },
)
"""Patter's formats and Rime's (``Accept`` header, ``samplingRate``) for each, μ-law first."""

_PCM_RATES = (8000, 16000, 24000)
DEFAULT_SPEAKERS = {"arcana": "astra", "mist": "cove"}
"""The speaker used when none is given, per model family."""

_ARCANA_ONLY = ("temperature", "top_p", "max_tokens", "repetition_penalty")
_MIST_ONLY = (
    "speed_alpha",
    "reduce_latency",
    "pause_between_brackets",
    "phonemize_between_brackets",
)
_WIRE_NAMES = {
    "speed_alpha": "speedAlpha",
    "reduce_latency": "reduceLatency",
    "pause_between_brackets": "pauseBetweenBrackets",
    "phonemize_between_brackets": "phonemizeBetweenBrackets",
}


class TTS:
    """Rime speech synthesis (flat name ``RimeTTS``; spec TTS-8).

    ``api_key`` falls back to ``RIME_API_KEY``, ``base_url`` to ``RIME_BASE_URL`` (default
    ``https://users.rime.ai``). ``model``: ``"arcana"`` or any ``mist*`` model; ``speaker``
    defaults to ``astra`` (Arcana) or ``cove`` (Mist); ``lang`` a Rime language code
    (``"eng"``); ``sample_rate`` 8000, 16000 or 24000 for the PCM16 it returns without an
    ``audio_format``.

    Arcana-only: ``temperature``, ``top_p`` (0-1), ``max_tokens``, ``repetition_penalty``.
    Mist-only: ``speed_alpha`` (> 0; above 1 is slower), ``reduce_latency``,
    ``pause_between_brackets``, ``phonemize_between_brackets``. An option of the other model
    is a :class:`~getpatter.errors.ConfigError`.

    ``timeout`` bounds connecting; ``stall_timeout`` is the longest wait for more audio.
    """

    name: str = "rime"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = "arcana",
        speaker: str | None = None,
        lang: str = "eng",
        sample_rate: int = 16000,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        repetition_penalty: float | None = None,
        speed_alpha: float | None = None,
        reduce_latency: bool | None = None,
        pause_between_brackets: bool | None = None,
        phonemize_between_brackets: bool | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        stall_timeout: float = 10.0,
    ) -> None:
        self._api_key = resolve_api_key(api_key, _OWNER, "Rime", API_KEY_ENV)
        self.model: str = _require_model(model)
        family = "arcana" if self.model == "arcana" else "mist"
        self.voice: str = (
            DEFAULT_SPEAKERS[family]
            if speaker is None
            else require_str(f"{_OWNER} speaker", speaker, allow_empty=False)
        )
        self.lang: str = require_str(f"{_OWNER} lang", lang, allow_empty=False)
        self.sample_rate: int = require_int(f"{_OWNER} sample_rate", sample_rate)
        if self.sample_rate not in _PCM_RATES:
            raise ConfigError(
                f"{_OWNER} sample_rate={self.sample_rate} is not supported: use one of "
                f"{list(_PCM_RATES)}"
            )
        self.output_format: AudioFormat = WIRE_FORMATS.format_of(("audio/pcm", self.sample_rate))
        given: dict[str, Any] = {
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "repetition_penalty": repetition_penalty,
            "speed_alpha": speed_alpha,
            "reduce_latency": reduce_latency,
            "pause_between_brackets": pause_between_brackets,
            "phonemize_between_brackets": phonemize_between_brackets,
        }
        self.model_options: dict[str, Any] = _require_options(self.model, family, given)
        """The Arcana or Mist options given, by their constructor names."""
        self.capabilities = TTSCapabilities(
            output_formats=WIRE_FORMATS.preferring(self.output_format)
        )
        self.base_url: str = kit_base_url(
            _OWNER, base_url, env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL
        )
        self._poster = AudioPoster(
            owner=_OWNER,
            vendor="Rime",
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._api_key}"},
            api_key=self._api_key,
            key_hint=f"{_OWNER}(api_key=...) or {API_KEY_ENV}",
            timeout=require_seconds(f"{_OWNER} timeout", timeout),
            stall_timeout=require_seconds(f"{_OWNER} stall_timeout", stall_timeout),
        )

    async def synthesize(
        self, text: str, *, audio_format: AudioFormat | None = None
    ) -> AsyncIterator[bytes]:
        """Speak ``text``, yielding audio as it streams: ``audio_format`` (one of
        ``capabilities.output_formats``), else PCM16 at ``sample_rate``. Blank text yields
        nothing; leaving the loop early abandons the request."""
        require_str("text", text)
        accept, rate = WIRE_FORMATS.wire(
            self.output_format if audio_format is None else audio_format
        )
        if not text.strip():
            return
        body: dict[str, Any] = {
            "text": text,
            "speaker": self.voice,
            "modelId": self.model,
            "lang": self.lang,
            "samplingRate": rate,
            **{_WIRE_NAMES.get(k, k): v for k, v in self.model_options.items()},
        }
        aligner = SampleAligner() if accept == "audio/pcm" else None
        async for chunk in self._poster.stream(PATH, body, headers={"Accept": accept}):
            audio = aligner.align(chunk) if aligner is not None else chunk
            if audio:
                yield audio

    async def close(self) -> None:
        """Close the connection pool; the provider is unusable afterwards."""
        await self._poster.close()

    def __repr__(self) -> str:
        return f"RimeTTS(model={self.model!r}, speaker={self.voice!r}, lang={self.lang!r})"


RimeTTS = TTS


def _require_model(model: object) -> str:
    name = require_str(f"{_OWNER} model", model, allow_empty=False)
    if name != "arcana" and not name.startswith("mist"):
        raise ConfigError(
            f"{_OWNER} model={name!r} is not supported: use 'arcana' or a Mist model such as "
            "'mistv2'"
        )
    return name


def _require_options(model: str, family: str, given: dict[str, Any]) -> dict[str, Any]:
    """The model options given, checked; an option of the other family is refused."""
    wrong = _MIST_ONLY if family == "arcana" else _ARCANA_ONLY
    for option in wrong:
        if given[option] is not None:
            owner = "Mist" if family == "arcana" else "Arcana"
            raise ConfigError(
                f"{_OWNER} {option}= is a {owner}-only option and model={model!r} ignores it: "
                f"drop it, or use a {owner} model"
            )
    options: dict[str, Any] = {}
    for option in (*_ARCANA_ONLY, *_MIST_ONLY):
        value = given[option]
        if value is None:
            continue
        param = f"{_OWNER} {option}"
        if option in ("reduce_latency", "pause_between_brackets", "phonemize_between_brackets"):
            value = require_bool(param, value)
        elif option == "max_tokens":
            value = require_int(param, value, minimum=1)
        else:
            value = require_number(param, value)
            if not math.isfinite(value) or value < 0:
                raise InputValidationError(f"{param} must be a finite number >= 0, got {value}")
            if option == "top_p" and value > 1:
                raise InputValidationError(f"{param} must be between 0 and 1, got {value}")
            if option == "speed_alpha" and value == 0:
                raise InputValidationError(f"{param} must be > 0 (1.0 is normal speed)")
        options[option] = value
    return options
