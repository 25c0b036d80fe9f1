"""``getpatter demo``: one whole phone call on a loopback phone network, printed as it happens.

The agent below is a real Patter pipeline agent: speech-to-text (Deepgram), your own Python
function as its brain (``answer``, edit it and run the demo again), and text-to-speech
(ElevenLabs). The call goes through the real code: signed Twilio webhooks, a media stream of
μ-law audio paced in real time, the providers' real wire protocols. Only the far ends are
simulated: the caller is a script played by the Twilio simulator, and the speech services are
the sandbox's loopback fakes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from getpatter import CallControl, DeepgramSTT, ElevenLabsTTS
from getpatter.observability.metrics import CallMetrics, TurnMetrics
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Say, Scenario

__all__ = ["SCENARIO", "answer", "book_appointment", "run_phone_demo"]

GREETING = "Thanks for calling Bright Smile Dental. How can I help?"


def book_appointment(service: str, day: str) -> str:
    """Book a dental appointment (a real agent would call your booking system here)."""
    return f"your {service} is booked for {day} at three in the afternoon"


async def answer(message: dict[str, Any], call: CallControl) -> str | None:
    """The agent's brain: called with each thing the caller says; returns what to say back.

    ``message`` has ``text``, ``call_id``, ``caller``, ``callee`` and ``history``. ``call`` can
    ``transfer(number)`` or ``hangup()``; a reply returned too is spoken first. Swap this for an
    LLM with ``phone.agent(..., llm=OpenAILLM())``.
    """
    text = message["text"].lower()
    if "open" in text or "hours" in text:
        return "We're open Monday to Friday, from eight in the morning to six in the evening."
    if "book" in text:
        day = next(
            (
                d
                for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
                if d.lower() in text
            ),
            "Monday",
        )
        return f"All set: {book_appointment('cleaning', day)}."
    if "bye" in text:
        await call.hangup()
        return "Thanks for calling Bright Smile Dental. Goodbye!"
    return "Sorry, I can tell you our opening hours or book a cleaning."


SCENARIO = Scenario(
    callee=Callee(
        number="+15550100001",
        steps=(
            Say("Hi, when are you open?"),
            Say("Can I book a cleaning on Thursday?"),
            Say("Great, thanks. Bye!"),
            HangUp(pause_ms=6000),
        ),
    ),
)

NOTICE = (
    "SIMULATED CALL: nothing is dialed and no AI service is contacted. A Twilio simulator and\n"
    "fake Deepgram and ElevenLabs servers run on 127.0.0.1; Patter itself runs exactly as in\n"
    "production. The caller is scripted; the agent's answers come from answer() in\n"
    "getpatter/demo/phone_call.py: edit it and run the demo again."
)


async def run_phone_demo(*, keep_open: bool = False) -> CallMetrics | None:
    """Run the demo call, printing it as it goes; return its metrics.

    The dashboard is served while the call runs (its address is printed first); with
    ``keep_open`` it stays up after the call until the program is interrupted (Ctrl-C).
    """
    print(NOTICE)
    started = time.monotonic()

    def on_transcript(data: dict[str, Any]) -> None:
        who = "Agent " if data["role"] == "assistant" else "Caller"
        print(f"  [{time.monotonic() - started:5.1f}s] {who}: {data['text']}")

    def on_metrics(data: dict[str, Any]) -> None:
        turn: TurnMetrics = data["turn"]
        latency = turn.latency
        if latency.total_ms is not None and turn.user_text:
            print(
                f"          turn {turn.turn_index}: first agent audio sent "
                f"{latency.total_ms:.1f} ms after the caller stopped (speech-to-text "
                f"{latency.stt_ms or 0:.1f} ms, text-to-speech {latency.tts_ms or 0:.1f} ms); "
                f"cost so far ${data['cost_so_far'].total:.4f}"
            )

    async with Sandbox(SCENARIO) as sandbox:
        agent = sandbox.phone.agent(
            "You are the receptionist of Bright Smile Dental.",
            stt=DeepgramSTT(api_key="sandbox"),
            tts=ElevenLabsTTS(api_key="sandbox"),
            first_message=GREETING,
        )
        await sandbox.serve(
            agent, on_message=answer, on_transcript=on_transcript, on_metrics=on_metrics
        )
        until = "until you press Ctrl-C" if keep_open else "while the call runs"
        print(f"Watch it in the dashboard ({until}): {sandbox.dashboard_url}")
        print(f"Calling the agent at {sandbox.phone_number} from {SCENARIO.callee.number}...")
        call = await sandbox.call_in()
        report = await call.ended()
        metrics = _print_summary(report)
        if keep_open:
            print(f"The dashboard stays open at {sandbox.dashboard_url}; press Ctrl-C to stop.")
            await asyncio.Event().wait()
    return metrics


def _print_summary(report: dict[str, Any]) -> CallMetrics | None:
    metrics: CallMetrics | None = report["metrics"]
    print(
        f"Call ended: {report['outcome']} (ended by {report['ended_by']}) after {report['duration_seconds']:.1f} s."
    )
    if metrics is not None:
        cost = metrics.cost
        print(
            f"Cost: ${cost.total:.4f} (speech-to-text ${cost.stt:.4f}, text-to-speech "
            f"${cost.tts:.4f}, telephony ${cost.telephony:.4f}), at list prices, had this been "
            "a real call."
        )
        p50 = metrics.latency_p50
        if p50.total_ms is not None:
            waiting = (p50.stt_ms or 0) + (p50.tts_ms or 0)
            print(
                f"From the caller's last word to the agent's first audio: p50 {p50.total_ms:.1f} ms, "
                f"of which {waiting:.1f} ms waiting for speech-to-text (its end-of-speech pause) "
                "and text-to-speech; the fake services otherwise answer instantly."
            )
    print("To run this agent on a real number, see 'Real calls' in the README.")
    return metrics
