import logging

import pytest

from getpatter import ConfigError, Guardrail, guardrail
from getpatter.guardrails import DEFAULT_REPLACEMENT, apply_guardrails


def test_blocked_terms_match_case_insensitive_substrings():
    rule = Guardrail(name="legal", blocked_terms=["sue", "CompetitorCo"])
    assert apply_guardrails("There is an issue.", [rule]).text == DEFAULT_REPLACEMENT
    assert apply_guardrails("try competitorco", [rule]).blocked_by == "legal"
    assert apply_guardrails("All good.", [rule]).text == "All good."


def test_check_runs_only_when_no_term_matched_and_true_blocks():
    seen = []

    def check(text):
        seen.append(text)
        return "price" in text

    rule = guardrail(
        name="pricing", blocked_terms=["refund"], check=check, replacement="Ask billing."
    )
    assert apply_guardrails("a refund", [rule]).text == "Ask billing."
    assert seen == []
    assert apply_guardrails("the price is", [rule]).text == "Ask billing."
    assert seen == ["the price is"]


def test_first_blocking_guardrail_wins_and_logs_its_name(caplog):
    later = []
    rules = [
        Guardrail(name="first", blocked_terms=["bad"], replacement="one"),
        Guardrail(name="second", check=lambda t: later.append(t) or True, replacement="two"),
    ]
    with caplog.at_level(logging.WARNING, logger="getpatter.guardrails"):
        verdict = apply_guardrails("bad words", rules)
    assert (verdict.text, verdict.blocked_by, later) == ("one", "first", [])
    assert "first" in caplog.text


def test_a_raising_check_blocks():
    def broken(text):
        raise RuntimeError("oops")

    assert apply_guardrails("hi", [Guardrail(name="b", check=broken)]).blocked


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "must not be empty"),
        ({"name": "g"}, "would never block"),
        ({"name": "g", "blocked_terms": "sue"}, "list of str"),
        ({"name": "g", "blocked_terms": [""]}, "non-empty str"),
        ({"name": "g", "check": "yes"}, "must be a function"),
        ({"name": "g", "blocked_terms": ["x"], "replacement": ""}, "must not be empty"),
    ],
)
def test_bad_guardrails_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Guardrail(**kwargs)
