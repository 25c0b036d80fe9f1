import json

import phonenumbers
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
    ["+18095551234", "+12685551234", "+979123456789", "+881612345678", "+449012345678"],
)
def test_builtin_list_refuses_premium_wangiri_and_satellite_numbers(number):
    assert refusal(SafetyPolicy(allowed_prefixes=("*",)), number, live=True).rule == "premium"


@pytest.mark.parametrize(
    "number",
    ["+19795551234", "+911123456789", "+447700900123", "+441184960000", "+4930123456"],
)
def test_builtin_list_does_not_catch_ordinary_numbers_sharing_digits(number):
    # Texas 979, Delhi (+91 11), a UK mobile, Reading (0118), Berlin.
    SafetyPolicy(allowed_prefixes=("*",)).check_destination(number, live=True)


def test_no_number_under_a_builtin_premium_prefix_gets_through_whatever_its_length():
    policy = SafetyPolicy(allowed_prefixes=("*",))
    for prefix, reason in PREMIUM_PREFIXES:
        assert reason
        rules = []
        for length in range(len(prefix), 16):
            number = (prefix + "5550100000000")[:length]
            with pytest.raises((PolicyError, InputValidationError)) as caught:
                policy.check_destination(number, live=True)
            if isinstance(caught.value, PolicyError):
                rules.append(caught.value.rule)
        # Lengths that fit a real number are premium; the others cannot be phone numbers (or
        # are short codes, like the US's 5-6 digit SMS codes).
        assert "premium" in rules and set(rules) <= {"premium", "short_code"}, prefix


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


def test_destination_must_be_e164():
    with pytest.raises(InputValidationError):
        SafetyPolicy().check_destination("555-1234", live=False)


# Numbers are parsed: canonical form, non-ASCII digits, types, emergency and short codes

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


@pytest.mark.parametrize(
    "number",
    [
        "+1" + "9005551234".translate(FULLWIDTH),
        "+19005551234".translate(FULLWIDTH),
        "+1" + "9005551234".translate(ARABIC_INDIC),
        "+1" + "9005551234".translate(DEVANAGARI),
        "+1900555123" + "4".translate(FULLWIDTH),
        "+1555" + "0101234".translate(FULLWIDTH),
    ],
)
def test_numbers_with_non_ascii_digits_are_refused_before_any_rule(number):
    # Python's \d matched these: "+1９００..." passed as E.164 and slipped past "+1900".
    for policy in (SafetyPolicy(), SafetyPolicy(allowed_prefixes=("*",), block_premium=False)):
        with pytest.raises(InputValidationError, match="ASCII digit 0-9"):
            policy.check_destination(number, live=False)


@pytest.mark.parametrize(
    "prefix", ["+1" + "900".translate(FULLWIDTH), "+4" + "4".translate(ARABIC_INDIC)]
)
def test_prefixes_with_non_ascii_digits_are_refused(prefix):
    with pytest.raises(InputValidationError, match="ASCII"):
        SafetyPolicy(blocked_prefixes=[prefix])


def test_the_number_returned_is_the_canonical_one_every_rule_was_applied_to():
    policy = SafetyPolicy(allowed_prefixes=("+4420",))
    # A trunk zero after the country code is dropped, as the carrier would.
    assert policy.check_destination("+4402071234567", live=True) == "+442071234567"
    assert policy.check_destination("+442071234567", live=True) == "+442071234567"
    assert SafetyPolicy().check_destination("+15550101234", live=False) == "+15550101234"


@pytest.mark.parametrize("written", ["+4409012345678", "+448712345678", "+4408712345678"])
def test_trunk_zero_spellings_of_premium_numbers_are_refused(written):
    # "+4409..." did not start with "+449", so it used to pass.
    error = refusal(SafetyPolicy(allowed_prefixes=("*",)), written, live=True)
    assert error.rule == "premium"
    canonical = phonenumbers.format_number(
        phonenumbers.parse(written), phonenumbers.PhoneNumberFormat.E164
    )
    assert canonical in error.message


def test_a_trunk_zero_blocked_prefix_still_blocks_the_number_as_written():
    policy = SafetyPolicy(allowed_prefixes=("*",), blocked_prefixes=("+4407",))
    assert refusal(policy, "+4407700900123", live=True).rule == "blocked"
    policy = SafetyPolicy(allowed_prefixes=("*",), blocked_prefixes=("+447",))
    assert refusal(policy, "+4407700900123", live=True).rule == "blocked"


def test_the_allowlist_is_matched_against_the_canonical_number():
    policy = SafetyPolicy(allowed_prefixes=("+447",))
    assert policy.check_destination("+4407700900123", live=True) == "+447700900123"
    error = refusal(SafetyPolicy(allowed_prefixes=("+4407",)), "+4407700900123", live=True)
    assert error.rule == "allowlist" and "trunk 0" in error.message


PREMIUM_TYPES = (
    phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
)


def test_premium_shared_cost_and_personal_numbers_of_every_region_are_refused_by_type():
    policy = SafetyPolicy(allowed_prefixes=("*",))
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in PREMIUM_TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            number = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert refusal(policy, number, live=True).rule == "premium", (region, number)
            checked += 1
    assert checked > 150


@pytest.mark.parametrize(
    "number", ["+611900123456", "+3290123456", "+41900123456", "+4930123456", "+15550101234"]
)
def test_number_types_outside_the_prefix_list_are_classified_by_region(number):
    # Australia 1900, Belgium 090x and Switzerland 0900 are in no prefix list; Berlin and the
    # fictional +1555 range are ordinary.
    policy = SafetyPolicy(allowed_prefixes=("*",))
    kind = phonenumbers.number_type(phonenumbers.parse(number))
    if kind in PREMIUM_TYPES:
        assert refusal(policy, number, live=True).rule == "premium"
        assert not any(number.startswith(prefix) for prefix, _ in PREMIUM_PREFIXES)
    else:
        assert policy.check_destination(number, live=True) == number


def test_a_specific_allowlist_entry_lifts_a_premium_type_block_but_a_country_does_not():
    assert (
        SafetyPolicy(allowed_prefixes=("+44870",)).check_destination("+448701234567", live=True)
        == "+448701234567"
    )
    for broad in ("+44", "+448", "*"):
        error = refusal(SafetyPolicy(allowed_prefixes=(broad,)), "+448701234567", live=True)
        assert error.rule == "premium" and "+44870" in error.message


@pytest.mark.parametrize(
    "number",
    [
        "+1911",  # 911 with the US country code
        "+19115551234",  # 911 followed by digits
        "+911",  # 911 with a plus (and India's country code)
        "+112",
        "+999",
        "+44999",
        "+44112",
        "+33112",
        "+3317",
        "+61000",
        "+49110",
        "+86110",
        "+81110",
        "+55190",
    ],
)
def test_emergency_numbers_are_always_refused(number):
    for policy in (
        SafetyPolicy(allowed_prefixes=("*",)),
        SafetyPolicy(allowed_prefixes=("*",), block_premium=False),
        SafetyPolicy(allowed_prefixes=(number,), block_premium=False),
    ):
        for live in (True, False):
            error = refusal(policy, number, live=live)
            assert error.rule == "emergency" and "emergency" in error.message


def test_emergency_prefixes_are_refused_even_without_the_premium_block():
    from getpatter.control.policy import EMERGENCY_PREFIXES

    policy = SafetyPolicy(allowed_prefixes=("*",), block_premium=False)
    for prefix, _ in EMERGENCY_PREFIXES:
        assert refusal(policy, prefix, live=True).rule == "emergency"


@pytest.mark.parametrize("number", ["+1411", "+1611", "+44116123", "+44116111"])
def test_short_service_codes_are_always_refused(number):
    policy = SafetyPolicy(allowed_prefixes=("*",), block_premium=False)
    assert refusal(policy, number, live=False).rule == "short_code"


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("+1555010123", "too few digits"),
        ("+4418001111", "local number"),
        ("+8891234567", "no country"),
        ("+1555010123456", "too many digits"),
    ],
)
def test_numbers_that_cannot_exist_are_malformed_input(number, problem):
    with pytest.raises(InputValidationError, match=problem):
        SafetyPolicy(allowed_prefixes=("*",)).check_destination(number, live=True)


@pytest.mark.parametrize(
    "number", ["+15550101234", "+15550100002", "+447700900123", "+61491570006"]
)
def test_fictional_numbers_whose_length_fits_are_not_refused_for_being_unknown(number):
    # The sandbox's +1555 01xx numbers and Ofcom's and ACMA's drama ranges are not valid
    # numbers for libphonenumber, but they could be: the policy does not refuse them for that.
    assert SafetyPolicy().check_destination(number, live=False) == number


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

DISCLOSURE = "Hi, this is an AI assistant calling."


@pytest.mark.parametrize(
    "text",
    [
        "Hello, I'm an AI assistant calling for Dr. Lee.",
        "This is an automated call from Acme.",
        "Hey, it's Acme's scheduling bot.",
        "I'm definitely not a bot, I'm Sam from your bank.",
        "This message is from a human, not an AI.",
        "Hi, an A.I. here for Acme.",
        "Is this the bot support line? I'm calling about my order.",
    ],
)
def test_messages_that_mention_ai_or_bot_still_get_the_disclosure(text):
    # The disclosure used to be skipped when the text contained "AI" or "bot", so a model could
    # drop it by writing "not a bot".
    assert SafetyPolicy().first_message(text) == f"{DISCLOSURE} {text}"


def test_a_message_already_starting_with_the_disclosure_is_not_doubled():
    text = f"{DISCLOSURE} I'm calling about your order."
    assert SafetyPolicy().first_message(text) == text


def test_non_disclosing_message_gets_the_disclosure_first():
    assert SafetyPolicy().first_message("Hi, it's Sam") == f"{DISCLOSURE} Hi, it's Sam"


def test_empty_first_message_becomes_the_disclosure_or_stays_empty():
    assert SafetyPolicy().first_message("") == "Hi, this is an AI assistant calling."
    assert SafetyPolicy().first_message("   ") == "Hi, this is an AI assistant calling."
    assert SafetyPolicy(ai_disclosure=False).first_message("") == ""


def test_disclosure_off_speaks_the_message_as_given():
    assert SafetyPolicy(ai_disclosure=False).first_message("Hi, it's Sam") == "Hi, it's Sam"
    assert SafetyPolicy(ai_disclosure=False).first_message("Hi, I'm no bot") == "Hi, I'm no bot"


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
    assert "premium-rate" in described["premium_types"]
    assert any("+1911" in rule for rule in described["always_refused"])
    relaxed = SafetyPolicy(block_premium=False).describe()
    assert relaxed["premium_prefixes"] == [] and relaxed["premium_types"] == []
    assert relaxed["always_refused"] == described["always_refused"]
