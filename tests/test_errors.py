import pytest

import getpatter
from getpatter import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterConnectionError,
    PatterError,
    ProvisionError,
    RateLimitError,
)


def test_error_codes_are_the_seeds_list_plus_policy_and_compare_as_strings():
    # POLICY (safety-policy refusals of the phone-as-a-tool service) is Patter's addition.
    assert [c.value for c in ErrorCode] == [
        "CONFIG",
        "CONNECTION",
        "AUTH",
        "TIMEOUT",
        "RATE_LIMIT",
        "WEBHOOK_VERIFICATION",
        "INPUT_VALIDATION",
        "PROVIDER_ERROR",
        "PROVISION",
        "POLICY",
        "INTERNAL",
    ]
    assert ErrorCode.AUTH == "AUTH"


@pytest.mark.parametrize(
    ("cls", "parent", "code"),
    [
        (PatterConnectionError, PatterError, ErrorCode.CONNECTION),
        (RateLimitError, PatterConnectionError, ErrorCode.RATE_LIMIT),
        (AuthenticationError, PatterError, ErrorCode.AUTH),
        (ProvisionError, PatterError, ErrorCode.PROVISION),
        (ConfigError, ValueError, ErrorCode.CONFIG),
        (InputValidationError, ValueError, ErrorCode.INPUT_VALIDATION),
    ],
)
def test_hierarchy_and_default_codes(cls, parent, code):
    error = cls("boom")
    assert isinstance(error, parent)
    assert isinstance(error, PatterError)
    assert error.code is code
    assert str(error) == "boom"


def test_code_can_be_overridden():
    error = PatterConnectionError("slow", code=ErrorCode.TIMEOUT)
    assert error.code is ErrorCode.TIMEOUT
    assert "TIMEOUT" in repr(error)


def test_conflicting_agent_options_raise_config_error_that_is_a_value_error():
    phone = getpatter.Patter()
    with pytest.raises(ValueError) as info:
        phone.agent(
            "hi", engine=getpatter.OpenAIRealtime(api_key="k-CANARY"), stt=object(), tts=object()
        )
    assert isinstance(info.value, PatterError)
    assert info.value.code is ErrorCode.CONFIG
