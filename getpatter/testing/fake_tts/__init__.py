"""Loopback fakes of the text-to-speech APIs, speaking their real wire protocols.

:class:`FakeElevenLabsServer` serves ElevenLabs' HTTP streaming endpoint and its stream-input
WebSocket; :class:`FakeOpenAITTSServer` serves OpenAI's ``/v1/audio/speech``;
:class:`FakeCartesiaServer` Cartesia's ``/tts/websocket``; :class:`FakeRimeServer` Rime's
``/v1/rime-tts``; :class:`FakeLMNTServer` LMNT's ``/v1/ai/speech/bytes``. Each binds
127.0.0.1 on a free port (``async with ... as fake``, then ``fake.base_url``), checks the API
key header, and answers every request with ``scenario.speech_ms(text)`` ms of a 400 Hz tone in
the requested format, sent in 100 ms chunks ``speedup`` (4) times faster than real time.
Each request is recorded as a :class:`TTSRequest` in ``fake.requests``.

Fault injection, each call affecting the next request: ``fail_next(status)`` (an HTTP error
answer, or a refused WebSocket handshake), ``stall_next(after_bytes=..., seconds=...)`` (the
audio stops mid-stream), ``drop_next(after_bytes=...)`` (the connection is cut mid-audio); for
stream-input sockets also ``error_next(message)`` (a server
``error`` frame) and ``huge_frame_next(size)`` (an oversized audio frame).
"""

from getpatter.testing.fake_tts.cartesia import FakeCartesiaServer
from getpatter.testing.fake_tts.elevenlabs import FakeElevenLabsServer
from getpatter.testing.fake_tts.lmnt import FakeLMNTServer
from getpatter.testing.fake_tts.openai import FakeOpenAITTSServer
from getpatter.testing.fake_tts.records import TTSRequest
from getpatter.testing.fake_tts.rime import FakeRimeServer

__all__ = [
    "FakeCartesiaServer",
    "FakeElevenLabsServer",
    "FakeLMNTServer",
    "FakeOpenAITTSServer",
    "FakeRimeServer",
    "TTSRequest",
]
