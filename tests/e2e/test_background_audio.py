"""Background audio on a sandbox call: the caller hears it under and around the agent's speech."""

from __future__ import annotations

import asyncio

import numpy as np

from getpatter import BackgroundAudioPlayer, DeepgramSTT, ElevenLabsTTS, OpenAILLM
from getpatter.audio import ulaw_to_pcm16
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Scenario

GREETING = "Hello, Bright Smile Dental."  # 27 characters: about 1.1 s at 40 ms each
HANG_UP_MS = 2500


_N = np.arange(160)
_TONE = np.stack([np.sin(2 * np.pi * 400 * _N / 8000), np.cos(2 * np.pi * 400 * _N / 8000)], 1)


def split(ulaw: bytes) -> tuple[float, float]:
    """A frame's 400 Hz amplitude (the fake TTS's voice is a steady 400 Hz tone) and the RMS of
    everything else in it (what was mixed under the voice)."""
    samples = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(float)
    if len(samples) != 160:
        return 0.0, 0.0
    fit, *_ = np.linalg.lstsq(_TONE, samples, rcond=None)
    rest = samples - _TONE @ fit
    return float(np.hypot(*fit)), float(np.sqrt(np.mean(rest**2)))


async def test_the_caller_hears_hold_music_around_the_greeting_until_hanging_up() -> None:
    # One carrier only (CI time): the unit tests mix both carriers' formats.
    scenario = Scenario(callee=Callee(steps=(HangUp(pause_ms=HANG_UP_MS),)), ms_per_char=40)
    async with asyncio.timeout(60), Sandbox(scenario, carrier="twilio") as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist.",
            stt=DeepgramSTT(api_key="dg-CANARY"),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
            llm=OpenAILLM(api_key="sk-CANARY"),
            first_message=GREETING,
            background_audio=BackgroundAudioPlayer("hold_music", volume=0.3, duck=0.4),
        )
        await sandbox.serve(agent)
        call = await sandbox.call_in()
        report = await call.ended()
    simulated = call.simulated
    assert simulated.hangup_by == "callee" and report["outcome"] == "completed"
    assert [line["text"] for line in report["transcript"]] == [GREETING]
    heard = simulated.heard
    # Audio all along, not only while the agent spoke (about 1.1 s of the call)...
    assert simulated.heard_ms > 1800
    starts = [frame.at_ms for frame in heard]
    assert max(np.diff(starts)) < 100  # ...with no gap between music and speech
    # The greeting's frames are marked (the carrier echoed them); the music's are not.
    greeting_frames = len(simulated.marks_echoed)
    assert 40 <= greeting_frames <= 70
    frames = [split(frame.ulaw) for frame in heard]
    music = [rest for tone, rest in frames[-10:]]  # the last 200 ms: music alone
    assert min(music) > 300  # 0.3 of -6 dBFS chords: clearly there
    voiced = [rest for tone, rest in frames if tone > 3000][3:-3]  # past the ramps
    assert len(voiced) > 30
    # Under the voice the music goes on, ducked to about 0.4 of its level (the voice alone
    # leaves only μ-law's rounding, about 40, in this measure).
    assert 0.2 < np.median(voiced) / np.median(music) < 0.7
    # It stopped with the call: nothing was played after the callee hung up.
    assert starts[-1] <= HANG_UP_MS + 2000
