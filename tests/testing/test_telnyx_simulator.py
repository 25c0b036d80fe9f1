"""The Telnyx simulator, driven by a small stand-in for a Telnyx app (starlette on 127.0.0.1).

The stand-in talks to the simulator only through the official ``telnyx`` SDK
(``AsyncTelnyx(base_url=sim.base_url)``) and verifies every webhook with the SDK's
``verify_webhook_signature``, so the simulator's REST API and signatures are cross-checked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import telnyx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

from getpatter._redaction import register_secret
from getpatter.audio.dtmf_tones import dtmf_ulaw
from getpatter.errors import ConfigError
from getpatter.server.background import BackgroundServer
from getpatter.testing.scenario import Callee, HangUp, Press, Say
from getpatter.testing.telnyx_simulator import (
    VOICEMAIL_GREETING,
    SimulatedCall,
    TelnyxSimulator,
)

AGENT = "+15550009999"
PERSON = "+15550001234"
TOKEN = "stream-CANARY-token"


# --- the stand-in app ---------------------------------------------------------------------


@dataclass
class Hit:
    """A webhook the app received."""

    event_type: str
    payload: dict[str, Any]
    raw: bytes
    signature_ok: bool


@dataclass
class MediaSession:
    """The app's end of one media WebSocket."""

    ws: WebSocket
    headers: dict[str, str]
    connected: dict[str, Any]
    start: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == kind]

    def payloads(self, track: str = "inbound") -> list[bytes]:
        return [
            base64.b64decode(m["media"]["payload"])
            for m in self.events("media")
            if m["media"]["track"] == track
        ]

    def loud_frames(self) -> list[bytes]:
        """Callee frames that carried sound (in the stream's codec)."""
        if self.start["start"]["media_format"]["encoding"] == "L16":
            return [p for p in self.payloads() if max(map(abs, _be_samples(p))) > 200]
        return [p for p in self.payloads() if p.strip(b"\xff\x7f")]

    async def wait_for(self, predicate: Callable[[MediaSession], bool]) -> None:
        while not predicate(self):
            self.changed.clear()
            await self.changed.wait()

    async def send(self, event: str, **body: Any) -> None:
        await self.ws.send_text(json.dumps({"event": event, **body}))

    async def send_media(self, audio: bytes) -> None:
        await self.send("media", media={"payload": base64.b64encode(audio).decode()})


Behaviour = Callable[[MediaSession], Awaitable[None]]


async def _no_behaviour(session: MediaSession) -> None:
    return None


class FakeApp:
    """A minimal Telnyx voice app: answers incoming calls with a stream, records everything."""

    def __init__(self, sim: TelnyxSimulator) -> None:
        self.sim = sim
        self.client = telnyx.AsyncTelnyx(api_key=sim.api_key, base_url=sim.base_url, max_retries=0)
        self.hits: list[Hit] = []
        self.sessions: list[MediaSession] = []
        self.behaviour: Behaviour = _no_behaviour
        self.answer: dict[str, Any] | None = {}
        """Answer incoming calls with these parameters (plus the stream); None: never."""
        self.host = ""
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server = BackgroundServer(
            Starlette(
                routes=[
                    Route("/webhooks/telnyx/voice", self._webhook, methods=["POST"]),
                    WebSocketRoute("/ws/telnyx/media/{token}", self._media),
                ]
            ),
            ws="websockets-sansio",
        )

    async def __aenter__(self) -> FakeApp:
        port = await self._server.start()
        self.host = f"127.0.0.1:{port}"
        self.sim.application.webhook_event_url = self.url
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        await self._server.stop(2)

    @property
    def url(self) -> str:
        return f"https://{self.host}/webhooks/telnyx/voice"

    def stream_url(self, token: str = "tok123") -> str:
        return f"wss://{self.host}/ws/telnyx/media/{token}"

    def events(self, call: SimulatedCall | None = None) -> list[str]:
        return [
            hit.event_type
            for hit in self.hits
            if call is None or hit.payload.get("call_control_id") == call.sid
        ]

    def hit(self, event_type: str) -> Hit:
        return next(hit for hit in self.hits if hit.event_type == event_type)

    async def wait_for(self, predicate: Callable[[FakeApp], bool]) -> None:
        while not predicate(self):
            self._changed.clear()
            await self._changed.wait()

    async def session(self, index: int = 0) -> MediaSession:
        await self.wait_for(lambda app: len(app.sessions) > index)
        return self.sessions[index]

    async def _webhook(self, request: Request) -> Response:
        raw = await request.body()
        try:
            verify_webhook_signature(raw, dict(request.headers), self.sim.public_key)
            ok = True
        except WebhookVerificationError:
            ok = False
        data = json.loads(raw)["data"]
        self.hits.append(Hit(data["event_type"], data["payload"], raw, ok))
        self._changed.set()
        payload = data["payload"]
        if (
            ok
            and data["event_type"] == "call.initiated"
            and payload["direction"] == "incoming"
            and self.answer is not None
        ):
            params = {"stream_url": self.stream_url(), "stream_bidirectional_mode": "rtp"}
            answering = asyncio.create_task(
                self.client.calls.actions.answer(
                    payload["call_control_id"], **(params | self.answer)
                )
            )
            self._tasks.add(answering)
            answering.add_done_callback(self._tasks.discard)
        return Response(status_code=200 if ok else 403)

    async def _media(self, ws: WebSocket) -> None:
        headers = dict(ws.headers)
        await ws.accept()
        connected = json.loads(await ws.receive_text())
        start = json.loads(await ws.receive_text())
        session = MediaSession(ws, headers, connected, start)
        self.sessions.append(session)
        self._changed.set()
        reader = asyncio.create_task(self._read(session))
        try:
            await self.behaviour(session)
            await reader
        finally:
            reader.cancel()

    async def _read(self, session: MediaSession) -> None:
        try:
            while True:
                session.messages.append(json.loads(await session.ws.receive_text()))
                session.changed.set()
        except (WebSocketDisconnect, RuntimeError):
            session.closed.set()
            session.changed.set()


@pytest.fixture
async def sim() -> AsyncIterator[TelnyxSimulator]:
    async with TelnyxSimulator() as simulator:
        simulator.add_number(AGENT)
        yield simulator


@pytest.fixture
async def app(sim: TelnyxSimulator) -> AsyncIterator[FakeApp]:
    async with FakeApp(sim) as fake:
        yield fake


async def dial(
    sim: TelnyxSimulator, app: FakeApp, to: str = PERSON, **params: Any
) -> SimulatedCall:
    """Dial ``to`` through the SDK as the app would (streaming by default)."""
    params = {"stream_url": app.stream_url(), "stream_bidirectional_mode": "rtp"} | params
    params = {key: value for key, value in params.items() if value is not None}
    response = await app.client.calls.dial(
        connection_id=sim.connection_id, to=to, from_=AGENT, **params
    )
    assert response.data is not None
    return sim.get_call(response.data.call_control_id)


async def inbound(sim: TelnyxSimulator, **callee: Any) -> SimulatedCall:
    return await sim.place_inbound_call(AGENT, callee=Callee(**callee))


def _be_samples(payload: bytes) -> tuple[int, ...]:
    return struct.unpack(f">{len(payload) // 2}h", payload)


def _l16_tone(ms: int, rate: int = 16000, hz: float = 440.0) -> bytes:
    samples = [
        round(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(rate * ms // 1000)
    ]
    return struct.pack(f">{len(samples)}h", *samples)


def _error(caught: pytest.ExceptionInfo[telnyx.APIStatusError]) -> tuple[int, str]:
    error = caught.value.response.json()["errors"][0]
    return caught.value.status_code, error["code"]


# --- signatures, construction ---------------------------------------------------------------


def test_signatures_verify_with_the_official_sdk_and_tampering_is_caught():
    sim = TelnyxSimulator()
    body = b'{"data":{"event_type":"call.initiated"}}'
    headers = sim.signed_headers(body)
    verify_webhook_signature(body, headers, sim.public_key)
    assert len(base64.b64decode(sim.public_key)) == 32
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook_signature(body.replace(b"initiated", b"answered"), headers, sim.public_key)
    stale = sim.signed_headers(body, timestamp=int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_webhook_signature(body, stale, sim.public_key)
    with pytest.raises(WebhookVerificationError):
        verify_webhook_signature(body, headers, TelnyxSimulator().public_key)


async def test_a_simulator_runs_once_and_needs_a_webhook_url_for_inbound_calls():
    sim = TelnyxSimulator()
    with pytest.raises(ConfigError, match="not running"):
        _ = sim.base_url
    async with sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/v2")
        assert sim.api_key.startswith("KEY")
        with pytest.raises(ConfigError, match="webhook"):
            await sim.place_inbound_call(AGENT)
    with pytest.raises(ConfigError, match="once"):
        await sim.start()


# --- REST through the official SDK --------------------------------------------------------


async def test_wrong_key_and_unknown_call_get_telnyx_errors(sim):
    client = telnyx.AsyncTelnyx(api_key="KEY-CANARY-wrong", base_url=sim.base_url, max_retries=0)
    with pytest.raises(telnyx.AuthenticationError) as caught:
        await client.calls.retrieve_status("v3:nope")
    assert _error(caught) == (401, "10009")
    client = telnyx.AsyncTelnyx(api_key=sim.api_key, base_url=sim.base_url, max_retries=0)
    with pytest.raises(telnyx.NotFoundError) as missing:
        await client.calls.actions.hangup("v3:nope")
    assert _error(missing) == (404, "10005")
    await client.close()


async def test_dial_is_validated_like_telnyx(sim, app):
    calls = app.client.calls
    attempts = {
        "missing to": app.client.post(
            "/calls", body={"connection_id": sim.connection_id, "from": AGENT}, cast_to=object
        ),
        "wrong type": calls.dial(
            connection_id=sim.connection_id,
            to=PERSON,
            from_=AGENT,
            extra_body={"timeout_secs": "9"},
        ),
        "bad codec": calls.dial(
            connection_id=sim.connection_id,
            to=PERSON,
            from_=AGENT,
            stream_url=app.stream_url(),
            stream_bidirectional_mode="rtp",
            stream_bidirectional_codec="OPUS",
        ),
        "bad number": calls.dial(connection_id=sim.connection_id, to="5550001234", from_=AGENT),
        "no such app": calls.dial(connection_id="123", to=PERSON, from_=AGENT),
    }
    codes = {}
    for name, attempt in attempts.items():
        with pytest.raises(telnyx.UnprocessableEntityError) as caught:
            await attempt
        codes[name] = _error(caught)[1]
        if name == "bad codec":
            assert "OPUS" in caught.value.response.json()["errors"][0]["detail"]
    assert codes == {
        "missing to": "10004",
        "wrong type": "10015",
        "bad codec": "10015",
        "bad number": "10016",
        "no such app": "10015",
    }
    assert sim.calls == []


async def test_sdk_dials_and_the_call_reaches_the_app(sim, app):
    response = await app.client.calls.dial(
        connection_id=sim.connection_id,
        to=PERSON,
        from_=AGENT,
        stream_url=app.stream_url(),
        stream_bidirectional_mode="rtp",
        client_state=base64.b64encode(b"tenant-7").decode(),
        extra_body={"an_unknown_field": True},
    )
    assert response.data is not None and response.data.is_alive is False
    call_control_id = response.data.call_control_id
    assert call_control_id.startswith("v3:") and response.data.record_type == "call"
    call = sim.get_call(call_control_id)
    async with asyncio.timeout(10):
        session = await app.session()
        status = await app.client.calls.retrieve_status(call_control_id)
        assert status.data is not None and status.data.is_alive is True
        await app.client.calls.actions.hangup(call_control_id)
        await call.finished()
        await session.closed.wait()
    assert app.events(call) == [
        "call.initiated",
        "call.answered",
        "streaming.started",
        "streaming.stopped",
        "call.hangup",
    ]
    assert all(hit.signature_ok for hit in app.hits)
    initiated = app.hit("call.initiated").payload
    assert (initiated["direction"], initiated["state"]) == ("outgoing", "bridging")
    assert (initiated["from"], initiated["to"]) == (AGENT, PERSON)
    assert initiated["connection_id"] == sim.connection_id
    assert initiated["client_state"] == base64.b64encode(b"tenant-7").decode()
    hangup = app.hit("call.hangup").payload
    assert (hangup["hangup_cause"], hangup["hangup_source"]) == ("normal_clearing", "caller")
    envelope = json.loads(app.hit("call.hangup").raw)
    assert envelope["data"]["record_type"] == "event" and envelope["meta"]["attempt"] == 1
    assert len({json.loads(hit.raw)["data"]["id"] for hit in app.hits}) == len(app.hits)
    assert call.statuses == ["initiated", "in-progress", "completed"]
    assert (call.outcome, call.hangup_by, call.hangup_cause) == (
        "completed",
        "app",
        "normal_clearing",
    )
    assert session.messages[-1]["event"] == "stop" and call.streams[0].closed_by == "telnyx"
    with pytest.raises(telnyx.UnprocessableEntityError) as ended:
        await app.client.calls.actions.hangup(call_control_id)
    assert _error(ended) == (422, "90018")
    assert [(c.name, c.status_code) for c in call.commands] == [
        ("dial", 200),
        ("hangup", 200),
        ("hangup", 422),
    ]
    assert call.commands[0].params["an_unknown_field"] is True


async def test_the_app_binds_a_number_to_its_application_over_the_sdk(sim, app):
    sim.application.webhook_event_url = None
    other = sim.add_number("+15550007777", connection_id="")
    fetched = await app.client.call_control_applications.retrieve(sim.connection_id)
    assert fetched.data is not None and fetched.data.webhook_event_url == ""
    await app.client.call_control_applications.update(
        sim.connection_id, application_name="patter", webhook_event_url=app.url
    )
    page = await app.client.phone_numbers.list(filter={"phone_number": "+15550007777"})
    assert [number.id for number in page.data] == [other.id]
    updated = await app.client.phone_numbers.update(other.id, connection_id=sim.connection_id)
    assert updated.data is not None and updated.data.connection_id == sim.connection_id
    assert sim.application.webhook_event_url == app.url
    call = await sim.place_inbound_call("+15550007777", callee=Callee(steps=(HangUp(0),)))
    async with asyncio.timeout(10):
        await call.finished()
    assert app.events(call)[0] == "call.initiated"


# --- inbound calls and media --------------------------------------------------------------


async def test_inbound_call_is_answered_and_streams_pcmu_both_ways(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send_media(b"\x10" * 3200)
        await session.send("mark", mark={"name": "greeting"})

    app.behaviour = agent
    call = await inbound(sim, steps=(Say("hello", pause_ms=300, duration_ms=400),))
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: bool(s.events("mark")) and len(s.loud_frames()) >= 20)
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    initiated = app.hit("call.initiated").payload
    assert (initiated["direction"], initiated["state"]) == ("incoming", "parked")
    assert app.events(call)[:3] == ["call.initiated", "call.answered", "streaming.started"]
    assert session.connected == {"event": "connected", "version": "1.0.0"}
    start = session.start
    assert (start["event"], start["sequence_number"]) == ("start", "1")
    assert start["start"]["call_control_id"] == call.sid
    assert start["start"]["media_format"] == {
        "encoding": "PCMU",
        "sample_rate": 8000,
        "channels": 1,
    }
    assert start["stream_id"] == call.streams[0].stream_sid
    media = session.events("media")
    assert [m["media"]["chunk"] for m in media[:3]] == ["1", "2", "3"]
    assert [m["media"]["timestamp"] for m in media[:3]] == ["0", "20", "40"]
    assert {len(p) for p in session.payloads()} == {160}
    assert all(m["stream_id"] == start["stream_id"] for m in session.messages)
    assert call.heard_ms == 400 and call.heard_ulaw == b"\x10" * 3200
    assert [m.name for m in call.marks_echoed] == ["greeting"]
    assert call.marks_echoed[0].at_ms > call.heard[-1].at_ms
    assert call.said[0].start_ms > call.heard[-1].at_ms + 200
    assert (call.direction, call.hangup_source, call.statuses[-1]) == (
        "inbound",
        "callee",
        "completed",
    )


async def test_l16_streams_at_16_khz_big_endian_and_is_heard_as_ulaw(sim, app):
    app.answer = {
        "stream_codec": "L16",
        "stream_track": "both_tracks",
        "stream_bidirectional_codec": "L16",
        "extra_body": {"stream_bidirectional_sampling_rate": 16000},
    }

    async def agent(session: MediaSession) -> None:
        await session.send_media(_l16_tone(400))

    app.behaviour = agent
    call = await inbound(sim, steps=(Say("hi", pause_ms=0, duration_ms=300),))
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: len(s.loud_frames()) >= 10)
        await call.wait_until(lambda c: c.heard_ms >= 400)
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
        await session.closed.wait()
    assert session.start["start"]["media_format"] == {
        "encoding": "L16",
        "sample_rate": 16000,
        "channels": 1,
    }
    assert {len(p) for p in session.payloads()} == {640}
    outbound = session.payloads("outbound")
    assert len(outbound) == len(session.payloads()) and {len(p) for p in outbound} == {640}
    assert any(max(map(abs, _be_samples(p))) > 2000 for p in outbound)  # the agent's tone
    assert call.heard_ms == 400
    stream = call.streams[0]
    assert (stream.codec, stream.sample_rate, stream.bidirectional_codec) == ("L16", 16000, "L16")
    heard = call.heard_ulaw[800:2400]
    assert len(set(heard)) > 20  # a tone, not silence, survived the conversion


async def test_marks_are_echoed_at_once_when_idle_and_clear_returns_queued_ones(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send("mark", mark={"name": "idle"})
        await session.wait_for(lambda s: bool(s.events("mark")))
        await session.send_media(b"\x10" * 8 * 5000)
        await session.send("mark", mark={"name": "long"})
        await session.wait_for(lambda s: len(s.events("media")) >= 10)
        await session.send("clear")

    app.behaviour = agent
    call = await inbound(sim)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: len(s.events("mark")) == 2)
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    assert [m["mark"] for m in session.events("mark")] == [{"name": "idle"}, {"name": "long"}]
    assert call.heard_ms > 0 and call.marks_echoed[0].at_ms < call.heard[0].at_ms
    assert len(call.clears) == 1 and call.heard_ms < 2500
    assert call.marks_echoed[1].at_ms >= call.clears[0]


async def test_dtmf_both_ways(sim, app):
    async def agent(session: MediaSession) -> None:
        await session.send_media(dtmf_ulaw("9"))

    app.behaviour = agent
    call = await inbound(sim, steps=(Press("12#", pause_ms=0),))
    async with asyncio.timeout(10):
        session = await app.session()
        await app.wait_for(lambda a: a.events(call).count("call.dtmf.received") == 3)
        await session.wait_for(lambda s: len(s.events("dtmf")) == 3)
        await app.client.calls.actions.send_dtmf(call.sid, digits="1w4*")
        await call.wait_until(lambda c: c.dtmf_heard == "914*")
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    assert [m["dtmf"] for m in session.events("dtmf")] == [{"digit": d} for d in "12#"]
    assert [h.payload["digit"] for h in app.hits if h.event_type == "call.dtmf.received"] == [
        "1",
        "2",
        "#",
    ]
    assert [event.digit for event in call.dtmf_sent] == ["1", "2", "#"]


# --- outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("callee", "outcome", "cause", "source", "statuses"),
    [
        (Callee(answer="busy", ring_ms=50), "busy", "user_busy", "callee", ["initiated", "busy"]),
        (
            Callee(answer="no-answer", ring_ms=50),
            "no-answer",
            "timeout",
            "unknown",
            ["initiated", "no-answer"],
        ),
        (Callee(answer="fail"), "failed", "unspecified", "unknown", ["initiated", "failed"]),
        (
            Callee(steps=(Say("bye", pause_ms=0, duration_ms=200), HangUp(0))),
            "completed",
            "normal_clearing",
            "callee",
            ["initiated", "in-progress", "completed"],
        ),
    ],
)
async def test_hangup_causes(sim, app, callee, outcome, cause, source, statuses):
    sim.callee_for(PERSON, callee)
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        await call.finished()
    assert (call.outcome, call.hangup_cause, call.hangup_source) == (outcome, cause, source)
    assert call.statuses == statuses
    hangup = app.hit("call.hangup").payload
    assert (hangup["hangup_cause"], hangup["hangup_source"]) == (cause, source)
    assert (call.streams != []) == (outcome == "completed")


async def test_the_app_cancels_a_ringing_call(sim, app):
    sim.callee_for(PERSON, Callee(ring_ms=5000))
    call = await dial(sim, app)
    await app.client.calls.actions.hangup(call.sid)
    async with asyncio.timeout(10):
        await call.finished()
    assert (call.outcome, call.hangup_cause, call.hangup_by) == (
        "canceled",
        "originator_cancel",
        "app",
    )


async def test_an_incoming_call_nobody_answers_is_hung_up_and_one_can_be_rejected(sim, app):
    app.answer = None
    sim.answer_timeout = 0.3
    ignored = await inbound(sim)
    rejected = await inbound(sim)
    async with asyncio.timeout(10):
        await app.wait_for(lambda a: a.events(rejected) == ["call.initiated"])
        await app.client.calls.actions.reject(rejected.sid, cause="USER_BUSY")
        await ignored.finished()
        await rejected.finished()
    assert (ignored.hangup_cause, ignored.hangup_source) == ("originator_cancel", "caller")
    assert ignored.outcome == "no-answer" and ignored.streams == []
    assert (rejected.outcome, rejected.hangup_cause) == ("busy", "user_busy")
    with pytest.raises(telnyx.UnprocessableEntityError) as late:
        await app.client.calls.actions.answer(rejected.sid)
    assert _error(late) == (422, "90018")


async def test_time_limit_ends_the_call(sim, app):
    call = await dial(sim, app, time_limit_secs=1)
    async with asyncio.timeout(10):
        await call.finished()
    assert (call.hangup_cause, call.hangup_by, call.stop_sent) == ("time_limit", "telnyx", True)
    assert call.duration_s is not None and call.duration_s >= 1


# --- transfer, recording, answering machines ----------------------------------------------


@pytest.mark.parametrize(("time_limit", "cause"), [(None, "normal_clearing"), (1, "time_limit")])
async def test_transfer_stops_the_stream_bridges_and_hangs_up(sim, app, time_limit, cause):
    sim.transfer_talk_s = 0.3 if time_limit is None else 5
    call = await dial(sim, app)
    async with asyncio.timeout(10):
        session = await app.session()
        await app.client.calls.actions.transfer(
            call.sid, to="+15552223333", extra_body={"time_limit_secs": time_limit}
        )
        await session.closed.wait()
        await call.finished()
    assert session.messages[-1] == {
        "event": "stop",
        "sequence_number": session.messages[-1]["sequence_number"],
        "stream_id": session.start["stream_id"],
        "stop": {"call_control_id": call.sid},
    }
    assert app.events(call)[-3:] == ["streaming.stopped", "call.bridged", "call.hangup"]
    assert (call.transferred_to, call.outcome, call.dial_time_limit) == (
        "+15552223333",
        "transferred",
        time_limit,
    )
    assert call.hangup_cause == cause


async def test_recordings_are_saved_when_stopped_or_at_the_end(sim, app):
    response = await app.client.calls.dial(
        connection_id=sim.connection_id, to=PERSON, from_=AGENT, record="record-from-answer"
    )
    assert response.data is not None and response.data.recording_id
    call = sim.get_call(response.data.call_control_id)
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: c.recording_sid is not None)
        await app.client.calls.actions.stop_recording(call.sid)
        await app.client.calls.actions.start_recording(call.sid, channels="dual", format="wav")
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    saved = [hit.payload for hit in app.hits if hit.event_type == "call.recording.saved"]
    assert [s["recording_id"] for s in saved] == [response.data.recording_id, call.recording_sid]
    assert saved[1]["channels"] == "dual" and set(saved[1]["recording_urls"]) == {"wav"}
    assert saved[0]["recording_urls"]["mp3"].endswith(f"{response.data.recording_id}.mp3")
    assert app.events(call)[-2:] == ["call.hangup", "call.recording.saved"]


@pytest.mark.parametrize(
    ("answer", "mode", "events"),
    [
        ("answer", "detect", [("call.machine.detection.ended", "human")]),
        (
            "voicemail",
            "greeting_end",
            [
                ("call.machine.detection.ended", "machine"),
                ("call.machine.greeting.ended", "beep_detected"),
            ],
        ),
        (
            "voicemail",
            "premium",
            [
                ("call.machine.premium.detection.ended", "machine"),
                ("call.machine.premium.greeting.ended", "beep_detected"),
            ],
        ),
    ],
)
async def test_answering_machine_detection(sim, app, answer, mode, events):
    sim.callee_for(PERSON, Callee(answer=answer, machine_greeting_ms=400))
    call = await dial(sim, app, answering_machine_detection=mode)
    async with asyncio.timeout(10):
        await app.wait_for(
            lambda a: len([e for e in a.events(call) if ".machine." in e]) == len(events)
        )
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    machine = [(h.event_type, h.payload["result"]) for h in app.hits if ".machine." in h.event_type]
    assert machine == events
    assert call.answered_by == events[0][1]
    if answer == "voicemail":
        assert call.said[0].text == VOICEMAIL_GREETING


# --- streams, tokens, replays, faults -----------------------------------------------------


async def test_the_auth_token_reaches_the_websocket_and_streams_restart(sim, app):
    # websockets logs frames cut in the middle, "con...": only a registered value is caught
    # there, as an app must register the token it hands Telnyx.
    register_secret(TOKEN)
    call = await dial(sim, app, stream_auth_token=TOKEN)
    async with asyncio.timeout(10):
        first = await app.session()
        await app.client.calls.actions.stop_streaming(call.sid)
        await first.closed.wait()
        await app.client.calls.actions.start_streaming(
            call.sid,
            stream_url=app.stream_url("second"),
            stream_bidirectional_mode="rtp",
            custom_parameters=[{"name": "tenant", "value": "t7"}],
        )
        second = await app.session(1)
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    assert first.headers["x-telnyx-streaming-auth-token"] == TOKEN
    assert first.connected["connected"] == {"x-telnyx-streaming-auth-token": TOKEN}
    assert "x-telnyx-streaming-auth-token" not in second.headers
    assert second.start["start"]["custom_parameters"] == {"tenant": "t7"}
    assert [s.closed_by for s in call.streams] == ["telnyx", "telnyx"]
    assert app.events(call).count("streaming.stopped") == 2


async def test_webhooks_can_be_replayed_verbatim_or_re_signed(sim, app):
    call = await dial(sim, app, stream_url=None)
    async with asyncio.timeout(10):
        await call.wait_until(lambda c: len(c.webhooks) >= 2)
        initiated = call.webhooks[0]
        assert await sim.replay_webhook(initiated) == 200
        assert await sim.replay_webhook(initiated, resign=True) == 200
        stale = int(time.time()) - 600
        assert await sim.replay_webhook(initiated, timestamp=stale) == 403
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    replays = [hit for hit in app.hits if hit.raw == initiated.body]
    assert [hit.signature_ok for hit in replays] == [True, True, True, False]
    assert initiated.kind == "call.initiated" and initiated.payload["call_control_id"] == call.sid
    assert [w.kind for w in call.webhooks].count("call.initiated") == 1


async def test_command_ids_are_not_run_twice(sim, app):
    first = await dial(sim, app, stream_url=None, command_id="dial-1")
    again = await dial(sim, app, stream_url=None, command_id="dial-1")
    async with asyncio.timeout(10):
        await first.wait_until(lambda c: c.status == "in-progress")
        for _ in range(2):
            await app.client.calls.actions.send_dtmf(first.sid, digits="5", command_id="k")
        await app.client.calls.actions.hangup(first.sid)
        await first.finished()
    assert again is first and len(sim.calls) == 1
    assert first.dtmf_heard == "5"


async def test_malformed_app_messages_are_recorded_not_fatal(sim, app):
    app.answer = {"stream_bidirectional_mode": None}

    async def agent(session: MediaSession) -> None:
        await session.ws.send_bytes(b"\x00\x01")
        await session.ws.send_text("{not json")
        await session.send("media", stream_id="wrong", media={"payload": ""})
        await session.send("dance")
        await session.send_media(b"\x10" * 160)
        await session.send("mark", mark={"name": "still-works"})

    app.behaviour = agent
    call = await inbound(sim)
    async with asyncio.timeout(10):
        session = await app.session()
        await session.wait_for(lambda s: bool(s.events("mark")))
        await app.client.calls.actions.hangup(call.sid)
        await call.finished()
    assert [e.code for e in call.errors] == [31950, 31951, 31951, 31951, 31951]
    assert "stream_bidirectional_mode" in call.errors[-1].message and call.heard_ms == 0


async def test_closing_the_simulator_ends_live_calls(app):
    async with TelnyxSimulator() as simulator:
        other = FakeApp(simulator)
        async with other:
            call = await dial(simulator, other)
            async with asyncio.timeout(10):
                session = await other.session()
            await simulator.aclose()
            async with asyncio.timeout(10):
                await session.closed.wait()
            assert call.is_finished and call.hangup_by == "telnyx"
            assert session.messages[-1]["event"] == "stop"
            assert other.events(call)[-1] == "call.hangup"
