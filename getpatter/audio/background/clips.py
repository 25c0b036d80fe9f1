"""Built-in background clips, synthesised by Patter's own code: nothing is downloaded or copied.

Each :class:`BuiltinAudioClip` is a few seconds of mono PCM16 made with numpy from sine tones,
simple chords and filtered noise, the same samples on every machine (noise comes from a fixed
seed). :func:`clip_samples` synthesises a clip at a sample rate in memory (cached per process);
:func:`builtin_clip_path` writes it once as a 16 kHz WAV file into Patter's cache directory
(``$PATTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/getpatter``, else ``~/.cache/getpatter``; under
``clips/``) and returns the path, so callers can preload, copy or listen to it.
"""

from __future__ import annotations

import enum
import os
import tempfile
import wave
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from getpatter.audio._pcm import PCM16
from getpatter.errors import ConfigError

__all__ = ["CLIP_VERSION", "FILE_RATE", "BuiltinAudioClip", "builtin_clip_path", "clip_samples"]

CLIP_VERSION = 1
"""Bumped whenever a clip's synthesis changes: part of the cached file's name."""

FILE_RATE = 16000
"""The sample rate (Hz) of the WAV files :func:`builtin_clip_path` writes."""

_Floats = npt.NDArray[np.float64]


class BuiltinAudioClip(enum.StrEnum):
    """The clips Patter synthesises itself; each value is the clip's name."""

    HOLD_MUSIC = "hold_music"
    """16 s of soft chords (C - Am - F - G) with a gentle arpeggio; loops seamlessly."""
    RINGBACK = "ringback"
    """North American ringback: 440 + 480 Hz, 2 s on, 4 s off (6 s, loops)."""
    DIAL_TONE = "dial_tone"
    """North American dial tone: 350 + 440 Hz, continuous (1 s, loops)."""
    HANGUP_CHIME = "hangup_chime"
    """A short descending three-note chime (about 1.2 s, plays once)."""
    KEYBOARD_TYPING = "keyboard_typing"
    """Keys typed at an irregular pace: filtered noise bursts (4 s, loops)."""
    THINKING = "thinking"
    """A quiet two-note pulse, like a soft "hmm" (3 s, loops)."""


def builtin_clip_path(name: str) -> Path:
    """Resolve the on-disk WAV file (16 kHz mono PCM16) of the built-in clip ``name``.

    ``name`` is a :class:`BuiltinAudioClip` or its value (``"hold_music"``...). The file is
    synthesised on first use into Patter's cache directory (see the module docstring) and
    reused afterwards; it is written atomically, so concurrent callers never read half a file.
    """
    clip = _require_clip(name)
    directory = _cache_dir() / "clips"
    path = directory / f"{clip.value}-v{CLIP_VERSION}-{FILE_RATE}.wav"
    if path.is_file():
        return path
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(FILE_RATE)
            out.writeframes(clip_samples(clip, FILE_RATE).tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the built-in clip {clip.value!r} under {directory} ({exc}): "
            "set PATTER_CACHE_DIR to a writable directory"
        ) from exc
    return path


def clip_samples(clip: BuiltinAudioClip, rate: int) -> npt.NDArray[np.int16]:
    """The PCM16 samples of ``clip`` at ``rate`` Hz (read-only, cached per clip and rate)."""
    return _synthesised(_require_clip(clip), rate)


@cache
def _synthesised(clip: BuiltinAudioClip, rate: int) -> npt.NDArray[np.int16]:
    signal = _SYNTHS[clip](rate)
    peak = float(np.max(np.abs(signal))) or 1.0
    samples = np.rint(signal / peak * 0.5 * 32767).astype(PCM16)  # peaks at -6 dBFS
    samples.setflags(write=False)
    return samples


def _require_clip(name: object) -> BuiltinAudioClip:
    try:
        return BuiltinAudioClip(str(name))
    except ValueError:
        known = ", ".join(clip.value for clip in BuiltinAudioClip)
        raise ConfigError(f"no built-in clip named {name!r}: use one of {known}") from None


def _cache_dir() -> Path:
    explicit = os.environ.get("PATTER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "getpatter"


def _time(rate: int, seconds: float) -> _Floats:
    return np.arange(round(rate * seconds)) / rate


def _tone(t: _Floats, hz: float) -> _Floats:
    """A sine, or silence above the Nyquist frequency (so 8 kHz clips never alias)."""
    return np.sin(2 * np.pi * hz * t) if hz < 0.45 * (1 / (t[1] - t[0])) else np.zeros_like(t)


def _note(rate: int, hz: float, seconds: float, *, attack: float, decay: float) -> _Floats:
    """A soft, slightly bright note: a few harmonics under an attack and exponential decay."""
    t = _time(rate, seconds)
    body = _tone(t, hz) + 0.3 * _tone(t, 2 * hz) + 0.1 * _tone(t, 3 * hz)
    envelope = np.minimum(t / attack, 1.0) * np.exp(-t / decay)
    fade = np.minimum((seconds - t) / 0.05, 1.0)  # no click at the note's end
    note: _Floats = body * envelope * fade
    return note


def _hold_music(rate: int) -> _Floats:
    bar = 4.0
    chords = (  # C, Am, F, G
        (261.63, 329.63, 392.00),
        (220.00, 261.63, 329.63),
        (174.61, 220.00, 261.63),
        (196.00, 246.94, 293.66),
    )
    out = np.zeros(round(rate * bar * len(chords)))
    step = bar / 8
    for i, chord in enumerate(chords):
        start = round(rate * i * bar)
        for hz in chord:  # a pad: the chord held across the bar
            pad = _note(rate, hz, bar, attack=0.4, decay=6.0)
            out[start : start + len(pad)] += 0.35 * pad
        arpeggio = (*chord, 2 * chord[0], *reversed(chord[1:]), chord[0], 2 * chord[1])
        for k, hz in enumerate(arpeggio):  # eighth notes an octave up
            note = _note(rate, 2 * hz, step, attack=0.01, decay=0.25)
            at = start + round(rate * k * step)
            out[at : at + len(note)] += 0.25 * note
    return out


def _ringback(rate: int) -> _Floats:
    t = _time(rate, 6.0)
    on = (t < 2.0) * np.minimum(np.minimum(t, 2.0 - t) / 0.01, 1.0)
    return (_tone(t, 440) + _tone(t, 480)) * on


def _dial_tone(rate: int) -> _Floats:
    t = _time(rate, 1.0)  # whole periods of 350 and 440 Hz: the loop has no seam
    return _tone(t, 350) + _tone(t, 440)


def _hangup_chime(rate: int) -> _Floats:
    out = np.zeros(round(rate * 1.2))
    for i, hz in enumerate((880.00, 698.46, 523.25)):  # A5, F5, C5
        note = _note(rate, hz, 1.2 - 0.2 * i, attack=0.005, decay=0.3)
        at = round(rate * 0.2 * i)
        out[at : at + len(note)] += note
    return out


def _keyboard_typing(rate: int) -> _Floats:
    rng = np.random.default_rng(15)
    seconds = 4.0
    out = np.zeros(round(rate * seconds))
    click = round(rate * 0.012)
    t = np.arange(click) / rate
    at = 0.15
    while at < seconds - 0.1:
        noise = rng.standard_normal(click)
        # A click: noise through a two-tap high-pass, under a fast exponential decay.
        burst = np.diff(noise, prepend=0.0) * np.exp(-t / 0.003) * rng.uniform(0.5, 1.0)
        start = round(rate * at)
        out[start : start + click] += burst
        gap = rng.uniform(0.07, 0.2) if rng.random() > 0.1 else rng.uniform(0.3, 0.5)
        at += gap
    return out


def _thinking(rate: int) -> _Floats:
    out = np.zeros(round(rate * 3.0))
    for at, hz in ((0.0, 392.00), (0.5, 329.63), (1.5, 392.00), (2.0, 329.63)):
        note = _note(rate, hz, 0.45, attack=0.05, decay=0.2)
        start = round(rate * at)
        out[start : start + len(note)] += note
    return out


_SYNTHS: dict[BuiltinAudioClip, Callable[[int], _Floats]] = {
    BuiltinAudioClip.HOLD_MUSIC: _hold_music,
    BuiltinAudioClip.RINGBACK: _ringback,
    BuiltinAudioClip.DIAL_TONE: _dial_tone,
    BuiltinAudioClip.HANGUP_CHIME: _hangup_chime,
    BuiltinAudioClip.KEYBOARD_TYPING: _keyboard_typing,
    BuiltinAudioClip.THINKING: _thinking,
}
