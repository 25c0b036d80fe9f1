"""Building the pipeline engine of each call from a pipeline :class:`~getpatter.agent.Agent`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from getpatter.agent import Agent
from getpatter.engines.base import EngineFactory
from getpatter.errors import ConfigError
from getpatter.pipeline.brains import (
    Brain,
    CallInfo,
    LLMBrain,
    MessageHandlerBrain,
    MessageWebhook,
)
from getpatter.pipeline.engine import PipelineEngine, PipelineSettings

if TYPE_CHECKING:
    from getpatter.llm.base import LLMProvider

__all__ = ["llm_brain_factory", "pipeline_engine_factory"]


def pipeline_engine_factory(
    agent: Agent, on_message: Callable[..., Any] | str | MessageWebhook | None = None
) -> EngineFactory:
    """How to build each call's :class:`PipelineEngine` for ``agent``; checks everything now.

    The brain is ``on_message`` (a function, an http(s) URL or a :class:`MessageWebhook`) when
    given, else ``agent.llm``, else (spec LLM-2) an OpenAI LLM when ``OPENAI_API_KEY`` is set.
    ``on_message`` with an agent that has ``llm`` or ``tools`` is refused: neither would be used.
    """
    if agent.provider != "pipeline":
        raise ConfigError(f"pipeline_engine_factory needs a pipeline agent, got {agent.provider!r}")
    _check_stt(agent)
    brain_for = _brain_factory(agent, on_message)
    settings = PipelineSettings(
        stt=agent.stt,
        tts=agent.tts,
        brain_for=brain_for,
        vad=agent.vad,
        audio_filter=agent.audio_filter,
        hooks=agent.hooks,
        guardrails=tuple(agent.guardrails or ()),
        text_transforms=tuple(agent.text_transforms or ()),
        aggressive_first_flush=agent.aggressive_first_flush,
        parallel_tools=agent.llm is None or agent.llm.capabilities.parallel_tool_calls,
    )
    stt_formats = agent.stt.capabilities.input_formats
    tts_formats = agent.tts.capabilities.output_formats
    # Best: a format both providers take as they are; then one the STT takes (the pipeline
    # converts the agent's speech anyway).
    formats = tuple(f for f in stt_formats if f in tts_formats) + tuple(
        f for f in stt_formats if f not in tts_formats
    )
    return EngineFactory(
        lambda: PipelineEngine(settings), formats, PipelineEngine.capabilities, name="pipeline"
    )


def _check_stt(agent: Agent) -> None:
    """Refuse an STT the pipeline cannot run a call with, naming the fix."""
    stt = agent.stt
    name = type(stt).__name__
    if not stt.capabilities.streaming and agent.vad is None:
        raise ConfigError(
            f"{name} transcribes one utterance at a time, so the pipeline needs a local VAD to "
            "hear where each utterance ends: add vad=SileroVAD() to the agent "
            '(pip install "getpatter[silero]")'
        )
    if not stt.capabilities.endpointing and agent.vad is None:
        raise ConfigError(
            f"{name} does not say when the caller has finished speaking, so no turn would ever "
            "end: add vad=SileroVAD() to the agent"
        )


def refuse_unused_llm(agent: Agent, *, instead: str) -> None:
    """With ``on_message=`` the function answers: refuse an agent whose ``llm=`` or ``tools=``
    would never be used. ``instead`` ends the tools message with the other way out."""
    if agent.llm is not None:
        raise ConfigError("on_message= and an agent with llm= both produce replies: keep one")
    if agent.tools:
        raise ConfigError(
            "the agent's tools= would never run: an LLM calls tools, and with on_message= "
            f"your function answers instead. Remove tools= (call your code from on_message), "
            f"or {instead}"
        )


def _brain_factory(
    agent: Agent, on_message: Callable[..., Any] | str | MessageWebhook | None
) -> Callable[[CallInfo], Brain]:
    if on_message is not None:
        refuse_unused_llm(agent, instead="use llm= instead of on_message=")
        if isinstance(on_message, str):
            on_message = MessageWebhook(on_message)
        if isinstance(on_message, MessageWebhook):
            return on_message.brain
        if not callable(on_message):
            raise ConfigError(
                "on_message must be a function, an http(s) URL or a MessageWebhook, "
                f"got {type(on_message).__name__}"
            )
        handler = on_message
        return lambda call: MessageHandlerBrain(handler, call)
    llm = agent.llm
    if llm is None:
        if not os.environ.get("OPENAI_API_KEY"):
            raise ConfigError(
                "this pipeline agent has no brain: pass llm=OpenAILLM(...) (or another LLM) to "
                "phone.agent(), or on_message= to serve(), or set OPENAI_API_KEY for the default "
                "OpenAI LLM"
            )
        from getpatter.llm.openai import LLM as OpenAILLM

        llm = OpenAILLM()
    return llm_brain_factory(agent, llm)


def llm_brain_factory(agent: Agent, llm: LLMProvider) -> Callable[[CallInfo], Brain]:
    """The built-in LLM loop over ``llm`` for ``agent``'s calls (one brain serves them all);
    a ``ConfigError`` when the agent has tools ``llm`` cannot call."""
    if agent.tools and not llm.capabilities.tool_calling:
        raise ConfigError(
            f"{type(llm).__name__} cannot call tools, so the agent's tools= would never run: "
            "remove tools= or use an LLM that calls tools"
        )
    brain = LLMBrain(llm)
    return lambda _call: brain
