"""Background mixing on the frame path: levels, ducking, ramps, cues, loops, the carrier formats."""

import random
import wave

import numpy as np
import pytest

from getpatter import BackgroundAudioPlayer, BuiltinAudioClip, select_sound_from_list
from getpatter.audio import pcm16_to_ulaw, ulaw_to_pcm16
from getpatter.audio.background.clips import clip_samples
from getpatter.audio.background.mixer import BackgroundMix, prepare_track
from getpatter.errors import ConfigError

N16 = 320  # samples in 20 ms at 16 kHz


def pcm(values):
    return np.asarray(values, dtype="<i2")


def ramp_clip(frames=5, rate_samples=N16):
    """A clip whose sample i is i (mod 2000), easy to recognise after mixing."""
    return pcm(np.arange(frames * rate_samples) % 2000)


def mix_of(clip, *, fmt="pcm16_16000", when="always", duck=0.5, volume=1.0, loop=True):
    return BackgroundMix(prepare_track(clip, fmt, volume=volume, loop=loop), when=when, duck=duck)


def samples(frame):
    return np.frombuffer(frame, dtype="<i2").astype(float)


def test_the_sound_fades_in_over_one_frame_then_plays_at_its_volume():
    clip = ramp_clip()
    mix = mix_of(clip, volume=0.5)
    first = samples(mix.frame())
    ramp = np.arange(1, N16 + 1) / N16
    assert first == pytest.approx(np.rint(clip[:N16] * 0.5 * ramp), abs=1)
    assert samples(mix.frame()) == pytest.approx(np.rint(clip[N16 : 2 * N16] * 0.5), abs=0.5)


def test_under_the_agent_it_is_ducked_and_added_with_saturation():
    clip = ramp_clip()
    mix = mix_of(clip, duck=0.25)
    mix.frame()  # at full level now
    agent = pcm(np.full(N16, 1000))
    # Full level ramps down to the ducked level over the first agent frame...
    down = samples(mix.mix(agent.tobytes()))
    gains = 1 + (0.25 - 1) * np.arange(1, N16 + 1) / N16
    assert down == pytest.approx(np.rint(1000 + clip[N16 : 2 * N16] * gains), abs=1)
    # ...then stays there.
    steady = samples(mix.mix(agent.tobytes()))
    assert steady == pytest.approx(np.rint(1000 + clip[2 * N16 : 3 * N16] * 0.25), abs=0.5)
    loud = pcm(np.full(N16, 32700)).tobytes()
    assert samples(mix.mix(loud)).max() == 32767  # clipped, never wrapped around


def test_mu_law_frames_are_decoded_mixed_and_re_encoded():
    clip = clip_samples(BuiltinAudioClip.HOLD_MUSIC, 8000)
    player = BackgroundAudioPlayer(volume=0.5, duck=0.5)
    mix = player.mix_for("ulaw_8000")
    mix.frame()
    alone = mix.frame()
    assert len(alone) == 160
    expected = np.rint(clip[160:320] * 0.5).astype("<i2").tobytes()
    assert alone == pcm16_to_ulaw(expected)  # straight from the pre-encoded track
    voice = (np.sin(np.arange(160) / 5) * 8000).astype("<i2").tobytes()
    mix.mix(pcm16_to_ulaw(voice))  # the ramp down to the ducked level
    mixed = samples(ulaw_to_pcm16(mix.mix(pcm16_to_ulaw(voice))))
    wanted = samples(ulaw_to_pcm16(pcm16_to_ulaw(voice))) + clip[480:640] * 0.25
    # μ-law's steps are about 3 % of the level: compare within the codec's own precision.
    assert np.abs(mixed - wanted).max() <= 0.04 * np.abs(wanted).max() + 16


def test_a_frame_of_another_length_is_passed_through():
    mix = mix_of(ramp_clip())
    assert mix.mix(b"\x01\x02") == b"\x01\x02"


def test_a_looping_clip_wraps_without_a_gap_and_a_single_shot_ends_then_fades():
    clip = pcm(np.arange(N16 * 2 + N16 // 2) % 1000 + 1)  # 2.5 frames
    mix = mix_of(clip)
    played = np.concatenate([samples(mix.frame()) for _ in range(6)])
    whole = np.concatenate([clip] * 3)[: 6 * N16].astype(float)
    assert played[N16:] == pytest.approx(whole[N16:], abs=0.5)
    once = mix_of(clip, loop=False)
    frames = [once.frame() for _ in range(3)]
    assert samples(frames[2])[N16 // 2 :].max() == 0  # padded with silence past its end
    assert not once.playing and once.active  # still fading out (from silence)
    assert once.frame() is not None and once.frame() is None and not once.active


def test_thinking_plays_from_end_of_speech_to_the_answer_and_restarts():
    clip = ramp_clip()
    mix = mix_of(clip, when="thinking")
    assert not mix.active and mix.frame() is None
    mix.thinking(True)
    assert mix.playing
    mix.frame(), mix.frame()
    mix.thinking(False)
    assert not mix.playing and mix.active
    fade = samples(mix.frame())
    assert abs(fade[-1]) <= 1  # ramped down to nothing over the frame
    assert not mix.active and mix.frame() is None
    mix.thinking(True)
    again = samples(mix.frame())
    assert again[:N16] == pytest.approx(np.rint(clip[:N16] * np.arange(1, N16 + 1) / N16), abs=1)


def test_tool_cues_count_overlapping_tools_and_hand_over_to_thinking():
    tools_only = mix_of(ramp_clip(), when="tools")
    tools_only.tool_started()
    tools_only.tool_started()
    tools_only.tool_finished()
    assert tools_only.playing
    tools_only.tool_finished()
    assert not tools_only.playing  # "tools" ignores thinking
    thinking = mix_of(ramp_clip(), when="thinking")
    thinking.tool_started()
    assert thinking.playing
    thinking.tool_finished()
    assert thinking.playing  # the agent now prepares its answer from the result
    thinking.thinking(False)
    assert not thinking.playing


def test_select_sound_from_list_is_deterministic_without_rng():
    sounds = [BuiltinAudioClip.HOLD_MUSIC, "/music/b.wav", "ringback"]
    assert select_sound_from_list(sounds) == "hold_music"
    picks = {select_sound_from_list(sounds, rng=random.Random(seed)) for seed in range(40)}
    assert picks == {"hold_music", "/music/b.wav", "ringback"}
    assert select_sound_from_list(sounds, rng=random.Random(7)) == select_sound_from_list(
        sounds, rng=random.Random(7)
    )


@pytest.mark.parametrize(
    ("sounds", "rng", "match"),
    [
        ([], None, "empty"),
        ("hold_music", None, "a list"),
        ([3], None, "a sound must be"),
        (["a"], 42, "random.Random"),
    ],
)
def test_select_sound_from_list_refuses_bad_input(sounds, rng, match):
    with pytest.raises(ConfigError, match=match):
        select_sound_from_list(sounds, rng=rng)


def test_a_player_reads_wav_files_at_any_supported_rate_and_picks_per_call(tmp_path):
    path = tmp_path / "stereo.wav"
    tone = (np.sin(np.arange(4800) * 2 * np.pi * 440 / 24000) * 10000).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(np.repeat(tone, 2).tobytes())  # the same signal in both channels
    player = BackgroundAudioPlayer([path, "thinking"], rng=random.Random(1), volume=1.0)
    track = player.track(str(path), "pcm16_16000")
    assert track.length == 3200  # 200 ms resampled 24 -> 16 kHz
    assert np.abs(track.samples[:3200]).max() == pytest.approx(10000, rel=0.02)
    assert player.track(str(path), "pcm16_16000") is track  # shared by calls
    chosen = {player.mix_for("ulaw_8000")._track.length for _ in range(20)}
    assert chosen == {1600, 24000}  # both sounds were picked (200 ms and 3 s at 8 kHz)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sound": "/no/such/file.wav"}, "neither a built-in clip"),
        ({"volume": 1.5}, "volume must be between 0 and 1"),
        ({"duck": -0.1}, "duck must be between 0 and 1"),
        ({"when": "sometimes"}, "when='sometimes'"),
        ({"loop": "yes"}, "loop"),
        ({"sound": 12}, "sound must be"),
        ({"rng": 3}, "random.Random"),
    ],
)
def test_a_player_refuses_bad_configuration_when_built(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BackgroundAudioPlayer(**kwargs)


def test_a_player_refuses_a_wav_it_cannot_mix(tmp_path):
    path = tmp_path / "odd.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(11025)
        wav.writeframes(bytes(2000))
    with pytest.raises(ConfigError, match="11025 Hz: use 16-bit PCM WAV"):
        BackgroundAudioPlayer(path)
