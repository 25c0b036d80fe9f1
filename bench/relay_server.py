"""Patter serving calls in a process of its own, for ``bench/relay.py``.

Run by the benchmark as ``python bench/relay_server.py PORT ENGINE BASE_URL NAME [CARRIER]``: a
``Patter`` whose webhooks come to ``127.0.0.1:PORT`` serves an agent whose engine points at the
benchmark's fake. ``ENGINE`` is ``realtime`` (``OpenAIRealtime``, model ``NAME``) or ``convai``
(``ElevenLabsConvAI`` with agent id ``NAME`` and no API key: a public agent, reached without a
signed URL); with a ``+tracing`` suffix, tracing is on (``tracing_cpu.start_tracing``). ``CARRIER`` is ``twilio`` (the default: a Twilio account whose REST API is never
called) or ``telnyx PUBLIC_KEY REST_BASE_URL``: a Telnyx account that checks webhooks with the
benchmark's test Ed25519 public key (base64) and sends its Call Control commands (``answer``) to
the benchmark's fake REST API. It prints ``READY`` once it takes calls and stops cleanly on
SIGTERM. With ``RELAY_CPROFILE=<file>`` in the environment, SIGUSR1 starts cProfile and SIGUSR2
stops it and writes the stats to that file. ``RELAY_DASHBOARD_TOKEN`` is the dashboard's token
(otherwise one is generated, as ``serve()`` does).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import sys

from getpatter import ElevenLabsConvAI, OpenAIRealtime, Patter, Telnyx, Twilio

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "relay-bench-token"
PHONE_NUMBER = "+15550001000"
# Patter never calls the Twilio REST API in this benchmark; a closed loopback port keeps any
# unexpected request on this machine.
_UNUSED_REST_URL = "http://127.0.0.1:9"
TELNYX_API_KEY = "KEYrelaybench"
TELNYX_CONNECTION_ID = "relay-bench-app"


def engine(kind: str, base_url: str, name: str) -> OpenAIRealtime | ElevenLabsConvAI:
    """The engine named by ENGINE BASE_URL NAME."""
    if kind == "realtime":
        return OpenAIRealtime(api_key="sk-relay-bench", base_url=base_url, model=name)
    if kind == "convai":
        return ElevenLabsConvAI(agent_id=name, base_url=base_url)
    raise SystemExit(f"unknown engine {kind!r}: realtime or convai")


def carrier(args: list[str]) -> Twilio | Telnyx:
    """The carrier named by the arguments after NAME (none: Twilio)."""
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


async def serve(port: int, engine_args: list[str], carrier_args: list[str]) -> None:
    kind = engine_args[0]
    if kind.endswith("+tracing"):
        from tracing_cpu import start_tracing

        start_tracing("relay-bench")
        engine_args = [kind.removesuffix("+tracing"), *engine_args[1:]]
    phone = Patter(
        carrier=carrier(carrier_args),
        phone_number=PHONE_NUMBER,
        webhook_url=f"127.0.0.1:{port}",
    )
    agent = phone.agent(
        system_prompt="You answer the phone for a benchmark.",
        engine=engine(*engine_args),
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
    serving = asyncio.create_task(
        phone.serve(
            agent,
            port=port,
            host="127.0.0.1",
            dashboard_token=os.environ.get("RELAY_DASHBOARD_TOKEN", ""),
        )
    )
    await phone.ready()
    print("READY", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2:5], sys.argv[5:]))
