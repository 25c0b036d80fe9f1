import asyncio
import base64

import pytest
from fake_cloudflared import HOSTNAME, free_port
from fake_cloudflared import install as install_fake_cloudflared

from getpatter import ConfigError, ErrorCode, InputValidationError, Patter, Telnyx, Twilio
from getpatter.engines.openai import Realtime
from getpatter.testing.twilio_simulator import TwilioSimulator
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
    key = base64.b64encode(b"k" * 32).decode()
    with pytest.raises(ConfigError, match="would leave the public key unused"):
        Telnyx(api_key="KEY-CANARY", connection_id="1", public_key=key, verify_webhooks=False)


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


# ------------------------------------------------------------------ serve(): binding the number

OLD_URL = "https://old-run.trycloudflare.com/webhooks/twilio/voice"
NUMBER = "+15550001234"


async def _serve_until_ready(phone, **options):
    """Start ``phone.serve()``, wait until it takes calls, then stop it."""
    agent = phone.agent(system_prompt="You answer.", engine=Realtime(api_key="sk-test-CANARY-rt"))
    serving = asyncio.create_task(phone.serve(agent, port=free_port(), host="127.0.0.1", **options))
    try:
        ready = asyncio.create_task(phone.ready())
        await asyncio.wait({ready, serving}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            ready.cancel()
            await serving
        await ready
    finally:
        await phone.disconnect()
        await asyncio.wait_for(serving, 30)


@pytest.mark.parametrize(
    ("on_patter", "on_serve", "rings"),
    [
        ({"tunnel": True}, {}, HOSTNAME),
        ({}, {"tunnel": True}, HOSTNAME),
        ({"tunnel": CloudflareTunnel()}, {}, HOSTNAME),
        ({"tunnel": True}, {"configure_number": False}, None),
        ({"tunnel": Static(hostname="agent.example.com")}, {}, None),
        ({"tunnel": Ngrok(hostname="agent.ngrok.app")}, {}, None),
        ({"webhook_url": "agent.example.com"}, {}, None),
        ({"webhook_url": "agent.example.com"}, {"configure_number": True}, "agent.example.com"),
    ],
)
async def test_serve_points_the_number_at_a_tunnel_by_default(
    tmp_path, monkeypatch, on_patter, on_serve, rings
):
    install_fake_cloudflared(tmp_path, monkeypatch)
    async with TwilioSimulator() as sim:
        sim.add_number(NUMBER, voice_url=OLD_URL)
        carrier = Twilio(
            account_sid=sim.account_sid, auth_token=sim.auth_token, base_url=sim.base_url
        )
        await _serve_until_ready(
            Patter(carrier=carrier, phone_number=NUMBER, **on_patter), **on_serve
        )
        voice_url = sim.numbers[NUMBER].voice_url
    assert voice_url == (OLD_URL if rings is None else f"https://{rings}/webhooks/twilio/voice")


async def test_a_number_the_tunnel_cannot_configure_still_serves(tmp_path, monkeypatch, caplog):
    install_fake_cloudflared(tmp_path, monkeypatch)
    async with TwilioSimulator() as sim:  # the account does not own the number
        carrier = Twilio(
            account_sid=sim.account_sid, auth_token=sim.auth_token, base_url=sim.base_url
        )
        await _serve_until_ready(Patter(carrier=carrier, phone_number=NUMBER, tunnel=True))
    assert f"set its twilio webhook to https://{HOSTNAME}/webhooks/twilio/voice" in caplog.text


async def test_serve_refuses_a_configure_number_that_is_not_a_bool():
    carrier = Twilio(account_sid=SID, auth_token="tok-CANARY-value")
    phone = Patter(carrier=carrier, phone_number=NUMBER, webhook_url="agent.example.com")
    with pytest.raises(ConfigError, match="configure_number"):
        await phone.serve(phone.agent(system_prompt="x"), configure_number="yes")


def test_a_call_store_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="call_store must implement"):
        Patter(call_store=object())  # type: ignore[arg-type]
