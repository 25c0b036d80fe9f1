"""The sandbox itself: it cleans up what it builds and copes with odd report sequences."""

import asyncio
import gc
import logging

from getpatter import DeepgramSTT, ElevenLabsTTS
from getpatter.testing import Callee, HangUp, Reply, Sandbox, Say, Scenario


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_sandbox_closes_the_providers_it_builds_for_a_pipeline_agent():
    scenario = Scenario(
        callee=Callee(steps=(Say("Hi there", pause_ms=400), HangUp(pause_ms=1200))),
        replies=(Reply("Hello."),),
        ms_per_char=15,
    )

    async def one_call() -> dict:
        async with Sandbox(scenario) as sandbox:
            agent = sandbox.phone.agent(
                "You are a receptionist.",
                stt=DeepgramSTT(api_key="x-CANARY"),
                tts=ElevenLabsTTS(api_key="y-CANARY"),
            )
            await sandbox.serve(agent)
            return await (await sandbox.call_in()).ended()

    errors = _Errors()
    logging.getLogger("asyncio").addHandler(errors)
    # A loop closed without asyncio.run's clean-up of pending tasks, as some hosts do.
    loop = asyncio.new_event_loop()
    try:
        report = loop.run_until_complete(one_call())
    finally:
        loop.close()
        gc.collect()
        logging.getLogger("asyncio").removeHandler(errors)
    assert report["outcome"] == "completed"
    assert errors.messages == []


async def test_a_second_report_for_one_call_id_keeps_the_first():
    seen = []
    async with Sandbox() as sandbox:
        await sandbox.serve(sandbox.phone.agent("You are a receptionist."), on_call_end=seen.append)
        on_call_end = sandbox.phone._server._callbacks.on_call_end
        await on_call_end({"call_id": "CA1", "outcome": "completed"})
        await on_call_end({"call_id": "CA1", "outcome": "error"})
        first = await sandbox._report_future("CA1")
    assert first["outcome"] == "completed"
    assert [r["outcome"] for r in seen] == ["completed", "error"]
