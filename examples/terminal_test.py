"""Try your own agent in the terminal: you type as the caller, your handler answers.

Run: ``python examples/terminal_test.py`` (no account or API key needed).
"""

import asyncio

from getpatter import CallControl, Patter

phone = Patter()  # no carrier needed for test mode
agent = phone.agent(
    system_prompt="You take pizza orders for {shop}.",
    first_message="Hi, this is {shop}. What can I get you?",
    variables={"shop": "Luigi's"},
)


async def on_message(message: dict, call: CallControl) -> str:
    """Called once per caller utterance, exactly as on a real call."""
    text = message["text"].lower()
    if "bye" in text:
        await call.hangup()  # the reply below is still spoken first
        return "Thanks for calling, bye!"
    if "manager" in text:
        await call.transfer("+15550100999")
        return "Let me get the manager."
    return f"One {message['text']}, coming up. Anything else?"


async def on_call_end(data: dict) -> None:
    print(f"{len(data['transcript'])} transcript lines, {data['duration_seconds']:.1f} s")


if __name__ == "__main__":
    asyncio.run(phone.test(agent, on_message=on_message, on_call_end=on_call_end))
