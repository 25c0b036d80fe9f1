"""Patter serving calls in a process of its own, for ``bench/relay.py``.

Run by the benchmark as ``python bench/relay_server.py PORT REALTIME_BASE_URL MODEL [CARRIER]``:
a ``Patter`` whose webhooks come to ``127.0.0.1:PORT`` serves an agent whose OpenAI Realtime
engine points at the benchmark's fake. ``CARRIER`` is ``twilio`` (the default: a Twilio account
whose REST API is never called) or ``telnyx PUBLIC_KEY REST_BASE_URL``: a Telnyx account that
checks webhooks with the benchmark's test Ed25519 public key (base64) and sends its Call Control
commands (``answer``) to the benchmark's fake REST API. It prints ``READY`` once it takes calls
and stops cleanly on SIGTERM. With ``RELAY_CPROFILE=<file>`` in the environment, SIGUSR1 starts
cProfile and SIGUSR2 stops it and writes the stats to that file.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import sys

from getpatter import OpenAIRealtime, Patter, Telnyx, Twilio

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "relay-bench-token"
PHONE_NUMBER = "+15550001000"
# Patter never calls the Twilio REST API in this benchmark; a closed loopback port keeps any
# unexpected request on this machine.
_UNUSED_REST_URL = "http://127.0.0.1:9"
TELNYX_API_KEY = "KEYrelaybench"
TELNYX_CONNECTION_ID = "relay-bench-app"


def carrier(args: list[str]) -> Twilio | Telnyx:
    """The carrier named by the arguments after MODEL (none: Twilio)."""
    if not args or args == ["twilio"]:
        return Twilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=_UNUSED_REST_URL)
    if args[0] == "telnyx" and len(args) == 3:
        return Telnyx(
            api_key=TELNYX_API_KEY,
            connection_id=TELNYX_CONNECTION_ID,
            public_key=args[1],
            base_url=args[2],
        )
    raise SystemExit(f"unknown carrier arguments {args!r}: twilio, or telnyx PUBLIC_KEY REST_URL")


async def serve(port: int, realtime_url: str, model: str, carrier_args: list[str]) -> None:
    phone = Patter(
        carrier=carrier(carrier_args),
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
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]))
