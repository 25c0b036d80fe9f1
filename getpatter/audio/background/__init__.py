"""Background audio: built-in clips and the player that mixes them into calls (spec BA).

:class:`BackgroundAudioPlayer` (``agent(background_audio=...)``) plays a sound under the
agent's voice, in the carrier's own audio format; :class:`BuiltinAudioClip` names the clips
Patter synthesises itself (:func:`builtin_clip_path` writes one to a WAV file).
"""

from __future__ import annotations

from getpatter.audio.background.clips import BuiltinAudioClip, builtin_clip_path
from getpatter.audio.background.mixer import BackgroundMix, PlayWhen
from getpatter.audio.background.player import BackgroundAudioPlayer, select_sound_from_list

__all__ = [
    "BackgroundAudioPlayer",
    "BackgroundMix",
    "BuiltinAudioClip",
    "PlayWhen",
    "builtin_clip_path",
    "select_sound_from_list",
]
