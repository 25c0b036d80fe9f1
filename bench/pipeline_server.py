"""Patter serving pipeline calls in a process of its own, for ``bench/pipeline.py``.

Run by the benchmark as ``python bench/pipeline_server.py PORT DEEPGRAM_URL HTTP_URL BRAIN``:
a ``Patter`` with a Twilio carrier whose webhooks come to ``127.0.0.1:PORT`` serves a pipeline
agent with ``DeepgramSTT`` pointed at ``DEEPGRAM_URL`` and ``ElevenLabsTTS`` at ``HTTP_URL``
(the benchmark's lean fakes). ``BRAIN`` is ``message`` (an instant ``on_message`` function that
echoes the caller), ``llm`` (``OpenAILLM`` pointed at ``HTTP_URL/v1``) or ``message+vad`` (the
``on_message`` agent with ``SileroVAD()``). It prints ``READY`` once it takes calls and stops
cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

from relay_server import _UNUSED_REST_URL, ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER

from getpatter import DeepgramSTT, ElevenLabsTTS, Patter, Twilio

if TYPE_CHECKING:
    from getpatter.llm.openai import LLM
    from getpatter.vad.silero import VAD

BRAINS = ("message", "llm", "message+vad")


def echo(message: dict[str, Any]) -> str:
    """The ``on_message`` brain: answers at once, naming what the caller said."""
    return f"You said: {message['text']}"


async def serve(port: int, deepgram_url: str, http_url: str, brain: str) -> None:
    if brain not in BRAINS:
        raise SystemExit(f"BRAIN must be one of {BRAINS}, got {brain!r}")
    # The openai SDK and onnxruntime load only for the brains that use them: a process that
    # imported them holds twice as many Python objects, and every full GC pass scans them all.
    llm: LLM | None = None
    vad: VAD | None = None
    if brain == "llm":
        from getpatter import OpenAILLM

        llm = OpenAILLM(api_key="sk-pipeline-bench", base_url=f"{http_url}/v1")
    if brain.endswith("+vad"):
        from getpatter import SileroVAD

        vad = SileroVAD()
    phone = Patter(
        carrier=Twilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=_UNUSED_REST_URL),
        phone_number=PHONE_NUMBER,
        webhook_url=f"127.0.0.1:{port}",
    )
    agent = phone.agent(
        system_prompt="You answer the phone for a benchmark.",
        stt=DeepgramSTT(api_key="dg-pipeline-bench", base_url=deepgram_url),
        tts=ElevenLabsTTS(api_key="el-pipeline-bench", base_url=http_url),
        llm=llm,
        vad=vad,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(phone.disconnect()))
    serving = asyncio.create_task(
        phone.serve(agent, port=port, host="127.0.0.1", on_message=echo if brain != "llm" else None)
    )
    await phone.ready()
    print("READY", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
