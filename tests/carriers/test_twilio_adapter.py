"""TwilioAdapter against a loopback stand-in for Twilio's REST API.

The stand-in records each request exactly as Twilio would receive it (method, path, form
fields, Basic auth) and answers with Twilio-shaped JSON, so these tests check both the fields
we send through the official SDK and that ``Carrier.base_url`` really redirects the SDK.
"""

import asyncio
import base64
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

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
from getpatter.carriers.twilio import Carrier
from getpatter.carriers.twilio.adapter import TwilioAdapter

# The SDK's async client still uses aiohttp's BasicAuth, which aiohttp deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

SID = "AC" + "a" * 32
TOKEN = "auth-token-CANARY-that-must-never-leak"
CALL = "CA" + "b" * 32
ACCOUNT_PATH = f"/2010-04-01/Accounts/{SID}"
NOT_FOUND = {"code": 20404, "message": "The requested resource was not found", "status": 404}


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    authorization: str


class FakeTwilioApi:
    """Answers each (method, path) with the scripted reply, 404 (Twilio's 20404) otherwise."""

    def __init__(self):
        self.requests: list[Received] = []
        self.replies: dict[tuple[str, str], tuple[int, dict]] = {}
        self.app = Starlette(
            routes=[Route("/{path:path}", self._answer, methods=["GET", "POST", "DELETE"])]
        )
        self.base_url = ""

    def reply(self, method, path, status, body):
        self.replies[(method, path)] = (status, body)

    async def _answer(self, request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        self.requests.append(
            Received(
                method=request.method,
                path=request.url.path,
                query=list(request.query_params.multi_items()),
                form=parse_qsl(body, keep_blank_values=True),
                authorization=request.headers.get("authorization", ""),
            )
        )
        status, payload = self.replies.get((request.method, request.url.path), (404, NOT_FOUND))
        return JSONResponse(payload, status_code=status)


@pytest.fixture
async def api():
    fake = FakeTwilioApi()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections made before uvicorn is up wait in the backlog
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(fake.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield fake
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()


@pytest.fixture
async def twilio(api, monkeypatch):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    adapter = TwilioAdapter(Carrier(account_sid=SID, auth_token=TOKEN, base_url=api.base_url))
    yield adapter
    async with asyncio.timeout(10):
        await adapter.aclose()


def call_created(sid=CALL):
    return {"sid": sid, "account_sid": SID, "status": "queued", "direction": "outbound-api"}


async def test_create_call_sends_every_field_twilio_expects(api, twilio):
    api.reply("POST", f"{ACCOUNT_PATH}/Calls.json", 201, call_created())
    async with asyncio.timeout(10):
        sid = await twilio.create_call(
            to="+15550002222",
            from_="+15550001111",
            url="https://agent.example.com/webhooks/twilio/voice",
            status_callback="https://agent.example.com/webhooks/twilio/status",
            timeout=25,
            machine_detection="DetectMessageEnd",
            amd_callback="https://agent.example.com/webhooks/twilio/amd",
            record=True,
            recording_callback="https://agent.example.com/webhooks/twilio/recording",
        )
    assert sid == CALL
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", f"{ACCOUNT_PATH}/Calls.json")
    assert sorted(request.form) == sorted(
        [
            ("To", "+15550002222"),
            ("From", "+15550001111"),
            ("Url", "https://agent.example.com/webhooks/twilio/voice"),
            ("StatusCallback", "https://agent.example.com/webhooks/twilio/status"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
            ("Timeout", "25"),
            ("MachineDetection", "DetectMessageEnd"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", "https://agent.example.com/webhooks/twilio/amd"),
            ("Record", "true"),
            ("RecordingStatusCallback", "https://agent.example.com/webhooks/twilio/recording"),
        ]
    )
    expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.authorization == f"Basic {expected_auth}"


async def test_a_plain_call_sends_no_amd_recording_or_timeout_fields(api, twilio):
    api.reply("POST", f"{ACCOUNT_PATH}/Calls.json", 201, call_created())
    async with asyncio.timeout(10):
        await twilio.create_call(
            to="+15550002222",
            from_="+15550001111",
            url="https://a.example/voice",
            status_callback="https://a.example/status",
            status_events=["completed"],
        )
    assert sorted(name for name, _ in api.requests[0].form) == [
        "From",
        "StatusCallback",
        "StatusCallbackEvent",
        "To",
        "Url",
    ]
    assert ("StatusCallbackEvent", "completed") in api.requests[0].form


async def test_edge_and_region_in_the_environment_do_not_move_the_base_url(
    api, twilio, monkeypatch
):
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    adapter = TwilioAdapter(Carrier(account_sid=SID, auth_token=TOKEN, base_url=api.base_url))
    api.reply("POST", f"{ACCOUNT_PATH}/Calls/{CALL}.json", 200, call_created())
    async with asyncio.timeout(10):
        await adapter.hangup(CALL)
        await adapter.aclose()
    assert len(api.requests) == 1


async def test_hangup_completes_the_call(api, twilio):
    api.reply("POST", f"{ACCOUNT_PATH}/Calls/{CALL}.json", 200, call_created())
    async with asyncio.timeout(10):
        await twilio.hangup(CALL)
    assert [(r.path, r.form) for r in api.requests] == [
        (f"{ACCOUNT_PATH}/Calls/{CALL}.json", [("Status", "completed")])
    ]


async def test_hanging_up_a_call_twilio_no_longer_knows_is_quiet(api, twilio):
    async with asyncio.timeout(10):
        await twilio.hangup(CALL)
    assert len(api.requests) == 1


async def test_hangup_still_reports_other_errors(api, twilio):
    api.reply("POST", f"{ACCOUNT_PATH}/Calls/{CALL}.json", 401, {"code": 20003, "message": "x"})
    with pytest.raises(AuthenticationError):
        async with asyncio.timeout(10):
            await twilio.hangup(CALL)


async def test_redirect_sends_the_twiml(api, twilio):
    twiml = "<Response><Dial>+15552223333</Dial></Response>"
    api.reply("POST", f"{ACCOUNT_PATH}/Calls/{CALL}.json", 200, call_created())
    async with asyncio.timeout(10):
        await twilio.redirect(CALL, twiml)
    assert api.requests[0].form == [("Twiml", twiml)]


async def test_start_recording_returns_the_recording_sid(api, twilio):
    recording = "RE" + "c" * 32
    path = f"{ACCOUNT_PATH}/Calls/{CALL}/Recordings.json"
    api.reply("POST", path, 201, {"sid": recording, "call_sid": CALL, "status": "in-progress"})
    async with asyncio.timeout(10):
        sid = await twilio.start_recording(CALL, "https://a.example/recording")
    assert sid == recording
    assert [(r.path, r.form) for r in api.requests] == [
        (path, [("RecordingStatusCallback", "https://a.example/recording")])
    ]


def numbers_page(*numbers):
    return {
        "incoming_phone_numbers": [
            {"sid": sid, "phone_number": number, "account_sid": SID} for sid, number in numbers
        ],
        "first_page_uri": "/first",
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": 20,
        "start": 0,
        "end": 1,
        "uri": "/this",
    }


async def test_configure_number_points_the_exact_number_at_the_voice_url(api, twilio):
    exact = "PN" + "1" * 32
    api.reply(
        "GET",
        f"{ACCOUNT_PATH}/IncomingPhoneNumbers.json",
        200,
        numbers_page(("PN" + "9" * 32, "+155500012345"), (exact, "+15550001234")),
    )
    api.reply("POST", f"{ACCOUNT_PATH}/IncomingPhoneNumbers/{exact}.json", 200, {"sid": exact})
    async with asyncio.timeout(10):
        await twilio.configure_number("+15550001234", "https://a.example/webhooks/twilio/voice")
    find, update = api.requests
    assert (find.method, ("PhoneNumber", "+15550001234") in find.query) == ("GET", True)
    assert update.path == f"{ACCOUNT_PATH}/IncomingPhoneNumbers/{exact}.json"
    assert sorted(update.form) == [
        ("VoiceMethod", "POST"),
        ("VoiceUrl", "https://a.example/webhooks/twilio/voice"),
    ]


async def test_configure_number_names_a_number_the_account_lacks(api, twilio):
    api.reply("GET", f"{ACCOUNT_PATH}/IncomingPhoneNumbers.json", 200, numbers_page())
    with pytest.raises(ProvisionError, match=r"\+15550001234"):
        async with asyncio.timeout(10):
            await twilio.configure_number("+15550001234", "https://a.example/voice")
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            401,
            {"code": 20003, "message": "Authenticate", "status": 401},
            AuthenticationError,
            "AUTH",
        ),
        (403, {"code": 20003, "message": "Forbidden", "status": 403}, AuthenticationError, "AUTH"),
        (429, {"code": 20429, "message": "Too Many Requests"}, RateLimitError, "RATE_LIMIT"),
        (
            500,
            {"code": 20500, "message": "Internal Server Error"},
            PatterConnectionError,
            "CONNECTION",
        ),
        (503, {"message": "Service Unavailable"}, PatterConnectionError, "CONNECTION"),
        (
            400,
            {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number."},
            PatterError,
            "PROVIDER_ERROR",
        ),
    ],
)
async def test_twilio_errors_map_to_patter_errors(api, twilio, status, body, error, code):
    api.reply("POST", f"{ACCOUNT_PATH}/Calls.json", status, body)
    with pytest.raises(error) as info:
        async with asyncio.timeout(10):
            await twilio.create_call(
                to="+1555", from_="+15550001111", url="https://a/v", status_callback="https://a/s"
            )
    assert info.value.code == ErrorCode(code)
    assert f"HTTP {status}" in info.value.message
    assert body["message"] in info.value.message
    if "code" in body:
        assert str(body["code"]) in info.value.message
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


@pytest.fixture
async def offline():
    """An adapter whose base URL is a closed local port: any request is a connection error."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    adapter = TwilioAdapter(
        Carrier(account_sid=SID, auth_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    )
    yield adapter
    async with asyncio.timeout(10):
        await adapter.aclose()


async def test_an_unreachable_api_is_a_connection_error(offline):
    with pytest.raises(PatterConnectionError, match="cannot reach") as info:
        async with asyncio.timeout(10):
            await offline.hangup(CALL)
    assert info.value.code is ErrorCode.CONNECTION


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"machine_detection": "Enable"}, ConfigError, "amd_callback"),
        ({"amd_callback": "https://a/amd"}, ConfigError, "machine_detection"),
        ({"machine_detection": "Yes", "amd_callback": "https://a/amd"}, ConfigError, "Enable"),
        ({"recording_callback": "https://a/rec"}, ConfigError, "record=True"),
        ({"status_events": ["answered", "hungup"]}, ConfigError, "hungup"),
        ({"status_events": "answered"}, ConfigError, "status_events"),
        ({"timeout": 0}, ConfigError, "timeout"),
        ({"to": ""}, ConfigError, "to must not be empty"),
    ],
)
async def test_bad_arguments_fail_before_any_request(offline, kwargs, error, match):
    call = {"to": "+15550002222", "from_": "+1555000111", "url": "https://a/v"}
    with pytest.raises(error, match=match):
        async with asyncio.timeout(10):
            await offline.create_call(**{**call, "status_callback": "https://a/s", **kwargs})


async def test_a_call_sid_cannot_reach_other_endpoints(offline):
    with pytest.raises(InputValidationError, match="call_sid"):
        async with asyncio.timeout(10):
            await offline.hangup("../../IncomingPhoneNumbers/PN1")
    with pytest.raises(InputValidationError, match="4000"):
        async with asyncio.timeout(10):
            await offline.redirect(CALL, "<Response>" + " " * 4000 + "</Response>")


def test_the_adapter_needs_a_twilio_carrier():
    with pytest.raises(ConfigError, match="Twilio"):
        TwilioAdapter("AC123")
