"""The loopback STT and TTS fakes in a process of their own, for ``bench/providers.py``.

Run by the benchmark as ``python bench/providers_fakes.py``: it starts the fakes of
getpatter.testing (Deepgram, the four JSON-over-WebSocket STTs, the OpenAI transcription
endpoint, the five TTS APIs), prints one JSON line ``{"key": base_url, ...}`` and then answers
each line ``cpu`` on stdin with this process's CPU seconds (``time.process_time()``); it stops
at the end of stdin. Running them here keeps their CPU out of the client's figures.

Send-time stamps: every utterance the STT fakes hear is the one word :data:`STAMP`. Just before
a fake writes a message to its socket (the WebSocket fakes) or builds its HTTP answer (the
transcription fake), every ``STAMP`` in it becomes the wall clock in microseconds
(``time.time_ns() // 1000``, CLOCK_REALTIME). The client compares the number in a final
transcript's text with its own ``time.time()`` when ``receive_transcripts()`` yields it: both
processes read the same system clock, so the difference is the time from the fake handing the
message to its socket to the client's iterator yielding it (loopback + the client's parsing +
its event loop), with nothing of the fake's own processing before the stamp.

The TTS fakes run with ``speedup`` = 10**6: their audio pacing sleeps are a few microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any

import getpatter.testing.fake_deepgram._connection as deepgram_connection
import getpatter.testing.fake_stt_http.server as transcription_server
import getpatter.testing.fake_stt_ws._core as stt_ws_core
from getpatter.testing.fake_deepgram import FakeDeepgramServer
from getpatter.testing.fake_stt_http import FakeTranscriptionServer
from getpatter.testing.fake_stt_ws.assemblyai import FakeAssemblyAIServer
from getpatter.testing.fake_stt_ws.cartesia import FakeCartesiaSTTServer
from getpatter.testing.fake_stt_ws.soniox import FakeSonioxServer
from getpatter.testing.fake_stt_ws.speechmatics import FakeSpeechmaticsServer
from getpatter.testing.fake_tts.cartesia import FakeCartesiaServer
from getpatter.testing.fake_tts.elevenlabs import FakeElevenLabsServer
from getpatter.testing.fake_tts.lmnt import FakeLMNTServer
from getpatter.testing.fake_tts.openai import FakeOpenAITTSServer
from getpatter.testing.fake_tts.rime import FakeRimeServer

STAMP = "zzstampzz"
"""The word every utterance is heard as; replaced by the send time in microseconds."""

KEY = "bench-key-0123456789"
TTS_SPEEDUP = 1e6


def _now_us() -> str:
    return str(time.time_ns() // 1000)


async def _stamped_send(self: Any, message: dict[str, Any]) -> None:
    """The WebSocket fakes' ``_send`` (record, then write), stamping the send time."""
    if getattr(self.record, "stalled", False):
        return
    self.record.sent.append(message)
    await self.ws.send(json.dumps(message).replace(STAMP, _now_us()))


_answer = transcription_server._answer


def _stamped_answer(record: Any, text: str) -> Any:
    return _answer(record, text.replace(STAMP, _now_us()))


def _install_stamps() -> None:
    # The fakes hear every utterance as STAMP (no scenario lines: the unscripted text).
    stt_ws_core.UNSCRIPTED_TEXT = STAMP
    deepgram_connection.UNSCRIPTED_TEXT = STAMP
    transcription_server.UNSCRIPTED_TEXT = STAMP  # type: ignore[attr-defined]
    stt_ws_core.Connection._send = _stamped_send  # type: ignore[method-assign]
    deepgram_connection.Connection._send = _stamped_send  # type: ignore[method-assign]
    transcription_server._answer = _stamped_answer


def fakes() -> dict[str, Any]:
    """Every fake the benchmark points a provider at, by key."""
    tts = {"speedup": TTS_SPEEDUP, "api_key": KEY}
    return {
        "deepgram": FakeDeepgramServer(api_key=KEY),
        "assemblyai": FakeAssemblyAIServer(api_key=KEY),
        "soniox": FakeSonioxServer(api_key=KEY),
        "speechmatics": FakeSpeechmaticsServer(api_key=KEY),
        "cartesia_stt": FakeCartesiaSTTServer(api_key=KEY),
        "transcription": FakeTranscriptionServer(api_key=KEY),
        "elevenlabs": FakeElevenLabsServer(**tts),
        "openai_tts": FakeOpenAITTSServer(**tts),
        "cartesia_tts": FakeCartesiaServer(**tts),
        "rime": FakeRimeServer(**tts),
        "lmnt": FakeLMNTServer(**tts),
    }


async def main() -> None:
    _install_stamps()
    servers = fakes()
    async with contextlib.AsyncExitStack() as stack:
        for server in servers.values():
            await stack.enter_async_context(server)
        # A stream closed mid-upload is a client leaving, not news: keep the fakes' logs quiet
        # (after the servers start: uvicorn sets its loggers up as it starts).
        logging.getLogger("uvicorn.error").disabled = True
        print(json.dumps({key: s.base_url for key, s in servers.items()}), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "cpu":
                print(f"{time.process_time():.6f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
