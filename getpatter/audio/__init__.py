"""Audio building blocks: formats, G.711 codecs, resampling, mixing and framing of mono PCM16.

PCM16 here always means little-endian signed 16-bit mono samples, passed around as ``bytes``.
The codecs and the resampler use numpy, loaded when one of them is first used:
:mod:`getpatter.audio.formats` (what each audio format is) stays free of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from getpatter.audio.convert import AudioConverter
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
    "AudioConverter",
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

_HOMES = {
    "AudioConverter": "convert",
    "FrameBuffer": "frames",
    "frame_bytes": "frames",
    "split_frames": "frames",
    "ALAW_SILENCE": "g711",
    "ULAW_SILENCE": "g711",
    "alaw_to_pcm16": "g711",
    "pcm16_to_alaw": "g711",
    "pcm16_to_ulaw": "g711",
    "ulaw_to_pcm16": "g711",
    "mix_pcm": "mix",
    "SUPPORTED_RATES": "resample",
    "Resampler": "resample",
    "resample_24k_to_16k": "resample",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'getpatter.audio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"getpatter.audio.{home}"), name)
    globals()[name] = value
    return value
