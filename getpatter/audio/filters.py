"""Audio filters: what ``agent(audio_filter=...)`` takes, and how a call runs one.

An :class:`AudioFilter` cleans up the caller's audio before the pipeline's VAD and STT hear it
(a high-pass against hum and rumble, a noise gate against line hiss). It is pipeline-only
(spec AG-9): an engine agent's ``audio_filter=`` is refused.

The contract:

- ``process(pcm16, sample_rate)`` takes one chunk of 16-bit little-endian mono PCM (usually a
  20 ms frame) at ``sample_rate`` (the carrier's rate: 8000 for μ-law/A-law, else 16000 or
  24000) and returns the filtered chunk, the same number of bytes. It is synchronous and runs
  on the event loop for every frame: keep it cheap (numpy, no I/O).
- Each call gets its own copy of the agent's filter (``copy.deepcopy`` at the start of the
  call), so a filter keeps per-call state (a biquad's memory, a gate's envelope) in its
  attributes and calls never share it. A filter holding something big and read-only (a model)
  can define ``__deepcopy__`` to share it. If the copy has a ``reset()`` method, it is called
  before the first frame.
- A filter that raises, or returns something that is not bytes of the same length, is switched
  off for the rest of that call (logged once); the caller's audio then goes on unfiltered.
- With no filter, the caller's audio is not touched (no decoding, no copy).
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from getpatter.audio.formats import AudioFormat, sample_rate
from getpatter.errors import ConfigError

if TYPE_CHECKING:
    from getpatter.audio.convert import AudioConverter

__all__ = ["AudioFilter", "CallAudioFilter", "check_audio_filter"]

logger = logging.getLogger("getpatter.pipeline")  # filters run in the pipeline only


@runtime_checkable
class AudioFilter(Protocol):
    """Filters caller audio before VAD and STT; see the module docstring for the contract."""

    def process(self, pcm16: bytes, sample_rate: int) -> bytes:
        """The filtered ``pcm16`` (16-bit LE mono at ``sample_rate``), of the same length."""
        ...


def check_audio_filter(audio_filter: object) -> AudioFilter:
    """``audio_filter`` if it can filter calls, else a :class:`ConfigError` naming the fix."""
    if not callable(getattr(audio_filter, "process", None)):
        raise ConfigError(
            "audio_filter must have a process(pcm16: bytes, sample_rate: int) -> bytes method, "
            f"such as HighPassFilter() or NoiseGate() (from getpatter), got "
            f"{type(audio_filter).__name__}"
        )
    try:
        copy.deepcopy(audio_filter)
    except Exception as exc:
        raise ConfigError(
            f"audio_filter {type(audio_filter).__name__} cannot be copied ({exc}), but each call "
            "gets its own copy: define __deepcopy__ on it (sharing what is read-only)"
        ) from exc
    return cast(AudioFilter, audio_filter)


class CallAudioFilter:
    """One call's copy of an agent's filter, run on caller audio in the carrier's format.

    G.711 audio is decoded to PCM16, filtered and encoded again; PCM16 is filtered as it is
    (a trailing odd byte waits for the next chunk).
    """

    def __init__(self, audio_filter: AudioFilter, carrier: AudioFormat) -> None:
        from getpatter.audio.convert import AudioConverter

        self._filter: AudioFilter | None = copy.deepcopy(audio_filter)
        self._name = type(audio_filter).__name__
        reset = getattr(self._filter, "reset", None)
        if callable(reset):
            reset()
        self._pcm = carrier.startswith("pcm16")
        self._rate = sample_rate(carrier)
        pcm_format: AudioFormat = carrier if self._pcm else "pcm16_8000"
        self._decode: AudioConverter = AudioConverter(carrier, pcm_format)
        self._encode: AudioConverter = AudioConverter(pcm_format, carrier)
        self._odd = b""

    @property
    def active(self) -> bool:
        """False once the filter failed and the call's audio goes on unfiltered."""
        return self._filter is not None

    def process(self, audio: bytes) -> bytes:
        """The filtered chunk, in the carrier's format (the chunk itself if the filter is off)."""
        audio_filter = self._filter
        if audio_filter is None:
            return audio
        if self._pcm:
            data = self._odd + audio if self._odd else audio
            cut = len(data) - len(data) % 2
            self._odd, pcm = data[cut:], data[:cut]
        else:
            data = audio
            pcm = self._decode.convert(audio)
        if not pcm:
            return b""
        try:
            out = audio_filter.process(pcm, self._rate)
        except Exception:
            logger.exception("audio filter %s raised: the call goes on unfiltered", self._name)
            return self._off(data)
        if not isinstance(out, bytes | bytearray) or len(out) != len(pcm):
            logger.error(
                "audio filter %s returned %s instead of %d bytes: the call goes on unfiltered",
                self._name,
                f"{len(out)} bytes" if isinstance(out, bytes | bytearray) else type(out).__name__,
                len(pcm),
            )
            return self._off(data)
        return self._encode.convert(bytes(out))

    def _off(self, data: bytes) -> bytes:
        self._filter, self._odd = None, b""
        return data
