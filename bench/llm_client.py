"""What one streamed chat-completions request costs each client: CPU and time per request.

Run ``python bench/llm_client.py [--requests 300] [--rounds 3] [--turns 1,6]``. The bench's
instant fake (``pipeline_peers.FakeSpeechAPIs``, in a child process) answers every request with
the same short SSE stream; this process sends requests one after another, each carrying a
conversation of ``--turns`` caller turns (and as many answers) plus Patter's two system tools,
as a pipeline turn does. Clients, run back to back in every round (medians over the rounds):

- ``patter``: ``OpenAILLM.stream`` (what pipeline mode uses: aiohttp, plain-json SSE);
- ``sdk``: the official ``openai`` SDK as ``OpenAILLM`` used it before (``AsyncOpenAI``
  ``chat.completions.create(stream=True)``, reading the typed chunks), on its default httpx;
- ``sdk+aiohttp``: the same on the SDK's aiohttp transport (``DefaultAioHttpClient``);
- ``sdk.post``: the SDK's low-level ``post`` (no request transform), typed chunks.

It prints numbers and asserts nothing. CPU is this process's (``time.process_time``) per
request; the fake's is not counted. Times are wall clock, from calling the client to its
first text and to the stream's end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from relay_load import percentile

from getpatter.llm.chat_context import ChatContext
from getpatter.llm.openai import LLM
from getpatter.tools import SYSTEM_TOOLS

KEY = "sk-llm-client-bench"
Turn = Callable[[], Awaitable[float]]
"""One request; returns the seconds to its first text."""


def conversation(turns: int) -> ChatContext:
    context = ChatContext("You answer the phone for a benchmark. Keep answers short.")
    for turn in range(1, turns):
        context.add_user(f"Caller 1 turn {turn}.")
        context.add_assistant(f"You said: Caller 1 turn {turn}.")
    context.add_user(f"Caller 1 turn {turns}.")
    return context


def patter_turn(llm: LLM, context: ChatContext) -> Turn:
    async def turn() -> float:
        start, first = time.perf_counter(), 0.0
        async for chunk in llm.stream(context, SYSTEM_TOOLS):
            if chunk.type == "text" and not first:
                first = time.perf_counter() - start
        return first

    return turn


def sdk_turn(client: Any, request: dict[str, Any], *, raw: bool) -> Turn:
    from openai import AsyncStream
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    async def turn() -> float:
        start, first = time.perf_counter(), 0.0
        if raw:
            stream = await client.post(
                "/chat/completions",
                body=request,
                cast_to=ChatCompletion,
                stream=True,
                stream_cls=AsyncStream[ChatCompletionChunk],
            )
        else:
            stream = await client.chat.completions.create(**request)
        try:
            async for chunk in stream:
                _ = chunk.usage
                for choice in chunk.choices:
                    _ = choice.delta.tool_calls
                    if choice.delta.content and not first:
                        first = time.perf_counter() - start
        finally:
            await stream.close()
        return first

    return turn


async def measure(turn: Turn, requests: int) -> tuple[float, list[float], list[float]]:
    """(CPU ms per request, first-text ms, whole-stream ms) over ``requests`` requests."""
    for _ in range(min(50, requests)):
        await turn()
    firsts, totals = [], []
    cpu = time.process_time()
    for _ in range(requests):
        start = time.perf_counter()
        firsts.append(await turn() * 1000)
        totals.append((time.perf_counter() - start) * 1000)
    return (time.process_time() - cpu) * 1000 / requests, firsts, totals


async def run(base_url: str, requests: int, rounds: int, turns_list: list[int]) -> None:
    import openai

    print(
        f"{'client':>12} {'turns':>5} | {'CPU':>7} | {'first text':>10} {'p99':>6} | "
        f"{'stream end':>10} {'p99':>6}"
    )
    print(f"{'':>12} {'':>5} | {'ms/req':>7} | {'p50 ms':>10} {'ms':>6} | {'p50 ms':>10} {'ms':>6}")
    for turns in turns_list:
        context = conversation(turns)
        llm = LLM(api_key=KEY, base_url=f"{base_url}/v1")
        request = llm._request(context, SYSTEM_TOOLS)
        plain = openai.AsyncOpenAI(api_key=KEY, base_url=f"{base_url}/v1", max_retries=0)
        aio = openai.AsyncOpenAI(
            api_key=KEY,
            base_url=f"{base_url}/v1",
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        )
        clients: dict[str, Turn] = {
            "patter": patter_turn(llm, context),
            "sdk": sdk_turn(plain, request, raw=False),
            "sdk+aiohttp": sdk_turn(aio, request, raw=False),
            "sdk.post": sdk_turn(plain, request, raw=True),
        }
        figures: dict[str, list[tuple[float, float, float, float, float]]] = {}
        for _round in range(rounds):
            for name, turn in clients.items():
                cpu, firsts, totals = await measure(turn, requests)
                figures.setdefault(name, []).append(
                    (
                        cpu,
                        percentile(firsts, 50),
                        percentile(firsts, 99),
                        percentile(totals, 50),
                        percentile(totals, 99),
                    )
                )
        for name, rows in figures.items():
            cpu, f50, f99, t50, t99 = (
                statistics.median(column) for column in zip(*rows, strict=True)
            )
            print(
                f"{name:>12} {turns:>5} | {cpu:>7.3f} | {f50:>10.3f} {f99:>6.2f} | "
                f"{t50:>10.3f} {t99:>6.2f}"
            )
        await llm.close()
        await plain.close()
        await aio.close()


async def serve() -> None:
    from pipeline_peers import FakeSpeechAPIs

    apis = FakeSpeechAPIs()
    await apis.start()
    print(apis.base_url, flush=True)
    await asyncio.get_running_loop().create_future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per client and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", default="1,6", help="caller turns in the conversation")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    fake = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert fake.stdout is not None
        base_url = fake.stdout.readline().strip()
        turns = [int(t) for t in args.turns.split(",") if t.strip()]
        print(
            f"{args.requests} sequential requests per client, {args.rounds} rounds (medians), "
            f"against an instant fake in another process\n"
        )
        asyncio.run(run(base_url, args.requests, args.rounds, turns))
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()
