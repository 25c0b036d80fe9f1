"""An outbound call reaches an automated menu: the agent presses keys, and a loop is noticed."""

from __future__ import annotations

import asyncio
from typing import Any

from getpatter import DeepgramSTT, ElevenLabsTTS, IVRActivity, IVREvent, OpenAILLM
from getpatter.ivr import LOOP_NOTE, MENU_NOTE, TfidfLoopDetector
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Menu, Reply, Scenario, ToolCall

MAIN = "Welcome to Acme. For billing, press 1. For support, press 2."
SUPPORT = "Support. For internet, press 3. For television, press 4."


def system_text(request: dict[str, Any]) -> str:
    return " ".join(m["content"] for m in request["messages"] if m["role"] == "system")


async def test_the_agent_navigates_a_menu_and_hears_it_loop(carrier) -> None:
    support = Menu(SUPPORT, {"3": (HangUp(),), "4": (HangUp(),)}, wait_ms=2500, ms_per_char=25)
    ivr_callee = Callee(
        steps=(Menu(MAIN, {"1": (HangUp(),), "2": (support,)}, wait_ms=2500, ms_per_char=25),),
        number="+15550100777",
    )
    scenario = Scenario(
        callee=ivr_callee,
        replies=(
            Reply(tool_call=ToolCall("send_dtmf", {"digits": "2"})),
            Reply(tool_call=ToolCall("send_dtmf", {"digits": "9"})),  # not an option
            Reply(tool_call=ToolCall("end_call", {"reason": "the menu goes round in circles"})),
        ),
    )
    events: list[IVREvent] = []
    ivr = IVRActivity(
        loop_detector=TfidfLoopDetector(consecutive_threshold=1), on_event=events.append
    )
    async with asyncio.timeout(60), Sandbox(scenario, carrier=carrier) as sandbox:
        agent = sandbox.phone.agent(
            "Reach internet support.",
            stt=DeepgramSTT(api_key="dg-CANARY"),
            tts=ElevenLabsTTS(api_key="el-CANARY"),
            llm=OpenAILLM(api_key="sk-CANARY"),
            ivr=ivr,
        )
        await sandbox.serve(agent)
        call = await sandbox.call_out()
        report = await call.ended()
        requests = [request.body for request in sandbox.llm.requests]
    # The keys the callee heard, as tones (Twilio) or Call Control commands (Telnyx).
    assert call.simulated.dtmf_heard == "29"
    assert ivr_callee.spoken == [MAIN, SUPPORT, SUPPORT]
    assert [(e.kind, e.text) for e in events] == [("menu", MAIN), ("loop", SUPPORT)]
    assert events[1].similarity > 0.99
    # The model was offered the tool, and read the notes.
    assert "send_dtmf" in [t["function"]["name"] for t in requests[0]["tools"]]
    results = [m["content"] for r in requests for m in r["messages"] if m["role"] == "tool"]
    assert '{"pressed": "2"}' in results and '{"pressed": "9"}' in results
    # Each note reached the reply to the very utterance that revealed it.
    first, looping = requests[0], requests[-1]  # end_call gets no result: nothing follows it
    assert MENU_NOTE in system_text(first) and LOOP_NOTE not in system_text(first)
    assert [m["content"] for m in looping["messages"] if m["role"] == "user"][-1] == SUPPORT
    assert LOOP_NOTE in system_text(looping)
    assert all(LOOP_NOTE not in system_text(r) for r in requests[:-1])
    lines = [(line["role"], line["text"]) for line in report["transcript"]]
    assert lines == [
        ("user", MAIN),
        ("user", SUPPORT),
        ("user", SUPPORT),
        ("system", "end_call: the menu goes round in circles"),
    ]
    assert report["end_reason"] == "the menu goes round in circles"
    assert report["outcome"] == "completed" and report["error"] is None
