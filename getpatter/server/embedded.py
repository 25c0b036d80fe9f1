"""The embedded server behind ``Patter.serve()``: webhooks, media streams and health, on one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from getpatter.agent import Agent
from getpatter.call import OPEN_TRANSFERS, TransferGuard
from getpatter.carriers.twilio import Carrier as TwilioCarrier
from getpatter.engines.base import Engine
from getpatter.engines.openai import Realtime
from getpatter.errors import ConfigError, PatterError
from getpatter.observability.cost import telephony_cost
from getpatter.observability.events import EventBus, PatterEventType
from getpatter.observability.pricing import PriceTable
from getpatter.server.background import BackgroundServer
from getpatter.server.heap import freeze_startup_objects, thaw_startup_objects
from getpatter.server.registry import CallRegistry
from getpatter.server.twilio import CALL_PARAM, DIAL_ACTION_PATH, TwilioRoutes
from getpatter.session import CallCallbacks, CallSession

if TYPE_CHECKING:
    from getpatter.carriers.twilio.adapter import TwilioAdapter
    from getpatter.carriers.twilio.webhooks import DialActionCallback, VoiceWebhook
    from getpatter.tunnels import CloudflareTunnel

__all__ = ["EmbeddedServer", "engine_factory"]

logger = logging.getLogger("getpatter.server")

_STOP_TIMEOUT = 10.0
#: Twilio call statuses of a call that can still take a media stream.
_LIVE_STATUSES = frozenset({"queued", "ringing", "in-progress"})


def engine_factory(agent: Agent, on_message: Any = None) -> Callable[[], Engine]:
    """How to open the engine connection of each call of ``agent``; checks credentials now.

    ``on_message`` (pipeline agents only) replaces the agent's LLM.
    """
    if agent.provider == "pipeline":
        from getpatter.pipeline.factory import pipeline_engine_factory

        return pipeline_engine_factory(agent, on_message)
    if on_message is not None:
        raise ConfigError(
            "on_message= is for pipeline agents (stt= and tts=); an engine agent produces its "
            "own replies"
        )
    if agent.provider == "openai_realtime":
        engine = (
            agent.engine
            if isinstance(agent.engine, Realtime)
            else Realtime(voice=agent.voice, model=agent.model)
        )
        engine.check_credentials()
        return engine.create_engine
    raise ConfigError(
        f"agents in {agent.provider!r} mode cannot take calls yet: use the OpenAI Realtime engine "
        "(the default, or engine=OpenAIRealtime(...))"
    )


class _TwilioCallActions:
    """Transfer and hang-up of Twilio calls, for the call sessions."""

    def __init__(
        self, adapter: TwilioAdapter, caller_id: str, dial_action: Callable[[], str]
    ) -> None:
        self._adapter = adapter
        self._caller_id = caller_id
        self._dial_action = dial_action

    async def transfer(self, call_sid: str, number: str, *, time_limit: int | None = None) -> None:
        from getpatter.carriers.twilio.webhooks import dial_twiml

        twiml = dial_twiml(
            number, caller_id=self._caller_id, time_limit=time_limit, action=self._dial_action()
        )
        await self._adapter.redirect(call_sid, twiml)

    async def hangup(self, call_sid: str) -> None:
        await self._adapter.hangup(call_sid)


class EmbeddedServer:
    """One process's server for one carrier account and one served agent."""

    def __init__(
        self,
        *,
        carrier: TwilioCarrier,
        phone_number: str,
        agent: Agent,
        callbacks: CallCallbacks,
        events: EventBus,
        pricing: PriceTable,
        public_host: str = "",
        tunnel: CloudflareTunnel | None = None,
        recording: bool = False,
        voicemail_message: str = "",
        on_message: Any = None,
        transfer_guard: TransferGuard = OPEN_TRANSFERS,
        verify_with_carrier: bool = False,
    ) -> None:
        from getpatter.carriers.twilio.adapter import TwilioAdapter

        self._carrier = carrier
        self._phone_number = phone_number
        self.agent = agent
        self._on_message = on_message
        self._engine_factory = engine_factory(agent, on_message)
        self._callbacks = callbacks
        self._events = events
        self._pricing = pricing
        self.public_host = public_host
        self._tunnel = tunnel
        self._recording = recording
        self._voicemail = voicemail_message
        self._transfer_guard = transfer_guard
        self.registry = CallRegistry(events)
        self._adapter = TwilioAdapter(carrier)
        self._actions = _TwilioCallActions(
            self._adapter, phone_number, lambda: self.twilio.url(DIAL_ACTION_PATH)
        )
        self.twilio = TwilioRoutes(
            auth_token=carrier.auth_token,
            public_host=lambda: self.public_host,
            registry=self.registry,
            new_inbound_call=self._inbound_call,
            on_media_start=self._media_started,
            on_transfer_ended=self._transfer_ended,
            verify_call=self._call_is_live if verify_with_carrier else None,
        )
        self._server: BackgroundServer | None = None
        self._frozen = False
        """What existed once the server was up is frozen out of the collector (until stop)."""
        self.port = 0
        self.ready = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, host: str, port: int, configure_number: bool = False) -> None:
        """Bind ``host:port`` (0 = any free port), start serving, and open the tunnel if any.

        With ``configure_number`` the phone number's voice URL is pointed here before the
        server reports ready.
        """
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        from getpatter.server.ws_protocol import MediaWebSocketProtocol

        async def health(_request: Any) -> JSONResponse:
            return JSONResponse({"status": "ok", "active_calls": len(self.registry.active())})

        app = Starlette(routes=[Route("/health", health), *self.twilio.routes()])
        self._server = BackgroundServer(
            app,
            host=host,
            port=port,
            ws=MediaWebSocketProtocol,
            ws_max_size=1024 * 1024,
            timeout_graceful_shutdown=5,
        )
        self.port = await self._server.start()
        if self._tunnel is not None:
            self.public_host = await self._tunnel.start(self.port)
        if not self.public_host:
            raise ConfigError("no public hostname: pass webhook_url= or tunnel= to Patter()")
        if configure_number:
            await self.configure_number()
        self._frozen = freeze_startup_objects()
        self.ready.set()

    async def configure_number(self) -> None:
        """Point the phone number's voice URL at this server (only when the user asks, WH-7/8)."""
        url = self.twilio.url("/webhooks/twilio/voice")
        try:
            await self._adapter.configure_number(self._phone_number, url)
        except Exception as exc:
            logger.warning(
                "could not set the voice URL of %s (%s); set it to %s yourself",
                self._phone_number,
                exc,
                url,
            )
        else:
            logger.info("voice URL of %s set to %s", self._phone_number, url)

    async def wait_stopped(self) -> None:
        """Wait until the server stops."""
        if self._server is not None:
            await self._server.wait_stopped()

    async def stop(self) -> None:
        """Hang up calls in progress (each reports its end), then stop serving."""
        self.twilio.accepting = False

        async def end(session: CallSession) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.shutdown(), _STOP_TIMEOUT)

        try:
            await asyncio.gather(*(end(session) for session in self.registry.active()))
            if self._server is not None:
                await self._server.stop(_STOP_TIMEOUT)
            if self._tunnel is not None:
                await self._tunnel.stop()
            await self._adapter.aclose()
        finally:
            if self._frozen:
                self._frozen = False
                thaw_startup_objects()

    # ------------------------------------------------------------------ calls

    def _new_session(self, **kwargs: Any) -> CallSession:
        agent: Agent = kwargs.pop("agent", None) or self.agent
        callbacks: CallCallbacks = kwargs.pop("callbacks", None) or self._callbacks
        session = CallSession(
            agent=agent,
            engine_factory=self._engine_factory
            if agent is self.agent
            else engine_factory(agent, self._on_message if agent.provider == "pipeline" else None),
            carrier=self._actions,
            telephony_provider="twilio",
            callbacks=callbacks,
            events=self._events,
            pricing=self._pricing,
            transfer_guard=self._transfer_guard,
            **kwargs,
        )
        self.registry.add(session)
        return session

    def _inbound_call(self, caller: str, callee: str, call_sid: str) -> CallSession:
        return self._new_session(
            direction="inbound",
            caller=caller,
            callee=callee,
            call_sid=call_sid,
            voicemail_message="",
        )

    async def _call_is_live(self, hook: VoiceWebhook) -> bool:
        """Whether Twilio has this inbound call ringing or in progress, between these numbers.

        A signed webhook captured earlier and replayed for a call Patter never saw passes the
        signature check; Twilio's own record of the call does not lie. Fails closed.
        """
        try:
            state = await self._adapter.call_state(hook.call_sid)
        except PatterError as exc:
            logger.warning(
                "call %s: could not check it with Twilio (%s): refused", hook.call_sid, exc
            )
            return False
        if state is None or state[0] not in _LIVE_STATUSES or state[1:] != (hook.to, hook.from_):
            logger.warning(
                "voice webhook for call %s, which Twilio does not have live between %s and %s: "
                "refused",
                hook.call_sid,
                hook.from_,
                hook.to,
            )
            return False
        return True

    def _transfer_ended(self, hook: DialActionCallback) -> None:
        """The dialed leg of a transfer ended: tell subscribers what it lasted and cost.

        Both legs are billed while they are bridged: the transferred call stays up, and the
        dialed leg is a new outbound call. Each is counted at the carrier's minute price.
        """
        seconds = hook.dial_call_duration or 0
        cost = 2 * telephony_cost(self._pricing, "twilio", seconds)
        self._events.emit(
            PatterEventType.TRANSFER_ENDED,
            {
                "call_id": hook.call_sid,
                "status": hook.dial_call_status,
                "dial_call_id": hook.dial_call_sid or "",
                "duration_seconds": seconds,
                "cost_usd": cost,
            },
        )

    async def _media_started(self, session: CallSession) -> None:
        if self._recording and session.direction == "inbound":
            try:
                await self._adapter.start_recording(
                    session.call_sid, self.twilio.url("/webhooks/twilio/recording")
                )
            except Exception as exc:
                logger.warning("call %s: recording could not start: %s", session.call_sid, exc)

    async def dial(
        self,
        *,
        to: str,
        from_number: str,
        agent: Agent | None,
        first_message: str,
        machine_detection: bool,
        on_machine: Any,
        voicemail_message: str,
        ring_timeout: int | None,
    ) -> str:
        """Place an outbound call; return its carrier call id."""
        callbacks = self._callbacks
        if on_machine is not None:
            callbacks = CallCallbacks(**{**callbacks.__dict__, "on_machine": on_machine})
        voicemail = voicemail_message or (self._voicemail if machine_detection else "")
        session = self._new_session(
            agent=agent,
            callbacks=callbacks,
            direction="outbound",
            caller=from_number,
            callee=to,
            first_message=first_message or None,
            voicemail_message=voicemail,
        )
        query = {CALL_PARAM: session.patter_id}
        try:
            call_sid = await self._adapter.create_call(
                to=to,
                from_=from_number,
                url=self.twilio.url("/webhooks/twilio/voice", **query),
                status_callback=self.twilio.url("/webhooks/twilio/status", **query),
                timeout=ring_timeout,
                machine_detection=("DetectMessageEnd" if voicemail else "Enable")
                if machine_detection
                else None,
                amd_callback=self.twilio.url("/webhooks/twilio/amd", **query)
                if machine_detection
                else None,
                record=self._recording,
                recording_callback=self.twilio.url("/webhooks/twilio/recording", **query)
                if self._recording
                else None,
            )
        except BaseException:
            self.registry.remove(session)
            raise
        self.registry.bind_sid(session, call_sid)
        return call_sid
