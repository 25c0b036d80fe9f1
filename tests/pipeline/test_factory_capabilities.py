"""The pipeline acts on what its providers declare they can do."""

from __future__ import annotations

import dataclasses

import pytest
from test_pipeline_engine import ScriptedLLM, ScriptedSTT, ScriptedVAD, ToneTTS

from getpatter import Patter, tool
from getpatter.errors import ConfigError
from getpatter.llm.base import LLMCapabilities
from getpatter.pipeline.brains import LLMBrain
from getpatter.pipeline.factory import pipeline_engine_factory
from getpatter.stt.base import STTCapabilities


@tool
def check_order(order: str) -> str:
    """Look an order up."""
    return f"Order {order} ships tomorrow."


def agent_with(stt: ScriptedSTT, llm: ScriptedLLM, **options: object):
    return Patter.agent("You help.", stt=stt, llm=llm, tts=ToneTTS(), **options)


def test_an_stt_that_does_not_endpoint_needs_a_vad() -> None:
    stt = ScriptedSTT()
    stt.capabilities = dataclasses.replace(stt.capabilities, endpointing=False)
    with pytest.raises(ConfigError, match=r"ScriptedSTT does not say when the caller.*vad="):
        pipeline_engine_factory(agent_with(stt, ScriptedLLM()))


def test_an_stt_that_does_not_stream_needs_a_vad_and_serves_with_one() -> None:
    stt = ScriptedSTT()
    stt.capabilities = STTCapabilities(False, False, False, ("ulaw_8000",))
    with pytest.raises(
        ConfigError, match=r"ScriptedSTT transcribes one utterance at a time.*vad=SileroVAD\(\)"
    ):
        pipeline_engine_factory(agent_with(stt, ScriptedLLM()))
    pipeline_engine_factory(agent_with(stt, ScriptedLLM(), vad=ScriptedVAD()))


def test_an_llm_without_tool_calling_is_offered_no_tools_and_refuses_the_agents() -> None:
    llm = ScriptedLLM()
    llm.capabilities = LLMCapabilities(tool_calling=False)
    assert LLMBrain(llm).uses_tools is False  # the pipeline sends it no tool declarations
    assert LLMBrain(ScriptedLLM()).uses_tools is True
    with pytest.raises(ConfigError, match="ScriptedLLM cannot call tools"):
        pipeline_engine_factory(agent_with(ScriptedSTT(), llm, tools=[check_order]))
    pipeline_engine_factory(agent_with(ScriptedSTT(), llm))  # without tools= it serves
