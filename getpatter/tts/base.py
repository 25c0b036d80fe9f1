"""What the pipeline needs from a text-to-speech provider: audio for a sentence, as it comes.

``synthesize(text, audio_format=...)`` async-iterates raw audio bytes (spec PV-4) in the format
asked for; a provider lists the formats it produces natively, so the pipeline asks for the
carrier's own (``ulaw_8000`` on Twilio) when it can and converts only otherwise. Stopping the
iteration (barge-in) cancels the request. A provider object serves every call of an agent;
:meth:`TTSProvider.close` releases what it shares (the pipeline never calls it per call).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from getpatter.engines.base import AudioFormat

__all__ = ["TTSCapabilities", "TTSProvider"]


@dataclass(frozen=True)
class TTSCapabilities:
    """``output_formats``: formats produced as they are, best first. ``streaming``: audio
    arrives while the rest is still being synthesised."""

    output_formats: tuple[AudioFormat, ...]
    streaming: bool = True


@runtime_checkable
class TTSProvider(Protocol):
    """A speech synthesiser; see the module docstring."""

    name: str
    """The provider's key in the price table (``"elevenlabs"``, ``"openai_tts"``)."""
    voice: str
    capabilities: TTSCapabilities

    def synthesize(self, text: str, *, audio_format: AudioFormat) -> AsyncIterator[bytes]:
        """Speak ``text``; yields audio in ``audio_format`` (one of ``output_formats``).

        Raises a :class:`~getpatter.errors.PatterError` when the provider fails or stalls.
        """
        ...

    async def close(self) -> None:
        """Release shared resources (HTTP pools); the provider is unusable afterwards."""
        ...
