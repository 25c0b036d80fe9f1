"""What the fake TTS servers record about each request, for assertions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["TTSRequest"]


@dataclass
class TTSRequest:
    """One synthesis request the fake accepted, updated while its audio streams.

    ``voice``/``model``/``output_format`` are the provider's own names (ElevenLabs ``voice_id``,
    ``model_id``, ``output_format``; OpenAI ``voice``, ``model``, ``response_format``).
    ``text`` is what was to be spoken; on the stream-input WebSocket, the text messages joined,
    without the opening space and surrounding spaces. ``options`` holds every other field sent
    (OpenAI ``speed``/``instructions``, the WebSocket's query flags and ``generation_config``).
    ``audio_bytes`` counts the audio sent; ``completed``: all of it was sent;
    ``disconnected``: the client went away before that; ``cancelled``: the client cancelled
    it (a Cartesia ``cancel`` message). :meth:`wait_finished` returns once
    the fake is done with the request, either way.
    """

    index: int
    transport: Literal["http", "websocket"]
    path: str
    voice: str
    model: str | None
    output_format: str
    text: str = ""
    voice_settings: dict[str, Any] | None = None
    language_code: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    audio_bytes: int = 0
    completed: bool = False
    disconnected: bool = False
    cancelled: bool = False
    _finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Whether the fake is done with this request (completed, failed or abandoned)."""
        return self._finished.is_set()

    async def wait_finished(self) -> None:
        """Wait until the fake is done with this request."""
        await self._finished.wait()
