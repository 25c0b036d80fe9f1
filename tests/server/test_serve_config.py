"""serve() and call() refuse what cannot work, before anything listens or dials."""

import pytest

from getpatter import (
    ConfigError,
    ErrorCode,
    InputValidationError,
    OpenAIRealtime,
    Patter,
    Telnyx,
    Twilio,
)

SID = "AC" + "2" * 32


@pytest.fixture
def phone(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-test")
    return Patter(
        carrier=Twilio(account_sid=SID, auth_token="t-CANARY"),
        phone_number="+15550001234",
        webhook_url="agent.example.com",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "port must be >= 1"),
        ({"port": 70000}, "port must be <= 65535"),
        ({"recording": "yes"}, "recording must be True or False"),
        ({"on_call_end": "print"}, "on_call_end must be a function"),
        ({"on_message": "https://example.com/agent"}, "is for pipeline agents"),
        ({"tunnel": True}, "cannot be combined with webhook_url"),
    ],
)
async def test_bad_serve_arguments(phone, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        await phone.serve(phone.agent("x"), **kwargs)


async def test_serve_needs_a_carrier_a_telnyx_public_key_and_a_public_host(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARY-test")
    with pytest.raises(ConfigError, match="needs a carrier"):
        await Patter().serve(Patter().agent("x"))
    telnyx = Patter(
        carrier=Telnyx(api_key="k-CANARY", connection_id="c"),
        phone_number="+15550001234",
        webhook_url="example.com",
    )
    with pytest.raises(ConfigError, match="TELNYX_PUBLIC_KEY"):
        await telnyx.serve(telnyx.agent("x"))
    hostless = Patter(
        carrier=Twilio(account_sid=SID, auth_token="t-CANARY"), phone_number="+15550001234"
    )
    with pytest.raises(ConfigError, match="public hostname"):
        await hostless.serve(hostless.agent("x"))


async def test_serve_checks_the_engine_key_before_listening(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    phone = Patter(
        carrier=Twilio(account_sid=SID, auth_token="t-CANARY"),
        phone_number="+15550001234",
        webhook_url="agent.example.com",
    )
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await phone.serve(phone.agent("x"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        phone.agent("x", engine=OpenAIRealtime())


async def test_call_checks_its_arguments_and_needs_a_running_server(phone):
    with pytest.raises(InputValidationError) as bad_number:
        await phone.call("555-0100")
    assert bad_number.value.code is ErrorCode.INPUT_VALIDATION
    with pytest.raises(ConfigError, match="needs machine_detection=True"):
        await phone.call("+15550100001", voicemail_message="hi")
    with pytest.raises(ConfigError, match="ring_timeout must be >= 5"):
        await phone.call("+15550100001", ring_timeout=1)
    with pytest.raises(ConfigError, match="no server is running"):
        await phone.call("+15550100001")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dashboard": "yes"}, "dashboard must be True or False"),
        ({"dashboard_token": 123}, "dashboard_token must be a str"),
        ({"dashboard_token": "CANARY-short"}, "at least 16 characters"),
        ({"dashboard_token": "CANARY with spaces inside"}, "no spaces"),
        ({"dashboard": False, "dashboard_token": "CANARY-dashboard-token"}, "remove one of them"),
    ],
)
async def test_dashboard_options_are_checked(phone, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        await phone.serve(phone.agent("x"), **kwargs)


async def test_on_machine_needs_machine_detection(phone):
    with pytest.raises(ConfigError, match="on_machine= needs machine_detection=True"):
        await phone.call("+15550100001", on_machine=print)


async def test_call_says_why_it_cannot_dial_without_a_server_or_carrier(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    telnyx = Patter(
        carrier=Telnyx(api_key="k-CANARY", connection_id="c"), phone_number="+15550001234"
    )
    with pytest.raises(ConfigError, match="no server is running"):
        await telnyx.call("+15550100001")
    with pytest.raises(ConfigError, match=r"call\(\) needs a carrier"):
        await Patter().call("+15550100001")


async def test_on_message_with_an_agent_that_has_tools_is_refused(phone):
    from getpatter import DeepgramSTT, ElevenLabsTTS, Tool

    agent = phone.agent(
        "x",
        stt=DeepgramSTT(api_key="dg-CANARY"),
        tts=ElevenLabsTTS(api_key="el-CANARY"),
        tools=[Tool(name="lookup", handler=print)],
    )
    with pytest.raises(ConfigError, match="tools= would never run"):
        await phone.serve(agent, on_message=lambda message: "hi")
