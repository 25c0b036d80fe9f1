"""ElevenLabs text-to-speech over HTTP streaming (``ElevenLabsTTS``).

Each sentence is one ``POST /v1/text-to-speech/{voice_id}/stream?output_format=...``; the
answer is raw audio in the requested format, read as it arrives. All requests of a provider
share one keep-alive connection pool (aiohttp), created on first use in each event loop and
released by :meth:`TTS.close`.

aiohttp rather than httpx: a sentence is one short streaming request on the turn's critical
path, and aiohttp's C parser takes ~0.17 ms per keep-alive request where httpx takes ~0.5 ms
(``bench/pipeline.py``). The pool has no connection limit: every sentence being spoken at once
needs its own connection, and ElevenLabs enforces its concurrency limit itself (HTTP 429).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from getpatter._loop_bound import LoopBoundClient
from getpatter._proxies import env_proxy
from getpatter._validation import require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ErrorCode, PatterConnectionError, PatterError
from getpatter.tts._elevenlabs import (
    WIRE_FORMATS,
    TelephonyPresets,
    require_language_code,
    require_output_format,
    require_voice_settings,
    resolve_api_key,
    resolve_base_url,
    status_error,
    wire_format,
)
from getpatter.tts._samples import SampleAligner
from getpatter.tts._timeouts import require_seconds
from getpatter.tts.base import TTSCapabilities

__all__ = ["TTS", "ElevenLabsTTS"]

_OWNER = "ElevenLabsTTS"


class TTS(TelephonyPresets):
    """ElevenLabs streaming text-to-speech (flat name ``ElevenLabsTTS``; spec TTS-1, TTS-3).

    ``api_key`` falls back to ``ELEVENLABS_API_KEY`` and ``base_url`` to
    ``ELEVENLABS_BASE_URL``. ``voice_id`` is a voice id; ``model_id`` is any ElevenLabs model
    (``eleven_flash_v2_5``, ``eleven_turbo_v2_5``, ``eleven_multilingual_v2``, ``eleven_v3``...).
    ``voice_settings`` is a dict with any of ``stability``, ``similarity_boost``, ``style``
    (0-1), ``use_speaker_boost`` and ``speed``; ``language_code`` an ISO 639-1 code.

    ``output_format`` is what :meth:`synthesize` returns when called without ``audio_format``
    (any ElevenLabs name, e.g. ``"pcm_16000"`` or ``"mp3_44100_128"``). An ``audio_format``
    passed to :meth:`synthesize` wins over it: the pipeline asks for the carrier's format
    (``ulaw_8000`` on Twilio) and ElevenLabs produces it natively.

    ``timeout`` bounds connecting and sending the request; ``stall_timeout`` is the longest wait
    for the next audio bytes (first ones included) before the sentence fails with
    :class:`~getpatter.errors.PatterConnectionError` ("TTS stalled").
    """

    name: str = "elevenlabs"
    capabilities = TTSCapabilities(output_formats=WIRE_FORMATS.formats)

    def __init__(
        self,
        api_key: str | None = None,
        *,
        voice_id: str = "EXAVITQu4vr4xnSDxMaL",
        model_id: str = "eleven_flash_v2_5",
        output_format: str = "pcm_16000",
        voice_settings: Mapping[str, Any] | None = None,
        language_code: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        stall_timeout: float = 10.0,
    ) -> None:
        self._api_key = resolve_api_key(api_key, _OWNER)
        self.voice: str = require_str(f"{_OWNER} voice_id", voice_id, allow_empty=False)
        self.model_id: str = require_str(f"{_OWNER} model_id", model_id, allow_empty=False)
        self.output_format: str = require_output_format(_OWNER, output_format)
        self.voice_settings = require_voice_settings(_OWNER, voice_settings)
        self.language_code = require_language_code(_OWNER, language_code)
        self.base_url: str = resolve_base_url(base_url, _OWNER, ("https", "http"))
        self._timeout = require_seconds(f"{_OWNER} timeout", timeout)
        self._stall_timeout = require_seconds(f"{_OWNER} stall_timeout", stall_timeout)
        self._client = LoopBoundClient(self._new_session)
        self._closed = False

    async def synthesize(
        self, text: str, *, audio_format: AudioFormat | None = None
    ) -> AsyncIterator[bytes]:
        """Speak ``text``, yielding audio bytes as they stream (whole samples for PCM).

        ``audio_format`` (one of ``capabilities.output_formats``) overrides the constructor's
        ``output_format``. Blank text yields nothing. Leaving the loop early cancels the request.
        """
        require_str("text", text)
        wire = wire_format(_OWNER, audio_format, self.output_format)
        if not text.strip():
            return
        session = self._session()
        body: dict[str, Any] = {"text": text, "model_id": self.model_id}
        if self.voice_settings is not None:
            body["voice_settings"] = self.voice_settings
        if self.language_code is not None:
            body["language_code"] = self.language_code
        url = f"{self.base_url}/v1/text-to-speech/{quote(self.voice, safe='')}/stream"
        aligner = SampleAligner() if wire.startswith("pcm_") else None
        try:
            async with session.post(url, params={"output_format": wire}, json=body) as response:
                if response.status >= 400:
                    raise status_error(_OWNER, response.status, await response.read())
                async for chunk in response.content.iter_any():
                    audio = aligner.align(chunk) if aligner is not None else chunk
                    if audio:
                        yield audio
        except aiohttp.SocketTimeoutError:
            raise PatterConnectionError(
                f"ElevenLabs TTS stalled: no audio for {self._stall_timeout:g} s "
                f"(ElevenLabsTTS stall_timeout)",
                code=ErrorCode.TIMEOUT,
            ) from None
        except (aiohttp.ConnectionTimeoutError, TimeoutError):
            raise PatterConnectionError(
                f"ElevenLabs did not accept the request within {self._timeout:g} s "
                f"(ElevenLabsTTS timeout) at {self.base_url}",
                code=ErrorCode.TIMEOUT,
            ) from None
        except aiohttp.ClientError as exc:
            raise PatterConnectionError(
                f"ElevenLabs TTS connection to {self.base_url} failed: {exc!r}"
            ) from None

    async def close(self) -> None:
        """Close the shared connection pool; the provider is unusable afterwards."""
        self._closed = True
        await self._client.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise PatterError("this ElevenLabsTTS is closed: create a new one to synthesize")
        return self._client.get()

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"xi-api-key": self._api_key},
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeout, sock_read=self._stall_timeout
            ),
            proxy=env_proxy(self.base_url),
        )


ElevenLabsTTS = TTS
