"""The dict form of an in-call agent (spec PT-2): ``agent={"stt": "deepgram", ...}``.

``PatterTool(agent={...})`` takes the arguments of ``Patter.agent()`` as a dict, where the
providers may be named instead of built: ``{"stt": "deepgram", "llm": "openai", "tts":
"elevenlabs"}`` builds ``DeepgramSTT()``, ``OpenAILLM()`` and ``ElevenLabsTTS()``, each keyed
by its environment variable (``DEEPGRAM_API_KEY``...). A provider with options is a dict with
its name under ``"provider"``: ``{"provider": "deepgram", "model": "nova-3"}``. A provider
object is taken as it is. ``system_prompt`` may be left out: each call's ``goal`` is appended
to :data:`DEFAULT_SYSTEM_PROMPT`. Anything this cannot take is a :class:`ConfigError` that says
what it takes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from getpatter.agent import Agent, build_agent
from getpatter.errors import ConfigError

__all__ = ["DEFAULT_SYSTEM_PROMPT", "PROVIDER_NAMES", "agent_from_dict"]

DEFAULT_SYSTEM_PROMPT = (
    "You are a courteous assistant making a phone call on behalf of your user. Introduce "
    "yourself, pursue the goal of the call, keep it brief, and end the call once it is reached."
)
"""The in-call agent's instructions when the dict has no ``system_prompt``."""

PROVIDER_NAMES: dict[str, dict[str, str]] = {
    "stt": {
        "deepgram": "getpatter.stt.deepgram:DeepgramSTT",
        "assemblyai": "getpatter.stt.assemblyai:AssemblyAISTT",
        "soniox": "getpatter.stt.soniox:SonioxSTT",
        "cartesia": "getpatter.stt.cartesia:CartesiaSTT",
        "speechmatics": "getpatter.stt.speechmatics:SpeechmaticsSTT",
        "whisper": "getpatter.stt.whisper:WhisperSTT",
        "openai_transcribe": "getpatter.stt.openai_transcribe:OpenAITranscribeSTT",
    },
    "tts": {
        "elevenlabs": "getpatter.tts.elevenlabs:ElevenLabsTTS",
        "elevenlabs_ws": "getpatter.tts.elevenlabs_ws:ElevenLabsWebSocketTTS",
        "openai": "getpatter.tts.openai:OpenAITTS",
        "cartesia": "getpatter.tts.cartesia:CartesiaTTS",
        "rime": "getpatter.tts.rime:RimeTTS",
        "lmnt": "getpatter.tts.lmnt:LMNTTTS",
    },
    "llm": {
        "openai": "getpatter.llm.openai:OpenAILLM",
        "anthropic": "getpatter.llm.anthropic:AnthropicLLM",
        "groq": "getpatter.llm.groq:GroqLLM",
        "cerebras": "getpatter.llm.cerebras:CerebrasLLM",
        "google": "getpatter.llm.google:GoogleLLM",
    },
    "engine": {
        "openai_realtime": "getpatter.engines.openai:Realtime",
        "elevenlabs_convai": "getpatter.engines.elevenlabs:ConvAI",
    },
}
"""For each provider key of the dict, the names it takes and the class each one builds."""

_AGENT_KEYS = tuple(inspect.signature(build_agent).parameters)


def agent_from_dict(spec: Mapping[str, Any]) -> Agent:
    """The :class:`Agent` a dict describes (see the module docstring); checks every key."""
    unknown = [key for key in spec if key not in _AGENT_KEYS]
    if unknown:
        raise ConfigError(
            f"agent= has unknown key(s) {', '.join(map(repr, unknown))}: it takes the "
            f"arguments of phone.agent(): {', '.join(_AGENT_KEYS)}"
        )
    options = dict(spec)
    options.setdefault("system_prompt", DEFAULT_SYSTEM_PROMPT)
    for key in PROVIDER_NAMES:
        if key in options:
            options[key] = _provider(key, options[key])
    return build_agent(**options)


def _provider(key: str, value: object) -> object:
    """A provider built from a name or ``{"provider": name, **options}``; other values as given."""
    if isinstance(value, str):
        name, options = value, {}
    elif isinstance(value, Mapping):
        options = dict(value)
        name = options.pop("provider", None)
        if not isinstance(name, str):
            raise ConfigError(
                f'agent["{key}"] as a dict needs its provider name under "provider", e.g. '
                f'{{"provider": "{next(iter(PROVIDER_NAMES[key]))}", ...}}'
            )
    else:
        return value  # a provider object: phone.agent() checks it
    names = PROVIDER_NAMES[key]
    target = names.get(name.strip().lower().replace("-", "_"))
    if target is None:
        raise ConfigError(
            f'agent["{key}"]={name!r} is not a provider name Patter knows: use one of '
            f"{', '.join(names)}, or pass a provider object"
        )
    module, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        signature = inspect.signature(cls)
        signature.bind(**options)
    except TypeError as exc:
        takes = ", ".join(p for p in signature.parameters if p not in ("self", "args", "kwargs"))
        raise ConfigError(
            f'agent["{key}"]: {cls_name}(...) refused these options ({exc}); it takes: {takes}'
        ) from None
    return cls(**options)
