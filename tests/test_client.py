import base64

import pytest

from getpatter import ConfigError, ErrorCode, InputValidationError, Patter, Telnyx, Twilio
from getpatter.tunnels import CloudflareTunnel, Ngrok, Static

SID = "AC" + "0" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TELNYX_API_KEY",
        "TELNYX_CONNECTION_ID",
        "TELNYX_PUBLIC_KEY",
        "OPENAI_API_KEY",
        "ELEVENLABS_API_KEY",
        "ELEVENLABS_AGENT_ID",
    ):
        monkeypatch.delenv(name, raising=False)


def test_no_carrier_is_valid_for_test_mode():
    phone = Patter()
    assert phone.carrier is None
    assert phone.phone_number == ""


def test_twilio_credentials_come_from_env_when_omitted(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret-token-CANARY")
    phone = Patter(carrier=Twilio(), phone_number="+15550001234")
    assert phone.carrier.account_sid == SID
    assert phone.carrier.auth_token == "secret-token-CANARY"


def test_explicit_credentials_win_over_env(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "9" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "env-token-CANARY")
    carrier = Twilio(account_sid=SID, auth_token="arg-token-CANARY")
    assert (carrier.account_sid, carrier.auth_token) == (SID, "arg-token-CANARY")


def test_missing_twilio_credentials_name_both_and_their_env_vars():
    with pytest.raises(ValueError, match="account_sid and auth_token") as info:
        Patter(carrier=Twilio(), phone_number="+15550001234")
    assert "TWILIO_ACCOUNT_SID" in str(info.value)
    assert info.value.code is ErrorCode.CONFIG


def test_secrets_never_appear_in_repr():
    carrier = Twilio(account_sid=SID, auth_token="super-secret-token-CANARY")
    phone = Patter(carrier=carrier, phone_number="+15550001234")
    assert "super-secret-token-CANARY" not in repr(carrier)
    assert "super-secret-token-CANARY" not in repr(phone)
    public = base64.b64encode(b"p" * 32).decode()
    telnyx = Telnyx(api_key="KEY-CANARY-secret", connection_id="123", public_key=public)
    assert "KEY-CANARY-secret" not in repr(telnyx) and public not in repr(telnyx)


def test_telnyx_public_key_must_be_an_ed25519_key():
    with pytest.raises(InputValidationError, match="32-byte Ed25519 key"):
        Telnyx(api_key="KEY-CANARY", connection_id="1", public_key="pub-secret")
    with pytest.raises(InputValidationError, match="base_url"):
        Telnyx(api_key="KEY-CANARY", connection_id="1", base_url="ftp://x")


def test_carrier_requires_a_phone_number():
    with pytest.raises(ConfigError, match="phone_number is required"):
        Patter(carrier=Twilio(account_sid=SID, auth_token="t-CANARY"))


def test_telnyx_reads_env(monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", "KEY1-CANARY")
    monkeypatch.setenv("TELNYX_CONNECTION_ID", "conn-1")
    carrier = Telnyx()
    assert (carrier.api_key, carrier.connection_id, carrier.public_key) == (
        "KEY1-CANARY",
        "conn-1",
        "",
    )
    assert Patter(carrier=carrier, phone_number="+15550001234").carrier is carrier


def test_webhook_url_is_a_bare_hostname():
    assert Patter(webhook_url="api.example.com").webhook_url == "api.example.com"
    assert Patter(webhook_url="localhost:8000").webhook_url == "localhost:8000"
    with pytest.raises(InputValidationError, match=r"without a scheme: use 'api\.example\.com'"):
        Patter(webhook_url="https://api.example.com/")


def test_tunnel_true_means_cloudflare_and_conflicts_with_webhook_url():
    assert isinstance(Patter(tunnel=True).tunnel, CloudflareTunnel)
    assert Patter(tunnel=False).tunnel is None
    assert Patter(tunnel=Ngrok(hostname="abc.ngrok.app")).tunnel == Ngrok(hostname="abc.ngrok.app")
    with pytest.raises(ConfigError, match="not both"):
        Patter(webhook_url="api.example.com", tunnel=Static(hostname="x.example.com"))


def test_pricing_overrides_apply():
    phone = Patter(pricing={"twilio": {"price": 0.015}})
    assert phone.pricing.price("twilio") == 0.015
    assert Patter().pricing.price("twilio") == 0.0085


def test_events_is_the_process_wide_bus():
    assert Patter().events is Patter().events
