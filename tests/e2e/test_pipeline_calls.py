"""Pipeline calls (Deepgram -> LLM -> ElevenLabs) on Twilio, through the sandbox's fakes."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from getpatter import DeepgramSTT, ElevenLabsTTS, OpenAILLM, tool
from getpatter.guardrails import Guardrail
from getpatter.pipeline.brains import MessageWebhook
from getpatter.pipeline.hooks import PipelineHooks
from getpatter.server.background import BackgroundServer
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario, ToolCall

GREETING = "Hello, Bright Smile Dental."


def pipeline_agent(sandbox: Sandbox, *, llm: bool = True, **options: Any):
    """A pipeline agent; the sandbox points its providers at its fakes."""
    options.setdefault("first_message", GREETING)
    return sandbox.phone.agent(
        "You are the receptionist.",
        stt=DeepgramSTT(api_key="dg-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        llm=OpenAILLM(api_key="sk-CANARY") if llm else None,
        **options,
    )


def two_turns(*replies: Reply) -> Scenario:
    return Scenario(
        callee=Callee(
            steps=(Say("When are you open?"), Say("Thanks, bye."), HangUp(pause_ms=1500))
        ),
        replies=replies or (Reply("We open at nine."), Reply("Goodbye!")),
    )


async def test_a_pipeline_call_has_turns_metrics_and_cost_per_provider(carrier) -> None:
    async with asyncio.timeout(60), Sandbox(two_turns(), carrier=carrier) as sandbox:
        await sandbox.serve(pipeline_agent(sandbox))
        call = await sandbox.call_in()
        report = await call.ended()
    lines = [(line["role"], line["text"]) for line in report["transcript"]]
    assert lines == [
        ("assistant", GREETING),
        ("user", "When are you open?"),
        ("assistant", "We open at nine."),
        ("user", "Thanks, bye."),
        ("assistant", "Goodbye!"),
    ]
    assert sandbox.deepgram.sessions[0].query["encoding"] == "mulaw"  # no transcoding in
    assert sandbox.elevenlabs.requests[0].output_format == "ulaw_8000"  # nor out
    metrics = report["metrics"]
    answered = [t for t in metrics.turns if t.user_text]
    assert len(answered) == 2
    for turn in answered:
        latency = turn.latency
        assert None not in (latency.stt_ms, latency.llm_ttft_ms, latency.tts_ms, latency.total_ms)
        # Deepgram's endpointer decided the turn was over after the last word, with the final.
        assert latency.endpoint_ms is not None and latency.endpoint_ms > 0
        assert latency.stt_ms <= latency.endpoint_ms
        # The caller spoke about a second per turn: the audio the STT got for it is counted.
        assert 0.5 < turn.stt_audio_seconds < 10
    assert (metrics.provider_mode, metrics.telephony_provider) == ("pipeline", carrier)
    assert (metrics.stt_provider, metrics.llm_provider, metrics.tts_provider) == (
        "deepgram",
        "openai_llm",
        "elevenlabs",
    )
    cost = metrics.cost
    assert cost.stt > 0 and cost.llm > 0 and cost.tts > 0 and cost.telephony > 0


async def test_barge_in_mid_sentence_clears_the_line_and_truncates_the_context(carrier) -> None:
    long_reply = "Let me tell you about every one of our many dental services in detail. " * 3
    scenario = Scenario(
        callee=Callee(
            steps=(
                Say("Tell me about your services."),
                Say("Stop, just book me in.", interrupt_after_ms=1500),
                HangUp(pause_ms=2500),
            )
        ),
        replies=(Reply(long_reply), Reply("Sure, you're booked.")),
    )
    async with asyncio.timeout(60), Sandbox(scenario, carrier=carrier) as sandbox:
        await sandbox.serve(pipeline_agent(sandbox))
        call = await sandbox.call_in()
        report = await call.ended()
    assert call.simulated.clears, "the carrier never got a clear"
    second_request = sandbox.llm.requests[1].body["messages"]
    heard = [m["content"] for m in second_request if m["role"] == "assistant"][-1]
    assert heard and len(heard) < len(long_reply.strip()) and long_reply.startswith(heard)
    assert report["transcript"][-1]["text"] == "Sure, you're booked."


async def test_a_tool_call_and_a_guardrail_and_hooks_shape_what_is_said(carrier) -> None:
    booked: list[dict[str, Any]] = []

    @tool
    def book(day: str) -> str:
        """Book an appointment.

        Args:
            day: The weekday.
        """
        booked.append({"day": day})
        return f"booked for {day}"

    scenario = two_turns(
        Reply("Done, {result}.", tool_call=ToolCall("book", {"day": "Friday"})),
        Reply("Try CompetitorCo instead."),
    )
    hooks = PipelineHooks(before_synthesize=lambda sentence: sentence.replace("Done", "All set"))
    guard = Guardrail("rivals", blocked_terms=["competitorco"], replacement="Goodbye for now.")
    async with asyncio.timeout(60), Sandbox(scenario, carrier=carrier) as sandbox:
        agent = pipeline_agent(sandbox, tools=[book], hooks=hooks, guardrails=[guard])
        await sandbox.serve(agent)
        report = await (await sandbox.call_in()).ended()
    assert booked == [{"day": "Friday"}]
    spoken = [request.text for request in sandbox.elevenlabs.requests]
    assert "All set, booked for Friday." in spoken
    assert "Goodbye for now." in spoken and not any("CompetitorCo" in text for text in spoken)
    assert report["transcript"][-1]["text"] == "Goodbye for now."


async def test_on_message_as_a_url_gets_the_message_and_its_answer_is_spoken(carrier) -> None:
    received: list[dict[str, Any]] = []

    async def brain(request: Request) -> JSONResponse:
        message = await request.json()
        received.append(message)
        return JSONResponse({"text": f"You said: {message['text']}"})

    server = BackgroundServer(Starlette(routes=[Route("/brain", brain, methods=["POST"])]))
    port = await server.start()
    try:
        async with asyncio.timeout(60), Sandbox(two_turns(), carrier=carrier) as sandbox:
            webhook = MessageWebhook(f"http://127.0.0.1:{port}/brain", allow_private=True)
            await sandbox.serve(pipeline_agent(sandbox, llm=False), on_message=webhook)
            report = await (await sandbox.call_in()).ended()
    finally:
        await server.stop(5)
    assert [m["text"] for m in received] == ["When are you open?", "Thanks, bye."]
    assert received[0]["caller"] == "+15550100001" and received[0]["history"]
    assert report["transcript"][2]["text"] == "You said: When are you open?"
    assert sandbox.llm.requests == []


async def test_provider_faults_give_error_events_and_the_call_goes_on(carrier) -> None:
    errors: list[dict[str, Any]] = []
    scenario = Scenario(
        callee=Callee(
            steps=(
                Say("First question?"),
                Say("Second question?", pause_ms=2500),
                Say("Third question?", pause_ms=2500),
                HangUp(pause_ms=2500),
            )
        ),
        replies=(Reply("One."), Reply("Two."), Reply("Three.")),
    )
    async with asyncio.timeout(60), Sandbox(scenario, carrier=carrier) as sandbox:
        sandbox.phone.events.on("error", lambda event: errors.append(event))
        await sandbox.serve(pipeline_agent(sandbox))
        sandbox.llm.fail_next(429)
        call = await sandbox.call_in()
        await call.simulated.wait_until(lambda c: len(sandbox.llm.requests) >= 1)
        await sandbox.deepgram.drop()
        sandbox.llm.fail_next(500)
        report = await call.ended()
    messages = " | ".join(str(event.get("error")) for event in errors)
    assert "429" in messages or "rate" in messages.lower()
    assert "recognition dropped" in messages
    assert report["outcome"] == "completed"
    assert ("assistant", "Three.") in [(t["role"], t["text"]) for t in report["transcript"]]


async def test_a_tts_stall_is_an_error_and_the_next_turn_is_answered(carrier) -> None:
    errors: list[dict[str, Any]] = []
    scenario = two_turns(Reply("This answer stalls halfway through its audio."), Reply("Bye."))
    async with (
        asyncio.timeout(60),
        Sandbox(scenario, tts_stall_timeout=1.0, carrier=carrier) as sandbox,
    ):
        sandbox.phone.events.on("error", lambda event: errors.append(event))
        await sandbox.serve(pipeline_agent(sandbox, first_message=""))
        sandbox.elevenlabs.stall_next(after_bytes=800, seconds=30)
        report = await (await sandbox.call_in()).ended()
    assert any("stalled" in str(event.get("error")) for event in errors)
    assert report["outcome"] == "completed"
    assert report["transcript"][-1]["text"] == "Bye."


async def test_one_agent_serves_concurrent_and_later_calls_with_a_shared_silero_vad(
    carrier,
) -> None:
    from getpatter import SileroVAD

    vad = SileroVAD()
    async with asyncio.timeout(60), Sandbox(two_turns(), carrier=carrier) as sandbox:
        await sandbox.serve(pipeline_agent(sandbox, vad=vad, first_message=""))
        first, second = await asyncio.gather(sandbox.call_in(), sandbox.call_in())
        reports = await asyncio.gather(first.ended(), second.ended())
        third = await (await sandbox.call_in()).ended()
        finalized = [session.controls.count("Finalize") for session in sandbox.deepgram.sessions]
    for report in (*reports, third):
        lines = [(line["role"], line["text"]) for line in report["transcript"]]
        assert lines == [
            ("user", "When are you open?"),
            ("assistant", "We open at nine."),
            ("user", "Thanks, bye."),
            ("assistant", "Goodbye!"),
        ]
        for turn in report["metrics"].turns:
            if turn.user_text:  # the VAD's silence window is the endpointer's wait
                assert turn.latency.endpoint_ms is not None and turn.latency.endpoint_ms > 0
    # The local VAD ended each turn and asked Deepgram to finalize.
    assert len(finalized) == 3 and all(count >= 2 for count in finalized)


async def test_the_event_bus_gets_partial_transcripts_and_llm_chunks_as_they_stream(
    carrier,
) -> None:
    """With an audio filter on the caller's audio: the STT hears it filtered, word by word."""
    from getpatter import HighPassFilter, PatterEventType

    class CountingFilter(HighPassFilter):
        rates: ClassVar[list[int]] = []  # a class attribute: the call's copy shares it

        def process(self, pcm16: bytes, sample_rate: int) -> bytes:
            self.rates.append(sample_rate)
            return super().process(pcm16, sample_rate)

    partials: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    async with asyncio.timeout(60), Sandbox(two_turns(), carrier=carrier) as sandbox:
        bus = sandbox.phone.events
        bus.on(PatterEventType.TRANSCRIPT_PARTIAL, partials.append)
        bus.on(PatterEventType.LLM_CHUNK, chunks.append)
        try:
            await sandbox.serve(pipeline_agent(sandbox, audio_filter=CountingFilter()))
            call = await sandbox.call_in()
            await call.ended()
            await sandbox.phone.call_events.drain()
            await asyncio.sleep(0)
        finally:
            bus.off(PatterEventType.TRANSCRIPT_PARTIAL, partials.append)
            bus.off(PatterEventType.LLM_CHUNK, chunks.append)
    # Interim results grow word by word and come before the final line.
    said = [p["text"] for p in partials if p["call_id"] == call.call_id]
    assert "When are" in said and all(p["role"] == "user" for p in partials)
    assert "When are you open?".startswith(said[0])
    mine = [c["text"] for c in chunks if c["call_id"] == call.call_id]
    assert len(mine) > 2  # word by word, as the model streamed it
    assert "".join(mine) == "We open at nine.Goodbye!"
    assert len(CountingFilter.rates) > 100 and set(CountingFilter.rates) == {8000}
