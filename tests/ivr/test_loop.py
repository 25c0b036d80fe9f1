"""TfidfLoopDetector: what counts as a repeat, and when repeats make a loop."""

import pytest

from getpatter import ConfigError, TfidfLoopDetector

MENU = "For billing, press 1. For support, press 2. To hear these options again, press 9."


def test_distinct_utterances_are_no_loop():
    detector = TfidfLoopDetector()
    for text in (
        "Welcome to Acme Bank, thank you for calling.",
        MENU,
        "Please enter your account number followed by the pound key.",
        "Thank you. Please hold while we connect you.",
    ):
        assert detector.add(text) is False
    assert detector.repeats == 0


def test_a_prompt_heard_three_times_is_a_loop_by_default():
    detector = TfidfLoopDetector()
    assert detector.add(MENU) is False
    assert detector.add(MENU) is False  # one repeat: a menu replayed once is normal
    assert detector.repeats == 1
    assert detector.add(MENU.replace("press 2", "press two")) is True  # a small STT difference
    assert detector.last_similarity >= 0.85


def test_a_different_utterance_breaks_the_run():
    detector = TfidfLoopDetector()
    detector.add(MENU)
    detector.add(MENU)
    assert detector.add("Sorry, that is not a valid choice, please try again.") is False
    assert detector.repeats == 0
    assert detector.add(MENU) is False  # a repeat again, but the run starts over
    assert detector.repeats == 1


def test_consecutive_threshold_one_reports_the_first_repeat():
    detector = TfidfLoopDetector(consecutive_threshold=1)
    assert detector.add(MENU) is False
    assert detector.add(MENU) is True


def test_similar_but_different_menus_are_not_repeats():
    detector = TfidfLoopDetector(consecutive_threshold=1)
    detector.add("Main menu. For billing, press 1. For support, press 2.")
    assert detector.add("Support menu. For internet, press 3. For television, press 4.") is False
    assert detector.last_similarity < 0.85


def test_short_utterances_are_ignored_and_do_not_break_a_run():
    detector = TfidfLoopDetector()
    detector.add(MENU)
    detector.add(MENU)
    for short in ("Goodbye.", "Goodbye.", "Hello?"):
        assert detector.add(short) is False
    assert detector.repeats == 1
    assert detector.add(MENU) is True
    words = TfidfLoopDetector(min_words=0, consecutive_threshold=1)
    words.add("Goodbye.")
    assert words.add("Goodbye.") is True


def test_only_the_window_is_remembered():
    detector = TfidfLoopDetector(window_size=2, consecutive_threshold=1)
    detector.add(MENU)
    detector.add("Please enter your account number now.")
    detector.add("Your call is important to us, please stay on the line.")
    assert detector.add(MENU) is False  # the first MENU has left the window


def test_reset_and_fresh_start_over_with_the_same_settings():
    detector = TfidfLoopDetector(similarity_threshold=0.7, consecutive_threshold=1)
    detector.add(MENU)
    detector.reset()
    assert detector.add(MENU) is False
    copy = detector.fresh()
    assert (copy.similarity_threshold, copy.consecutive_threshold) == (0.7, 1)
    assert copy.add(MENU) is False and copy is not detector
    assert "similarity_threshold=0.7" in repr(copy)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_size": 0},
        {"similarity_threshold": 0},
        {"similarity_threshold": 1.5},
        {"similarity_threshold": "high"},
        {"consecutive_threshold": 0},
        {"min_words": -1},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        TfidfLoopDetector(**kwargs)


def test_text_must_be_a_string():
    with pytest.raises(ConfigError):
        TfidfLoopDetector().add(None)  # type: ignore[arg-type]
