"""``BackgroundAudioPlayer``: what background sound an agent's calls carry, and when.

A player is configuration, given once to ``phone.agent(background_audio=...)`` and shared by
every call of that agent. Each call gets its own :class:`~getpatter.audio.background.mixer.
BackgroundMix` from :meth:`BackgroundAudioPlayer.mix_for`; the prepared clips (one per sound
and line format) are cached in the player, so calls share their samples.
"""

from __future__ import annotations

import math
import random
import wave
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import get_args

import numpy as np
import numpy.typing as npt

from getpatter._validation import require_bool, require_number
from getpatter.audio._pcm import PCM16
from getpatter.audio.background.clips import BuiltinAudioClip, clip_samples
from getpatter.audio.background.mixer import BackgroundMix, PlayWhen, Track, prepare_track
from getpatter.audio.formats import AudioFormat, sample_rate
from getpatter.audio.resample import SUPPORTED_RATES, Resampler
from getpatter.errors import ConfigError

__all__ = ["BackgroundAudioPlayer", "hold_music", "select_sound_from_list"]

_PREPARED_FORMATS: tuple[AudioFormat, ...] = ("ulaw_8000", "pcm16_16000")

Sound = BuiltinAudioClip | str | Path
"""A built-in clip (or its name), or the path of a WAV file."""


def select_sound_from_list(sounds: Sequence[Sound], *, rng: random.Random | None = None) -> str:
    """Pick one entry of ``sounds`` (clip names or file paths), returned as a string.

    Without ``rng`` the choice is deterministic: the first entry. With a
    :class:`random.Random`, ``rng.choice`` picks it (seed the generator for repeatable runs).
    A :class:`BuiltinAudioClip` comes back as its name (``"hold_music"``).
    """
    if isinstance(sounds, str | bytes) or not isinstance(sounds, Sequence):
        raise ConfigError(f"sounds must be a list of clip names or paths, got {sounds!r}")
    if not sounds:
        raise ConfigError("sounds is empty: give at least one clip name or file path")
    if rng is not None and not isinstance(rng, random.Random):
        raise ConfigError(f"rng must be a random.Random, got {type(rng).__name__}")
    chosen = sounds[0] if rng is None else rng.choice(list(sounds))
    if not isinstance(chosen, BuiltinAudioClip | str | Path):
        raise ConfigError(f"a sound must be a BuiltinAudioClip, a name or a path: {chosen!r}")
    return chosen.value if isinstance(chosen, BuiltinAudioClip) else str(chosen)


class BackgroundAudioPlayer:
    """Background sound mixed into the audio callers hear (``agent(background_audio=...)``).

    ``sound`` is a :class:`BuiltinAudioClip` (or its name), the path of a WAV file (PCM16,
    mono or stereo, 8/16/24/48 kHz), or a list of those: each call then plays one, picked by
    :func:`select_sound_from_list` with ``rng`` (the first without it). ``when`` is
    ``"always"`` (the whole call), ``"thinking"`` (from the caller's end of speech to the
    agent's first audio of the answer, and while tools run) or ``"tools"`` (only while a
    tool runs). ``volume`` is the sound's linear gain (0-1); under the agent's speech it is
    ducked to ``duck`` times that (0 silences it, 1 keeps it level). With ``loop=False`` the
    clip plays once each time its cue starts (once per call for ``"always"``).

    A barge-in (the caller starting to speak) ends the "thinking" cue; ambient sound goes on.
    Key presses the agent sends (DTMF tones) are never mixed. Files are read, checked and
    prepared for Twilio's and Telnyx's audio formats here (tens of milliseconds per sound), so
    a bad path fails when the agent is built and no call waits for the work.
    """

    def __init__(
        self,
        sound: Sound | Sequence[Sound] = BuiltinAudioClip.HOLD_MUSIC,
        *,
        when: PlayWhen = "always",
        volume: float = 0.3,
        duck: float = 0.4,
        loop: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(sound, BuiltinAudioClip | str | Path):
            sounds: list[Sound] = [sound]
        elif isinstance(sound, Sequence):
            sounds = list(sound)
        else:
            raise ConfigError(
                f"sound must be a BuiltinAudioClip, a WAV path or a list of those, got {sound!r}"
            )
        select_sound_from_list(sounds)  # type and emptiness checks
        if when not in get_args(PlayWhen):
            raise ConfigError(f"when={when!r} must be 'always', 'thinking' or 'tools'")
        self.sounds: tuple[str, ...] = tuple(
            s.value if isinstance(s, BuiltinAudioClip) else str(s) for s in sounds
        )
        self.when: PlayWhen = when
        self.volume = _fraction("volume", volume)
        self.duck = _fraction("duck", duck)
        self.loop = require_bool("loop", loop)
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError(f"rng must be a random.Random, got {type(rng).__name__}")
        self._rng = rng
        self._clips: dict[str, tuple[npt.NDArray[np.int16], int]] = {
            name: _load(name) for name in self.sounds
        }
        self._tracks: dict[tuple[str, AudioFormat], Track] = {}
        for name in self.sounds:  # Twilio's and Telnyx's formats, so no call waits for them
            for audio_format in _PREPARED_FORMATS:
                self.track(name, audio_format)

    def __repr__(self) -> str:
        return (
            f"BackgroundAudioPlayer({list(self.sounds)!r}, when={self.when!r}, "
            f"volume={self.volume}, duck={self.duck}, loop={self.loop})"
        )

    def mix_for(self, audio_format: AudioFormat) -> BackgroundMix:
        """A new call's mix, in the line's ``audio_format`` (its sound picked now)."""
        name = select_sound_from_list(self.sounds, rng=self._rng)
        return BackgroundMix(self.track(name, audio_format), when=self.when, duck=self.duck)

    def track(self, name: str, audio_format: AudioFormat) -> Track:
        """The prepared track of sound ``name`` (one of :attr:`sounds`) for ``audio_format``."""
        key = (name, audio_format)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = prepare_track(
                _at_rate(name, *self._clips[name], sample_rate(audio_format)),
                audio_format,
                volume=self.volume,
                loop=self.loop,
            )
        return track


def _fraction(param: str, value: object) -> float:
    number = require_number(param, value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ConfigError(f"{param} must be between 0 and 1 (a linear gain), got {number}")
    return number


def _load(name: str) -> tuple[npt.NDArray[np.int16], int]:
    """A sound's samples and rate: a built-in clip is synthesised per rate later (rate 0)."""
    if name in BuiltinAudioClip._value2member_map_:
        return np.zeros(0, dtype=PCM16), 0
    path = Path(name)
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        known = ", ".join(clip.value for clip in BuiltinAudioClip)
        raise ConfigError(
            f"background sound {name!r} is neither a built-in clip ({known}) nor a readable "
            f"WAV file: {exc}"
        ) from exc
    if width != 2 or channels not in (1, 2) or rate not in SUPPORTED_RATES:
        rates = "/".join(str(r // 1000) for r in SUPPORTED_RATES)
        raise ConfigError(
            f"background sound {name!r} is {width * 8}-bit, {channels} channel(s), {rate} Hz: "
            f"use 16-bit PCM WAV, mono or stereo, at {rates} kHz"
        )
    samples = np.frombuffer(data, dtype=PCM16)
    if channels == 2:
        samples = ((samples[0::2].astype(np.int32) + samples[1::2]) // 2).astype(PCM16)
    if len(samples) < rate // 50:
        raise ConfigError(f"background sound {name!r} is shorter than 20 ms")
    return samples, rate


def _at_rate(
    name: str, samples: npt.NDArray[np.int16], rate: int, to_rate: int
) -> npt.NDArray[np.int16]:
    if rate == 0:
        return clip_samples(BuiltinAudioClip(name), to_rate)
    if rate == to_rate:
        return samples
    resampler = Resampler(rate, to_rate)
    out = resampler.process(samples.tobytes()) + resampler.flush()
    return np.frombuffer(out, dtype=PCM16)


@cache
def _hold_music_player() -> BackgroundAudioPlayer:
    return BackgroundAudioPlayer(BuiltinAudioClip.HOLD_MUSIC, volume=0.5)


def hold_music(audio_format: AudioFormat) -> BackgroundMix:
    """The built-in hold music a transfer plays to the caller while it connects (spec XF-2)."""
    return _hold_music_player().mix_for(audio_format)
