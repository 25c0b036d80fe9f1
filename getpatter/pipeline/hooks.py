"""Pipeline hooks: user code that sees or changes each stage of a turn (spec HK).

Order (HK-2): ``before_send_to_stt`` (caller audio) -> STT -> ``after_transcribe`` (the caller's
text) -> ``before_llm`` (the messages) -> LLM -> ``after_llm`` (``on_chunk`` per token chunk,
``on_sentence`` per sentence, ``on_response`` once) -> text transforms -> guardrails ->
``before_synthesize`` (each sentence) -> TTS -> ``after_synthesize`` (each audio chunk).

Every hook may be sync or async. A hook that takes two parameters also gets a
:class:`HookContext`. Returning ``None`` drops the item where HK-3 says so (and keeps it
elsewhere); any other value replaces it. A hook that raises is logged and the unmodified
value goes on (HK-4).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from getpatter._callables import takes_two
from getpatter.errors import ConfigError

__all__ = [
    "HookContext",
    "PatterDeprecationWarning",
    "PipelineHookExecutor",
    "PipelineHooks",
]

logger = logging.getLogger("getpatter.pipeline.hooks")

Hook = Callable[..., Any]


class PatterDeprecationWarning(DeprecationWarning):
    """A Patter feature that will be removed; the message says what to use instead."""


@dataclass(frozen=True)
class HookContext:
    """Who the call is with, and the conversation so far (HK-7)."""

    call_id: str
    caller: str
    callee: str
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PipelineHooks:
    """The hooks of a pipeline agent: ``phone.agent(..., hooks=PipelineHooks(...))`` (HK-1).

    ``after_llm`` is a dict or an object with any of ``on_chunk(chunk) -> str`` (sync),
    ``on_sentence(sentence, ctx)`` and ``on_response(text, ctx)``; a bare callable is the
    deprecated form of ``on_response`` (HK-6).
    """

    before_send_to_stt: Hook | None = None
    after_transcribe: Hook | None = None
    before_llm: Hook | None = None
    after_llm: Any = None
    before_synthesize: Hook | None = None
    after_synthesize: Hook | None = None

    def __post_init__(self) -> None:
        for name in (
            "before_send_to_stt",
            "after_transcribe",
            "before_llm",
            "before_synthesize",
            "after_synthesize",
        ):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ConfigError(
                    f"PipelineHooks {name} must be a function, got {type(value).__name__}"
                )
        _after_llm_parts(self.after_llm)


class PipelineHookExecutor:
    """Runs one agent's hooks for one call, applying the return rules of HK-3 and HK-4."""

    def __init__(self, hooks: PipelineHooks | None, context: Callable[[], HookContext]) -> None:
        self._hooks = hooks if hooks is not None else PipelineHooks()
        self._context = context
        self._on_chunk, self._on_sentence, self._on_response = _after_llm_parts(
            self._hooks.after_llm
        )

    @property
    def filters_audio(self) -> bool:
        """True when ``before_send_to_stt`` is set (caller audio must pass through it)."""
        return self._hooks.before_send_to_stt is not None

    @property
    def rewrites_messages(self) -> bool:
        """True when ``before_llm`` is set (the messages must be rendered for it)."""
        return self._hooks.before_llm is not None

    @property
    def holds_response(self) -> bool:
        """True when ``on_response`` wants the whole response before anything is spoken."""
        return self._on_response is not None

    @property
    def filters_output_audio(self) -> bool:
        """True when ``after_synthesize`` is set."""
        return self._hooks.after_synthesize is not None

    def before_send_to_stt(self, pcm16: bytes) -> bytes | None:
        """Caller audio (16-bit PCM) on its way to STT; ``None`` drops it. Sync: per frame."""
        hook = self._hooks.before_send_to_stt
        if hook is None:
            return pcm16
        try:
            result = hook(pcm16)
        except Exception:
            logger.exception("before_send_to_stt raised; the audio goes on unchanged")
            return pcm16
        if inspect.isawaitable(result):
            _close(result)
            logger.error("before_send_to_stt must be a plain function: it runs for every frame")
            return pcm16
        return result if result is None or isinstance(result, bytes) else pcm16

    async def after_transcribe(self, text: str) -> str | None:
        """The caller's utterance; ``None`` skips the turn."""
        return await self._text_hook("after_transcribe", self._hooks.after_transcribe, text)

    async def before_llm(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The messages about to be sent; a returned list replaces them, else ``None``."""
        hook = self._hooks.before_llm
        if hook is None:
            return None
        result = await self._call("before_llm", hook, messages)
        return result if isinstance(result, list) else None

    def on_chunk(self, chunk: str) -> str:
        """One streamed LLM text chunk, before sentences are cut."""
        if self._on_chunk is None:
            return chunk
        try:
            result = self._on_chunk(chunk)
        except Exception:
            logger.exception("after_llm on_chunk raised; the chunk goes on unchanged")
            return chunk
        return result if isinstance(result, str) else chunk

    async def on_sentence(self, sentence: str) -> str:
        """One sentence before TTS: ``None`` keeps it, ``""`` drops it, a string replaces it."""
        if self._on_sentence is None:
            return sentence
        result = await self._call("on_sentence", self._on_sentence, sentence, with_context=True)
        return result if isinstance(result, str) else sentence

    async def on_response(self, text: str) -> str:
        """The whole response, before any of it is spoken: ``None`` keeps it."""
        if self._on_response is None:
            return text
        result = await self._call("on_response", self._on_response, text, with_context=True)
        return result if isinstance(result, str) else text

    async def before_synthesize(self, sentence: str) -> str | None:
        """A sentence about to be synthesised; ``None`` skips its TTS."""
        return await self._text_hook("before_synthesize", self._hooks.before_synthesize, sentence)

    async def after_synthesize(self, audio: bytes) -> bytes | None:
        """A chunk of synthesised audio; ``None`` drops it."""
        hook = self._hooks.after_synthesize
        if hook is None:
            return audio
        result = await self._call("after_synthesize", hook, audio, default=audio)
        return result if result is None or isinstance(result, bytes) else audio

    async def _text_hook(self, name: str, hook: Hook | None, text: str) -> str | None:
        if hook is None:
            return text
        result = await self._call(name, hook, text, default=text)
        return result if result is None or isinstance(result, str) else text

    async def _call(
        self, name: str, hook: Hook, value: Any, *, with_context: bool = False, default: Any = None
    ) -> Any:
        try:
            args = (value, self._context()) if with_context or takes_two(hook) else (value,)
            result = hook(*args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except Exception:
            logger.exception("pipeline hook %s raised; the value goes on unchanged", name)
            return default


_legacy_warning_given = False


def _after_llm_parts(
    after_llm: Any,
) -> tuple[Callable[[str], Any] | None, Hook | None, Hook | None]:
    """``(on_chunk, on_sentence, on_response)`` from a dict, an object or a legacy callable."""
    global _legacy_warning_given
    if after_llm is None:
        return None, None, None
    if isinstance(after_llm, Mapping):
        parts = tuple(after_llm.get(key) for key in ("on_chunk", "on_sentence", "on_response"))
        unknown = set(after_llm) - {"on_chunk", "on_sentence", "on_response"}
        if unknown:
            raise ConfigError(
                f"after_llm keys are on_chunk, on_sentence and on_response; got {sorted(unknown)}"
            )
    elif any(hasattr(after_llm, key) for key in ("on_chunk", "on_sentence", "on_response")):
        parts = tuple(
            getattr(after_llm, key, None) for key in ("on_chunk", "on_sentence", "on_response")
        )
    elif callable(after_llm):
        if not _legacy_warning_given:
            _legacy_warning_given = True
            warnings.warn(
                "a bare after_llm(text, ctx) callable is deprecated and will be removed in "
                "v0.7.0: pass after_llm={'on_response': fn}",
                PatterDeprecationWarning,
                stacklevel=4,
            )
        parts = (None, None, after_llm)
    else:
        raise ConfigError(
            "after_llm must be a dict or object with on_chunk/on_sentence/on_response, "
            f"got {type(after_llm).__name__}"
        )
    for key, part in zip(("on_chunk", "on_sentence", "on_response"), parts, strict=True):
        if part is not None and not callable(part):
            raise ConfigError(f"after_llm {key} must be a function, got {type(part).__name__}")
    return parts[0], parts[1], parts[2]


def _close(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
