"""Audio and ids the fake provider APIs share: wire codecs, a steady tone, provider-shaped ids."""

from __future__ import annotations

import math
import secrets
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

CHUNK_MS = 100
"""Reply audio is sent in chunks this long."""

_TONE_HZ = 400  # divides 8000 and 24000 into whole periods
_TONE_AMPLITUDE = 6000


def new_id(prefix: str) -> str:
    """An id shaped like the real ones: ``item_…``, ``resp_…``, ``call_…``."""
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(frozen=True, eq=False)
class Codec:
    """One wire audio format: its law and rate, and its conversion to PCM16.

    ``ga`` and ``beta`` are the OpenAI Realtime API's names for it in each dialect; only the
    Realtime fake reads them.
    """

    law: Literal["pcm", "ulaw", "alaw"]
    rate: int
    ga: dict[str, Any]
    beta: str

    @property
    def bytes_per_ms(self) -> int:
        """Audio bytes per millisecond on the wire."""
        return self.rate // 1000 * (2 if self.law == "pcm" else 1)

    def to_pcm16(self, data: bytes) -> bytes:
        """``data`` in this format as PCM16."""
        if self.law == "pcm":
            return data
        from getpatter.audio.g711 import alaw_to_pcm16, ulaw_to_pcm16

        return ulaw_to_pcm16(data) if self.law == "ulaw" else alaw_to_pcm16(data)

    def from_pcm16(self, pcm: bytes) -> bytes:
        """PCM16 ``pcm`` in this format."""
        if self.law == "pcm":
            return pcm
        from getpatter.audio.g711 import pcm16_to_alaw, pcm16_to_ulaw

        return pcm16_to_ulaw(pcm) if self.law == "ulaw" else pcm16_to_alaw(pcm)


@cache
def tone_chunk(codec: Codec) -> bytes:
    """One chunk of a 400 Hz tone in ``codec``: whole periods, so chunks join seamlessly."""
    count = codec.rate * CHUNK_MS // 1000
    step = 2 * math.pi * _TONE_HZ / codec.rate
    samples = [round(_TONE_AMPLITUDE * math.sin(step * n)) for n in range(count)]
    return codec.from_pcm16(struct.pack(f"<{count}h", *samples))
