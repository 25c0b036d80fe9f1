"""Synthetic "speech" in each output format the fakes serve: a steady 400 Hz tone."""

from __future__ import annotations

from getpatter.testing._fake_audio import CHUNK_MS, Codec, tone_chunk

# Codec's dialect names belong to the Realtime fake; only the law and the rate matter here.
_FORMATS: dict[str, Codec] = {
    "ulaw_8000": Codec("ulaw", 8000, {}, "g711_ulaw"),
    "alaw_8000": Codec("alaw", 8000, {}, "g711_alaw"),
    **{f"pcm_{rate}": Codec("pcm", rate, {}, "pcm16") for rate in (8000, 16000, 24000, 48000)},
}

SUPPORTED_FORMATS: tuple[str, ...] = tuple(_FORMATS)
"""ElevenLabs ``output_format`` names the fake can produce."""


def bytes_per_ms(output_format: str) -> int:
    """Audio bytes per millisecond of ``output_format`` (one of :data:`SUPPORTED_FORMATS`)."""
    return _FORMATS[output_format].bytes_per_ms


def speech(output_format: str, duration_ms: int) -> bytes:
    """``duration_ms`` of tone in ``output_format``: exactly ``bytes_per_ms * duration_ms``."""
    codec = _FORMATS[output_format]
    chunk = tone_chunk(codec)
    whole, rest = divmod(duration_ms, CHUNK_MS)
    return chunk * whole + chunk[: rest * codec.bytes_per_ms]
