"""The :class:`Agent` an AI phone call runs, and how ``Patter.agent()`` builds and checks it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from getpatter._validation import require_bool, require_callable, require_int, require_str
from getpatter.engines.elevenlabs import ConvAI
from getpatter.engines.openai import Realtime
from getpatter.errors import ConfigError
from getpatter.guardrails import Guardrail
from getpatter.prompt import build_instructions, substitute, validate_variables
from getpatter.tools import normalize_tools

__all__ = ["Agent", "ProviderMode", "STTConfig", "TTSConfig", "build_agent"]

logger = logging.getLogger("getpatter.agent")

ProviderMode = Literal["openai_realtime", "elevenlabs_convai", "pipeline"]
Engine = Realtime | ConvAI

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_PIPELINE_ONLY = ("hooks", "text_transforms", "vad", "audio_filter")
DEFAULT_VOICE = "alloy"
DEFAULT_MODEL = "gpt-4o-mini-realtime-preview"
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class STTConfig:
    """Speech-to-text settings, named in the API reference. Nothing uses them in this version:
    ``agent(stt=...)`` takes a provider instance such as ``DeepgramSTT()`` and refuses these."""

    provider: str
    api_key: str = field(default="", repr=False)
    language: str = "en"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_str("STTConfig provider", self.provider, allow_empty=False)
        require_str("STTConfig api_key", self.api_key)
        require_str("STTConfig language", self.language, allow_empty=False)
        if not isinstance(self.options, dict):
            raise ConfigError("STTConfig options must be a dict")


@dataclass(frozen=True)
class TTSConfig:
    """Text-to-speech settings, named in the API reference. Nothing uses them in this version:
    ``agent(tts=...)`` takes a provider instance such as ``ElevenLabsTTS()`` and refuses these."""

    provider: str
    api_key: str = field(default="", repr=False)
    voice: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_str("TTSConfig provider", self.provider, allow_empty=False)
        require_str("TTSConfig api_key", self.api_key)
        require_str("TTSConfig voice", self.voice)
        if not isinstance(self.options, dict):
            raise ConfigError("TTSConfig options must be a dict")


@dataclass(frozen=True)
class Agent:
    """What an AI phone agent says and how it speaks. Build it with ``Patter.agent()``.

    ``provider`` is ``"openai_realtime"``, ``"elevenlabs_convai"`` or ``"pipeline"`` and is
    normally derived from ``engine``/``stt``+``tts``. ``engine`` and ``llm`` hold the instances
    passed to ``agent()``. Constructing an ``Agent`` directly skips ``agent()``'s checks.
    """

    system_prompt: str
    voice: str = DEFAULT_VOICE
    model: str = DEFAULT_MODEL
    language: str = DEFAULT_LANGUAGE
    first_message: str = ""
    tools: list[dict[str, Any]] | None = None
    provider: ProviderMode = "openai_realtime"
    stt: Any = None
    tts: Any = None
    variables: dict[str, str] | None = None
    guardrails: list[Guardrail] | None = None
    hooks: Any = None
    text_transforms: list[Callable[[str], str]] | None = None
    vad: Any = None
    audio_filter: Any = None
    background_audio: Any = None
    barge_in_threshold_ms: int = 300
    aggressive_first_flush: bool = False
    disable_phone_preamble: bool = False
    engine: Engine | None = None
    llm: Any = None
    send_dtmf: bool = False
    """The model gets the ``send_dtmf`` tool to press keys on the call."""
    ivr: Any = None
    """An :class:`~getpatter.ivr.IVRActivity` watching for automated menus, or None."""

    def __post_init__(self) -> None:
        if self.provider not in get_args(ProviderMode):
            raise ConfigError(
                f"Agent provider={self.provider!r} is not one of {list(get_args(ProviderMode))}; "
                "leave it out and let Patter.agent() derive it"
            )
        if self.provider != "pipeline":
            # A directly built Agent skips agent()'s checks: the pipeline's options would be
            # accepted here and do nothing on an engine's calls.
            _refuse_pipeline_only(
                f"not on an Agent with provider={self.provider!r}; build it with "
                "Patter.agent(stt=..., tts=...) for pipeline mode, or remove them",
                hooks=self.hooks,
                text_transforms=self.text_transforms or None,
                vad=self.vad,
                audio_filter=self.audio_filter,
                aggressive_first_flush=self.aggressive_first_flush,
            )

    def instructions(self, variables: dict[str, str] | None = None) -> str:
        """The system instructions for one call: preamble + prompt with variables substituted.

        ``variables`` (e.g. returned by ``on_call_start``) are merged over the agent's own.
        """
        return build_instructions(
            self.system_prompt,
            self._merged(variables),
            phone_preamble=not self.disable_phone_preamble,
        )

    def greeting(
        self, variables: dict[str, str] | None = None, first_message: str | None = None
    ) -> str:
        """The first message for one call, with variables substituted ("" for no greeting).

        ``first_message`` replaces the agent's own for this call (``call(first_message=...)``).
        """
        text = self.first_message if first_message is None else first_message
        return substitute(text, self._merged(variables))

    def describe(self, *, on_message: object = None) -> str:
        """One line naming what answers: the engine and model, or the pipeline's parts."""
        if isinstance(self.engine, ConvAI):
            voice = f" / {self.engine.voice}" if self.engine.voice else ""
            return f"{self.provider}, agent {self.engine.agent_id}{voice}"
        if self.provider != "pipeline":
            return f"{self.provider}, {self.model} / {self.voice}"
        if on_message is not None:
            brain = "on_message"
        elif self.llm is not None:
            brain = f"{_name(self.llm)} {getattr(self.llm, 'model', '')}".rstrip()
        else:
            brain = "the default LLM"
        tts_voice = getattr(self.tts, "voice", "")
        voice = f" / {tts_voice}" if tts_voice else ""
        return f"pipeline, {_name(self.stt)} -> {brain} -> {_name(self.tts)}{voice}"

    def _merged(self, variables: dict[str, str] | None) -> dict[str, str]:
        return {**(self.variables or {}), **(variables or {})}


def build_agent(
    system_prompt: str,
    engine: Engine | None = None,
    stt: Any = None,
    llm: Any = None,
    tts: Any = None,
    voice: str = DEFAULT_VOICE,
    model: str = DEFAULT_MODEL,
    language: str = DEFAULT_LANGUAGE,
    first_message: str = "",
    tools: Sequence[Any] | None = None,
    variables: dict[str, Any] | None = None,
    guardrails: Sequence[Guardrail] | None = None,
    hooks: Any = None,
    text_transforms: Sequence[Callable[[str], str]] | None = None,
    vad: Any = None,
    audio_filter: Any = None,
    background_audio: Any = None,
    barge_in_threshold_ms: int = 300,
    aggressive_first_flush: bool = False,
    disable_phone_preamble: bool = False,
    send_dtmf: bool | None = None,
    ivr: Any = None,
) -> Agent:
    """Build an :class:`Agent` (this is ``Patter.agent()``), checking every argument.

    Pass ``engine=OpenAIRealtime(...)`` or ``engine=ElevenLabsConvAI(...)`` for an end-to-end
    engine, or ``stt=`` and ``tts=`` (plus ``llm=``) for pipeline mode; with neither, the agent
    uses OpenAI Realtime, keyed by ``OPENAI_API_KEY`` when a call needs it.

    ``send_dtmf=True`` gives the model the ``send_dtmf`` tool, to press keys on the call (an
    automated menu's options); ``ivr=IVRActivity(...)`` tells it when the far end is such a
    menu and when the menu repeats itself (see :mod:`getpatter.ivr`), and turns ``send_dtmf``
    on unless it is ``False``. Both are off by default.

    Raises:
        ConfigError: (also a ``ValueError``) on missing credentials or conflicting options,
            such as ``engine=`` together with ``stt=``/``tts=``.
    """
    require_str("system_prompt", system_prompt)
    require_str("voice", voice, allow_empty=False)
    require_str("model", model, allow_empty=False)
    require_str("first_message", first_message)
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise ConfigError(
            f"language={language!r} must be a BCP-47 code such as 'en', 'en-US' or 'it'"
        )
    require_int("barge_in_threshold_ms", barge_in_threshold_ms, minimum=0, maximum=10_000)
    require_bool("aggressive_first_flush", aggressive_first_flush)
    require_bool("disable_phone_preamble", disable_phone_preamble)

    if audio_filter is not None:
        from getpatter.audio.filters import check_audio_filter

        audio_filter = check_audio_filter(audio_filter)
    if ivr is not None:
        from getpatter.ivr import IVRActivity

        if not isinstance(ivr, IVRActivity):
            raise ConfigError(
                f"ivr must be IVRActivity(...) (from getpatter), got {type(ivr).__name__}"
            )
    presses_keys = ivr is not None if send_dtmf is None else require_bool("send_dtmf", send_dtmf)

    _check_background_audio(background_audio)
    checked_guardrails = _check_guardrails(guardrails)
    if hooks is not None:
        from getpatter.pipeline.hooks import PipelineHooks

        if not isinstance(hooks, PipelineHooks):
            raise ConfigError(
                f"hooks must be PipelineHooks(...) (from getpatter), got {type(hooks).__name__}"
            )

    provider: ProviderMode
    if engine is not None:
        if not isinstance(engine, Realtime | ConvAI):
            raise ConfigError(
                f"engine must be OpenAIRealtime(...) or ElevenLabsConvAI(...), got {type(engine).__name__}"
            )
        if stt is not None or tts is not None:
            raise ConfigError(
                "engine= cannot be combined with stt=/tts=: an engine does its own speech. "
                "Drop engine= for pipeline mode, or drop stt=/tts= for engine mode"
            )
        _refuse_pipeline_only(
            "not with engine=; remove them or switch to pipeline mode",
            hooks=hooks,
            text_transforms=text_transforms,
            vad=vad,
            audio_filter=audio_filter,
            aggressive_first_flush=aggressive_first_flush,
        )
        engine.check_credentials()
        if llm is not None:
            _warn_llm_ignored()
            llm = None
        abilities = engine.capabilities
        if checked_guardrails and not (abilities.screens_output or abilities.streams_agent_text):
            raise ConfigError(
                f"guardrails= cannot screen an {_engine_name(engine)} agent: it speaks its "
                "replies directly, with no text step to check. Remove guardrails=, or use "
                "OpenAIRealtime(...) or a pipeline (stt= and tts=)"
            )
        provider = engine.provider
        voice, model = _engine_voice_and_model(engine, voice, model)
        if isinstance(engine, ConvAI) and voice != DEFAULT_VOICE and not engine.voice:
            engine = replace(engine, voice=voice)  # the voice the engine sends
    elif stt is not None or tts is not None:
        if stt is None or tts is None:
            raise ConfigError(
                "pipeline mode needs both stt= and tts= (got only "
                f"{'stt' if stt is not None else 'tts'}=); pass both, or neither for the default "
                "OpenAI Realtime engine"
            )
        _check_provider_object("stt", stt)
        _check_provider_object("tts", tts)
        if vad is not None:
            _check_provider_object("vad", vad)
        provider = "pipeline"
        voice, model, language = _pipeline_voice_model_language(
            stt, llm, tts, voice=voice, model=model, language=language
        )
        if aggressive_first_flush and language.casefold().startswith("it"):
            raise ConfigError(
                f"aggressive_first_flush=True has no effect with language={language!r}: Italian "
                "replies are only cut at the end of a sentence. Remove it"
            )
    else:
        provider = "openai_realtime"
        _refuse_pipeline_only(
            "and this agent runs on OpenAI Realtime (no engine=, stt= or tts= given); pass "
            "stt= and tts= for pipeline mode, or remove them",
            hooks=hooks,
            text_transforms=text_transforms,
            vad=vad,
            audio_filter=audio_filter,
            aggressive_first_flush=aggressive_first_flush,
        )
    if llm is not None and provider != "pipeline":
        raise ConfigError("llm= is for pipeline mode: pass stt= and tts= with it")
    if llm is not None:
        _check_provider_object("llm", llm)

    return Agent(
        system_prompt=system_prompt,
        voice=voice,
        model=model,
        language=language,
        first_message=first_message,
        tools=normalize_tools(tools),
        provider=provider,
        stt=stt,
        tts=tts,
        variables=validate_variables("variables", variables) if variables is not None else None,
        guardrails=checked_guardrails,
        hooks=hooks,
        text_transforms=_check_transforms(text_transforms),
        vad=vad,
        audio_filter=audio_filter,
        background_audio=background_audio,
        barge_in_threshold_ms=barge_in_threshold_ms,
        aggressive_first_flush=aggressive_first_flush,
        disable_phone_preamble=disable_phone_preamble,
        engine=engine,
        llm=llm,
        send_dtmf=presses_keys,
        ivr=ivr,
    )


def _check_background_audio(player: object) -> None:
    if player is None:
        return
    from getpatter.audio.background.player import BackgroundAudioPlayer

    if not isinstance(player, BackgroundAudioPlayer):
        raise ConfigError(
            "background_audio must be BackgroundAudioPlayer(...) (from getpatter), "
            f"got {type(player).__name__}"
        )


def _refuse_pipeline_only(
    why_not: str,
    *,
    hooks: object,
    text_transforms: object,
    vad: object,
    audio_filter: object,
    aggressive_first_flush: bool,
) -> None:
    """Refuse the pipeline-only options for an engine agent; ``why_not`` ends the message."""
    given = [
        name
        for name, value in zip(
            _PIPELINE_ONLY, (hooks, text_transforms, vad, audio_filter), strict=True
        )
        if value is not None
    ]
    if aggressive_first_flush:
        given.append("aggressive_first_flush")
    if given:
        raise ConfigError(
            f"{', '.join(given)} only work in pipeline mode (stt= and tts=), {why_not}"
        )


def _engine_name(engine: Engine) -> str:
    """The engine's class as users import it from getpatter."""
    return "OpenAIRealtime" if isinstance(engine, Realtime) else "ElevenLabsConvAI"


def _engine_voice_and_model(engine: Engine, voice: str, model: str) -> tuple[str, str]:
    """The agent's voice and model with ``engine``: the engine's own.

    ``voice=``/``model=`` of ``agent()`` are fallbacks for an engine that does not set them; an
    explicit value that differs from the engine's is refused, as it would be ignored.
    """
    flat = _engine_name(engine)
    if voice != DEFAULT_VOICE and engine.voice and voice != engine.voice:
        raise ConfigError(
            f"voice={voice!r} conflicts with {flat}(voice={engine.voice!r}): the engine speaks "
            f"with its own voice. Set it there, {flat}(voice={voice!r}), and drop voice="
        )
    if isinstance(engine, Realtime):
        if model != DEFAULT_MODEL and model != engine.model:
            raise ConfigError(
                f"model={model!r} conflicts with OpenAIRealtime(model={engine.model!r}): set it "
                f"on the engine, OpenAIRealtime(model={model!r}), and drop model="
            )
        return engine.voice, engine.model
    if model != DEFAULT_MODEL:
        raise ConfigError(
            f"model={model!r} has no effect with ElevenLabsConvAI: the conversational agent's "
            "model is chosen on ElevenLabs. Drop model="
        )
    return engine.voice or voice, model


def _pipeline_voice_model_language(
    stt: object, llm: object, tts: object, *, voice: str, model: str, language: str
) -> tuple[str, str, str]:
    """A pipeline agent's voice (its TTS's), model and language (its STT's unless given).

    ``voice=`` and ``model=`` name the OpenAI Realtime voice and model, which a pipeline does
    not use: a value other than the default (or the provider's own) is refused.
    """
    tts_voice = getattr(tts, "voice", None)
    if voice != DEFAULT_VOICE and voice != tts_voice:
        raise ConfigError(
            f"voice={voice!r} is the OpenAI Realtime voice and a pipeline agent does not use it: "
            "it speaks with its TTS provider's voice"
            + (f" ({tts_voice!r})" if isinstance(tts_voice, str) else "")
            + ". Set the voice there, e.g. ElevenLabsTTS(voice_id=...) or "
            f"OpenAITTS(voice={voice!r}), and drop voice="
        )
    llm_model = getattr(llm, "model", None)
    if model != DEFAULT_MODEL and model != llm_model:
        raise ConfigError(
            f"model={model!r} is the OpenAI Realtime model and a pipeline agent does not use it: "
            f"its LLM has its own, e.g. llm=OpenAILLM(model={model!r}). Drop model="
        )
    stt_language = getattr(stt, "language", None)
    if isinstance(stt_language, str) and _LANGUAGE.fullmatch(stt_language):
        if language == DEFAULT_LANGUAGE:
            language = stt_language
        elif _primary(language) != _primary(stt_language):
            raise ConfigError(
                f"language={language!r} does not match the speech-to-text language "
                f"({stt_language!r}): the STT provider recognises the language it is set to. "
                f"Set it there too, e.g. DeepgramSTT(language={language!r})"
            )
    spoken_voice = tts_voice if isinstance(tts_voice, str) and tts_voice else voice
    return spoken_voice, model, language


def _primary(language: str) -> str:
    """The primary subtag of a BCP-47 code, lower case: ``"en-US"`` -> ``"en"``."""
    return language.split("-")[0].casefold()


_llm_warning_given = False


def _warn_llm_ignored() -> None:
    global _llm_warning_given
    if not _llm_warning_given:
        _llm_warning_given = True
        logger.warning("llm= is ignored when engine= is set: the engine produces the replies")


def _check_provider_object(param: str, value: object) -> None:
    from getpatter.llm.base import LLMProvider
    from getpatter.stt.base import STTProvider
    from getpatter.tts.base import TTSProvider
    from getpatter.vad.base import VADProvider

    protocol, example = {
        "stt": (STTProvider, "DeepgramSTT()"),
        "llm": (LLMProvider, "OpenAILLM() or AnthropicLLM()"),
        "tts": (TTSProvider, "ElevenLabsTTS() or OpenAITTS()"),
        "vad": (VADProvider, "SileroVAD()"),
    }[param]
    if not isinstance(value, protocol):
        raise ConfigError(
            f"{param}= takes a provider instance such as {example}, not a "
            f"{type(value).__name__} (see getpatter/{param}/base.py for the protocol)"
        )


def _check_guardrails(guardrails: object) -> list[Guardrail] | None:
    if guardrails is None:
        return None
    if not isinstance(guardrails, list | tuple):
        raise ConfigError(
            f"guardrails must be a list of Guardrail, got {type(guardrails).__name__}"
        )
    for i, item in enumerate(guardrails):
        if not isinstance(item, Guardrail):
            raise ConfigError(
                f"guardrails[{i}] must be a Guardrail (use getpatter.guardrail(...)), "
                f"got {type(item).__name__}"
            )
    return list(guardrails)


def _check_transforms(transforms: object) -> list[Callable[[str], str]] | None:
    if transforms is None:
        return None
    if not isinstance(transforms, list | tuple):
        raise ConfigError(
            f"text_transforms must be a list of functions (str) -> str, got {type(transforms).__name__}"
        )
    return [require_callable(f"text_transforms[{i}]", fn) for i, fn in enumerate(transforms)]


def _name(provider: object) -> str:
    """A provider's price-table name (``deepgram``, ``elevenlabs``), else its class name."""
    name = getattr(provider, "name", None)
    return name if isinstance(name, str) and name else type(provider).__name__
