"""Whole calls through the sandbox: inbound, outbound (answered, busy, no-answer), voicemail."""

import asyncio

import pytest

from getpatter import ElevenLabsConvAI
from getpatter.errors import ConfigError
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

GREETING = "Hello, Bright Smile Dental."


def agent(sandbox, first_message=GREETING, **kwargs):
    return sandbox.phone.agent("You are the receptionist.", first_message=first_message, **kwargs)


async def test_inbound_call_has_transcript_metrics_cost_and_every_callback(carrier, engine):
    scenario = Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=2500))),
        replies=(Reply("We are open nine to five."),),
    )
    seen: dict[str, list] = {"start": [], "transcript": [], "metrics": []}

    async def on_call_start(data):
        seen["start"].append(data)

    async def on_transcript(data):
        seen["transcript"].append((data["role"], data["text"]))

    async def on_metrics(data):
        seen["metrics"].append(data)

    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(
            agent(sandbox, **engine),
            on_call_start=on_call_start,
            on_transcript=on_transcript,
            on_metrics=on_metrics,
        )
        call = await sandbox.call_in()
        report = await call.ended()

    assert report["outcome"] == "completed" and report["ended_by"] == "caller"
    assert report["error"] is None
    assert [(e["role"], e["text"]) for e in report["transcript"]] == [
        ("assistant", GREETING),
        ("user", "What are your hours?"),
        ("assistant", "We are open nine to five."),
    ]
    assert seen["transcript"] == [(e["role"], e["text"]) for e in report["transcript"]]
    (start,) = seen["start"]
    assert start["call_id"] == call.call_id and start["direction"] == "inbound"
    assert start["caller"] == scenario.callee.number and start["callee"] == sandbox.phone_number
    metrics = report["metrics"]
    (turn,) = metrics.turns
    assert (turn.user_text, turn.agent_text) == (
        "What are your hours?",
        "We are open nine to five.",
    )
    assert turn.latency.total_ms is not None and turn.latency.total_ms >= turn.latency.llm_ttft_ms
    assert metrics.latency_p50.total_ms == turn.latency.total_ms
    assert len(seen["metrics"]) == 1 and seen["metrics"][0]["cost_so_far"].llm > 0
    minute_price = {"twilio": 0.0085, "telnyx": 0.007}[carrier]
    assert metrics.cost.llm > 0 and metrics.cost.telephony == pytest.approx(minute_price)
    assert metrics.cost.total == pytest.approx(metrics.cost.llm + metrics.cost.telephony)
    mode = "elevenlabs_convai" if engine else "openai_realtime"
    assert metrics.provider_mode == mode and metrics.telephony_provider == carrier
    # The caller heard the greeting and the reply, as audio, in real time.
    assert call.simulated.heard_ms >= 1500
    assert call.simulated.hangup_by == "callee"


async def test_outbound_answered_call(carrier, engine):
    scenario = Scenario(
        callee=Callee(steps=(Say("Yes, speaking."), HangUp(pause_ms=2500))),
        replies=(Reply("Great, your order is ready."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, **engine))
        call = await sandbox.call_out(first_message="Hi, this is Bright Smile calling.")
        report = await call.ended()
    assert report["direction"] == "outbound" and report["outcome"] == "completed"
    assert report["caller"] == sandbox.phone_number and report["callee"] == scenario.callee.number
    assert report["transcript"][0]["text"] == "Hi, this is Bright Smile calling."
    assert [e["text"] for e in report["transcript"][1:]] == [
        "Yes, speaking.",
        "Great, your order is ready.",
    ]
    # Telnyx reports no ringing: call.initiated, then call.answered.
    expected = (
        ["initiated", "ringing", "in-progress"]
        if carrier == "twilio"
        else ["initiated", "in-progress"]
    )
    assert call.simulated.statuses[: len(expected)] == expected


@pytest.mark.parametrize(
    ("answer", "outcome"), [("busy", "busy"), ("no-answer", "no-answer"), ("fail", "failed")]
)
async def test_unanswered_outbound_calls_report_their_outcome(carrier, answer, outcome):
    started = []
    async with Sandbox(
        Scenario(callee=Callee(answer=answer, ring_ms=100)), carrier=carrier
    ) as sandbox:
        await sandbox.serve(agent(sandbox), on_call_start=started.append)
        call = await sandbox.call_out()
        report = await call.ended()
    assert report["outcome"] == outcome
    assert report["transcript"] == [] and report["duration_seconds"] == 0
    assert report["metrics"].cost.total == 0
    assert started == []


async def test_voicemail_is_left_after_machine_detection(carrier):
    machines = []
    scenario = Scenario(callee=Callee(answer="voicemail", machine_greeting_ms=600))
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, first_message=""))
        call = await sandbox.call_out(
            machine_detection=True,
            voicemail_message="Please call Bright Smile back.",
            on_machine=machines.append,
        )
        report = await call.ended()
        fake = sandbox.openai.sessions[0]
    assert [m["answered_by"] for m in machines] == ["machine"]
    assert report["outcome"] == "voicemail" and report["answered_by"] == "machine"
    assert report["transcript"][-1] == {
        **report["transcript"][-1],
        "role": "assistant",
        "text": "Please call Bright Smile back.",
    }
    assert [r.text for r in fake.responses if r.text] == ["Please call Bright Smile back."]
    assert call.simulated.hangup_by == "app"
    assert call.simulated.heard_ms >= 1000


async def test_a_voicemail_message_is_refused_for_an_engine_that_cannot_say_it_verbatim():
    convai = ElevenLabsConvAI(api_key="el-CANARY", agent_id="agent_e2e")
    refused = "ElevenLabs ConvAI engine cannot leave a voicemail_message"
    async with Sandbox(Scenario(callee=Callee(answer="voicemail"))) as sandbox:
        with pytest.raises(ConfigError, match=refused):
            await sandbox.serve(agent(sandbox, engine=convai), voicemail_message="Call us back.")
    async with Sandbox(Scenario(callee=Callee(answer="voicemail"))) as sandbox:
        await sandbox.serve(agent(sandbox, engine=convai))
        with pytest.raises(ConfigError, match=refused):
            await sandbox.call_out(machine_detection=True, voicemail_message="Call us back.")
        assert sandbox.network.calls == []


async def test_machine_without_voicemail_message_hangs_up(carrier):
    async with Sandbox(
        Scenario(callee=Callee(answer="voicemail", machine_greeting_ms=400)), carrier=carrier
    ) as sandbox:
        await sandbox.serve(agent(sandbox, first_message=""))
        call = await sandbox.call_out(machine_detection=True)
        report = await call.ended()
    assert report["outcome"] == "machine" and call.simulated.hangup_by == "app"


async def test_concurrent_calls_keep_their_own_transcripts(carrier, engine):
    scenario = Scenario(
        callee=Callee(steps=(Say("First question?"), HangUp(pause_ms=2500))),
        replies=(Reply("First answer."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, **engine))
        calls = [await sandbox.call_in() for _ in range(3)]
        reports = await asyncio.gather(*(c.ended() for c in calls))
    assert {r["call_id"] for r in reports} == {c.call_id for c in calls}
    for report in reports:
        assert [e["text"] for e in report["transcript"]] == [
            GREETING,
            "First question?",
            "First answer.",
        ]


def _configured_url(sandbox):
    """Where the carrier sends the number's calls: Twilio's voice URL, or the webhook URL of
    the Telnyx Call Control application the number belongs to."""
    if sandbox.carrier == "twilio":
        return sandbox.twilio.numbers[sandbox.phone_number].voice_url
    return sandbox.telnyx.application.webhook_event_url


async def test_number_voice_url_is_configured_only_when_asked(carrier):
    async with Sandbox(carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox))
        assert _configured_url(sandbox) is None
    async with Sandbox(carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox), configure_number=True)
        expected = f"https://127.0.0.1:{sandbox.port}/webhooks/{carrier}/voice"
        assert _configured_url(sandbox) == expected


async def test_ga_realtime_models_speak_the_ga_protocol_end_to_end(carrier):
    scenario = Scenario(
        callee=Callee(steps=(Say("Hello?"), HangUp(pause_ms=2500))),
        replies=(Reply("Hi, this is the GA model."),),
    )
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, engine=None, model="gpt-realtime", voice="marin"))
        call = await sandbox.call_in()
        report = await call.ended()
        fake = sandbox.openai.sessions[0]
    assert not fake.beta and fake.model == "gpt-realtime"
    assert fake.session_config["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert fake.session_config["audio"]["output"]["voice"] == "marin"
    assert [e["text"] for e in report["transcript"]] == [
        GREETING,
        "Hello?",
        "Hi, this is the GA model.",
    ]


async def test_disconnect_hangs_up_calls_in_progress_and_reports_them(carrier, engine):
    started = asyncio.Event()
    async with Sandbox(Scenario(callee=Callee()), carrier=carrier) as sandbox:
        await sandbox.serve(agent(sandbox, **engine), on_call_start=lambda data: started.set())
        call = await sandbox.call_in()
        async with asyncio.timeout(20):
            await started.wait()
        await sandbox.phone.disconnect()
        report = await call.ended()
    assert report["outcome"] == "completed" and report["ended_by"] == "system"
    assert call.simulated.hangup_by == "app"


async def test_a_realtime_agent_streams_its_text_to_llm_chunk_subscribers():
    """And the caller's words, as OpenAI transcribes them, to TRANSCRIPT_PARTIAL subscribers."""
    from getpatter import PatterEventType

    scenario = Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=2500))),
        replies=(Reply("We are open nine to five."),),
    )
    chunks: list[str] = []
    partials: list[str] = []

    def on_chunk(data: dict) -> None:
        chunks.append(data["text"])

    async with Sandbox(scenario) as sandbox:
        unsubscribe = sandbox.phone.events.on(PatterEventType.LLM_CHUNK, on_chunk)
        bus = sandbox.phone.events
        bus.on(PatterEventType.TRANSCRIPT_PARTIAL, lambda data: partials.append(data["text"]))
        try:
            await sandbox.serve(agent(sandbox))
            await (await sandbox.call_in()).ended()
            await asyncio.sleep(0)
        finally:
            unsubscribe()
    assert len(chunks) > 2
    assert "".join(chunks) == GREETING + "We are open nine to five."
    assert partials == ["What", "What are", "What are your", "What are your hours?"]


async def test_each_agent_message_starts_with_an_agent_speech_started_event(carrier, engine):
    from getpatter.calls.events import AgentSpeechStarted, TranscriptFinal

    scenario = Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=2500))),
        replies=(Reply("We are open nine to five."),),
    )
    seen: list = []
    async with Sandbox(scenario, carrier=carrier) as sandbox:
        sandbox.phone.call_events.subscribe(
            seen.append, kinds=(AgentSpeechStarted, TranscriptFinal), inline=True
        )
        await sandbox.serve(agent(sandbox, **engine))
        await (await sandbox.call_in()).ended()
    kinds = ["start" if isinstance(e, AgentSpeechStarted) else f"{e.role}: {e.text}" for e in seen]
    assert kinds == [
        "start",
        f"assistant: {GREETING}",
        "user: What are your hours?",
        "start",
        "assistant: We are open nine to five.",
    ]
