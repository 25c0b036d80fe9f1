"""A user's test-mode script, run as a real subprocess by test_terminal.py.

argv[1] picks the handler; lifecycle payloads are printed as ``EVENT <json>`` lines.
"""

import asyncio
import json
import sys

from getpatter import CallMetrics, Guardrail, Patter


def show(kind, payload):
    data = dict(payload)
    if isinstance(data.get("metrics"), CallMetrics):
        metrics = data["metrics"]
        data["metrics"] = {"turns": len(metrics.turns), "total_cost": metrics.cost.total}
    print("EVENT", kind, json.dumps(data, sort_keys=True), flush=True)


async def echo(message):
    show(
        "message",
        {k: v for k, v in message.items() if k != "history"}
        | {"history_len": len(message["history"])},
    )
    return f"You said: {message['text']}"


async def polite_hangup(message, call):
    if "bye" in message["text"]:
        await call.hangup()
        return "Goodbye, take care!"
    return f"Heard {message['text']} on {call.telephony_provider} call {call.call_id}"


async def transfer_to_sales(message, call):
    await call.transfer("+15550009999")
    return "Transferring you to sales."


async def flaky(message):
    if message["text"] == "crash":
        raise RuntimeError("handler bug")
    return "still here"


async def on_call_start(data):
    show("start", data)
    return {"variables": {"name": "Ada"}}


async def on_call_end(data):
    show("end", data)


def main():
    mode = sys.argv[1]
    phone = Patter()
    agent = phone.agent(
        "You help {name}.",
        first_message="Hello {name}, how can I help?",
        guardrails=[
            Guardrail(
                name="no-refunds", blocked_terms=["refund"], replacement="Please ask billing."
            )
        ],
    )
    handler = {
        "echo": echo,
        "hangup": polite_hangup,
        "transfer": transfer_to_sales,
        "flaky": flaky,
    }[mode]
    asyncio.run(
        phone.test(agent, on_message=handler, on_call_start=on_call_start, on_call_end=on_call_end)
    )


main()
