"""getpatter_mcp.config: what the environment and a TOML file turn into, and what is refused."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from fake_cloudflared import HOSTNAME, free_port
from fake_cloudflared import install as install_fake_cloudflared

from getpatter.carriers.telnyx import Carrier as Telnyx
from getpatter.control.policy import ENV_VARS
from getpatter.errors import ConfigError
from getpatter.testing.twilio_simulator import TwilioSimulator
from getpatter.tunnels import CloudflareTunnel
from getpatter_mcp.config import (
    DEFAULT_AUDIT_DB,
    DEFAULT_SYSTEM_PROMPT,
    ServerConfig,
    build_service,
    load_config,
)

LIVE = {
    "TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
    "TWILIO_AUTH_TOKEN": "twilio-CANARY-token-value",
    "TWILIO_PHONE_NUMBER": "+15550001234",
    "PATTER_WEBHOOK_URL": "agent.example.com",
    "OPENAI_API_KEY": "sk-openai-CANARY-key-value",
}

PUBLIC_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # base64 of a 32-byte Ed25519 key
TELNYX = {
    "TELNYX_API_KEY": "KEY-telnyx-CANARY-key-value",
    "TELNYX_CONNECTION_ID": "1494404757140276705",
    "TELNYX_PHONE_NUMBER": "+15550004321",
    "TELNYX_PUBLIC_KEY": PUBLIC_KEY,
    "PATTER_WEBHOOK_URL": "agent.example.com",
    "OPENAI_API_KEY": "sk-openai-CANARY-key-value",
}
TWILIO_ONLY = {k: v for k, v in LIVE.items() if k.startswith("TWILIO_")}
TELNYX_ONLY = {k: v for k, v in TELNYX.items() if k.startswith("TELNYX_")}


def test_no_carrier_settings_is_sandbox_mode_with_defaults() -> None:
    config = load_config({})
    assert config.mode == "sandbox"
    assert config.audit_db is None  # in memory
    assert config.sandbox_ms_per_char == 60
    assert config.system_prompt == DEFAULT_SYSTEM_PROMPT
    assert config.policy.allowed_prefixes == ()
    assert config.port == 8000


def test_an_openai_key_alone_stays_in_the_sandbox() -> None:
    config = load_config({"OPENAI_API_KEY": "sk-CANARY-x"})
    assert config.mode == "sandbox"


def test_full_carrier_settings_are_live_mode_with_a_persistent_audit_log() -> None:
    config = load_config(
        {**LIVE, "PATTER_PORT": "9000", "PATTER_HOST": "127.0.0.1", "PATTER_VOICE": "verse"}
    )
    assert config.mode == "live"
    assert config.twilio_phone_number == "+15550001234"
    assert config.webhook_url == "agent.example.com"
    assert (config.port, config.host, config.voice) == (9000, "127.0.0.1", "verse")
    assert config.audit_db == DEFAULT_AUDIT_DB


@pytest.mark.parametrize(
    "missing", ["TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "PATTER_WEBHOOK_URL"]
)
def test_partial_carrier_settings_are_refused_naming_what_is_missing(missing: str) -> None:
    env = {k: v for k, v in LIVE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing) as caught:
        load_config(env)
    assert "sandbox" in caught.value.message


def test_only_an_account_sid_names_all_three_missing_settings() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"TWILIO_ACCOUNT_SID": LIVE["TWILIO_ACCOUNT_SID"]})
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "PATTER_WEBHOOK_URL"):
        assert name in caught.value.message


def test_carrier_without_an_openai_key_is_refused() -> None:
    env = {k: v for k, v in LIVE.items() if k != "OPENAI_API_KEY"}
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        load_config(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWILIO_PHONE_NUMBER", "555-0001"),
        ("PATTER_WEBHOOK_URL", "https://agent.example.com/"),
        ("TWILIO_ACCOUNT_SID", "SK0123"),
    ],
)
def test_malformed_carrier_values_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({**LIVE, name: value})


def test_policy_variables_are_parsed() -> None:
    config = load_config(
        {
            "PATTER_ALLOWED_PREFIXES": " +1555, +4420 ,",
            "PATTER_BLOCKED_PREFIXES": "+15550009",
            "PATTER_BLOCK_PREMIUM": "off",
            "PATTER_MAX_CONCURRENT_CALLS": "2",
            "PATTER_MAX_CALL_SECONDS": "120",
            "PATTER_MAX_CALLS_PER_DAY": "7",
            "PATTER_MAX_SPEND_PER_DAY_USD": "2.5",
            "PATTER_REQUIRE_CONFIRMATION": "yes",
            "PATTER_AI_DISCLOSURE": "false",
            "PATTER_DISCLOSURE": "Bonjour, je suis un robot.",
        }
    )
    policy = config.policy
    assert policy.allowed_prefixes == ("+1555", "+4420")
    assert policy.blocked_prefixes == ("+15550009",)
    assert policy.block_premium is False
    assert (policy.max_concurrent_calls, policy.max_call_seconds) == (2, 120)
    assert (policy.max_calls_per_day, policy.max_spend_per_day_usd) == (7, 2.5)
    assert policy.require_confirmation is True
    assert policy.ai_disclosure is False


def test_every_policy_variable_the_policy_names_is_read() -> None:
    # Refusal messages tell users to set these variables: each one must have an effect.
    values = {
        "PATTER_ALLOWED_PREFIXES": "+1555",
        "PATTER_BLOCKED_PREFIXES": "+1666",
        "PATTER_BLOCK_PREMIUM": "0",
        "PATTER_MAX_CONCURRENT_CALLS": "9",
        "PATTER_MAX_CALL_SECONDS": "99",
        "PATTER_MAX_CALLS_PER_DAY": "99",
        "PATTER_MAX_SPEND_PER_DAY_USD": "99",
    }
    assert set(values) == set(ENV_VARS.values())
    default = load_config({}).policy.describe()
    for field, env in ENV_VARS.items():
        changed = load_config({env: values[env]}).policy.describe()
        assert changed[field] != default[field], env


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PATTER_MAX_CALLS_PER_DAY", "many"),
        ("PATTER_MAX_CALLS_PER_DAY", "0"),
        ("PATTER_MAX_CALL_SECONDS", "5000"),
        ("PATTER_MAX_SPEND_PER_DAY_USD", "ten"),
        ("PATTER_MAX_SPEND_PER_DAY_USD", "-1"),
        ("PATTER_BLOCK_PREMIUM", "maybe"),
        ("PATTER_REQUIRE_CONFIRMATION", "2"),
        ("PATTER_ALLOWED_PREFIXES", "1555"),
        ("PATTER_BLOCKED_PREFIXES", "+1-555"),
        ("PATTER_DISCLOSURE", "Hello there"),
        ("PATTER_PORT", "http"),
        ("PATTER_PORT", "70000"),
        ("PATTER_SANDBOX_MS_PER_CHAR", "0"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_disclosure_text_is_free_when_disclosure_is_off() -> None:
    config = load_config({"PATTER_DISCLOSURE": "Hello there", "PATTER_AI_DISCLOSURE": "no"})
    assert config.policy.disclosure == "Hello there"


def test_empty_variables_count_as_unset() -> None:
    config = load_config({"TWILIO_ACCOUNT_SID": "", "PATTER_MAX_CALLS_PER_DAY": "  "})
    assert config.mode == "sandbox"
    assert config.policy.max_calls_per_day == 50


def test_audit_db_can_be_set_or_kept_in_memory(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.sqlite3")
    assert load_config({"PATTER_AUDIT_DB": path}).audit_db == path
    assert load_config({**LIVE, "PATTER_AUDIT_DB": ":memory:"}).audit_db is None


def test_the_call_history_is_kept_beside_the_audit_log_unless_told(tmp_path: Path) -> None:
    audit = str(tmp_path / "audit.sqlite3")
    assert load_config({**LIVE, "PATTER_AUDIT_DB": audit}).calls_db == str(
        tmp_path / "calls.sqlite3"
    )
    assert load_config({**LIVE}).calls_db == "~/.getpatter/calls.sqlite3"
    assert load_config({}).calls_db is None  # the sandbox keeps both in memory
    mine = str(tmp_path / "mine.db")
    assert load_config({"PATTER_CALLS_DB": mine}).calls_db == mine
    assert load_config({**LIVE, "PATTER_CALLS_DB": ":memory:"}).calls_db is None


async def test_get_call_and_list_calls_answer_after_a_restart(tmp_path: Path) -> None:
    env = {"PATTER_CALLS_DB": str(tmp_path / "calls.sqlite3"), "PATTER_SANDBOX_MS_PER_CHAR": "15"}
    async with asyncio.timeout(40):
        async with build_service(load_config(env)) as service:
            placed = await service.place_call("+15550101234", goal="Book a table")
            await service.wait(placed.call_id, 30)
        async with build_service(load_config(env)) as restarted:
            record = restarted.get_call(placed.call_id)
            assert [r.call_id for r in restarted.list_calls()] == [placed.call_id]
    assert (record.status, record.goal) == ("completed", "Book a table")
    assert record.transcript
    assert record.to == "***1234"  # numbers at rest are masked (PATTER_LOG_REDACT_PHONE)


async def test_the_call_history_keeps_numbers_as_the_redaction_setting_says(
    tmp_path: Path,
) -> None:
    from getpatter.calls.events import CallStarted

    for mode, kept in (("full", "+15550101234"), ("hash_only", None), (" MASK ", "***1234")):
        env = {
            "PATTER_CALLS_DB": str(tmp_path / f"{mode.strip()}.db"),
            "PATTER_LOG_REDACT_PHONE": mode,
        }
        config = load_config(env)
        history = build_service(config)._history
        assert history is not None
        try:
            await history.record(
                CallStarted(
                    call_id="CA1",
                    caller="+15550101234",
                    callee="+15550009999",
                    direction="inbound",
                )
            )
            stored = await history.get("CA1")
        finally:
            await history.aclose()
        assert stored is not None
        if kept is None:
            assert len(stored.caller) == 16 and "555" not in stored.caller
        else:
            assert stored.caller == kept
    with pytest.raises(ConfigError, match="PATTER_LOG_REDACT_PHONE must be one of"):
        load_config({"PATTER_LOG_REDACT_PHONE": "partial"})


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "patter.toml"
    path.write_text(text)
    return str(path)


def test_file_settings_are_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "from-the-file-CANARY"
phone_number = "+15550001234"

[server]
webhook_url = "file.example.com"
port = 8100

[openai]
api_key = "sk-CANARY-file"

[agent]
system_prompt = "You call dentists."

[policy]
allowed_prefixes = ["+1555", "+1666"]
max_calls_per_day = 5
require_confirmation = true
max_spend_per_day_usd = 3

[sandbox]
ms_per_char = 20
""",
    )
    config = load_config({"PATTER_MAX_CALLS_PER_DAY": "8", "PATTER_PORT": "8200"}, path)
    assert config.mode == "live"
    assert config.twilio_auth_token == "from-the-file-CANARY"
    assert config.system_prompt == "You call dentists."
    assert config.policy.allowed_prefixes == ("+1555", "+1666")
    assert config.policy.require_confirmation is True
    assert config.policy.max_spend_per_day_usd == 3.0
    assert config.sandbox_ms_per_char == 20
    assert config.policy.max_calls_per_day == 8  # environment over file
    assert config.port == 8200


def test_the_file_can_come_from_patter_config(tmp_path: Path) -> None:
    path = _write(tmp_path, '[policy]\nallowed_prefixes = "+1555,+1777"\n')
    config = load_config({"PATTER_CONFIG": path})
    assert config.policy.allowed_prefixes == ("+1555", "+1777")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[policy]\nmax_calls_per_dya = 5\n", "policy.max_calls_per_dya"),
        ("[polcy]\nmax_calls_per_day = 5\n", "polcy.max_calls_per_day"),
        ('[policy]\nmax_calls_per_day = "five"\n', "policy.max_calls_per_day"),
        ("[policy]\nblock_premium = 1\n", "policy.block_premium"),
        ("[policy]\nallowed_prefixes = [1555]\n", "policy.allowed_prefixes"),
        ('allowed_prefixes = "+1555"\n', "allowed_prefixes"),
        ("[policy\n", "cannot read"),
    ],
)
def test_bad_files_are_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config({}, _write(tmp_path, text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, str(tmp_path / "nope.toml"))


def test_secrets_are_masked_in_repr() -> None:
    config = load_config({**LIVE, "PATTER_MCP_TOKEN": "mcp-bearer-CANARY-value"})
    shown = repr(config)
    for secret in (LIVE["TWILIO_AUTH_TOKEN"], LIVE["OPENAI_API_KEY"], "mcp-bearer-CANARY-value"):
        assert secret not in shown
        assert secret not in str(config)
    assert "twilio_auth_token='***'" in shown
    assert LIVE["TWILIO_PHONE_NUMBER"] in shown  # not a secret: shown for debugging


def test_a_secret_in_a_bad_file_value_is_not_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, "[openai]\napi_key = 123456789\n")
    with pytest.raises(ConfigError) as caught:
        load_config({}, path)
    assert "123456789" not in caught.value.message


async def test_build_service_sandbox_uses_the_policy_and_speed() -> None:
    config = load_config({"PATTER_MAX_CALLS_PER_DAY": "3", "PATTER_SANDBOX_MS_PER_CHAR": "15"})
    service = build_service(config)
    try:
        assert service.mode == "sandbox"
        assert service.policy.max_calls_per_day == 3
        assert service.audit.path is None
    finally:
        await service.aclose()


async def test_build_service_live_is_ready_to_dial_from_the_number(tmp_path: Path) -> None:
    audit = tmp_path / "audit.sqlite3"
    config = load_config(
        {**LIVE, "PATTER_ALLOWED_PREFIXES": "+1555", "PATTER_AUDIT_DB": str(audit)}
    )
    service = build_service(config)  # not started: nothing listens, nothing is dialed
    try:
        assert service.mode == "live"
        assert service.line.phone.phone_number == "+15550001234"
        assert service.line.phone.webhook_url == "agent.example.com"
        assert service.policy.allowed_prefixes == ("+1555",)
        assert service.audit.path == audit
    finally:
        await service.aclose()


def test_server_config_checks_what_it_is_given() -> None:
    with pytest.raises(ConfigError, match="PATTER_PORT"):
        ServerConfig(port="8000")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        ServerConfig(twilio_account_sid="AC1")
    with pytest.raises(ConfigError, match="TELNYX_CONNECTION_ID"):
        ServerConfig(telnyx_api_key="KEY-CANARY-x")


# ------------------------------------------------------------------ Telnyx


def test_telnyx_settings_are_live_mode_through_telnyx() -> None:
    config = load_config(TELNYX)
    assert (config.mode, config.carrier) == ("live", "telnyx")
    assert config.phone_number == "+15550004321"
    assert config.telnyx_connection_id == "1494404757140276705"
    assert config.telnyx_public_key == PUBLIC_KEY
    assert config.audit_db == DEFAULT_AUDIT_DB
    assert load_config(LIVE).carrier == "twilio"
    assert load_config({}).carrier is None


@pytest.mark.parametrize(
    "missing",
    ["TELNYX_API_KEY", "TELNYX_CONNECTION_ID", "TELNYX_PHONE_NUMBER", "TELNYX_PUBLIC_KEY"],
)
def test_partial_telnyx_settings_are_refused_naming_what_is_missing(missing: str) -> None:
    env = {k: v for k, v in TELNYX.items() if k != missing}
    with pytest.raises(ConfigError, match=missing) as caught:
        load_config(env)
    assert "Telnyx" in caught.value.message and "sandbox" in caught.value.message


def test_the_telnyx_public_key_is_required_and_says_why() -> None:
    # The carrier refuses to serve unsigned webhooks: say so before anything starts.
    env = {k: v for k, v in TELNYX.items() if k != "TELNYX_PUBLIC_KEY"}
    with pytest.raises(ConfigError, match="Not set: TELNYX_PUBLIC_KEY") as caught:
        load_config(env)
    assert "Keys & Credentials > Public Key" in caught.value.message


def test_one_carrier_setting_alone_is_a_partial_setup() -> None:
    # Not a silent sandbox: the setting would be ignored.
    with pytest.raises(ConfigError, match="TELNYX_API_KEY, TELNYX_CONNECTION_ID"):
        load_config({"TELNYX_PUBLIC_KEY": PUBLIC_KEY})
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"):
        load_config({"TWILIO_BASE_URL": "http://127.0.0.1:8080"})


@pytest.mark.parametrize(
    "extra",
    [TWILIO_ONLY, {"TWILIO_ACCOUNT_SID": LIVE["TWILIO_ACCOUNT_SID"]}, {"TWILIO_BASE_URL": "x"}],
)
def test_settings_of_both_carriers_are_refused(extra: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="two carriers") as caught:
        load_config({**TELNYX, **extra})
    for name in extra:
        assert name in caught.value.message
    assert "TELNYX_API_KEY" in caught.value.message
    assert "unset the TWILIO_* or the TELNYX_* settings" in caught.value.message


@pytest.mark.parametrize("way_in", ["PATTER_WEBHOOK_URL", "PATTER_TUNNEL"])
def test_a_way_in_without_a_carrier_names_both_carriers(way_in: str) -> None:
    value = "cloudflare" if way_in == "PATTER_TUNNEL" else "agent.example.com"
    with pytest.raises(ConfigError, match=f"{way_in} is set but no carrier is") as caught:
        load_config({way_in: value})
    for name in ("TWILIO_AUTH_TOKEN", "TELNYX_CONNECTION_ID", "sandbox"):
        assert name in caught.value.message


def test_telnyx_number_must_be_e164() -> None:
    with pytest.raises(ConfigError, match="TELNYX_PHONE_NUMBER='555-0001'"):
        load_config({**TELNYX, "TELNYX_PHONE_NUMBER": "555-0001"})


def test_telnyx_without_an_openai_key_is_refused() -> None:
    env = {k: v for k, v in TELNYX.items() if k != "OPENAI_API_KEY"}
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as caught:
        load_config(env)
    assert "TELNYX_*" in caught.value.message


def test_telnyx_file_settings_are_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[telnyx]
api_key = "KEY-from-the-file-CANARY"
connection_id = "1494404757140276705"
phone_number = "+15550004321"
public_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
base_url = "http://127.0.0.1:9/v2"

[server]
tunnel = "cloudflare"

[openai]
api_key = "sk-CANARY-file"
""",
    )
    config = load_config({"TELNYX_CONNECTION_ID": "42"}, path)
    assert config.carrier == "telnyx"
    assert config.telnyx_api_key == "KEY-from-the-file-CANARY"
    assert config.telnyx_public_key == PUBLIC_KEY
    assert config.telnyx_connection_id == "42"  # environment over file
    assert config.telnyx_base_url == "http://127.0.0.1:9/v2"
    assert config.tunnel == "cloudflare"
    assert config.webhook_url == ""


def test_the_telnyx_key_is_masked_in_repr_and_not_echoed(tmp_path: Path) -> None:
    config = load_config(TELNYX)
    assert TELNYX["TELNYX_API_KEY"] not in repr(config)
    assert "telnyx_api_key='***'" in repr(config)
    assert TELNYX["TELNYX_PHONE_NUMBER"] in repr(config)
    with pytest.raises(ConfigError) as caught:
        load_config({}, _write(tmp_path, "[telnyx]\napi_key = 123456789\n"))
    assert "123456789" not in caught.value.message and "telnyx.api_key" in caught.value.message


async def test_build_service_live_through_telnyx(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config({**TELNYX, "PATTER_AUDIT_DB": ":memory:"})
    service = build_service(config)  # not started: nothing listens, nothing is dialed
    try:
        phone = service.line.phone
        assert service.mode == "live"
        assert isinstance(phone.carrier, Telnyx)
        assert phone.carrier.connection_id == "1494404757140276705"
        assert phone.phone_number == "+15550004321"
        assert phone.webhook_url == "agent.example.com"
        # Built, the carrier keeps its key out of every log, as the Twilio token is.
        logging.getLogger("getpatter").warning("key is %s", TELNYX["TELNYX_API_KEY"])
        assert "key is <redacted>" in caplog.text
    finally:
        await service.aclose()


# ------------------------------------------------------------------ PATTER_TUNNEL


def test_a_tunnel_replaces_the_webhook_url_and_listens_on_loopback() -> None:
    env = {k: v for k, v in LIVE.items() if k != "PATTER_WEBHOOK_URL"}
    config = load_config({**env, "PATTER_TUNNEL": "Cloudflare"})
    assert (config.mode, config.tunnel, config.webhook_url) == ("live", "cloudflare", "")
    assert config.host == "127.0.0.1"  # cloudflared reaches it over loopback
    assert load_config({**env, "PATTER_TUNNEL": "cloudflare", "PATTER_HOST": "::"}).host == "::"
    assert load_config(LIVE).host == "0.0.0.0"


def test_a_tunnel_and_a_webhook_url_are_refused_together() -> None:
    with pytest.raises(ConfigError, match="PATTER_WEBHOOK_URL and PATTER_TUNNEL are both set"):
        load_config({**LIVE, "PATTER_TUNNEL": "cloudflare"})


@pytest.mark.parametrize("value", ["ngrok", "true", "agent.example.com"])
def test_only_tunnels_patter_starts_are_accepted(value: str) -> None:
    with pytest.raises(ConfigError, match=r"PATTER_TUNNEL=.*'cloudflare'.*PATTER_WEBHOOK_URL"):
        load_config({**TELNYX_ONLY, "PATTER_TUNNEL": value})


async def test_build_service_with_a_tunnel_gives_the_phone_a_cloudflare_tunnel() -> None:
    env = {k: v for k, v in TELNYX.items() if k != "PATTER_WEBHOOK_URL"}
    config = load_config({**env, "PATTER_TUNNEL": "cloudflare", "PATTER_AUDIT_DB": ":memory:"})
    service = build_service(config)
    try:
        assert isinstance(service.line.phone.tunnel, CloudflareTunnel)
        assert service.line.phone.webhook_url == ""
    finally:
        await service.aclose()


async def test_a_live_line_behind_a_tunnel_points_the_number_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_cloudflared(tmp_path, monkeypatch)
    number = LIVE["TWILIO_PHONE_NUMBER"]
    async with TwilioSimulator() as sim:
        sim.add_number(number, voice_url="https://last-run.trycloudflare.com/webhooks/twilio/voice")
        env = {
            "TWILIO_ACCOUNT_SID": sim.account_sid,
            "TWILIO_AUTH_TOKEN": sim.auth_token,
            "TWILIO_BASE_URL": sim.base_url,
            "TWILIO_PHONE_NUMBER": number,
            "PATTER_TUNNEL": "cloudflare",
            "PATTER_PORT": str(free_port()),
            "PATTER_AUDIT_DB": ":memory:",
            "OPENAI_API_KEY": LIVE["OPENAI_API_KEY"],
        }
        service = build_service(load_config(env))
        try:
            async with asyncio.timeout(30):
                await service.start()
            voice_url = sim.numbers[number].voice_url
        finally:
            await service.aclose()
    assert voice_url == f"https://{HOSTNAME}/webhooks/twilio/voice"


# ------------------------------------------------------------------ PATTER_ENGINE


CONVAI = {"PATTER_ENGINE": "elevenlabs_convai", "ELEVENLABS_AGENT_ID": "agent_7f3k2"}
LIVE_CONVAI = {**{k: v for k, v in LIVE.items() if k != "OPENAI_API_KEY"}, **CONVAI}


def test_the_engine_is_openai_realtime_unless_patter_engine_says() -> None:
    config = load_config({})
    assert (config.engine, config.voice, config.model) == (
        "openai_realtime",
        "alloy",
        "gpt-4o-mini-realtime-preview",
    )
    assert load_config({"PATTER_ENGINE": "openai_realtime"}).engine == "openai_realtime"
    convai = load_config({"PATTER_ENGINE": " ElevenLabs_ConvAI "})
    # The voice is the ElevenLabs agent's own unless PATTER_VOICE names one; no model is set.
    assert (convai.mode, convai.engine, convai.voice, convai.model) == (
        "sandbox",
        "elevenlabs_convai",
        "",
        "",
    )
    assert load_config({**CONVAI, "PATTER_VOICE": "21m00Tcm4TlvDq8ikWAM"}).voice == (
        "21m00Tcm4TlvDq8ikWAM"
    )


@pytest.mark.parametrize("value", ["convai", "elevenlabs", "openai", "pipeline"])
def test_unknown_engines_are_refused_naming_both(value: str) -> None:
    with pytest.raises(ConfigError, match=rf"PATTER_ENGINE='{value}'") as caught:
        load_config({"PATTER_ENGINE": value})
    assert "'openai_realtime'" in caught.value.message
    assert "'elevenlabs_convai'" in caught.value.message


def test_live_convai_needs_an_agent_id_and_no_openai_key() -> None:
    config = load_config(LIVE_CONVAI)
    assert (config.mode, config.engine, config.elevenlabs_agent_id) == (
        "live",
        "elevenlabs_convai",
        "agent_7f3k2",
    )
    assert config.elevenlabs_api_key == ""  # a public agent needs no key
    env = {k: v for k, v in LIVE_CONVAI.items() if k != "ELEVENLABS_AGENT_ID"}
    with pytest.raises(ConfigError, match="ELEVENLABS_AGENT_ID is not set") as caught:
        load_config(env)
    assert "OPENAI_API_KEY" not in caught.value.message
    assert "sandbox mode" in caught.value.message


def test_a_live_openai_engine_without_its_key_points_to_convai_too() -> None:
    env = {k: v for k, v in LIVE.items() if k != "OPENAI_API_KEY"}
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set") as caught:
        load_config(env)
    assert "PATTER_ENGINE=elevenlabs_convai" in caught.value.message


def test_an_openai_key_is_accepted_and_unused_with_convai() -> None:
    # OpenAI's own variables are often set for other tools of the same process (a LangChain
    # agent's model): PATTER_ENGINE says which engine runs, so they do not stop the server.
    config = load_config({**LIVE_CONVAI, "OPENAI_API_KEY": LIVE["OPENAI_API_KEY"]})
    assert (config.mode, config.engine) == ("live", "elevenlabs_convai")


@pytest.mark.parametrize("name", ["ELEVENLABS_API_KEY", "ELEVENLABS_BASE_URL"])
def test_elevenlabs_own_variables_do_not_stop_an_openai_server(name: str) -> None:
    # Set for ElevenLabs TTS or other tools of the environment, as OPENAI_* are with ConvAI.
    value = "https://api.elevenlabs.io" if name == "ELEVENLABS_BASE_URL" else "x-CANARY-value"
    config = load_config({**LIVE, name: value})
    assert (config.mode, config.engine) == ("live", "openai_realtime")


@pytest.mark.parametrize("name", ["ELEVENLABS_AGENT_ID"])
@pytest.mark.parametrize("engine", [{}, {"PATTER_ENGINE": "openai_realtime"}])
def test_elevenlabs_settings_without_convai_are_refused(name: str, engine: dict[str, str]) -> None:
    value = "x-CANARY-value"
    for env in ({name: value, **engine}, {**LIVE, name: value, **engine}):
        with pytest.raises(ConfigError, match=f"{name} is set") as caught:
            load_config(env)
        assert "PATTER_ENGINE=elevenlabs_convai" in caught.value.message
        assert f"unset {name}" in caught.value.message
        assert "CANARY" not in caught.value.message


def test_settings_convai_does_not_use_are_refused_with_it() -> None:
    with pytest.raises(ConfigError, match="PATTER_MODEL='gpt-4o-realtime-preview' is set"):
        load_config({**CONVAI, "PATTER_MODEL": "gpt-4o-realtime-preview"})
    with pytest.raises(ConfigError, match=r"ELEVENLABS_BASE_URL='api\.elevenlabs\.io'"):
        load_config({**CONVAI, "ELEVENLABS_BASE_URL": "api.elevenlabs.io"})
    with pytest.raises(ConfigError, match="PATTER_ENGINE"):
        ServerConfig(engine="convai")  # type: ignore[arg-type]


def test_convai_file_settings_are_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[agent]
engine = "elevenlabs_convai"
voice = "voice-from-the-file"

[elevenlabs]
agent_id = "agent_from_the_file"
api_key = "xi-CANARY-file"
base_url = "https://api.eu.residency.elevenlabs.io"
""",
    )
    config = load_config({"ELEVENLABS_AGENT_ID": "agent_from_env"}, path)
    assert config.engine == "elevenlabs_convai"
    assert config.elevenlabs_agent_id == "agent_from_env"
    assert config.elevenlabs_api_key == "xi-CANARY-file"
    assert config.elevenlabs_base_url == "https://api.eu.residency.elevenlabs.io"
    assert config.voice == "voice-from-the-file"
    with pytest.raises(ConfigError, match=r"\[elevenlabs\] takes api_key, agent_id, base_url"):
        load_config({}, _write(tmp_path, '[elevenlabs]\nvoice = "x"\n'))


def test_the_elevenlabs_key_is_masked_in_repr_and_not_echoed(tmp_path: Path) -> None:
    config = load_config({**LIVE_CONVAI, "ELEVENLABS_API_KEY": "xi-CANARY-key-value"})
    assert "xi-CANARY-key-value" not in repr(config)
    assert "elevenlabs_api_key='***'" in repr(config)
    assert "agent_7f3k2" in repr(config)  # an agent id is not a secret
    with pytest.raises(ConfigError) as caught:
        load_config({}, _write(tmp_path, "[elevenlabs]\napi_key = 123456789\n"))
    assert "123456789" not in caught.value.message
    assert "elevenlabs.api_key" in caught.value.message


@pytest.mark.parametrize(
    ("carrier", "audio_format"), [(LIVE_CONVAI, "ulaw_8000"), (TELNYX_ONLY, "pcm_16000")]
)
async def test_build_service_live_runs_calls_on_the_elevenlabs_agent(
    carrier: dict[str, str],
    audio_format: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from getpatter import ElevenLabsConvAI

    monkeypatch.delenv("ELEVENLABS_BASE_URL", raising=False)

    env = {
        **carrier,
        **CONVAI,
        "PATTER_WEBHOOK_URL": "agent.example.com",
        "ELEVENLABS_API_KEY": "xi-CANARY-live-key",
        "PATTER_VOICE": "21m00Tcm4TlvDq8ikWAM",
        "PATTER_AUDIT_DB": ":memory:",
    }
    service = build_service(load_config(env))  # not started: nothing listens, nothing is dialed
    try:
        engine = service.agent.engine
        assert isinstance(engine, ElevenLabsConvAI)
        assert (engine.agent_id, engine.voice) == ("agent_7f3k2", "21m00Tcm4TlvDq8ikWAM")
        assert engine.audio_format == audio_format  # the carrier's own: nothing is converted
        assert engine.api_key == "xi-CANARY-live-key"
        assert engine.base_url == "https://api.elevenlabs.io"
        # Built, the engine keeps its key out of every log.
        logging.getLogger("getpatter").warning("key is %s", "xi-CANARY-live-key")
        assert "key is <redacted>" in caplog.text
    finally:
        await service.aclose()


async def test_build_service_sandbox_runs_a_convai_agent_on_the_fake() -> None:
    from getpatter import ElevenLabsConvAI

    config = load_config({"PATTER_ENGINE": "elevenlabs_convai", "PATTER_SYSTEM_PROMPT": "Be nice."})
    service = build_service(config)
    try:
        await service.start()
        engine = service.agent.engine
        assert isinstance(engine, ElevenLabsConvAI)
        assert engine.base_url == service.line.sandbox.convai.base_url
        assert engine.agent_id == "agent_sandbox"  # registered on the fake
        assert service.agent.system_prompt == "Be nice."
    finally:
        await service.aclose()
