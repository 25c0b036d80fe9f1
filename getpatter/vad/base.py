"""What the pipeline needs from a voice-activity detector.

A :class:`VADProvider` holds what every call shares (the loaded model); each call gets a
:class:`VADStream` holding only its own state, so one model serves all calls. ``process`` is
synchronous and cheap: it runs for every 20 ms frame of caller audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["VADEvent", "VADProvider", "VADStream"]


@dataclass(frozen=True)
class VADEvent:
    """Speech began or ended ``at_ms`` into the stream (the moment detected, not reported)."""

    kind: Literal["speech_started", "speech_stopped"]
    at_ms: float


@runtime_checkable
class VADStream(Protocol):
    """One call's detector state."""

    def process(self, pcm16: bytes) -> list[VADEvent]:
        """Take 16-bit little-endian mono PCM at the provider's ``sample_rate``; any length."""
        ...

    @property
    def speaking(self) -> bool:
        """True between a ``speech_started`` and the next ``speech_stopped``."""
        ...


@runtime_checkable
class VADProvider(Protocol):
    """A voice-activity detector; see the module docstring."""

    sample_rates: tuple[int, ...]
    """PCM rates :meth:`open_stream` accepts."""

    def open_stream(self, sample_rate: int) -> VADStream:
        """A fresh detector for one call, fed PCM at ``sample_rate``."""
        ...
