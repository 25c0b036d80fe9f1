"""The Twilio simulator, driven by a small stand-in for Patter's server (starlette on 127.0.0.1).

The stand-in validates every webhook with the official ``twilio`` SDK's ``RequestValidator``
over the public ``https://`` URL, so the simulator's signatures are cross-checked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing.scenario import Callee, HangUp, Press, Say
from getpatter.testing.twilio_simulator import (
    VOICEMAIL_GREETING,
    SimulatedCall,
    TwilioSimulator,
    loopback_url,
    twilio_signature,
)

AGENT = "+15550009999"
PERSON = "+15550001234"
SILENT_FRAME = b"\xff" * 160


# --- the stand-in app ---------------------------------------------------------------------


@dataclass
class Hit:
    """A webhook the app received."""

    path: str
    params: dict[str, str]
    signature_ok: bool


@dataclass
class MediaSession:
    """The app's end of one media WebSocket."""

    ws: WebSocket
    connected: dict[str, Any]
    start: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def stream_sid(self) -> str:
        return self.start["streamSid"]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == kind]

    def loud_frames(self) -> list[dict[str, Any]]:
        """The callee media frames that carried sound."""
        return [
            m
            for m in self.events("media")
            if base64.b64decode(m["media"]["payload"]) != SILENT_FRAME
        ]

    def heard_speech(self) -> bool:
        return bool(self.loud_frames())

    async def wait_for(self, predicate: Callable[[MediaSession], bool]) -> None:
        while not predicate(self):
            self.changed.clear()
            await self.changed.wait()

    async def send(self, event: str, **body: Any) -> None:
        await self.ws.send_text(json.dumps({"event": event, "streamSid": self.stream_sid, **body}))

    async def send_audio(self, ms: int, byte: int = 0x10) -> None:
        payload = base64.b64encode(bytes([byte]) * (8 * ms)).decode()
        await self.send("media", media={"payload": payload})

    async def send_mark(self, name: str) -> None:
        await self.send("mark", mark={"name": name})


Behaviour = Callable[[MediaSession], Awaitable[None]]


async def _no_behaviour(session: MediaSession) -> None:
    return None


class FakeApp:
    """A minimal voice app: answers with <Connect><Stream>, records what Twilio sends."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.hits: list[Hit] = []
        self.sessions: list[MediaSession] = []
        self.behaviour: Behaviour = _no_behaviour
        self.voice_response: Callable[[], Response] = self._connect_stream
        self.host = ""
        self._new_session = asyncio.Event()
        app = Starlette(
            routes=[
                Route("/webhooks/twilio/{kind}", self._webhook, methods=["GET", "POST"]),
                WebSocketRoute("/ws/twilio/media/{token}", self._media),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=0,
                lifespan="off",
                log_level="warning",
                ws="websockets-sansio",
            )
        )
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]

    async def __aenter__(self) -> FakeApp:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            assert not self._task.done(), "the stand-in app failed to start"
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.host = f"127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task

    def url(self, kind: str) -> str:
        return f"https://{self.host}/webhooks/twilio/{kind}"

    def hits_for(self, kind: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path.endswith("/" + kind)]

    async def session(self, index: int = 0) -> MediaSession:
        while len(self.sessions) <= index:
            self._new_session.clear()
            await self._new_session.wait()
        return self.sessions[index]

    def _connect_stream(self) -> Response:
        twiml = (
            "<Response><Connect>"
            f'<Stream url="wss://{self.host}/ws/twilio/media/tok123">'
            '<Parameter name="call_token" value="tok123"/>'
            "</Stream></Connect></Response>"
        )
        return Response(twiml, media_type="text/xml")

    async def _webhook(self, request: Request) -> Response:
        signature = request.headers.get("x-twilio-signature", "")
        public_url = f"https://{self.host}{request.url.path}"
        if request.method == "GET":
            params = dict(request.query_params)
            ok = self.validator.validate(f"{public_url}?{request.url.query}", {}, signature)
        else:
            params = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            ok = self.validator.validate(public_url, params, signature)
        self.hits.append(Hit(request.url.path, params, ok))
        if request.path_params["kind"] == "voice":
            return self.voice_response()
        return Response(status_code=204)

    async def _media(self, ws: WebSocket) -> None:
        await ws.accept()
        connected = json.loads(await ws.receive_text())
        start = json.loads(await ws.receive_text())
        session = MediaSession(ws, connected, start)
        self.sessions.append(session)
        self._new_session.set()
        reader = asyncio.create_task(self._read(session))
        try:
            await self.behaviour(session)
            await reader
        finally:
            reader.cancel()

    async def _read(self, session: MediaSession) -> None:
        try:
            while True:
                text = await session.ws.receive_text()
                session.raw.append(text)
                with contextlib.suppress(ValueError):
                    session.messages.append(json.loads(text))
                session.changed.set()
        except (WebSocketDisconnect, RuntimeError):
            session.closed.set()
            session.changed.set()


@pytest.fixture
async def sim() -> AsyncIterator[TwilioSimulator]:
    async with TwilioSimulator() as simulator:
        yield simulator


@pytest.fixture
async def app(sim: TwilioSimulator) -> AsyncIterator[FakeApp]:
    async with FakeApp(sim.auth_token) as fake:
        yield fake


def rest(sim: TwilioSimulator, *, password: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{sim.base_url}/2010-04-01/Accounts/{sim.account_sid}",
        auth=(sim.account_sid, password or sim.auth_token),
        trust_env=False,
    )


async def dial(sim: TwilioSimulator, app: FakeApp, to: str = PERSON, **form: Any) -> SimulatedCall:
    """Create an outbound call to ``to`` the way the app would, and return its record."""
    data = {"To": to, "From": AGENT, "Url": app.url("voice")} | form
    async with rest(sim) as client:
        response = await client.post("/Calls.json", data=data)
    assert response.status_code == 201, response.text
    return sim.get_call(response.json()["sid"])


async def hang_up(sim: TwilioSimulator, call: SimulatedCall) -> None:
    async with rest(sim) as client:
        response = await client.post(f"/Calls/{call.sid}.json", data={"Status": "completed"})
    assert response.status_code == 200, response.text


# --- signatures and URLs ------------------------------------------------------------------


def test_signature_matches_twilio_published_test_vector():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature("12346", url, params) != "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


class MultiDict(dict[str, list[str]]):
    """Form data with repeated keys, the way web frameworks hand it to the SDK's validator."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def test_signature_agrees_with_the_sdk_on_repeated_and_unicode_params():
    params = {"Body": ["héllo wörld"], "Event": ["ringing", "initiated"], "A": [""]}
    url = "https://example.com/hook?x=1"
    expected = RequestValidator("tok").compute_signature(url, MultiDict(params))
    assert twilio_signature("tok", url, params) == expected


@pytest.mark.parametrize(
    ("url", "connected"),
    [
        ("https://127.0.0.1:8443/webhooks/x?a=1", "http://127.0.0.1:8443/webhooks/x?a=1"),
        ("wss://localhost:9000/ws/media/t", "ws://localhost:9000/ws/media/t"),
        ("https://[::1]:7000/v", "http://[::1]:7000/v"),
        ("https://example.com/v", "https://example.com/v"),
    ],
)
def test_loopback_hosts_are_reached_without_tls(url, connected):
    assert loopback_url(url) == connected


# --- construction -------------------------------------------------------------------------


def test_constructor_and_scripts_refuse_bad_values():
    with pytest.raises(InputValidationError, match="account_sid"):
        TwilioSimulator(account_sid="AC123")
    sim = TwilioSimulator()
    assert sim.account_sid.startswith("AC") and len(sim.account_sid) == 34
    with pytest.raises(InputValidationError, match="number"):
        sim.callee_for("5550001234", Callee())
    with pytest.raises(InputValidationError, match="DTMF"):
        sim.callee_for(PERSON, Callee(steps=(Press("12x"),)))
    with pytest.raises(ConfigError, match="not running"):
        _ = sim.base_url


async def test_a_simulator_runs_once():
    sim = TwilioSimulator()
    async with sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
    with pytest.raises(ConfigError, match="once"):
        await sim.start()


async def test_inbound_call_needs_a_voice_url(sim):
    with pytest.raises(ConfigError, match="voice_url"):
        await sim.place_inbound_call(to=AGENT)


# --- REST ---------------------------------------------------------------------------------


async def test_wrong_credentials_get_twilio_error_20003(sim):
    async with rest(sim, password="wrong") as client:
        response = await client.post("/Calls.json", data={"To": PERSON, "From": AGENT})
    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["message"], body["status"]) == (20003, "Authenticate", 401)


async def test_unknown_call_is_404_with_code_20404(sim):
    async with rest(sim) as client:
        response = await client.post("/Calls/CA" + "0" * 32 + ".json", data={"Status": "completed"})
    assert response.status_code == 404
    assert response.json()["code"] == 20404


async def test_create_call_validates_like_twilio(sim):
    sim.add_number(AGENT)
    async with rest(sim) as client:
        no_to = await client.post("/Calls.json", data={"From": AGENT, "Url": "https://x/v"})
        not_owned = await client.post(
            "/Calls.json", data={"To": PERSON, "From": "+15550000000", "Url": "https://x/v"}
        )
        no_url = await client.post("/Calls.json", data={"To": PERSON, "From": AGENT})
        ok = {"To": PERSON, "From": AGENT, "Url": "https://x/v"}
        bad_amd = await client.post("/Calls.json", data=ok | {"MachineDetection": "true"})
        bad_event = await client.post("/Calls.json", data=ok | {"StatusCallbackEvent": "done"})
    responses = (no_to, not_owned, no_url, bad_amd, bad_event)
    assert [r.status_code for r in responses] == [400] * 5
    assert [r.json()["code"] for r in responses] == [21201, 21210, 21205, 21234, 21626]
    assert sim.calls == []


async def test_official_sdk_places_a_call_that_reaches_the_app(sim, app):
    client = Client(sim.account_sid, sim.auth_token)
    client.api.base_url = sim.base_url
    created = await asyncio.to_thread(
        client.calls.create,
        to=PERSON,
        from_=AGENT,
        url=app.url("voice"),
        status_callback=app.url("status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert created.sid.startswith("CA") and len(created.sid) == 34
    assert (created.status, created.direction, created.to) == ("queued", "outbound-api", PERSON)
    call = sim.get_call(created.sid)
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: bool(c.streams))
        updated = await asyncio.to_thread(client.calls(created.sid).update, status="completed")
        await call.finished()
    assert updated.status == "completed"
    assert call.statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert [hit.params["CallStatus"] for hit in app.hits_for("status")] == call.statuses
    assert all(hit.signature_ok for hit in app.hits)
    voice = app.hits_for("voice")[0].params
    assert voice["Direction"] == "outbound-api"
    assert (voice["CallSid"], voice["CallStatus"]) == (created.sid, "in-progress")
    assert (voice["AccountSid"], voice["From"], voice["To"]) == (sim.account_sid, AGENT, PERSON)
    assert app.hits_for("status")[-1].params["CallDuration"].isdigit()
    assert call.hangup_by == "app" and call.outcome == "completed"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # aiohttp BasicAuth, in the SDK
async def test_official_sdk_in_async_mode_records_redirects_and_configures(sim, app):
    http = AsyncTwilioHttpClient()
    client = Client(sim.account_sid, sim.auth_token, http_client=http)
    client.api.base_url = sim.base_url
    account = client.api.v2010.accounts(sim.account_sid)
    number = sim.add_number(AGENT)
    try:
        found = await account.incoming_phone_numbers.list_async(phone_number=AGENT)
        await account.incoming_phone_numbers(found[0].sid).update_async(
            voice_url=app.url("voice"), voice_method="POST"
        )
        created = await account.calls.create_async(to=PERSON, from_=AGENT, url=app.url("voice"))
        call = sim.get_call(created.sid)
        async with asyncio.timeout(10):
            await call.wait_until(lambda c: bool(c.streams))
            recording = await account.calls(created.sid).recordings.create_async(
                recording_status_callback=app.url("recording")
            )
            await account.calls(created.sid).update_async(
                twiml="<Response><Dial>+15552223333</Dial></Response>"
            )
            await call.finished()
    finally:
        await http.close()
    assert sim.numbers[AGENT].voice_url == app.url("voice") and found[0].sid == number.sid
    assert recording.sid == call.recording_sid
    assert call.transferred_to == "+15552223333"
    assert app.hits_for("recording")[0].params["RecordingSid"] == recording.sid


async def test_sdk_sees_twilio_errors(sim):
    client = Client(sim.account_sid, "not-the-token-CANARY")
    client.api.base_url = sim.base_url
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(client.calls.create, to=PERSON, from_=AGENT, url="https://x/v")
    assert (caught.value.status, caught.value.code) == (401, 20003)


async def test_numbers_are_listed_and_their_voice_url_configured_over_rest(sim, app):
    number = sim.add_number(AGENT)
    client = Client(sim.account_sid, sim.auth_token)
    client.api.base_url = sim.base_url
    found = await asyncio.to_thread(client.incoming_phone_numbers.list, phone_number=AGENT)
    assert [n.sid for n in found] == [number.sid]
    await asyncio.to_thread(
        client.incoming_phone_numbers(number.sid).update,
        voice_url=app.url("voice"),
        voice_method="POST",
    )
    assert sim.numbers[AGENT].voice_url == app.url("voice")
    missing = await asyncio.to_thread(client.incoming_phone_numbers.list, phone_number=PERSON)
    assert missing == []


# --- outcomes and status callbacks --------------------------------------------------------

ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


@pytest.mark.parametrize(
    ("answer", "statuses"),
    [
        ("busy", ["initiated", "busy"]),
        ("no-answer", ["initiated", "ringing", "no-answer"]),
        ("fail", ["initiated", "failed"]),
    ],
)
async def test_unanswered_calls_report_their_outcome_and_never_fetch_twiml(
    sim, app, answer, statuses
):
    sim.callee_for(PERSON, Callee(answer=answer, ring_ms=50))
    call = await dial(sim, app, StatusCallback=app.url("status"), StatusCallbackEvent=ALL_EVENTS)
    async with asyncio.timeout(10):
        await call.finished()
    assert call.statuses == statuses
    assert call.outcome == statuses[-1]
    assert app.hits_for("voice") == [] and call.streams == []
    assert app.hits_for("status")[-1].params["CallDuration"] == "0"


async def test_without_status_events_only_the_final_status_is_sent(sim, app):
    sim.callee_for(PERSON, Callee(steps=(HangUp(pause_ms=0),)))
    call = await dial(sim, app, StatusCallback=app.url("status"))
    async with asyncio.timeout(10):
        await call.finished()
    assert call.statuses == ["completed"]
    assert call.hangup_by == "callee"


async def test_ringing_past_the_timeout_is_no_answer(sim, app):
    sim.callee_for(PERSON, Callee(ring_ms=5000))
    call = await dial(sim, app, Timeout="1")
    async with asyncio.timeout(10):
        await call.finished()
    assert call.outcome == "no-answer"


async def test_canceling_a_ringing_call(sim, app):
    sim.callee_for(PERSON, Callee(ring_ms=5000))
    call = await dial(sim, app, StatusCallback=app.url("status"))
    async with rest(sim) as client:
        response = await client.post(f"/Calls/{call.sid}.json", data={"Status": "canceled"})
    assert response.json()["status"] == "canceled"
    async with asyncio.timeout(10):
        await call.finished()
    assert call.statuses == ["canceled"] and call.hangup_by == "app"


# --- the media stream ---------------------------------------------------------------------


async def test_stream_messages_have_twilio_shape(sim, app):
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: len(s.events("media")) >= 5)
        await hang_up(sim, call)
        await session.closed.wait()
        await call.finished()
    assert session.connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = session.start
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["streamSid"].startswith("MZ") and len(start["streamSid"]) == 34
    assert start["start"] == {
        "accountSid": sim.account_sid,
        "streamSid": start["streamSid"],
        "callSid": call.sid,
        "tracks": ["inbound"],
        "customParameters": {"call_token": "tok123"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    media = session.events("media")
    assert [m["media"]["chunk"] for m in media[:3]] == ["1", "2", "3"]
    assert [m["media"]["timestamp"] for m in media[:3]] == ["0", "20", "40"]
    assert {m["media"]["track"] for m in media} == {"inbound"}
    assert all(base64.b64decode(m["media"]["payload"]) == SILENT_FRAME for m in media)
    numbers = [int(m["sequenceNumber"]) for m in session.messages]
    assert numbers == list(range(2, 2 + len(numbers)))
    stop = session.messages[-1]
    assert stop["event"] == "stop"
    assert stop["stop"] == {"accountSid": sim.account_sid, "callSid": call.sid}
    assert call.stop_sent and call.streams[0].closed_by == "twilio"
    assert call.streams[0].custom_parameters == {"call_token": "tok123"}


async def test_agent_audio_plays_out_in_real_time_and_marks_follow_it(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send_audio(400)
        await session.send_mark("greeting")

    app.behaviour = agent
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: bool(s.events("mark")))
        await hang_up(sim, call)
        await call.finished()
    assert call.heard_ms == 400
    assert call.heard_ulaw == b"\x10" * 3200
    assert [m.name for m in call.marks_received] == ["greeting"]
    assert [m.name for m in call.marks_echoed] == ["greeting"]
    assert session.events("mark")[0]["mark"] == {"name": "greeting"}
    # Played in real time: 20 frames, spread over time, and the mark only after the last one.
    assert len(call.heard) == 20
    assert call.heard[-1].at_ms - call.heard[0].at_ms >= 300
    assert call.marks_echoed[0].at_ms > call.heard[-1].at_ms


async def test_clear_drops_buffered_audio_and_returns_pending_marks(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send_audio(5000)
        await session.send_mark("long")
        await session.wait_for(lambda s: len(s.events("media")) >= 10)
        await session.send("clear")

    app.behaviour = agent
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: bool(s.events("mark")))
        await hang_up(sim, call)
        await call.finished()
    assert len(call.clears) == 1
    assert [m.name for m in call.marks_echoed] == ["long"]
    assert call.heard_ms < 2500
    assert call.marks_echoed[0].at_ms >= call.clears[0]


async def test_callee_speaks_after_the_agent_stops_and_the_app_hears_it(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send_audio(300)

    app.behaviour = agent
    sim.callee_for(PERSON, Callee(steps=(Say("hello", pause_ms=300, duration_ms=400),)))
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: len(s.loud_frames()) >= 20)
        await session.wait_for(lambda s: s.events("media")[-1] not in s.loud_frames())
        await hang_up(sim, call)
        await call.finished()
    assert [u.text for u in call.said] == ["hello"]
    assert call.said[0].start_ms > call.heard[-1].at_ms + 200
    assert call.said[0].end_ms - call.said[0].start_ms == pytest.approx(400, abs=1)
    assert 20 <= len(session.loud_frames()) <= 21


async def test_barge_in_starts_while_the_agent_talks(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send_audio(3000)
        await session.wait_for(MediaSession.heard_speech)
        await session.send("clear")

    app.behaviour = agent
    sim.callee_for(PERSON, Callee(steps=(Say("wait", interrupt_after_ms=300),)))
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: bool(c.clears))
        await hang_up(sim, call)
        await call.finished()
    first_heard = call.heard[0].at_ms
    assert first_heard < call.said[0].start_ms < call.heard[-1].at_ms + 20
    assert call.clears[0] > call.said[0].start_ms
    assert call.heard_ms < 3000


async def test_key_presses_become_dtmf_events(sim, app):
    sim.callee_for(PERSON, Callee(steps=(Press("12#", pause_ms=0),)))
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: len(s.events("dtmf")) == 3)
        await hang_up(sim, call)
        await call.finished()
    assert [m["dtmf"] for m in session.events("dtmf")] == [
        {"track": "inbound_track", "digit": d} for d in "12#"
    ]
    assert [event.digit for event in call.dtmf_sent] == ["1", "2", "#"]


async def test_callee_hang_up_stops_the_stream(sim, app):
    sim.callee_for(PERSON, Callee(steps=(Say("bye", pause_ms=0, duration_ms=200), HangUp(0))))
    call = await dial(sim, app, StatusCallback=app.url("status"))
    async with asyncio.timeout(10):
        session = await app.session()
        await session.closed.wait()
        await call.finished()
    assert session.messages[-1]["event"] == "stop"
    assert (call.hangup_by, call.outcome, call.statuses) == ("callee", "completed", ["completed"])


async def test_app_closing_the_socket_ends_the_twiml_and_the_call(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.ws.close()

    app.behaviour = agent
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.finished()
    assert call.streams[0].closed_by == "app" and not call.stop_sent
    assert call.hangup_by == "app"


async def test_redirect_to_dial_is_a_transfer(sim, app):
    call = await dial(sim, app, StatusCallback=app.url("status"))
    async with asyncio.timeout(10):
        session = await app.session()
        async with rest(sim) as client:
            response = await client.post(
                f"/Calls/{call.sid}.json",
                data={"Twiml": "<Response><Dial>+15552223333</Dial></Response>"},
            )
        assert response.status_code == 200
        await session.closed.wait()
        await call.finished()
    assert session.messages[-1]["event"] == "stop"
    assert call.transferred_to == "+15552223333" and call.outcome == "transferred"
    assert call.verbs[-1] == ("Dial", "+15552223333")
    assert call.statuses == ["completed"]


async def test_recording_status_callback_arrives_signed_at_the_end(sim, app):
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: bool(c.streams))
        async with rest(sim) as client:
            response = await client.post(
                f"/Calls/{call.sid}/Recordings.json",
                data={"RecordingStatusCallback": app.url("recording")},
            )
        assert response.status_code == 201
        await hang_up(sim, call)
        await call.finished()
    sid = response.json()["sid"]
    assert sid.startswith("RE") and call.recording_sid == sid
    [hit] = app.hits_for("recording")
    assert hit.signature_ok
    assert (hit.params["RecordingSid"], hit.params["RecordingStatus"]) == (sid, "completed")
    assert hit.params["CallSid"] == call.sid


# --- answering machines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "mode", "answered_by"),
    [
        ("answer", "Enable", "human"),
        ("voicemail", "Enable", "machine_start"),
        ("voicemail", "DetectMessageEnd", "machine_end_beep"),
    ],
)
async def test_async_amd_reports_who_answered(sim, app, answer, mode, answered_by):
    sim.callee_for(PERSON, Callee(answer=answer, machine_greeting_ms=600))
    call = await dial(
        sim,
        app,
        MachineDetection=mode,
        AsyncAmd="true",
        AsyncAmdStatusCallback=app.url("amd"),
    )
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: bool(app.hits_for("amd")))
        session = await app.session()
        await hang_up(sim, call)
        await call.finished()
    [hit] = app.hits_for("amd")
    assert hit.signature_ok and hit.params["AnsweredBy"] == answered_by
    assert int(hit.params["MachineDetectionDuration"]) > 0
    assert call.answered_by == answered_by
    assert session.heard_speech() == (answer == "voicemail")
    if answer == "voicemail":
        assert call.said[0].text == VOICEMAIL_GREETING


# --- inbound calls ------------------------------------------------------------------------


async def test_inbound_call_uses_the_numbers_voice_url(sim, app):
    sim.add_number(AGENT, voice_url=app.url("voice"))
    sim.numbers[AGENT].status_callback = app.url("status")
    callee = Callee(steps=(Say("hi", pause_ms=100, duration_ms=200), HangUp(100)))
    call = await sim.place_inbound_call(to=AGENT, callee=callee)
    async with asyncio.timeout(10):
        session = await app.session()
        await call.finished()
    voice = app.hits_for("voice")[0]
    assert voice.signature_ok
    assert (voice.params["Direction"], voice.params["CallStatus"]) == ("inbound", "ringing")
    assert (voice.params["From"], voice.params["To"]) == (callee.number, AGENT)
    assert session.heard_speech()
    assert call.direction == "inbound" and call.hangup_by == "callee"
    assert call.statuses == ["completed"]
    assert await sim.wait_for_call(direction="inbound") is call


# --- failures and fault injection ---------------------------------------------------------


async def test_voice_webhook_failure_ends_the_call_like_twilio(sim, app):
    app.voice_response = lambda: Response("boom", status_code=500)
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.finished()
    assert [e.code for e in call.errors] == [11200]
    assert call.hangup_by == "twilio" and call.streams == []


async def test_bad_twiml_is_a_parse_failure(sim, app):
    app.voice_response = lambda: Response("<Response><Say>", media_type="text/xml")
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.finished()
    assert [e.code for e in call.errors] == [12100]


async def test_inline_twiml_runs_without_a_webhook(sim, app):
    twiml = "<Response><Say>Hello</Say><Gather/><Hangup/></Response>"
    call = await dial(sim, app, Url="", Twiml=twiml)
    async with asyncio.timeout(10):
        await call.finished()
    assert call.verbs == [("Say", "Hello"), ("Gather", ""), ("Hangup", "")]
    assert [e.code for e in call.errors] == [12200]
    assert call.twiml == [twiml] and app.hits_for("voice") == []


async def test_malformed_app_messages_are_recorded_not_fatal(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.ws.send_bytes(b"\x00\x01")
        await session.ws.send_text("{not json")
        await session.ws.send_text(json.dumps({"event": "media", "streamSid": "MZwrong"}))
        await session.send("dance")
        await session.send_audio(100)

    app.behaviour = agent
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: c.heard_ms >= 100)
        await hang_up(sim, call)
        await call.finished()
    assert [e.code for e in call.errors] == [31950, 31951, 31951, 31951]


async def test_send_raw_reaches_the_app_verbatim(sim, app):
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await call.send_raw("{not json")
        await session.wait_for(lambda s: "{not json" in s.raw)
        await hang_up(sim, call)
        await call.finished()
    with pytest.raises(RuntimeError, match="no open media stream"):
        await call.send_raw("late")
    assert session.messages[-1]["event"] == "stop"


async def test_closing_the_simulator_ends_live_calls(app):
    async with TwilioSimulator() as simulator:
        app.validator = RequestValidator(simulator.auth_token)
        call = await dial(simulator, app, StatusCallback=app.url("status"))
        async with asyncio.timeout(10):
            session = await app.session()
    assert call.is_finished and call.hangup_by == "twilio"
    assert session.messages[-1]["event"] == "stop"
    assert call.statuses == ["completed"]
    assert all(hit.signature_ok for hit in app.hits)


async def test_stream_url_must_be_wss(sim, app):
    twiml = (
        f'<Response><Connect><Stream url="ws://{app.host}/ws/twilio/media/t"/></Connect></Response>'
    )
    call = await dial(sim, app, Url="", Twiml=twiml)
    async with asyncio.timeout(10):
        await call.finished()
    assert [e.code for e in call.errors] == [31922]
    assert call.streams == [] and app.sessions == []


async def test_get_webhooks_are_signed_over_the_query_string(sim, app):
    sim.add_number(AGENT)
    call = await sim.place_inbound_call(
        to=AGENT, voice_url=app.url("voice") + "?tenant=a", voice_method="GET"
    )
    async with asyncio.timeout(10):
        await app.session()
        await hang_up(sim, call)
        await call.finished()
    [voice] = app.hits_for("voice")
    assert voice.signature_ok and voice.params["tenant"] == "a"
    assert voice.params["CallSid"] == call.sid


async def test_time_limit_ends_the_call(sim, app):
    call = await dial(sim, app, TimeLimit="1")
    async with asyncio.timeout(10):
        await call.finished()
    assert call.hangup_by == "twilio" and call.stop_sent
    assert call.duration_s is not None and call.duration_s >= 1


async def test_sync_amd_passes_answered_by_to_the_voice_url(sim, app):
    sim.callee_for(PERSON, Callee(answer="voicemail", machine_greeting_ms=300))
    call = await dial(sim, app, MachineDetection="DetectMessageEnd")
    async with asyncio.timeout(10):
        await app.session()
        await hang_up(sim, call)
        await call.finished()
    [voice] = app.hits_for("voice")
    assert voice.params["AnsweredBy"] == "machine_end_beep"


async def test_record_on_create_reports_the_recording_with_the_final_status(sim, app):
    call = await dial(
        sim,
        app,
        Record="true",
        StatusCallback=app.url("status"),
        RecordingStatusCallback=app.url("recording"),
    )
    async with asyncio.timeout(10):
        await app.session()
        await hang_up(sim, call)
        await call.finished()
    final = app.hits_for("status")[-1].params
    [recording] = app.hits_for("recording")
    assert final["RecordingSid"] == recording.params["RecordingSid"] == call.recording_sid
    assert recording.params["RecordingSource"] == "OutboundAPI"


async def test_redirect_to_a_url_opens_a_new_stream_and_the_script_goes_on(sim, app):
    sim.callee_for(PERSON, Callee(steps=(Say("one", pause_ms=800, duration_ms=200),)))
    call = await sim_dial_and_wait(sim, app)
    async with asyncio.timeout(10):
        async with rest(sim) as client:
            response = await client.post(f"/Calls/{call.sid}.json", data={"Url": app.url("voice")})
        assert response.status_code == 200
        second = await app.session(1)
        await second.wait_for(MediaSession.heard_speech)
        await hang_up(sim, call)
        await call.finished()
    first = app.sessions[0]
    assert first.messages[-1]["event"] == "stop" and first.closed.is_set()
    assert [s.closed_by for s in call.streams] == ["twilio", "twilio"]
    assert len(app.hits_for("voice")) == 2 and [u.text for u in call.said] == ["one"]


async def sim_dial_and_wait(sim: TwilioSimulator, app: FakeApp) -> SimulatedCall:
    """Dial as the app does, then find the call the way a test that did not dial it would."""
    async with rest(sim) as client:
        await client.post(
            "/Calls.json", data={"To": PERSON, "From": AGENT, "Url": app.url("voice")}
        )
    async with asyncio.timeout(10):
        call = await sim.wait_for_call(to=PERSON, direction="outbound-api")
        await app.session()
    return call
