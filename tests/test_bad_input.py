"""Bad input to the public API gets a PatterError with the right code and a message naming the fix."""

import pytest

import getpatter
from getpatter import (
    Agent,
    DeepgramSTT,
    ElevenLabsConvAI,
    ElevenLabsTTS,
    ErrorCode,
    Guardrail,
    OpenAIRealtime,
    Patter,
    STTConfig,
    Telnyx,
    Tool,
    Twilio,
)
from getpatter.tunnels import CloudflareTunnel, Ngrok, Static

SID = "AC" + "1" * 32
CONFIG, INPUT = ErrorCode.CONFIG, ErrorCode.INPUT_VALIDATION


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TELNYX_API_KEY",
        "TELNYX_CONNECTION_ID",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def agent(**kwargs):
    return Patter().agent(kwargs.pop("system_prompt", "x"), **kwargs)


def pipeline_agent(**kwargs):
    return agent(
        stt=DeepgramSTT(api_key="dg-CANARY"), tts=ElevenLabsTTS(api_key="el-CANARY"), **kwargs
    )


CASES = [
    # Patter(...)
    ("carrier is a str", lambda: Patter(carrier="twilio"), CONFIG, "carrier must be Twilio"),
    ("phone_number not E.164", lambda: Patter(phone_number="555-0100"), INPUT, "E.164"),
    (
        "phone_number with spaces",
        lambda: Patter(phone_number="+1 555 000 1234"),
        INPUT,
        "no spaces",
    ),
    (
        "phone_number is an int",
        lambda: Patter(phone_number=15550001234),
        CONFIG,
        "phone_number must be a str",
    ),
    (
        "carrier without number",
        lambda: Patter(carrier=Twilio(account_sid=SID, auth_token="t-CANARY")),
        CONFIG,
        "phone_number is required",
    ),
    (
        "webhook_url with scheme",
        lambda: Patter(webhook_url="http://a.example.com"),
        INPUT,
        "without a scheme",
    ),
    ("webhook_url with path", lambda: Patter(webhook_url="a.example.com/hooks"), INPUT, "no path"),
    ("tunnel is a str", lambda: Patter(tunnel="cloudflare"), CONFIG, "tunnel must be"),
    (
        "tunnel and webhook_url",
        lambda: Patter(webhook_url="a.example.com", tunnel=True),
        CONFIG,
        "not both",
    ),
    ("pricing not a dict", lambda: Patter(pricing=["twilio"]), CONFIG, "pricing"),
    (
        "pricing unknown provider",
        lambda: Patter(pricing={"twillio": {"price": 1.0}}),
        CONFIG,
        "twilio",
    ),
    ("pricing negative", lambda: Patter(pricing={"twilio": {"price": -1.0}}), CONFIG, "price"),
    # carriers and engines
    ("Twilio without credentials", lambda: Twilio(), CONFIG, "TWILIO_AUTH_TOKEN"),
    (
        "Twilio SID of an API key",
        lambda: Twilio(account_sid="SK123", auth_token="t-CANARY"),
        INPUT,
        "must start with 'AC'",
    ),
    (
        "Twilio token not a str",
        lambda: Twilio(account_sid=SID, auth_token=123),
        CONFIG,
        "auth_token must be a str",
    ),
    (
        "Telnyx without connection id",
        lambda: Telnyx(api_key="k-CANARY"),
        CONFIG,
        "TELNYX_CONNECTION_ID",
    ),
    ("Realtime empty voice", lambda: OpenAIRealtime(voice=""), CONFIG, "voice must not be empty"),
    ("engine without key", lambda: agent(engine=OpenAIRealtime()), CONFIG, "OPENAI_API_KEY"),
    (
        "ConvAI without agent id",
        lambda: agent(engine=ElevenLabsConvAI(api_key="k-CANARY")),
        CONFIG,
        "ELEVENLABS_AGENT_ID",
    ),
    # agent(...)
    (
        "system_prompt not a str",
        lambda: agent(system_prompt=None),
        CONFIG,
        "system_prompt must be a str",
    ),
    ("engine is a str", lambda: agent(engine="openai"), CONFIG, "engine must be OpenAIRealtime"),
    (
        "engine with stt",
        lambda: agent(engine=OpenAIRealtime(api_key="k-CANARY"), stt=STTConfig(provider="d")),
        CONFIG,
        "cannot be combined",
    ),
    ("stt without tts", lambda: agent(stt=STTConfig(provider="d")), CONFIG, "both stt= and tts="),
    ("stt is a str", lambda: agent(stt="deepgram", tts="elevenlabs"), CONFIG, "provider instance"),
    ("language not BCP-47", lambda: agent(language="english!"), CONFIG, "BCP-47"),
    (
        "barge-in negative",
        lambda: agent(barge_in_threshold_ms=-1),
        CONFIG,
        "barge_in_threshold_ms must be >= 0",
    ),
    ("barge-in is a bool", lambda: agent(barge_in_threshold_ms=True), CONFIG, "must be an int"),
    (
        "aggressive flush not bool",
        lambda: agent(aggressive_first_flush="yes"),
        CONFIG,
        "True or False",
    ),
    (
        "tools not a list",
        lambda: agent(tools=Tool(name="a", handler=print)),
        CONFIG,
        "tools must be a list",
    ),
    ("tool is a plain function", lambda: agent(tools=[print]), CONFIG, "@getpatter.tool"),
    (
        "tool dict unknown key",
        lambda: agent(tools=[{"name": "a", "handler": print, "url": "x"}]),
        CONFIG,
        "unknown keys",
    ),
    (
        "tool name reserved",
        lambda: agent(tools=[Tool(name="end_call", handler=print)]),
        CONFIG,
        "adds to every agent",
    ),
    (
        "tool name duplicated",
        lambda: agent(tools=[Tool(name="a", handler=print)] * 2),
        CONFIG,
        "used twice",
    ),
    ("variables not a dict", lambda: agent(variables=["a"]), CONFIG, "variables must be a dict"),
    ("variable too long", lambda: agent(variables={"a": "x" * 501}), INPUT, "limit is 500"),
    ("variable bad name", lambda: agent(variables={"first name": "Ada"}), CONFIG, "identifier"),
    ("variable value a list", lambda: agent(variables={"a": [1]}), CONFIG, "str or a number"),
    (
        "guardrails wrong type",
        lambda: agent(guardrails=[{"name": "g"}]),
        CONFIG,
        "getpatter.guardrail",
    ),
    (
        "text_transforms not callables",
        lambda: pipeline_agent(text_transforms=["upper"]),
        CONFIG,
        "text_transforms[0]",
    ),
    (
        "Agent provider unknown",
        lambda: Agent(system_prompt="x", provider="openai"),
        CONFIG,
        "provider",
    ),
    # tools, guardrails, tunnels
    ("Tool without handler", lambda: Tool(name="a"), CONFIG, "needs handler"),
    (
        "Guardrail blocked_terms str",
        lambda: Guardrail(name="g", blocked_terms="sue"),
        CONFIG,
        "list of str",
    ),
    (
        "Static hostname with scheme",
        lambda: Static(hostname="https://x.example.com"),
        INPUT,
        "without a scheme",
    ),
    ("Ngrok empty hostname", lambda: Ngrok(hostname=""), CONFIG, "must not be empty"),
    (
        "CloudflareTunnel timeout 0",
        lambda: CloudflareTunnel(start_timeout=0),
        CONFIG,
        "start_timeout",
    ),
]


@pytest.mark.parametrize(
    ("build", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_clearly(build, code, fragment):
    with pytest.raises(getpatter.PatterError) as info:
        build()
    assert isinstance(info.value, ValueError)
    assert info.value.code is code
    assert fragment in str(info.value)


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30
