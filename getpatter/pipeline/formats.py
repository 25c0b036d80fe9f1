"""Converting audio between the carrier's format and what a provider takes or gives.

Nothing is converted when the formats match (the common case on Twilio: Deepgram takes μ-law
and ElevenLabs produces it). Otherwise one converter per direction and per call keeps the
resampler's state, so the audio stays continuous across chunks.
"""

from __future__ import annotations

from getpatter.audio import Resampler, alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16
from getpatter.engines.base import AudioFormat

__all__ = ["AudioConverter", "choose_format", "sample_rate"]

_RATES: dict[str, int] = {
    "ulaw_8000": 8000,
    "alaw_8000": 8000,
    "pcm16_8000": 8000,
    "pcm16_16000": 16000,
    "pcm16_24000": 24000,
}


def sample_rate(audio_format: AudioFormat) -> int:
    """The sample rate of ``audio_format``."""
    return _RATES[audio_format]


def choose_format(carrier: AudioFormat, supported: tuple[AudioFormat, ...]) -> AudioFormat:
    """The carrier's own format when the provider supports it, else the provider's first."""
    return carrier if carrier in supported else supported[0]


class AudioConverter:
    """Streams audio from one format to another; a pass-through when they are the same."""

    def __init__(self, source: AudioFormat, target: AudioFormat) -> None:
        self.source = source
        self.target = target
        self.passthrough = source == target
        rate_from, rate_to = _RATES[source], _RATES[target]
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
