"""The pipeline with WhisperSTT against the fake transcription endpoint: failed requests are
reported and the call goes on."""

from __future__ import annotations

import asyncio

from test_pipeline_engine import ScriptedLLM, ScriptedVAD, connected, engine_for, text, until

from getpatter.audio import pcm16_to_ulaw
from getpatter.engines.base import EngineError, ResponseDone, UserTranscript
from getpatter.pipeline.engine import PipelineEngine
from getpatter.stt.whisper import WhisperSTT
from getpatter.testing.babble import babble_pcm16
from getpatter.testing.fake_stt_http import FakeTranscriptionServer
from getpatter.testing.scenario import Callee, Say, Scenario
from getpatter.vad.base import VADEvent

KEY = "sk-CANARY-pipeline-whisper"
LINES = ("Book a table", "For two", "At eight")


class Whisper(WhisperSTT):
    """Counts the streams the pipeline opened (it opens a new one after a failure)."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.opened = 0

    def open_stream(self, **options: object):  # type: ignore[no-untyped-def]
        self.opened += 1
        return super().open_stream(**options)  # type: ignore[arg-type]


async def reopened(stt: Whisper, count: int) -> None:
    async with asyncio.timeout(5):
        while stt.opened < count:  # noqa: ASYNC110 - no notification to wait on
            await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # its connect() ran in the same step


async def utterance(engine: PipelineEngine, vad: ScriptedVAD, seed: int) -> None:
    """Half a second of speech framed by the VAD's start and stop, as a caller turn."""
    audio = pcm16_to_ulaw(babble_pcm16(8000, 0.5, seed).tobytes())
    vad.stream.pending = [VADEvent("speech_started", 0)]
    for offset in range(0, len(audio), 160):
        await engine.send_audio(audio[offset : offset + 160])
    vad.stream.pending = [VADEvent("speech_stopped", 0)]
    await engine.send_audio(b"\xff" * 160)


async def test_stalled_and_refused_requests_are_reported_and_later_turns_are_answered() -> None:
    scenario = Scenario(callee=Callee(steps=tuple(Say(line) for line in LINES)))
    async with FakeTranscriptionServer(scenario, api_key=KEY) as fake:
        stt = Whisper(api_key=KEY, base_url=fake.base_url, timeout=1.0)
        vad = ScriptedVAD()
        engine = engine_for(stt, ScriptedLLM(text("Sure."), text("Done.")), vad=vad)
        events = await connected(engine)
        fake.stall_next(30)
        await utterance(engine, vad, 0)
        (stalled,) = await until(events, EngineError)
        assert not stalled.fatal and stalled.source == "stt" and "timeout" in stalled.message
        await reopened(stt, 2)
        await utterance(engine, vad, 1)
        await until(events, ResponseDone)
        # The reconnected stream worked, so a later failure is retried again, not fatal.
        fake.fail_next(500)
        await utterance(engine, vad, 2)
        errors = await until(events, EngineError, 2)
        assert not errors[1].fatal and "HTTP 500" in errors[1].message
        await reopened(stt, 3)
        await utterance(engine, vad, 3)
        await until(events, ResponseDone, 2)
        async with asyncio.timeout(5):
            while not fake.requests[0].disconnected:  # noqa: ASYNC110 - the fake's record
                await asyncio.sleep(0.02)
        await engine.close()
        await stt.close()
    heard = [e.text for e in events if isinstance(e, UserTranscript)]
    assert heard == [LINES[1], "hello"]  # the stalled and the refused utterances are lost
    assert [r.status for r in fake.requests] == [499, 200, 500, 200]
