"""The Twilio ``Carrier``: the REST base URL (the credentials are covered in tests/test_client.py)."""

import pytest

from getpatter import InputValidationError
from getpatter.carriers.twilio import DEFAULT_BASE_URL, Carrier

SID = "AC" + "0" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_base_url_defaults_to_twilio():
    assert Carrier(account_sid=SID, auth_token="t-CANARY").base_url == "https://api.twilio.com"
    assert DEFAULT_BASE_URL == "https://api.twilio.com"


def test_base_url_comes_from_env_and_an_argument_wins(monkeypatch):
    monkeypatch.setenv("TWILIO_BASE_URL", "http://127.0.0.1:8123")
    assert Carrier(account_sid=SID, auth_token="t-CANARY").base_url == "http://127.0.0.1:8123"
    explicit = Carrier(
        account_sid=SID, auth_token="t-CANARY", base_url="https://api.dublin.ie1.twilio.com"
    )
    assert explicit.base_url == "https://api.dublin.ie1.twilio.com"


def test_a_trailing_slash_is_dropped():
    assert Carrier(
        account_sid=SID, auth_token="t-CANARY", base_url="http://localhost:9/"
    ).base_url == ("http://localhost:9")


@pytest.mark.parametrize(
    "url",
    [
        "api.twilio.com",
        "ftp://api.twilio.com",
        "https://api.twilio.com/2010-04-01",
        "https://api.twilio.com?x=1",
        "https://user:pw@api.twilio.com",
        "https://api.twilio.com:99999",
        "https://api.twilio.com:",
        "https://",
    ],
)
def test_a_base_url_that_is_not_scheme_and_host_is_refused(url):
    with pytest.raises(InputValidationError, match="base_url"):
        Carrier(account_sid=SID, auth_token="t-CANARY", base_url=url)


def test_a_bad_base_url_in_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("TWILIO_BASE_URL", "localhost:8000")
    with pytest.raises(InputValidationError, match="TWILIO_BASE_URL"):
        Carrier(account_sid=SID, auth_token="t-CANARY")
