"""Background audio on the outbound frame path: one call's mix of a clip into the agent's frames.

A :class:`Track` is a clip prepared once for a carrier's audio format and shared by every call:
its samples at the line's rate with the player's volume applied (float32), and the same samples
already encoded for the wire. A :class:`BackgroundMix` is one call's position in a track, its
cues (when the sound should play) and its current gain. Per 20 ms frame it either

* returns a slice of the pre-encoded wire bytes (background alone, steady level: no arithmetic),
* or decodes the agent's frame with a table lookup, adds the background at the ducked gain (a
  linear ramp over the frame when the gain changes, so nothing clicks), clips and re-encodes,
  all into buffers allocated once per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from getpatter.audio.formats import AudioFormat, sample_rate
from getpatter.audio.g711 import (
    _alaw_decode_table,
    _alaw_encode_table,
    _ulaw_decode_table,
    _ulaw_encode_table,
)

__all__ = ["BackgroundMix", "PlayWhen", "Track", "prepare_track"]

PlayWhen = Literal["always", "thinking", "tools"]
"""When a background sound plays: the whole call, while the agent prepares an answer (from
the caller's end of speech to the agent's first audio, tool runs included), or only while a
tool runs."""

_Floats = npt.NDArray[np.float32]
_G711_TABLES = {
    "ulaw_8000": (_ulaw_decode_table, _ulaw_encode_table),
    "alaw_8000": (_alaw_decode_table, _alaw_encode_table),
}


@dataclass(frozen=True, eq=False)
class Track:
    """A clip ready for one audio format; read-only, shared by the calls that play it."""

    audio_format: AudioFormat
    samples: _Floats
    """The clip times the volume at the line's rate, followed by one frame: the clip's start
    again for a looping clip, silence otherwise (so any frame is one contiguous slice)."""
    wire: bytes
    """``samples`` encoded in ``audio_format``."""
    length: int
    """Samples in one pass of the clip."""
    loop: bool


def prepare_track(
    pcm: npt.NDArray[np.int16], audio_format: AudioFormat, *, volume: float, loop: bool
) -> Track:
    """Prepare PCM16 samples already at ``audio_format``'s rate (see :class:`Track`)."""
    n = _frame_samples(audio_format)
    clip = pcm.astype(np.float32) * np.float32(volume)
    if loop and len(clip) < n:
        clip = np.tile(clip, -(-n // max(1, len(clip))))
    tail = clip[:n] if loop else np.zeros(n, dtype=np.float32)
    samples = np.concatenate([clip, tail]).astype(np.float32)
    samples.setflags(write=False)
    rounded = np.clip(np.rint(samples), -32768, 32767).astype("<i2")
    return Track(audio_format, samples, _encode(rounded, audio_format), len(clip), loop)


class BackgroundMix:
    """One call's background sound over a :class:`Track` (see the module docstring).

    ``when`` says which cues make it play; ``duck`` is the fraction of its level kept under
    the agent's speech. The outbound pacer asks :attr:`active` to know whether to send
    background frames while the agent is silent, :meth:`frame` for such a frame and
    :meth:`mix` to lay the background under an agent frame.
    """

    def __init__(self, track: Track, *, when: PlayWhen, duck: float) -> None:
        self._track = track
        self._when = when
        self._duck = duck
        n = self._n = _frame_samples(track.audio_format)
        self._width = 1 if track.audio_format in _G711_TABLES else 2
        self._pos = 0
        self._done = False
        self._gain = 0.0
        self._thinking = False
        self._tools = 0
        self._ramp: _Floats = (np.arange(1, n + 1, dtype=np.float32) / n).astype(np.float32)
        self._buf: _Floats = np.empty(n, dtype=np.float32)
        self._pcm = np.empty(n, dtype="<i2")
        tables = _G711_TABLES.get(track.audio_format)
        self._decode = tables[0]() if tables else None
        self._encode = tables[1]() if tables else None
        self._wire_out = np.empty(n, dtype=np.uint8)

    @property
    def playing(self) -> bool:
        """True while a cue asks for the sound (and a clip that plays once has not ended)."""
        if self._done:
            return False
        if self._when == "always":
            return True
        return self._tools > 0 or (self._when == "thinking" and self._thinking)

    @property
    def active(self) -> bool:
        """True while frames carry background audio: playing, or still fading out."""
        return self.playing or self._gain > 0.0

    def thinking(self, on: bool) -> None:
        """The agent starts (True) or stops (False) preparing an answer."""
        if on and not self._thinking and self._when == "thinking":
            self._restart()
        self._thinking = on

    def tool_started(self) -> None:
        """A tool started running."""
        if self._tools == 0 and self._when != "always" and not self.playing:
            self._restart()
        self._tools += 1

    def tool_finished(self) -> None:
        """A tool returned: the agent now prepares its answer from the result ("thinking")."""
        self._tools = max(0, self._tools - 1)
        if self._tools == 0:
            self._thinking = True

    def frame(self) -> bytes | None:
        """The next frame of background alone, or None when there is nothing to play."""
        if not self.active:
            return None
        return self._render(None, 1.0 if self.playing else 0.0)

    def mix(self, agent: bytes) -> bytes:
        """``agent`` (one frame in the line's format) with the background laid under it."""
        if not self.active or len(agent) != self._n * self._width:
            return agent
        return self._render(agent, self._duck if self.playing else 0.0)

    def _restart(self) -> None:
        self._pos = 0
        self._done = False

    def _render(self, agent: bytes | None, target: float) -> bytes:
        track, n, start, gain = self._track, self._n, self._pos, self._gain
        self._advance()
        self._gain = target
        if agent is None and gain == target == 1.0:
            return track.wire[start * self._width : (start + n) * self._width]
        buf = self._buf
        if gain == target:
            np.multiply(track.samples[start : start + n], np.float32(gain), out=buf)
        else:
            np.multiply(self._ramp, np.float32(target - gain), out=buf)
            buf += np.float32(gain)
            buf *= track.samples[start : start + n]
        if agent is not None:
            if self._decode is not None:
                np.take(self._decode, np.frombuffer(agent, dtype=np.uint8), out=self._pcm)
                buf += self._pcm
            else:
                buf += np.frombuffer(agent, dtype="<i2")
        np.rint(buf, out=buf)
        np.clip(buf, -32768.0, 32767.0, out=buf)
        self._pcm[:] = buf
        if self._encode is None:
            return self._pcm.tobytes()
        np.take(self._encode, self._pcm.view(np.uint16), out=self._wire_out)
        return self._wire_out.tobytes()

    def _advance(self) -> None:
        self._pos += self._n
        if self._pos >= self._track.length:
            if self._track.loop:
                self._pos -= self._track.length
            else:
                self._pos = self._track.length
                self._done = True


def _frame_samples(audio_format: AudioFormat) -> int:
    """Samples in one 20 ms frame of ``audio_format``."""
    return sample_rate(audio_format) // 50


def _encode(pcm: npt.NDArray[np.int16], audio_format: AudioFormat) -> bytes:
    tables = _G711_TABLES.get(audio_format)
    if tables is None:
        return pcm.tobytes()
    return tables[1]()[pcm.view(np.uint16)].tobytes()
