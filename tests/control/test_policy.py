import json

import pytest

from getpatter.control.policy import PREMIUM_PREFIXES, SafetyPolicy
from getpatter.errors import ConfigError, ErrorCode, InputValidationError, PolicyError

US = "+15551234567"
UK = "+442071234567"


def refusal(policy, to, *, live):
    with pytest.raises(PolicyError) as caught:
        policy.check_destination(to, live=live)
    assert caught.value.code == ErrorCode.POLICY
    return caught.value


# Destinations


def test_live_with_no_allowlist_refuses_every_number_and_says_how_to_fix_it():
    error = refusal(SafetyPolicy(), US, live=True)
    assert error.rule == "allowlist"
    assert "no allowlist is configured" in error.message
    assert "PATTER_ALLOWED_PREFIXES" in error.message


def test_sandbox_with_no_allowlist_allows_any_ordinary_number():
    policy = SafetyPolicy()
    policy.check_destination(US, live=False)
    policy.check_destination(UK, live=False)


def test_sandbox_with_no_allowlist_still_applies_blocked_and_premium():
    policy = SafetyPolicy(blocked_prefixes=("+1555",))
    assert refusal(policy, US, live=False).rule == "blocked"
    assert refusal(policy, "+19005551234", live=False).rule == "premium"


def test_allowlist_allows_matching_prefix_and_names_the_rule_when_refusing():
    policy = SafetyPolicy(allowed_prefixes=("+1555",))
    policy.check_destination(US, live=True)
    error = refusal(policy, UK, live=True)
    assert error.rule == "allowlist"
    assert "refused by the allowlist" in error.message
    assert UK in error.message and "+1555" in error.message


def test_allowlist_applies_in_the_sandbox_too_once_configured():
    assert refusal(SafetyPolicy(allowed_prefixes=("+1555",)), UK, live=False).rule == "allowlist"


def test_wildcard_allows_every_ordinary_number_live():
    policy = SafetyPolicy(allowed_prefixes=("*",))
    policy.check_destination(US, live=True)
    policy.check_destination(UK, live=True)


def test_blocked_prefix_wins_over_allowed_prefix_and_wildcard():
    for allowed in (("+1555",), ("*",), (US,)):
        policy = SafetyPolicy(allowed_prefixes=allowed, blocked_prefixes=(US,))
        error = refusal(policy, US, live=True)
        assert error.rule == "blocked"
        assert "blocked_prefixes" in error.message
    SafetyPolicy(allowed_prefixes=("*",), blocked_prefixes=(US,)).check_destination(
        "+15551234568", live=True
    )


def test_blocked_wildcard_stops_all_calls():
    assert refusal(SafetyPolicy(blocked_prefixes=["*"]), US, live=False).rule == "blocked"


def test_premium_number_refused_even_when_allowed_by_wildcard():
    policy = SafetyPolicy(allowed_prefixes=("*",))
    error = refusal(policy, "+19005551234", live=True)
    assert error.rule == "premium"
    assert "+1900" in error.message
    policy.check_destination(US, live=True)


@pytest.mark.parametrize(
    "number",
    ["+18095551234", "+12685551234", "+979123456789", "+881612345678", "+449012345678", "+911"],
)
def test_builtin_list_refuses_premium_wangiri_satellite_and_short_numbers(number):
    assert refusal(SafetyPolicy(allowed_prefixes=("*",)), number, live=True).rule == "premium"


@pytest.mark.parametrize(
    "number",
    ["+19795551234", "+911123456789", "+447700900123", "+441184960000", "+4930123456"],
)
def test_builtin_list_does_not_catch_ordinary_numbers_sharing_digits(number):
    # Texas 979, Delhi (+91 11), a UK mobile, Reading (0118), Berlin.
    SafetyPolicy(allowed_prefixes=("*",)).check_destination(number, live=True)


def test_every_builtin_premium_prefix_is_refused():
    policy = SafetyPolicy(allowed_prefixes=("*",))
    for prefix, reason in PREMIUM_PREFIXES:
        number = (prefix + "5550100000")[:15]
        assert refusal(policy, number, live=True).rule == "premium", prefix
        assert reason


def test_block_premium_off_lets_premium_numbers_through():
    SafetyPolicy(allowed_prefixes=("*",), block_premium=False).check_destination(
        "+19005551234", live=True
    )


def test_specific_allowlist_entry_lifts_premium_block_but_broad_one_does_not():
    specific = SafetyPolicy(allowed_prefixes=("+1809",))
    specific.check_destination("+18095551234", live=True)
    assert refusal(specific, "+19005551234", live=True).rule == "premium"
    broad = SafetyPolicy(allowed_prefixes=("+1",))
    assert refusal(broad, "+18095551234", live=True).rule == "premium"


def test_short_numbers_are_refused_even_with_an_exact_allowlist_entry():
    assert refusal(SafetyPolicy(allowed_prefixes=("+112",)), "+112", live=True).rule == "premium"


def test_destination_must_be_e164():
    with pytest.raises(InputValidationError):
        SafetyPolicy().check_destination("555-1234", live=False)


# Capacity


def test_capacity_refuses_at_exactly_each_limit_and_allows_just_below():
    policy = SafetyPolicy(max_concurrent_calls=2, max_calls_per_day=5, max_spend_per_day_usd=3.0)
    policy.check_capacity(active_calls=1, calls_today=4, spend_today_usd=2.99)
    cases = [
        ({"active_calls": 2, "calls_today": 0, "spend_today_usd": 0.0}, "concurrency"),
        ({"active_calls": 0, "calls_today": 5, "spend_today_usd": 0.0}, "daily_calls"),
        ({"active_calls": 0, "calls_today": 0, "spend_today_usd": 3.0}, "daily_spend"),
    ]
    for usage, rule in cases:
        with pytest.raises(PolicyError) as caught:
            policy.check_capacity(**usage)
        assert caught.value.rule == rule


def test_capacity_messages_name_the_limit_and_the_setting():
    with pytest.raises(PolicyError, match=r"max_spend_per_day_usd.*PATTER_MAX_SPEND_PER_DAY_USD"):
        SafetyPolicy().check_capacity(active_calls=0, calls_today=0, spend_today_usd=12.5)
    with pytest.raises(PolicyError, match="00:00 UTC"):
        SafetyPolicy().check_capacity(active_calls=0, calls_today=50, spend_today_usd=0)


def test_capacity_rejects_negative_usage():
    with pytest.raises(ConfigError, match="active_calls"):
        SafetyPolicy().check_capacity(active_calls=-1, calls_today=0, spend_today_usd=0)
    with pytest.raises(InputValidationError, match="spend_today_usd"):
        SafetyPolicy().check_capacity(active_calls=0, calls_today=0, spend_today_usd=-1.0)


# Call length


def test_call_seconds_defaults_to_180_or_the_cap_when_lower():
    assert SafetyPolicy().call_seconds(None) == 180
    assert SafetyPolicy(max_call_seconds=60).call_seconds(None) == 60


def test_call_seconds_clamps_to_the_policy_cap():
    policy = SafetyPolicy(max_call_seconds=600)
    assert policy.call_seconds(30) == 30
    assert policy.call_seconds(600) == 600
    assert policy.call_seconds(1800) == 600


@pytest.mark.parametrize("requested", [0, -5, 1801])
def test_call_seconds_rejects_requests_outside_1_to_1800(requested):
    with pytest.raises(InputValidationError, match=r"1\.\.1800"):
        SafetyPolicy().call_seconds(requested)


def test_call_seconds_rejects_non_int():
    with pytest.raises(ConfigError):
        SafetyPolicy().call_seconds(True)
    with pytest.raises(ConfigError):
        SafetyPolicy().call_seconds(12.5)


# Disclosure


@pytest.mark.parametrize(
    "text",
    [
        "Hello, I'm an AI assistant calling for Dr. Lee.",
        "This is an automated call from Acme.",
        "Hi! I'm a virtual assistant.",
        "Hey, it's Acme's scheduling bot.",
        "I am an artificial intelligence calling on behalf of Sam.",
        "Hi, an A.I. here for Acme.",
        "Acme's AI-powered assistant here.",
    ],
)
def test_messages_that_already_disclose_are_unchanged(text):
    assert SafetyPolicy().first_message(text) == text


def test_non_disclosing_message_gets_the_disclosure_first():
    assert SafetyPolicy().first_message("Hi, it's Sam") == (
        "Hi, this is an AI assistant calling. Hi, it's Sam"
    )


@pytest.mark.parametrize(
    "text",
    ["I'm calling about the maid service.", "Said the plain truth.", "Ciao, chiamo ai sensi."],
)
def test_words_containing_ai_or_lowercase_ai_do_not_count_as_disclosure(text):
    assert SafetyPolicy().first_message(text).startswith("Hi, this is an AI assistant calling.")


def test_empty_first_message_becomes_the_disclosure_or_stays_empty():
    assert SafetyPolicy().first_message("") == "Hi, this is an AI assistant calling."
    assert SafetyPolicy().first_message("   ") == "Hi, this is an AI assistant calling."
    assert SafetyPolicy(ai_disclosure=False).first_message("") == ""


def test_disclosure_off_speaks_the_message_as_given():
    assert SafetyPolicy(ai_disclosure=False).first_message("Hi, it's Sam") == "Hi, it's Sam"


def test_custom_disclosure_is_used():
    policy = SafetyPolicy(disclosure="You're speaking with Acme's automated assistant.")
    assert policy.first_message("Hi, it's about your order.") == (
        "You're speaking with Acme's automated assistant. Hi, it's about your order."
    )


def test_disclosure_that_does_not_disclose_is_a_config_error():
    with pytest.raises(ConfigError, match="disclosure"):
        SafetyPolicy(disclosure="Hi, it's Sam.")
    SafetyPolicy(disclosure="Hi, it's Sam.", ai_disclosure=False)


# Validation and description


def test_prefix_lists_are_stored_as_deduplicated_tuples():
    policy = SafetyPolicy(allowed_prefixes=["+1555", "+1555", "+4420"])
    assert policy.allowed_prefixes == ("+1555", "+4420")


@pytest.mark.parametrize("bad", ["+1 555", "1555", "+", "+0", "+1234567890123456", "+15a"])
def test_malformed_prefixes_are_refused_naming_the_field(bad):
    with pytest.raises(InputValidationError, match=r"allowed_prefixes\[0\]"):
        SafetyPolicy(allowed_prefixes=[bad])


def test_a_bare_string_prefix_list_is_refused():
    with pytest.raises(ConfigError, match="blocked_prefixes must be a list"):
        SafetyPolicy(blocked_prefixes="+1555")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent_calls", 0),
        ("max_call_seconds", 0),
        ("max_call_seconds", 1801),
        ("max_calls_per_day", 0),
        ("max_spend_per_day_usd", 0),
        ("max_spend_per_day_usd", "10"),
        ("block_premium", "yes"),
        ("require_confirmation", 1),
    ],
)
def test_invalid_fields_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SafetyPolicy(**{field: value})


def test_describe_is_json_and_reflects_the_policy():
    policy = SafetyPolicy(allowed_prefixes=("+1555",), max_spend_per_day_usd=5)
    described = json.loads(json.dumps(policy.describe()))
    assert described["allowed_prefixes"] == ["+1555"]
    assert described["max_spend_per_day_usd"] == 5.0
    assert described["day_boundary"] == "00:00 UTC"
    assert {"prefix": "+1900", "reason": "NANP 900 premium-rate number"} in described[
        "premium_prefixes"
    ]
    assert SafetyPolicy(block_premium=False).describe()["premium_prefixes"] == []
