"""A real sandbox call fed into a call store through ``Patter.call_events``."""

from __future__ import annotations

import json
from pathlib import Path

from getpatter.calls.sqlite_store import SQLiteCallStore
from getpatter.calls.store import feed
from getpatter.testing.sandbox import Sandbox
from getpatter.testing.scenario import Callee, HangUp, Reply, Say, Scenario

GREETING = "Hello, Bright Smile Dental."


async def test_a_sandbox_call_lands_in_the_store_with_its_transcript_turns_and_report(
    tmp_path: Path,
) -> None:
    scenario = Scenario(
        callee=Callee(steps=(Say("What are your hours?"), HangUp(pause_ms=2500))),
        replies=(Reply("We are open nine to five."),),
    )
    async with SQLiteCallStore(tmp_path / "calls.db") as store:
        async with Sandbox(scenario) as sandbox:
            await sandbox.serve(
                sandbox.phone.agent("You are the receptionist.", first_message=GREETING)
            )
            feed(sandbox.phone.call_events, store)
            call = await sandbox.call_in()
            report = await call.ended()
            await sandbox.phone.call_events.drain()

        stored = await store.get(call.call_id)
        assert stored is not None and not stored.active
        assert (stored.direction, stored.caller, stored.callee) == (
            "inbound",
            scenario.callee.number,
            sandbox.phone_number,
        )
        assert (stored.outcome, stored.ended_by) == ("completed", "caller")
        assert stored.turns == 1 and stored.error_count == 0
        assert stored.duration_seconds == report["duration_seconds"]
        assert stored.started_at <= stored.ended_at  # type: ignore[operator]
        assert stored.cost["total"] == report["metrics"].cost.total
        assert [(line["role"], line["text"]) for line in await store.transcript(call.call_id)] == [
            (entry["role"], entry["text"]) for entry in report["transcript"]
        ]
        (turn,) = await store.turns(call.call_id)
        assert turn["user_text"] == "What are your hours?"
        kept = await store.report(call.call_id)
        assert kept is not None and kept["outcome"] == "completed"
        assert json.loads(json.dumps(kept)) == kept
        assert [c.call_id for c in await store.list(search="nine to five")] == [call.call_id]


async def test_every_phone_keeps_its_calls_in_its_call_store_by_default() -> None:
    scenario = Scenario(callee=Callee(steps=(Say("Hi."), HangUp(pause_ms=1500))))
    async with Sandbox(scenario) as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are the receptionist."))
        call = await sandbox.call_in()
        await call.ended()
        await sandbox.phone.call_events.drain()
        stored = await sandbox.phone.call_store.get(call.call_id)
        assert stored is not None and stored.outcome == "completed"
        assert (stored.provider_mode, stored.telephony_provider) == ("openai_realtime", "twilio")
        assert stored.agent.startswith("openai_realtime, ")
        assert [line["text"] for line in await sandbox.phone.call_store.transcript(call.call_id)][
            :1
        ] == ["Hi."]
