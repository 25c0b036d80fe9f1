"""The sandbox's scripted phone menu (``Menu``): its checks, what it says, and live lines."""

import pytest

from getpatter import ConfigError
from getpatter.testing.scenario import Callee, HangUp, Menu, Say, Scenario


def test_a_menu_needs_single_key_choices_and_sane_timing():
    with pytest.raises(ConfigError, match="single keys"):
        Menu("Press 1.", {})
    with pytest.raises(ConfigError, match="single keys"):
        Menu("Press 12.", {"12": (HangUp(),)})
    with pytest.raises(ConfigError):
        Menu("Press 1.", {"1": (HangUp(),)}, wait_ms=0)
    with pytest.raises(ConfigError):
        Menu("Press 1.", {"1": (HangUp(),)}, attempts=0)


def test_a_repeated_menu_is_one_utterance_with_its_retry_text():
    menu = Menu("For sales, press 1.", {"1": (HangUp(),)}, retry="Sorry.", ms_per_char=10)
    assert menu.utterance(0) == "For sales, press 1."
    assert menu.utterance(1) == "Sorry. For sales, press 1."
    assert menu.audio_ms("x" * 100) == 1000
    assert menu.audio_ms("x") == 400 * 10 // 60


def test_with_menus_the_caller_lines_are_what_the_callee_has_said():
    callee = Callee(steps=(Menu("Press 1.", {"1": (Say("Thanks."),)}),))
    lines = Scenario(callee=callee).caller_lines
    assert len(lines) == 0
    callee.spoken.extend(["Press 1.", "Thanks."])
    assert list(lines) == ["Press 1.", "Thanks."] and lines[1] == "Thanks."
    plain = Scenario(callee=Callee(steps=(Say("Hi."),))).caller_lines
    assert plain == ("Hi.",)
