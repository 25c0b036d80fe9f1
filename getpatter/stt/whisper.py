"""OpenAI Whisper speech-to-text over HTTP (spec STT-3): ``WhisperSTT``.

Whisper transcribes recordings, not streams: each caller utterance, cut by the agent's local
VAD, is uploaded as one WAV file to ``/v1/audio/transcriptions`` (see
:mod:`getpatter.stt.utterance`), so a pipeline agent with Whisper needs ``vad=SileroVAD()``.
The request asks for ``verbose_json``, whose segments give :attr:`Transcript.confidence
<getpatter.stt.base.Transcript.confidence>`.
"""

from __future__ import annotations

from getpatter.errors import ConfigError
from getpatter.stt._openai_transcription import OpenAITranscriptionSTT

__all__ = ["STT", "WhisperSTT"]


class STT(OpenAITranscriptionSTT):
    """Whisper (flat name ``WhisperSTT``): ``language="en"``, ``model="whisper-1"``.

    ``api_key`` falls back to ``OPENAI_API_KEY``; ``base_url`` to ``OPENAI_BASE_URL``, else
    ``https://api.openai.com/v1``. ``language=None`` lets Whisper detect it.

    ``filter_hallucinations`` (on by default, spec STT-3) drops the finals Whisper makes up
    from silence and noise: ``"you"``, ``"thank you"`` or bare punctuation, a repeat of the
    previous final within 2 s, and any final less than 0.5 s after the previous one (see
    :class:`~getpatter.stt.utterance.HallucinationFilter`); ``False`` keeps every final.

    ``timeout`` bounds each request (seconds); ``max_retries`` is the SDK's retry count (0: a
    failure is reported at once and that utterance is lost, the call goes on).
    ``max_utterance_seconds`` bounds what one file holds: longer speech is sent in pieces of
    that length.
    """

    name = "whisper"
    owner = "WhisperSTT"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        language: str | None = "en",
        model: str = "whisper-1",
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 0,
        max_utterance_seconds: float = 30.0,
        filter_hallucinations: bool = True,
    ) -> None:
        if isinstance(model, str) and not model.startswith("whisper"):
            raise ConfigError(
                f"WhisperSTT runs Whisper models such as 'whisper-1', not model={model!r}: "
                "use OpenAITranscribeSTT(model=...) for the gpt-4o transcription models"
            )
        super().__init__(
            api_key,
            model=model,
            language=language,
            response_format="verbose_json",
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_utterance_seconds=max_utterance_seconds,
            filter_hallucinations=filter_hallucinations,
        )


WhisperSTT = STT
"""Flat alias of :class:`STT`."""
