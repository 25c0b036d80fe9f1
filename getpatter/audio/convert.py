"""Converting a stream of audio from one :data:`~getpatter.audio.formats.AudioFormat` to another.

Nothing is converted when the formats match (the common case: a carrier streaming μ-law to an
engine or provider that takes it). Otherwise one converter per direction and per call keeps
the resampler's state, so the audio stays continuous across chunks.
"""

from __future__ import annotations

from getpatter.audio.formats import AudioFormat, sample_rate
from getpatter.audio.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16
from getpatter.audio.resample import Resampler

__all__ = ["AudioConverter"]


class AudioConverter:
    """Streams audio from ``source`` to ``target`` format; a pass-through when they are equal."""

    def __init__(self, source: AudioFormat, target: AudioFormat) -> None:
        self.source = source
        self.target = target
        self.passthrough = source == target
        rate_from, rate_to = sample_rate(source), sample_rate(target)
        self._resampler = Resampler(rate_from, rate_to) if rate_from != rate_to else None
        self._odd = b""

    def convert(self, audio: bytes) -> bytes:
        """The next chunk in the target format (possibly empty while the resampler fills)."""
        if self.passthrough:
            return audio
        pcm = self._to_pcm(audio)
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        return _from_pcm(pcm, self.target)

    def flush(self) -> bytes:
        """What the resampler still holds, at the end of a stream."""
        if self.passthrough or self._resampler is None:
            return b""
        return _from_pcm(self._resampler.flush(), self.target)

    def _to_pcm(self, audio: bytes) -> bytes:
        if self.source == "ulaw_8000":
            return ulaw_to_pcm16(audio)
        if self.source == "alaw_8000":
            return alaw_to_pcm16(audio)
        data = self._odd + audio  # PCM chunks may split a sample across two network reads
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        return data[:cut]


def _from_pcm(pcm: bytes, target: AudioFormat) -> bytes:
    if target == "ulaw_8000":
        return pcm16_to_ulaw(pcm)
    if target == "alaw_8000":
        return pcm16_to_alaw(pcm)
    return pcm
