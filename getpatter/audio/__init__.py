"""Audio building blocks: G.711 codecs, resampling, mixing and framing of mono PCM16.

PCM16 here always means little-endian signed 16-bit mono samples, passed around as ``bytes``.
This package imports numpy; the top-level ``getpatter`` package imports it lazily.
"""

from getpatter.audio.frames import FrameBuffer, frame_bytes, split_frames
from getpatter.audio.g711 import (
    ALAW_SILENCE,
    ULAW_SILENCE,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from getpatter.audio.mix import mix_pcm
from getpatter.audio.resample import SUPPORTED_RATES, Resampler, resample_24k_to_16k

__all__ = [
    "ALAW_SILENCE",
    "SUPPORTED_RATES",
    "ULAW_SILENCE",
    "FrameBuffer",
    "Resampler",
    "alaw_to_pcm16",
    "frame_bytes",
    "mix_pcm",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "resample_24k_to_16k",
    "split_frames",
    "ulaw_to_pcm16",
]
