"""The embedded server behind ``Patter.serve()``: webhooks, media streams and health, on one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from getpatter.agent import Agent
from getpatter.call import OPEN_TRANSFERS, TransferGuard
from getpatter.calls.events import TransferFinished
from getpatter.calls.stream import CallEventStream
from getpatter.carriers.base import CarrierPort, DialRequest, TransferEnded
from getpatter.engines.base import EngineFactory
from getpatter.engines.openai import Realtime
from getpatter.errors import ConfigError
from getpatter.observability.cost import telephony_cost
from getpatter.observability.pricing import PriceTable
from getpatter.server.background import BackgroundServer
from getpatter.server.desk import ServerDesk
from getpatter.server.heap import freeze_startup_objects, thaw_startup_objects
from getpatter.server.registry import CallRegistry
from getpatter.session import CallCallbacks, CallSession
from getpatter.session.session import VOICEMAIL_ACTION

if TYPE_CHECKING:
    from getpatter.dashboard import Dashboard
    from getpatter.tunnels import CloudflareTunnel

__all__ = ["EmbeddedServer", "engine_factory"]

logger = logging.getLogger("getpatter.server")

_STOP_TIMEOUT = 10.0
_DRAIN_TIMEOUT = 1.0


def engine_factory(agent: Agent, on_message: Any = None) -> EngineFactory:
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
    engine = agent.engine or Realtime(voice=agent.voice, model=agent.model)
    return engine.factory()


class EmbeddedServer:
    """One process's server for one carrier account and one served agent.

    ``carrier`` is the carrier's :class:`~getpatter.carriers.base.CarrierPort`: the server
    mounts its routes and asks it for every call action, knowing nothing of the carrier.
    """

    def __init__(
        self,
        *,
        carrier: CarrierPort,
        phone_number: str,
        agent: Agent,
        callbacks: CallCallbacks,
        events: CallEventStream,
        pricing: PriceTable,
        public_host: str = "",
        tunnel: CloudflareTunnel | None = None,
        recording: bool = False,
        voicemail_message: str = "",
        on_message: Any = None,
        transfer_guard: TransferGuard = OPEN_TRANSFERS,
        verify_with_carrier: bool = False,
        dashboard: Dashboard | None = None,
    ) -> None:
        self._port = carrier
        self._phone_number = phone_number
        self.agent = agent
        self._on_message = on_message
        self._engine_factory = engine_factory(agent, on_message)
        if voicemail_message:
            self._engine_factory.require("speaks_verbatim", VOICEMAIL_ACTION)
        self._callbacks = callbacks
        self.stream = events
        """Where this server's calls publish their events."""
        self._pricing = pricing
        self.public_host = public_host
        self._tunnel = tunnel
        self._recording = recording
        self._voicemail = voicemail_message
        self._transfer_guard = transfer_guard
        self.registry = CallRegistry(self.stream)
        self.desk = ServerDesk(
            public_host=lambda: self.public_host,
            registry=self.registry,
            new_inbound_call=self._inbound_call,
            on_media_start=self._media_started,
            on_transfer_ended=self._transfer_ended,
            verify_call=carrier.call_snapshot if verify_with_carrier else None,
        )
        self._routes = carrier.routes(self.desk)
        self.dashboard = dashboard
        """The dashboard served beside the webhooks (``None``: none)."""
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

        dashboard = [] if self.dashboard is None else self.dashboard.routes()
        app = Starlette(routes=[Route("/health", health), *self._routes, *dashboard])
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

    @property
    def carrier(self) -> CarrierPort:
        """The carrier the server serves."""
        return self._port

    async def configure_number(self) -> None:
        """Point the phone number at this server (WH-7/8); on failure, say what to set."""
        url = self._port.inbound_webhook_url()
        try:
            await self._port.configure_number(self._phone_number)
        except Exception as exc:
            logger.warning(
                "could not point %s at this server (%s); set its %s webhook to %s yourself",
                self._phone_number,
                exc,
                self._port.name,
                url,
            )
        else:
            logger.info("%s now rings this server at %s", self._phone_number, url)

    async def wait_stopped(self) -> None:
        """Wait until the server stops."""
        if self._server is not None:
            await self._server.wait_stopped()

    async def stop(self) -> None:
        """Hang up calls in progress (each reports its end), then stop serving."""
        self.desk.stop_accepting()

        async def end(session: CallSession) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.shutdown(), _STOP_TIMEOUT)

        try:
            await asyncio.gather(*(end(session) for session in self.registry.active()))
            if self.dashboard is not None:
                # Browsers get the ends of those calls, then their event streams end now
                # rather than at the end of the graceful shutdown's wait.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stream.drain(), _DRAIN_TIMEOUT)
                self.dashboard.close()
            if self._server is not None:
                await self._server.stop(_STOP_TIMEOUT)
            if self._tunnel is not None:
                await self._tunnel.stop()
            await self._port.aclose()
        finally:
            if self._frozen:
                self._frozen = False
                thaw_startup_objects()

    # ------------------------------------------------------------------ calls

    def _new_session(self, **kwargs: Any) -> CallSession:
        agent: Agent = kwargs.pop("agent", None) or self.agent
        callbacks: CallCallbacks = kwargs.pop("callbacks", None) or self._callbacks
        on_message = self._on_message if agent.provider == "pipeline" else None
        session = CallSession(
            agent=agent,
            engine_factory=self._engine_factory
            if agent is self.agent
            else engine_factory(agent, on_message),
            description=agent.describe(on_message=on_message),
            carrier=self._port,
            telephony_provider=self._port.name,
            callbacks=callbacks,
            events=self.stream,
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

    def _transfer_ended(self, ended: TransferEnded) -> None:
        """The dialed leg of a transfer ended: tell subscribers what it lasted and cost.

        Both legs are billed while they are bridged: the transferred call stays up, and the
        dialed leg is a new outbound call. Each is counted at the carrier's minute price.
        """
        seconds = ended.duration_seconds
        cost = 2 * telephony_cost(self._pricing, self._port.name, seconds)
        self.stream.publish(
            TransferFinished(
                call_id=ended.call_id,
                status=ended.status,
                dial_call_id=ended.dial_call_id,
                duration_seconds=seconds,
                cost_usd=cost,
            )
        )

    async def _media_started(self, session: CallSession) -> None:
        if self._recording and session.direction == "inbound":
            try:
                await self._port.start_recording(session.call_sid)
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
        request = DialRequest(
            to=to,
            from_number=from_number,
            patter_id=session.patter_id,
            ring_timeout=ring_timeout,
            machine_detection=machine_detection,
            wait_for_greeting=bool(voicemail),
            record=self._recording,
        )
        try:
            call_sid = await self._port.dial(request)
        except BaseException:
            self.registry.remove(session)
            raise
        self.registry.bind_sid(session, call_sid)
        return call_sid
