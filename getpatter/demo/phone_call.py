"""``getpatter demo``: one whole phone call on a loopback phone network, printed as it happens.

The agent below is a real Patter agent (OpenAI Realtime engine, a tool, a greeting) and the
call goes through the real code: signed Twilio webhooks, a media stream of μ-law audio paced in
real time, the Realtime protocol. Only the far ends are simulated: the caller is a script played
by the Twilio simulator, and the model is the sandbox's fake, which answers from a script too.
"""

from __future__ import annotations

import time
from typing import Any

from getpatter import tool
from getpatter.observability.metrics import CallMetrics, TurnMetrics
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario, ToolCall

__all__ = ["SCENARIO", "book_appointment", "run_phone_demo"]

SYSTEM_PROMPT = (
    "You are the receptionist of Bright Smile Dental. Answer questions about opening hours "
    "and book appointments with the book_appointment tool."
)
GREETING = "Thanks for calling Bright Smile Dental. How can I help?"


@tool
def book_appointment(service: str, day: str) -> str:
    """Book a dental appointment.

    Args:
        service: What the appointment is for, e.g. "cleaning".
        day: The weekday the caller wants.
    """
    return f"your {service} is booked for {day} at three in the afternoon"


SCENARIO = Scenario(
    callee=Callee(
        number="+15550100001",
        steps=(
            Say("Hi, when are you open?"),
            Say("Can I book a cleaning on Thursday?"),
            Say("Great, thanks. Bye!"),
            HangUp(pause_ms=2500),
        ),
    ),
    replies=(
        Reply("We're open Monday to Friday, from eight in the morning to six in the evening."),
        Reply(
            "All set: {result}.",
            tool_call=ToolCall("book_appointment", {"service": "cleaning", "day": "Thursday"}),
        ),
        Reply("Thanks for calling Bright Smile Dental. Goodbye!"),
    ),
)

NOTICE = (
    "SIMULATED CALL: nothing is dialed and no AI service is contacted. A Twilio simulator and a\n"
    "fake OpenAI Realtime model run on 127.0.0.1; Patter itself runs exactly as in production.\n"
    "The caller and the model's replies are scripted in getpatter/demo/phone_call.py."
)


async def run_phone_demo() -> CallMetrics | None:
    """Run the demo call, printing it as it goes; return its metrics."""
    print(NOTICE)
    started = time.monotonic()

    def on_transcript(data: dict[str, Any]) -> None:
        who = "Agent " if data["role"] == "assistant" else "Caller"
        print(f"  [{time.monotonic() - started:5.1f}s] {who}: {data['text']}")

    def on_metrics(data: dict[str, Any]) -> None:
        turn: TurnMetrics = data["turn"]
        latency = turn.latency
        if latency.total_ms is not None:
            print(
                f"          turn {turn.turn_index + 1}: first agent audio sent "
                f"{latency.total_ms:.1f} ms after the caller stopped; "
                f"cost so far ${data['cost_so_far'].total:.4f}"
            )

    async with Sandbox(SCENARIO) as sandbox:
        agent = sandbox.phone.agent(SYSTEM_PROMPT, first_message=GREETING, tools=[book_appointment])
        await sandbox.serve(agent, on_transcript=on_transcript, on_metrics=on_metrics)
        print(f"Calling the agent at {sandbox.phone_number} from {SCENARIO.callee.number}...")
        call = await sandbox.call_in()
        report = await call.ended()
    metrics: CallMetrics | None = report["metrics"]
    print(
        f"Call ended: {report['outcome']} (ended by {report['ended_by']}) after {report['duration_seconds']:.1f} s."
    )
    if metrics is not None:
        cost = metrics.cost
        print(
            f"Cost: ${cost.total:.4f} (AI ${cost.llm:.4f}, telephony ${cost.telephony:.4f}), "
            "at list prices, had this been a real call."
        )
        p50 = metrics.latency_p50.total_ms
        if p50 is not None:
            print(
                f"Latency added between the model's first audio and the phone line: p50 {p50:.1f} ms (the fake model answers instantly)."
            )
    print("To run this agent on a real number, see 'Real calls' in the README.")
    return metrics
