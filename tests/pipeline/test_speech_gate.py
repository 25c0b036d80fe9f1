"""A non-streaming STT gets only the caller's speech, from just before the VAD's onset."""

from __future__ import annotations

from test_pipeline_engine import (
    ScriptedLLM,
    ScriptedSTT,
    ScriptedVAD,
    connected,
    engine_for,
    text,
    until,
)

from getpatter.engines.base import ResponseDone, SpeechStopped
from getpatter.pipeline.speech_gate import LEAD_MS, SpeechGate
from getpatter.stt.base import STTCapabilities, Transcript
from getpatter.vad.base import VADEvent


def frame(i: int) -> bytes:
    """20 ms of μ-law whose bytes say which frame it is."""
    return bytes([i]) * 160


def test_the_gate_holds_audio_back_then_sends_the_lead_before_the_onset() -> None:
    gate = SpeechGate("ulaw_8000")
    assert [gate.admit(frame(i)) for i in range(30)] == [b""] * 30
    gate.open(onset_ago_ms=60)  # speech began 60 ms before the end of the next frame
    sent = gate.admit(frame(30))
    assert len(sent) == 8 * (60 + LEAD_MS)  # 360 ms: frames 13 to 30
    assert sent[:160] == frame(13) and sent[-160:] == frame(30)
    assert gate.admit(frame(31)) == frame(31)
    gate.close()
    assert gate.admit(frame(32)) == b""
    gate.open(onset_ago_ms=10_000)  # earlier than anything kept: all of it
    assert gate.admit(frame(33)) == frame(32) + frame(33)


async def test_the_pipeline_sends_a_non_streaming_stt_only_the_speech_and_finalizes_it() -> None:
    stt, vad = ScriptedSTT(), ScriptedVAD()
    stt.capabilities = STTCapabilities(False, False, False, ("ulaw_8000",))
    engine = engine_for(stt, ScriptedLLM(text("Okay.")), vad=vad)
    events = await connected(engine)
    for i in range(30):
        await engine.send_audio(frame(i))
    stream = stt.streams[0]
    assert stream.audio == b""  # silence before the caller speaks is never sent
    vad.stream.pending = [VADEvent("speech_started", 30 * 20 + 20 - 60)]
    await engine.send_audio(frame(30))
    for i in range(31, 50):
        await engine.send_audio(frame(i))
    vad.stream.pending = [VADEvent("speech_stopped", 50 * 20)]
    await engine.send_audio(frame(50))
    await engine.send_audio(frame(51))
    await until(events, SpeechStopped)
    assert stream.finalized == 1
    assert stream.audio == b"".join(frame(i) for i in range(13, 50))
    await stream.results.put(Transcript("Book a table", is_final=True, speech_final=True))
    (done,) = await until(events, ResponseDone)
    # The STT's cost counts what was uploaded: 37 frames of 20 ms.
    assert done.pipeline_usage.stt_seconds == 37 * 0.02
    await engine.close()


async def test_a_streaming_stt_still_hears_everything() -> None:
    stt, vad = ScriptedSTT(), ScriptedVAD()
    engine = engine_for(stt, ScriptedLLM(), vad=vad)
    await connected(engine)
    for i in range(5):
        await engine.send_audio(frame(i))
    assert stt.streams[0].audio == b"".join(frame(i) for i in range(5))
    await engine.close()
