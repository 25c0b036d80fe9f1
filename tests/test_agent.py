import logging

import pytest

from getpatter import (
    Agent,
    ConfigError,
    DeepgramSTT,
    ElevenLabsConvAI,
    ElevenLabsTTS,
    Guardrail,
    OpenAILLM,
    OpenAIRealtime,
    Patter,
    PipelineHooks,
    STTConfig,
    Tool,
    TTSConfig,
    tool,
)
from getpatter.prompt import PHONE_PREAMBLE


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ELEVENLABS_API_KEY", "ELEVENLABS_AGENT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def phone():
    return Patter()


def _pipeline(phone, **kwargs):
    return phone.agent(
        "prompt",
        stt=DeepgramSTT(api_key="dg-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        **kwargs,
    )


def test_default_agent_is_openai_realtime_and_needs_no_key_until_a_call(phone):
    agent = phone.agent("You are helpful.")
    assert agent.provider == "openai_realtime"
    assert (agent.voice, agent.model, agent.language) == (
        "alloy",
        "gpt-4o-mini-realtime-preview",
        "en",
    )


def test_engine_voice_and_model_become_the_agents(phone):
    agent = phone.agent(
        "x", engine=OpenAIRealtime(api_key="k-CANARY", voice="nova", model="gpt-realtime")
    )
    assert (agent.voice, agent.model, agent.provider) == ("nova", "gpt-realtime", "openai_realtime")


def test_engine_without_key_fails_when_the_agent_is_built(phone):
    engine = OpenAIRealtime()
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        phone.agent("x", engine=engine)


def test_engine_key_comes_from_env(phone, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-env")
    assert OpenAIRealtime().api_key == "sk-CANARY-env"
    assert "sk-CANARY-env" not in repr(OpenAIRealtime())


def test_elevenlabs_engine_needs_key_and_agent_id(phone, monkeypatch):
    with pytest.raises(ConfigError, match="ELEVENLABS_AGENT_ID"):
        phone.agent("x", engine=ElevenLabsConvAI(api_key="k-CANARY"))
    monkeypatch.setenv("ELEVENLABS_AGENT_ID", "agent_1")
    agent = phone.agent("x", engine=ElevenLabsConvAI(api_key="k-CANARY", voice="rachel"))
    assert (agent.provider, agent.voice) == ("elevenlabs_convai", "rachel")


def test_engine_with_stt_or_tts_is_refused(phone):
    with pytest.raises(ValueError, match="cannot be combined"):
        phone.agent(
            "x", engine=OpenAIRealtime(api_key="k-CANARY"), tts=TTSConfig(provider="openai")
        )


def test_engine_with_llm_ignores_llm_and_warns_once(phone, caplog):
    import getpatter.agent as agent_module

    agent_module._llm_warning_given = False
    with caplog.at_level(logging.WARNING, logger="getpatter.agent"):
        first = phone.agent("x", engine=OpenAIRealtime(api_key="k-CANARY"), llm=object())
        phone.agent("x", engine=OpenAIRealtime(api_key="k-CANARY"), llm=object())
    assert first.llm is None
    assert [r.message for r in caplog.records].count(
        "llm= is ignored when engine= is set: the engine produces the replies"
    ) == 1


def test_pipeline_only_options_with_engine_are_refused(phone):
    with pytest.raises(ConfigError, match="text_transforms only work in pipeline mode"):
        phone.agent("x", engine=OpenAIRealtime(api_key="k-CANARY"), text_transforms=[str.upper])


def test_pipeline_mode_needs_both_stt_and_tts(phone):
    with pytest.raises(ConfigError, match="both stt= and tts="):
        phone.agent("x", stt=STTConfig(provider="deepgram"))
    agent = _pipeline(phone, llm=OpenAILLM(api_key="sk-CANARY"))
    assert agent.provider == "pipeline"
    with pytest.raises(ConfigError, match="llm= takes a provider instance"):
        _pipeline(phone, llm=object())
    with pytest.raises(ConfigError, match="stt= takes a provider instance"):
        phone.agent("x", stt=STTConfig(provider="deepgram"), tts=ElevenLabsTTS(api_key="el-CANARY"))


def test_llm_without_pipeline_is_refused(phone):
    with pytest.raises(ConfigError, match="llm= is for pipeline mode"):
        phone.agent("x", llm=object())


def test_agent_is_frozen(phone):
    import dataclasses

    agent = phone.agent("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        agent.voice = "echo"


def test_direct_construction_is_allowed_but_provider_is_a_closed_literal():
    assert Agent(system_prompt="x", voice="echo", language="es").voice == "echo"
    with pytest.raises(ConfigError, match="provider"):
        Agent(system_prompt="x", provider="openai")


def test_tools_mix_tool_objects_factory_results_and_dicts(phone):
    async def lookup(arguments, context):
        return "ok"

    @tool
    def weather(city: str) -> str:
        """Current weather."""
        return city

    agent = phone.agent(
        "x",
        tools=[
            Tool(name="lookup", handler=lookup),
            tool(name="book", webhook_url="https://api.example.com/book"),
            {"name": "cancel", "description": "Cancel", "handler": lookup},
            weather,
        ],
    )
    assert [t["name"] for t in agent.tools] == ["lookup", "book", "cancel", "weather"]
    assert agent.tools[0]["parameters"] == {"type": "object", "properties": {}}
    assert agent.tools[1]["webhook_url"] == "https://api.example.com/book"


def test_variables_and_preamble_build_the_instructions(phone):
    agent = phone.agent(
        "You help {name} with order {order}. Keep {unknown} as is.",
        first_message="Hi {name}!",
        variables={"name": "Ada", "order": 42},
    )
    instructions = agent.instructions()
    assert instructions.startswith(PHONE_PREAMBLE)
    assert instructions.endswith("You help Ada with order 42. Keep {unknown} as is.")
    assert agent.greeting() == "Hi Ada!"
    assert agent.instructions({"name": "Grace"}).endswith(
        "You help Grace with order 42. Keep {unknown} as is."
    )


def test_preamble_can_be_disabled_and_discloses_nothing(phone):
    agent = phone.agent("Only this.", disable_phone_preamble=True)
    assert agent.instructions() == "Only this."
    assert " AI" not in PHONE_PREAMBLE and "artificial" not in PHONE_PREAMBLE.lower()


def test_guardrails_are_kept_in_order(phone):
    rules = [Guardrail(name="a", blocked_terms=["x"]), Guardrail(name="b", check=lambda t: False)]
    assert phone.agent("x", guardrails=rules).guardrails == rules


def test_describe_names_what_answers_the_phone(phone):
    assert phone.agent("Hi.").describe() == "openai_realtime, gpt-4o-mini-realtime-preview / alloy"
    pipeline = _pipeline(phone)
    assert pipeline.describe(on_message=lambda message: "hi") == (
        "pipeline, deepgram -> on_message -> elevenlabs / EXAVITQu4vr4xnSDxMaL"
    )
    with_llm = _pipeline(phone, llm=OpenAILLM(api_key="sk-CANARY-test", model="gpt-4.1-mini"))
    assert with_llm.describe() == (
        "pipeline, deepgram -> openai_llm gpt-4.1-mini -> elevenlabs / EXAVITQu4vr4xnSDxMaL"
    )
    assert pipeline.describe() == (
        "pipeline, deepgram -> the default LLM -> elevenlabs / EXAVITQu4vr4xnSDxMaL"
    )


# Options that would be accepted and ignored are refused (issue 10, point 9).


@pytest.mark.parametrize("mode", ["pipeline", "default", "engine"])
def test_background_audio_takes_a_player_in_every_mode(phone, mode):
    from getpatter import BackgroundAudioPlayer

    build = {
        "pipeline": lambda **kw: _pipeline(phone, **kw),
        "default": lambda **kw: phone.agent("x", **kw),
        "engine": lambda **kw: phone.agent("x", engine=OpenAIRealtime(api_key="k-CANARY"), **kw),
    }[mode]
    player = BackgroundAudioPlayer("thinking", when="thinking")
    assert build(background_audio=player).background_audio is player
    with pytest.raises(
        ConfigError, match=r"background_audio must be BackgroundAudioPlayer\(\.\.\.\)"
    ):
        build(background_audio="hold_music")


def test_audio_filter_is_for_pipeline_agents(phone):
    from getpatter import HighPassFilter

    hpf = HighPassFilter()
    assert _pipeline(phone, audio_filter=hpf).audio_filter is hpf
    with pytest.raises(ConfigError, match="audio_filter must have a process"):
        _pipeline(phone, audio_filter=object())
    with pytest.raises(ConfigError, match=r"audio_filter only work in pipeline mode .* OpenAI"):
        phone.agent("x", audio_filter=hpf)
    with pytest.raises(
        ConfigError,
        match=r"audio_filter only work in pipeline mode \(stt= and tts=\), not with engine=",
    ):
        phone.agent("x", engine=OpenAIRealtime(api_key="k-CANARY"), audio_filter=hpf)


@pytest.mark.parametrize(
    "options",
    [
        lambda: {"text_transforms": [str.upper]},
        lambda: {"hooks": PipelineHooks(after_transcribe=str.strip)},
        lambda: {"vad": object()},
        lambda: {"aggressive_first_flush": True},
    ],
)
def test_the_default_realtime_agent_refuses_pipeline_only_options(phone, options):
    with pytest.raises(ConfigError, match=r"only work in pipeline mode .* runs on OpenAI Realtime"):
        phone.agent("x", **options())


def test_hooks_must_be_pipeline_hooks(phone):
    with pytest.raises(ConfigError, match="hooks must be PipelineHooks"):
        _pipeline(phone, hooks={"after_transcribe": str.strip})


def test_an_explicit_voice_or_model_other_than_the_engines_is_refused(phone):
    engine = OpenAIRealtime(api_key="k-CANARY", voice="nova")
    with pytest.raises(ConfigError, match=r"OpenAIRealtime\(voice='echo'\)"):
        phone.agent("x", engine=engine, voice="echo")
    with pytest.raises(ConfigError, match=r"OpenAIRealtime\(model='gpt-realtime'\)"):
        phone.agent("x", engine=engine, model="gpt-realtime")
    same = phone.agent("x", engine=engine, voice="nova", model="gpt-4o-mini-realtime-preview")
    assert (same.voice, same.model) == ("nova", "gpt-4o-mini-realtime-preview")
    # Without engine=, voice= and model= configure the default OpenAI Realtime engine.
    default = phone.agent("x", voice="echo", model="gpt-realtime")
    assert (default.voice, default.model) == ("echo", "gpt-realtime")


def test_convai_takes_no_model_and_no_guardrails(phone, monkeypatch):
    monkeypatch.setenv("ELEVENLABS_AGENT_ID", "agent_1")
    engine = ElevenLabsConvAI(api_key="k-CANARY", voice="rachel")
    with pytest.raises(ConfigError, match="model is chosen on ElevenLabs"):
        phone.agent("x", engine=engine, model="gpt-realtime")
    with pytest.raises(ConfigError, match=r"ElevenLabsConvAI\(voice='adam'\)"):
        phone.agent("x", engine=engine, voice="adam")
    rule = Guardrail(name="g", blocked_terms=["refund"])
    with pytest.raises(ConfigError, match="guardrails= cannot screen an ElevenLabsConvAI agent"):
        phone.agent("x", engine=engine, guardrails=[rule])
    # The OpenAI Realtime engine keeps its guardrails.
    assert phone.agent("x", engine=OpenAIRealtime(api_key="k-CANARY"), guardrails=[rule]).guardrails


def test_a_pipeline_speaks_with_its_tts_voice_and_its_llms_model(phone):
    with pytest.raises(ConfigError, match="voice='nova' is the OpenAI Realtime voice"):
        _pipeline(phone, voice="nova")
    with pytest.raises(ConfigError, match=r"llm=OpenAILLM\(model='gpt-4.1'\)"):
        _pipeline(phone, model="gpt-4.1")
    agent = _pipeline(
        phone,
        llm=OpenAILLM(api_key="sk-CANARY", model="gpt-4.1"),
        model="gpt-4.1",
        voice="EXAVITQu4vr4xnSDxMaL",
    )
    assert (agent.voice, agent.model) == ("EXAVITQu4vr4xnSDxMaL", "gpt-4.1")


def test_a_pipeline_agents_language_follows_its_stt_and_a_mismatch_is_refused(phone):
    tts = ElevenLabsTTS(api_key="el-CANARY")
    italian = phone.agent("x", stt=DeepgramSTT(api_key="dg-CANARY", language="it"), tts=tts)
    assert italian.language == "it"
    assert phone.agent(
        "x", stt=DeepgramSTT(api_key="dg-CANARY", language="en-US"), tts=tts, language="en-GB"
    )
    with pytest.raises(ConfigError, match=r"DeepgramSTT\(language='it'\)"):
        phone.agent("x", stt=DeepgramSTT(api_key="dg-CANARY"), tts=tts, language="it")
    # A language Deepgram names otherwise (multilingual) leaves the agent's as given.
    multi = phone.agent(
        "x", stt=DeepgramSTT(api_key="dg-CANARY", language="multi"), tts=tts, language="es"
    )
    assert multi.language == "es"


def test_aggressive_first_flush_is_refused_where_it_has_no_effect(phone):
    with pytest.raises(ConfigError, match="no effect with language='it-IT'"):
        phone.agent(
            "x",
            stt=DeepgramSTT(api_key="dg-CANARY", language="it-IT"),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
            aggressive_first_flush=True,
        )
    assert phone.agent(
        "x",
        stt=DeepgramSTT(api_key="dg-CANARY", language="en"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        aggressive_first_flush=True,
    ).aggressive_first_flush


@pytest.mark.parametrize(
    "option",
    [
        {"vad": object()},
        {"audio_filter": object()},
        {"hooks": object()},
        {"text_transforms": [str.upper]},
        {"aggressive_first_flush": True},
    ],
    ids=lambda option: next(iter(option)),
)
def test_a_directly_built_engine_agent_refuses_pipeline_only_options(
    option: dict[str, object],
) -> None:
    with pytest.raises(ConfigError, match="only work in pipeline mode"):
        Agent(system_prompt="x", **option)  # type: ignore[arg-type]
    assert Agent(system_prompt="x", provider="pipeline", **option)  # type: ignore[arg-type]
