"""Patter serving pipeline calls in a process of its own, for ``bench/pipeline.py``.

Run by the benchmark as ``python bench/pipeline_server.py PORT DEEPGRAM_URL HTTP_URL BRAIN
[FAKE_URLS]``:
a ``Patter`` with a Twilio carrier whose webhooks come to ``127.0.0.1:PORT`` serves a pipeline
agent with ``DeepgramSTT`` pointed at ``DEEPGRAM_URL`` and ``ElevenLabsTTS`` at ``HTTP_URL``
(the benchmark's lean fakes). ``BRAIN`` is ``message`` (an instant ``on_message`` function that
echoes the caller), one of :data:`LLM_BRAINS` (``llm``: ``OpenAILLM`` pointed at
``HTTP_URL/v1``), ``message+vad`` (the ``on_message`` agent with ``SileroVAD()``),
``message+tracing`` (the ``on_message`` agent with tracing on: ``tracing_cpu.start_tracing``,
exporting to the collector at ``$BENCH_OTLP_URL``) or a provider
brain of ``pipeline_providers.py`` (``stt-*``/``tts-*``: the ``message`` agent with that STT or
TTS pointed at the package fakes whose URLs the JSON object ``FAKE_URLS``, a fifth argument,
gives). It prints
``READY`` once it takes calls and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline_providers import STT_BRAINS, TTS_BRAINS, make_provider
from relay_server import _UNUSED_REST_URL, ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER
from tracing_cpu import start_tracing

from getpatter import DeepgramSTT, ElevenLabsTTS, Patter, Twilio

if TYPE_CHECKING:
    from getpatter.llm.base import LLMProvider
    from getpatter.vad.silero import VAD


class LLMBrain(NamedTuple):
    """An LLM brain of the benchmark: the provider family and the class that answers."""

    family: str
    """The provider family, as the benchmark's table names it."""
    cls: str
    """``module:Class``, constructed as ``Class(api_key=..., base_url=...)``."""
    api_root: str
    """The provider's API root; the fake serves its chat-completions stream under it."""


LLM_BRAINS: dict[str, LLMBrain] = {
    "llm": LLMBrain("OpenAI", "getpatter.llm.openai:LLM", "/v1"),
    "llm-groq": LLMBrain("Groq", "getpatter.llm.groq:LLM", "/openai/v1"),
    # Cerebras sends gzip+msgpack bodies by default (spec LLM-6); the fake decodes them.
    "llm-cerebras": LLMBrain("Cerebras", "getpatter.llm.cerebras:LLM", "/v1"),
}
BRAINS = ("message", *LLM_BRAINS, "message+vad", "message+tracing", *STT_BRAINS, *TTS_BRAINS)


def make_llm(brain: LLMBrain, http_url: str) -> LLMProvider:
    """``brain``'s LLM pointed at the fake chat-completions server at ``http_url``."""
    module, _, name = brain.cls.partition(":")
    cls = getattr(importlib.import_module(module), name)
    llm: LLMProvider = cls(api_key="sk-pipeline-bench", base_url=f"{http_url}{brain.api_root}")
    return llm


def echo(message: dict[str, Any]) -> str:
    """The ``on_message`` brain: answers at once, naming what the caller said."""
    return f"You said: {message['text']}"


async def serve(
    port: int, deepgram_url: str, http_url: str, brain: str, fake_urls: dict[str, str]
) -> None:
    if brain not in BRAINS:
        raise SystemExit(f"BRAIN must be one of {BRAINS}, got {brain!r}")
    # LLM clients and onnxruntime load only for the brains that use them: a process that
    # imported them holds more Python objects, and every full GC pass scans them all.
    llm: LLMProvider | None = None
    vad: VAD | None = None
    if brain in LLM_BRAINS:
        llm = make_llm(LLM_BRAINS[brain], http_url)
    if brain.endswith("+vad"):
        from getpatter import SileroVAD

        vad = SileroVAD()
    if brain.endswith("+tracing"):
        start_tracing("pipeline-bench")
    phone = Patter(
        carrier=Twilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=_UNUSED_REST_URL),
        phone_number=PHONE_NUMBER,
        webhook_url=f"127.0.0.1:{port}",
    )
    agent = phone.agent(
        system_prompt="You answer the phone for a benchmark.",
        stt=make_provider(brain, fake_urls)
        if brain in STT_BRAINS
        else DeepgramSTT(api_key="dg-pipeline-bench", base_url=deepgram_url),
        tts=make_provider(brain, fake_urls)
        if brain in TTS_BRAINS
        else ElevenLabsTTS(api_key="el-pipeline-bench", base_url=http_url),
        llm=llm,
        vad=vad,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(phone.disconnect()))
    serving = asyncio.create_task(
        phone.serve(agent, port=port, host="127.0.0.1", on_message=None if llm else echo)
    )
    await phone.ready()
    print("READY", flush=True)
    await serving


if __name__ == "__main__":
    urls = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], urls))
