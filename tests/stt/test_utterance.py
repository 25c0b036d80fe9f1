"""The pieces of the utterance adapter that need no server: the WAV file and Whisper's filter."""

from __future__ import annotations

import io
import wave

import pytest

from getpatter.stt.utterance import HallucinationFilter, normalise, wav_file


def test_a_wav_file_holds_the_pcm_as_mono_16_bit_at_the_rate_given() -> None:
    pcm = bytes(range(256)) * 10
    data = wav_file(pcm, 8000)
    assert len(data) == 44 + len(pcm)
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.readframes(wav.getnframes()) == pcm


@pytest.mark.parametrize(
    ("text", "normal"),
    [("Thank you.", "thank you"), ("  YOU!! ", "you"), (" . ", ""), ("I'm here", "im here")],
)
def test_texts_are_compared_without_case_punctuation_or_spacing(text: str, normal: str) -> None:
    assert normalise(text) == normal


def test_fillers_are_dropped_whenever_they_come() -> None:
    kept = HallucinationFilter()
    assert [kept.keep(t, 10.0 * i) for i, t in enumerate(["you", "Thank you!", "...", "Yes."])] == [
        False,
        False,
        False,
        True,
    ]


def test_a_final_right_after_the_last_kept_one_is_dropped_and_a_repeat_only_when_close() -> None:
    kept = HallucinationFilter()
    assert kept.keep("Yes.", 1.0)
    assert not kept.keep("No, wait", 1.4)  # 0.4 s after: under 0.5 s
    assert kept.keep("No, wait", 1.6)
    assert not kept.keep("no wait!", 3.0)  # the same words 1.4 s later: a repeat
    assert kept.keep("Yes", 5.0)  # "yes" again 3.4 s after the last "yes": an answer
    assert kept.keep("yes", 7.5)  # and 2.5 s after the last kept one


def test_pieces_of_a_long_utterance_are_checked_for_fillers_only() -> None:
    kept = HallucinationFilter()
    assert kept.keep("First part", 1.0)
    assert kept.keep("first part", None) and not kept.keep("you", None)
    assert not kept.keep("Second", 1.2)  # the gap still counts from the last whole utterance
