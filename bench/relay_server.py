"""Patter serving calls in a process of its own, for ``bench/relay.py``.

Run by the benchmark as ``python bench/relay_server.py PORT REALTIME_BASE_URL MODEL``: a
``Patter`` with a Twilio carrier whose webhooks come to ``127.0.0.1:PORT`` serves an agent whose
OpenAI Realtime engine points at the benchmark's fake. It prints ``READY`` once it takes calls
and stops cleanly on SIGTERM. With ``RELAY_CPROFILE=<file>`` in the environment, SIGUSR1 starts
cProfile and SIGUSR2 stops it and writes the stats to that file.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import sys

from getpatter import OpenAIRealtime, Patter, Twilio

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "relay-bench-token"
PHONE_NUMBER = "+15550001000"
# Patter never calls the Twilio REST API in this benchmark; a closed loopback port keeps any
# unexpected request on this machine.
_UNUSED_REST_URL = "http://127.0.0.1:9"


async def serve(port: int, realtime_url: str, model: str) -> None:
    phone = Patter(
        carrier=Twilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=_UNUSED_REST_URL),
        phone_number=PHONE_NUMBER,
        webhook_url=f"127.0.0.1:{port}",
    )
    agent = phone.agent(
        system_prompt="You answer the phone for a benchmark.",
        engine=OpenAIRealtime(api_key="sk-relay-bench", base_url=realtime_url, model=model),
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(phone.disconnect()))
    profile_path = os.environ.get("RELAY_CPROFILE", "")
    if profile_path:
        profiler = cProfile.Profile()
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(profile_path)

        loop.add_signal_handler(signal.SIGUSR2, dump)
    serving = asyncio.create_task(phone.serve(agent, port=port, host="127.0.0.1"))
    await phone.ready()
    print("READY", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
