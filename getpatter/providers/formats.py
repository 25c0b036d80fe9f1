"""Audio-format negotiation for providers, in one place.

Every speech provider names Patter's :data:`~getpatter.audio.formats.AudioFormat`\\ s its own
way (Deepgram ``encoding=mulaw&sample_rate=8000``, ElevenLabs ``ulaw_8000``, Cartesia
``{"encoding": "pcm_mulaw", "sample_rate": 8000}``). A provider declares that mapping once as
:class:`WireFormats`; its capabilities list the formats from it, best first, and the pipeline
picks the carrier's own format when it is listed (so a Twilio call stays μ-law end to end).
Where a service produces only some rates, :class:`~getpatter.audio.convert.AudioConverter`
turns its output into the format asked for (imported where used: it needs numpy, and this
table is read when ``getpatter`` is imported). ``for_twilio()`` / ``for_telnyx()`` factories read
:func:`carrier_format`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Literal, TypeVar

from getpatter.audio.formats import AudioFormat, choose_format, sample_rate
from getpatter.errors import ConfigError

__all__ = [
    "CARRIER_FORMATS",
    "WireFormats",
    "carrier_format",
    "choose_format",
    "encoding_of",
]

W = TypeVar("W")

CARRIER_FORMATS: dict[str, AudioFormat] = {"twilio": "ulaw_8000", "telnyx": "pcm16_16000"}
"""What each carrier streams on its media socket (spec TTS-3, STT-6): Twilio μ-law 8 kHz,
Telnyx PCM 16 kHz."""

Encoding = Literal["mulaw", "alaw", "pcm_s16le"]


def carrier_format(carrier: str) -> AudioFormat:
    """The audio format ``carrier`` (``"twilio"`` or ``"telnyx"``) streams."""
    try:
        return CARRIER_FORMATS[carrier]
    except KeyError:
        raise ConfigError(
            f"unknown carrier {carrier!r}: use one of {sorted(CARRIER_FORMATS)}"
        ) from None


def encoding_of(audio_format: AudioFormat) -> tuple[Encoding, int]:
    """``audio_format`` as (sample encoding, sample rate): ``("mulaw", 8000)``,
    ``("pcm_s16le", 16000)``. Providers spell the encoding their own way from this."""
    if audio_format == "ulaw_8000":
        return "mulaw", 8000
    if audio_format == "alaw_8000":
        return "alaw", 8000
    return "pcm_s16le", sample_rate(audio_format)


class WireFormats(Generic[W]):
    """The formats a provider takes or produces as they are, best first, and its name for each.

    ``owner`` is the class name used in errors (``"CartesiaTTS"``). ``wire(fmt)`` is the
    provider's spelling of ``fmt``; a format the provider cannot handle is a
    :class:`~getpatter.errors.ConfigError` listing the ones it can.
    """

    def __init__(self, owner: str, table: Mapping[AudioFormat, W]) -> None:
        if not table:
            raise ValueError("WireFormats needs at least one format")
        self.owner = owner
        self._table = dict(table)

    @property
    def formats(self) -> tuple[AudioFormat, ...]:
        """Every format, best first (the order of the table)."""
        return tuple(self._table)

    def preferring(self, *first: AudioFormat) -> tuple[AudioFormat, ...]:
        """The formats with ``first`` (those the provider supports) moved to the front: a
        constructor's configured format, or a carrier's, then the rest in table order."""
        return tuple(dict.fromkeys([*(f for f in first if f in self._table), *self._table]))

    def wire(self, audio_format: object) -> W:
        """The provider's name for ``audio_format``."""
        if audio_format in self._table:
            return self._table[audio_format]
        raise ConfigError(
            f"{self.owner} cannot handle audio_format={audio_format!r}: use one of "
            f"{list(self._table)}"
        )

    def format_of(self, wire: W, *, hint: str = "") -> AudioFormat:
        """The format the provider calls ``wire`` (the reverse of :meth:`wire`), for a
        constructor that takes the provider's own spelling (``output_format="ulaw_8000"``)."""
        for fmt, name in self._table.items():
            if name == wire:
                return fmt
        names = [self._table[f] for f in self._table]
        raise ConfigError(
            f"{self.owner} {hint or 'format'}={wire!r} is not supported: use one of {names}"
        )

    def __contains__(self, audio_format: object) -> bool:
        return audio_format in self._table
