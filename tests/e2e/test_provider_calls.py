"""Every provider makes a sandbox call: a pipeline agent with that STT, LLM or TTS (the others
the defaults) answers two turns on the loopback Twilio network, through its service's fake.

To cover a new provider, add a factory to :data:`STTS`, :data:`LLMS` or :data:`TTSS` (and its
name to :data:`NEEDS_VAD` when it does not detect the end of speech itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from getpatter import (
    LMNTTTS,
    AnthropicLLM,
    AssemblyAISTT,
    CartesiaSTT,
    CartesiaTTS,
    CerebrasLLM,
    DeepgramSTT,
    ElevenLabsTTS,
    ElevenLabsWebSocketTTS,
    GoogleLLM,
    GroqLLM,
    OpenAILLM,
    OpenAITranscribeSTT,
    OpenAITTS,
    RimeTTS,
    SonioxSTT,
    SpeechmaticsSTT,
    WhisperSTT,
)
from getpatter.testing.offline import offline_provider
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

STTS: dict[str, Callable[[], Any]] = {
    "deepgram": lambda: DeepgramSTT(api_key="dg-CANARY"),
    # Formatted turns, so the caller's words read as the scenario wrote them.
    "assemblyai": lambda: AssemblyAISTT.for_twilio(api_key="aai-CANARY", format_turns=True),
    "soniox": lambda: SonioxSTT.for_twilio(api_key="snx-CANARY"),
    "speechmatics": lambda: SpeechmaticsSTT(api_key="sm-CANARY"),
    "cartesia": lambda: CartesiaSTT(api_key="ca-CANARY"),
    "whisper": lambda: WhisperSTT(api_key="sk-CANARY"),
    "openai_transcribe": lambda: OpenAITranscribeSTT(api_key="sk-CANARY"),
}
LLMS: dict[str, Callable[[], Any]] = {
    "openai": lambda: OpenAILLM(api_key="sk-CANARY"),
    "anthropic": lambda: AnthropicLLM(api_key="ant-CANARY"),
    "groq": lambda: GroqLLM(api_key="gsk_CANARY"),
    "cerebras": lambda: CerebrasLLM(api_key="csk-CANARY"),
    "google": lambda: GoogleLLM(api_key="AIza-CANARY"),
    "google_vertex": lambda: GoogleLLM(
        vertexai=True, project="clinic-prod", credentials=Credentials(token="ya29.CANARY")
    ),
}
TTSS: dict[str, Callable[[], Any]] = {
    "elevenlabs": lambda: ElevenLabsTTS(api_key="el-CANARY"),
    "elevenlabs_ws": lambda: ElevenLabsWebSocketTTS(api_key="el-CANARY"),
    "openai": lambda: OpenAITTS(api_key="sk-CANARY"),
    "cartesia": lambda: CartesiaTTS(api_key="car-CANARY"),
    "rime": lambda: RimeTTS(api_key="rime-CANARY"),
    "lmnt": lambda: LMNTTTS(api_key="lmnt-CANARY"),
}
NEEDS_VAD: set[str] = {"cartesia", "whisper", "openai_transcribe"}
"""STTs that leave the end of a turn to the agent's VAD."""

DEFAULTS = {"stt": STTS["deepgram"], "llm": LLMS["openai"], "tts": TTSS["elevenlabs"]}
CASES = [
    *(pytest.param("stt", name, id=f"stt-{name}") for name in STTS),
    *(pytest.param("llm", name, id=f"llm-{name}") for name in LLMS),
    *(pytest.param("tts", name, id=f"tts-{name}") for name in TTSS),
]


def _scenario() -> Scenario:
    # The caller leaves the agent 2.5 s to start answering, so a slow, busy machine does not
    # make it speak over a late reply.
    steps = (Say("When are you open?"), Say("Thanks, bye.", pause_ms=2500), HangUp(2500))
    return Scenario(
        callee=Callee(steps=steps),
        replies=(Reply("We open at nine."), Reply("Goodbye!")),
    )


@pytest.mark.parametrize(("kind", "name"), CASES)
async def test_each_provider_answers_a_sandbox_call(kind: str, name: str) -> None:
    chosen = {"stt": STTS, "llm": LLMS, "tts": TTSS}[kind][name]()
    providers = {slot: factory() for slot, factory in DEFAULTS.items()} | {kind: chosen}
    assert offline_provider(chosen) is not None, f"no sandbox fake for {type(chosen).__name__}"
    options: dict[str, Any] = {}
    if kind == "stt" and name in NEEDS_VAD:
        options["vad"] = _silero()
    async with asyncio.timeout(60), Sandbox(_scenario()) as sandbox:
        await sandbox.serve(
            sandbox.phone.agent("You are the receptionist.", **providers, **options)
        )
        call = await sandbox.call_in()
        report = await call.ended()
    heard = [(line["role"], line["text"]) for line in report["transcript"]]
    assert heard == [
        ("user", "When are you open?"),
        ("assistant", "We open at nine."),
        ("user", "Thanks, bye."),
        ("assistant", "Goodbye!"),
    ]
    metrics = report["metrics"]
    names = {"stt": metrics.stt_provider, "llm": metrics.llm_provider, "tts": metrics.tts_provider}
    assert names[kind] == chosen.name
    assert report["outcome"] == "completed"
    cost = getattr(metrics.cost, kind)
    assert cost > 0 or chosen.name in metrics.cost.unpriced
    # Every turn's metrics are measured, whichever provider ran it (spec MT-3, MT-4).
    answered = [turn for turn in metrics.turns if turn.user_text]
    assert len(answered) == 2
    for turn in answered:
        latency = turn.latency
        assert turn.stt_audio_seconds > 0 and turn.tts_characters > 0
        assert None not in (latency.stt_ms, latency.endpoint_ms, latency.llm_ttft_ms)
        assert None not in (latency.tts_ms, latency.total_ms)


@pytest.mark.parametrize("name", list(STTS))
async def test_the_caller_can_interrupt_the_agent_with_each_stt(name: str) -> None:
    long_reply = "Let me tell you about every one of our many dental services in detail. " * 3
    scenario = Scenario(
        callee=Callee(
            steps=(
                Say("Tell me about your services."),
                Say("Stop, just book me in.", interrupt_after_ms=1500),
                HangUp(pause_ms=3000),
            )
        ),
        replies=(Reply(long_reply), Reply("Sure, you're booked.")),
    )
    options: dict[str, Any] = {"vad": _silero()} if name in NEEDS_VAD else {}
    async with asyncio.timeout(60), Sandbox(scenario) as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist.",
            stt=STTS[name](),
            llm=LLMS["openai"](),
            tts=TTSS["elevenlabs"](),
            **options,
        )
        await sandbox.serve(agent)
        call = await sandbox.call_in()
        report = await call.ended()
    assert call.simulated.clears, "the agent was never interrupted"
    spoken = [line["text"] for line in report["transcript"] if line["role"] == "assistant"]
    assert spoken[0] != long_reply.strip() and long_reply.startswith(spoken[0])
    assert spoken[-1] == "Sure, you're booked."


def _silero() -> Any:
    from getpatter import SileroVAD

    return SileroVAD()
