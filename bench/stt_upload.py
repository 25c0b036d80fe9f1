"""What a Whisper pipeline call uploads: bytes and seconds per utterance, with and without the
speech gate (getpatter/pipeline/speech_gate.py).

Run ``python bench/stt_upload.py`` (needs ``pip install "getpatter[silero]"``). It makes one
sandbox call on the loopback Twilio network (μ-law 8 kHz): the caller says three lines of
1.2-1.4 s, each 2.5 s after the agent finished its reply; WhisperSTT with SileroVAD hears them
through the fake transcription endpoint, which records every upload. The call runs twice: as
Patter runs it (only speech, plus a 300 ms lead, goes up) and with the gate held open (what
uploading everything since the previous turn would cost).
"""

from __future__ import annotations

import asyncio
from typing import Any

from getpatter import ElevenLabsTTS, OpenAILLM, SileroVAD, WhisperSTT
from getpatter.pipeline import speech_gate
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

LINES = ("When are you open today?", "Can I book for Friday?", "Thanks, that is all.")


def scenario() -> Scenario:
    steps = (*(Say(line, pause_ms=2500) for line in LINES), HangUp(2000))
    replies = tuple(Reply(text) for text in ("From nine.", "Yes, you are booked.", "Goodbye!"))
    return Scenario(callee=Callee(steps=steps), replies=replies)


async def call() -> list[Any]:
    async with asyncio.timeout(90), Sandbox(scenario()) as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist.",
            stt=WhisperSTT(api_key="sk-bench"),
            llm=OpenAILLM(api_key="sk-bench"),
            tts=ElevenLabsTTS(api_key="el-bench"),
            vad=SileroVAD(),
            first_message="Hello.",
        )
        await sandbox.serve(agent)
        await (await sandbox.call_in()).ended()
        return list(sandbox.fake("openai_transcription").requests)


class _Open(speech_gate.SpeechGate):
    """A gate that never holds anything back."""

    def admit(self, audio: bytes) -> bytes:
        return audio


def report(label: str, requests: list[Any]) -> None:
    total = sum(r.file_bytes for r in requests)
    seconds = sum(r.duration for r in requests)
    print(f"{label}: {len(requests)} uploads, {total / 1000:.1f} kB, {seconds:.2f} s of audio")
    for r in requests:
        print(f"  {r.file_bytes / 1000:6.1f} kB  {r.duration:5.2f} s  {r.text!r}")


async def main() -> None:
    report("speech only (Patter)", await call())
    original = speech_gate.SpeechGate
    import getpatter.pipeline.engine as engine

    engine.SpeechGate = _Open  # type: ignore[misc]
    try:
        report("everything since the last turn", await call())
    finally:
        engine.SpeechGate = original  # type: ignore[misc]


if __name__ == "__main__":
    asyncio.run(main())
