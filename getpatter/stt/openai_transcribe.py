"""OpenAI's transcription models over HTTP (spec STT-4): ``OpenAITranscribeSTT``.

Like Whisper, ``gpt-4o-transcribe`` and ``gpt-4o-mini-transcribe`` transcribe recordings: each
caller utterance, cut by the agent's local VAD, is uploaded as one WAV file to
``/v1/audio/transcriptions`` (see :mod:`getpatter.stt.utterance`), so a pipeline agent needs
``vad=SileroVAD()``.

Response formats: OpenAI answers these models in ``json`` only; with it Patter asks for the
tokens' log-probabilities (``include=["logprobs"]``), whose mean gives
:attr:`Transcript.confidence <getpatter.stt.base.Transcript.confidence>`. ``verbose_json``
(segments with timestamps and log-probabilities) is answered by ``whisper-1`` only, so it is
accepted with that model and refused with the others, as the API would refuse it.
"""

from __future__ import annotations

from typing import Literal, get_args

from getpatter.errors import ConfigError
from getpatter.stt._openai_transcription import OpenAITranscriptionSTT

__all__ = ["STT", "OpenAITranscribeSTT", "ResponseFormat"]

ResponseFormat = Literal["json", "verbose_json"]
"""What the transcription endpoint answers: the text (``json``), or with segments."""


class STT(OpenAITranscriptionSTT):
    """OpenAI Transcribe (flat name ``OpenAITranscribeSTT``): ``model="gpt-4o-transcribe"``
    (or ``"gpt-4o-mini-transcribe"``), ``language=None`` (detected), ``response_format="json"``.

    ``api_key`` falls back to ``OPENAI_API_KEY``; ``base_url`` to ``OPENAI_BASE_URL``, else
    ``https://api.openai.com/v1``. ``response_format="verbose_json"`` needs
    ``model="whisper-1"`` (see the module docstring).

    ``filter_hallucinations`` is off by default (these models rarely invent text from
    silence); ``True`` applies Whisper's filter
    (:class:`~getpatter.stt.utterance.HallucinationFilter`). ``timeout``, ``max_retries`` and
    ``max_utterance_seconds`` are as for :class:`~getpatter.stt.whisper.STT`.
    """

    name = "openai_transcribe"
    owner = "OpenAITranscribeSTT"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        language: str | None = None,
        model: str = "gpt-4o-transcribe",
        response_format: ResponseFormat = "json",
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 0,
        max_utterance_seconds: float = 30.0,
        filter_hallucinations: bool = False,
    ) -> None:
        if response_format not in get_args(ResponseFormat):
            raise ConfigError(
                f"OpenAITranscribeSTT response_format={response_format!r} is not supported: use "
                "'json' or 'verbose_json'"
            )
        if response_format == "verbose_json" and model != "whisper-1":
            raise ConfigError(
                f"OpenAI answers model={model!r} in 'json' only and refuses "
                "response_format='verbose_json' (only whisper-1 gives segments): use "
                "response_format='json' (confidence then comes from token log-probabilities) "
                "or model='whisper-1'"
            )
        super().__init__(
            api_key,
            model=model,
            language=language,
            response_format=response_format,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_utterance_seconds=max_utterance_seconds,
            filter_hallucinations=filter_hallucinations,
        )


OpenAITranscribeSTT = STT
"""Flat alias of :class:`STT`."""
