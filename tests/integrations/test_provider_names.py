"""PatterTool(agent={...}) with providers named as spec 09 (PT-2) shows them."""

from __future__ import annotations

import pytest

import getpatter
from getpatter import ConfigError, PatterTool
from getpatter.control import SafetyPolicy
from getpatter.integrations.provider_names import (
    DEFAULT_SYSTEM_PROMPT,
    PROVIDER_NAMES,
    agent_from_dict,
)

KEYS = {
    "DEEPGRAM_API_KEY": "dg-CANARY",
    "OPENAI_API_KEY": "sk-CANARY",
    "ELEVENLABS_API_KEY": "el-CANARY",
    "GROQ_API_KEY": "gq-CANARY",
}


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def test_provider_names_build_the_providers_the_spec_shows():
    agent = agent_from_dict({"stt": "deepgram", "llm": "openai", "tts": "elevenlabs"})
    assert agent.provider == "pipeline"
    assert isinstance(agent.stt, getpatter.DeepgramSTT)
    assert isinstance(agent.llm, getpatter.OpenAILLM)
    assert isinstance(agent.tts, getpatter.ElevenLabsTTS)
    assert agent.system_prompt == DEFAULT_SYSTEM_PROMPT


def test_options_names_case_and_objects_are_taken_too():
    tts = getpatter.OpenAITTS()
    agent = agent_from_dict(
        {
            "system_prompt": "You book tables.",
            "stt": {"provider": "Deepgram", "model": "nova-3"},
            "llm": "groq",
            "tts": tts,
            "first_message": "Hello!",
        }
    )
    assert agent.stt.model == "nova-3" and isinstance(agent.llm, getpatter.GroqLLM)
    assert agent.tts is tts and agent.first_message == "Hello!"
    assert agent.system_prompt == "You book tables."
    engine = agent_from_dict({"engine": "openai-realtime"})
    assert engine.provider == "openai_realtime"


def test_every_listed_name_is_an_exported_provider_class():
    """Checked against getpatter's lazy exports, without importing every provider SDK."""
    exported = {getpatter.OpenAIRealtime, getpatter.ElevenLabsConvAI}
    for names in PROVIDER_NAMES.values():
        for target in names.values():
            module, cls = target.split(":")
            if getpatter._LAZY.get(cls) != module:
                assert any(f"{e.__module__}:{e.__name__}" == target for e in exported), target


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"stt": "dg"}, r"not a provider name Patter knows: use one of deepgram, assemblyai"),
        ({"tts": "deepgram"}, r"agent\[\"tts\"\]='deepgram' is not a provider name"),
        ({"stt": {"model": "nova-3"}}, r'needs its provider name under "provider"'),
        ({"stt": {"provider": "deepgram", "colour": "red"}}, r"DeepgramSTT\(\.\.\.\) refused"),
        ({"voice_id": "x"}, r"unknown key\(s\) 'voice_id'.*system_prompt, engine, stt"),
        ({"stt": "deepgram"}, r"pipeline mode needs both stt= and tts="),
        ({"stt": "deepgram", "tts": "elevenlabs", "barge_in_threshold_ms": "300"}, "barge_in"),
    ],
)
def test_what_it_cannot_take_is_a_config_error_not_a_type_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        agent_from_dict(spec)


def test_a_missing_key_names_its_environment_variable(monkeypatch):
    monkeypatch.delenv("DEEPGRAM_API_KEY")
    with pytest.raises(ConfigError, match="DEEPGRAM_API_KEY"):
        agent_from_dict({"stt": "deepgram", "tts": "elevenlabs"})


def test_patter_tool_takes_the_dict_form_and_refuses_other_agents():
    phone = getpatter.Patter(
        carrier=getpatter.Twilio(account_sid="AC" + "0" * 32, auth_token="t-CANARY"),
        phone_number="+15550000001",
        webhook_url="example.test",
    )
    policy = SafetyPolicy(allowed_prefixes=("+1555",))
    tool = PatterTool(
        phone=phone, agent={"stt": "deepgram", "llm": "openai", "tts": "elevenlabs"}, policy=policy
    )
    assert isinstance(tool.service.agent.stt, getpatter.DeepgramSTT)
    with pytest.raises(ConfigError, match=r"agent must be phone\.agent"):
        PatterTool(phone=phone, agent="deepgram", policy=policy)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a provider name"):
        PatterTool(phone=phone, agent={"stt": "nope", "tts": "openai"}, policy=policy)
