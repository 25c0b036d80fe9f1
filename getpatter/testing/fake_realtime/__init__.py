"""A loopback fake of the OpenAI Realtime API that speaks its real WebSocket protocol.

:class:`FakeRealtimeServer` serves ``ws://127.0.0.1:<port>/v1/realtime?model=...`` and plays the
model's half of a :class:`~getpatter.testing.scenario.Scenario`: it "hears" the n-th caller
utterance as the n-th ``Say`` text and answers each turn with the next ``Reply``, as a
non-silent tone lasting ``reply.speech_duration_ms``. It speaks the GA event names, or the beta
names when the client sends ``OpenAI-Beta: realtime=v1``.

Turn detection is an energy VAD on the session's input audio: 20 ms windows are voiced when
their RMS (on the int16 scale) reaches ``turn_detection.threshold * 1000`` (500 by default,
about -36 dBFS). Speech starts after 3 voiced windows in a row (60 ms; ``audio_start_ms`` is the
start of the first) and stops after ``silence_duration_ms`` of unvoiced windows (default 500;
``audio_end_ms`` is when the stop is detected, silence included).

Reply audio is sent in 100 ms chunks, ``speedup`` (4) times faster than real time, so a client
sees ``response.done`` well before its caller has heard the whole reply, as with the real API.
"""

from getpatter.testing.fake_realtime.records import (
    Cancellation,
    FakeRealtimeSession,
    FakeResponse,
    ToolOutput,
    Truncation,
)
from getpatter.testing.fake_realtime.server import FakeRealtimeServer

__all__ = [
    "Cancellation",
    "FakeRealtimeServer",
    "FakeRealtimeSession",
    "FakeResponse",
    "ToolOutput",
    "Truncation",
]
