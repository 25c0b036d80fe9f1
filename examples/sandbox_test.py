"""Test your own agent offline, in pytest: a scripted caller phones it on a loopback network.

Run: ``pytest examples/sandbox_test.py`` (needs ``pip install getpatter[dev]`` for pytest).
"""

from getpatter import tool
from getpatter.testing import Callee, HangUp, Reply, Sandbox, Say, Scenario, ToolCall


@tool
def order_status(order_id: str) -> str:
    """Where an order is."""
    return "shipped yesterday"


async def test_caller_hears_the_order_status():
    scenario = Scenario(
        callee=Callee(steps=(Say("Where is order 42?"), HangUp(pause_ms=2500))),
        replies=(
            Reply("Order 42 {result}.", tool_call=ToolCall("order_status", {"order_id": "42"})),
        ),
    )
    async with Sandbox(scenario) as sandbox:
        await sandbox.serve(sandbox.phone.agent("You track orders.", tools=[order_status]))
        report = await (await sandbox.call_in()).ended()
    assert report["transcript"][-1]["text"] == "Order 42 shipped yesterday."


async def test_my_on_message_brain_on_a_pipeline_call():
    """A pipeline agent whose brain is your own function, on the sandbox's fake speech services."""
    from getpatter import DeepgramSTT, ElevenLabsTTS

    def brain(message: dict) -> str:
        return "Order 42 shipped yesterday." if "42" in message["text"] else "Which order?"

    scenario = Scenario(callee=Callee(steps=(Say("Where is order 42?"), HangUp(pause_ms=2500))))
    async with Sandbox(scenario) as sandbox:
        agent = sandbox.phone.agent(
            "You track orders.", stt=DeepgramSTT(api_key="x"), tts=ElevenLabsTTS(api_key="x")
        )
        await sandbox.serve(agent, on_message=brain)
        report = await (await sandbox.call_in()).ended()
    assert report["transcript"][-1]["text"] == "Order 42 shipped yesterday."


async def test_my_elevenlabs_agent_runs_my_tool():
    """An ElevenLabs conversational agent, bridged by Patter: the agent's client tool runs here.

    The sandbox stands in for ElevenLabs; on the real one, declare ``order_status`` on the agent
    as a client tool too.
    """
    from getpatter import ElevenLabsConvAI

    scenario = Scenario(
        callee=Callee(steps=(Say("Where is order 42?"), HangUp(pause_ms=2500))),
        replies=(
            Reply("Order 42 {result}.", tool_call=ToolCall("order_status", {"order_id": "42"})),
        ),
    )
    async with Sandbox(scenario) as sandbox:
        engine = ElevenLabsConvAI.for_twilio(api_key="x", agent_id="agent_orders")
        agent = sandbox.phone.agent("", engine=engine, tools=[order_status])
        await sandbox.serve(agent)
        report = await (await sandbox.call_in()).ended()
    assert report["transcript"][-1]["text"] == "Order 42 shipped yesterday."
