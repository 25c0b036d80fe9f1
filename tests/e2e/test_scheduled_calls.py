"""A timed outbound call: schedule_once places phone.call(...) on the sandbox's network."""

import asyncio
from typing import Any

from getpatter import schedule_once
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Say, Scenario

REMINDER = "Your cleaning is tomorrow at nine."


async def test_a_scheduled_call_is_placed_at_its_time_and_ends_with_its_report():
    callee = Callee(steps=(Say("Bye.", pause_ms=200), HangUp(pause_ms=200)))
    async with Sandbox(Scenario(callee=callee)) as sandbox:
        ended: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await sandbox.serve(
            sandbox.phone.agent("You call patients with reminders."),
            on_call_end=lambda report: ended.done() or ended.set_result(report),
            dashboard=False,
        )
        sandbox.network.callee_for(callee.number, callee)
        handle = schedule_once(
            0.2,
            lambda: sandbox.phone.call(callee.number, first_message=REMINDER),
            name="reminder call",
        )
        due = handle.next_run
        assert due is not None
        call_id = await asyncio.wait_for(handle.wait(), 30)
        assert handle.last_error is None and handle.runs == 1 and call_id
        report = await asyncio.wait_for(ended, 60)
        simulated = sandbox.network.get_call(call_id)
    assert report["call_id"] == call_id and report["direction"] == "outbound"
    assert report["callee"] == callee.number and report["outcome"] == "completed"
    assert report["started_at"] >= due.timestamp()
    assert report["transcript"][0]["text"] == REMINDER
    assert simulated.hangup_by == "callee"
