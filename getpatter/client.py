"""The :class:`Patter` client: one carrier, one phone number, agents, and how calls are run."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from getpatter._hostname import require_hostname
from getpatter._validation import (
    require_bool,
    require_callable,
    require_e164,
    require_int,
    require_str,
)
from getpatter.agent import Agent, build_agent
from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.calls.store import CallStore, feed
from getpatter.calls.stream import CallEventStream
from getpatter.carriers.base import CarrierConfig
from getpatter.errors import ConfigError
from getpatter.observability.events import EventBus, default_event_bus
from getpatter.observability.pricing import PriceTable
from getpatter.tunnels import CloudflareTunnel, Ngrok, Static

if TYPE_CHECKING:
    from getpatter.call import LiveCall, TransferGuard
    from getpatter.calls.call_log import CallLogger
    from getpatter.pipeline.brains import MessageWebhook
    from getpatter.server.embedded import EmbeddedServer

__all__ = ["Patter"]

logger = logging.getLogger("getpatter")

_SERVER_START_WAIT = 30.0

MessageHandler = Callable[..., Awaitable[str | None] | str | None]
CallbackHandler = Callable[[dict[str, Any]], Awaitable[Any] | Any]


class Patter:
    """The Patter client.

    ``carrier`` is ``Twilio(...)``, ``Telnyx(...)`` or ``None``. Without a carrier the client can
    still build agents and run :meth:`test` (terminal test mode) and the sandbox; real calls need
    one. With a carrier, ``phone_number`` (E.164) is required. ``webhook_url`` is the public
    hostname carriers call back, without scheme; ``tunnel`` (``True`` = ``CloudflareTunnel()``)
    obtains one instead. ``pricing`` overrides unit prices, e.g. ``{"twilio": {"price": 0.015}}``.

    ``call_store`` keeps what this phone's calls did (summaries, transcripts, turn metrics, end
    reports) for the dashboard and the call-control service: an
    :class:`~getpatter.calls.memory_store.InMemoryCallStore` by default (lost on restart), or
    e.g. a :class:`~getpatter.calls.sqlite_store.SQLiteCallStore` to keep them. With
    ``PATTER_LOG_DIR`` set, each call is also written to that folder
    (:class:`~getpatter.calls.call_log.CallLogger`).
    """

    def __init__(
        self,
        carrier: CarrierConfig | None = None,
        phone_number: str = "",
        webhook_url: str = "",
        tunnel: CloudflareTunnel | Static | Ngrok | bool | None = None,
        pricing: dict[str, dict[str, float]] | None = None,
        *,
        call_store: CallStore | None = None,
    ) -> None:
        if carrier is not None and not isinstance(carrier, CarrierConfig):
            raise ConfigError(
                f"carrier must be Twilio(...), Telnyx(...) or None, got {type(carrier).__name__}"
            )
        require_str("phone_number", phone_number)
        if phone_number:
            require_e164("phone_number", phone_number)
        elif carrier is not None:
            raise ConfigError(
                f"phone_number is required with the {carrier.provider} carrier: pass your "
                "number in E.164 form, e.g. Patter(carrier=..., phone_number='+15550001234')"
            )
        require_str("webhook_url", webhook_url)
        if webhook_url:
            webhook_url = require_hostname("webhook_url", webhook_url)
        if tunnel is True:
            tunnel = CloudflareTunnel()
        elif tunnel is False:
            tunnel = None
        if tunnel is not None and not isinstance(tunnel, CloudflareTunnel | Static | Ngrok):
            raise ConfigError(
                "tunnel must be True, False, None, CloudflareTunnel(), Static(hostname=...) or "
                f"Ngrok(hostname=...), got {type(tunnel).__name__}"
            )
        if tunnel is not None and webhook_url:
            raise ConfigError(
                "pass either webhook_url= (your public hostname) or tunnel=, not both"
            )
        self._carrier = carrier
        self._phone_number = phone_number
        self._webhook_url = webhook_url
        self._tunnel = tunnel
        self._pricing = PriceTable(pricing)
        self._call_events = CallEventStream()
        self._call_events.bridge(default_event_bus())
        if call_store is not None and not isinstance(call_store, CallStore):
            raise ConfigError(
                "call_store must implement getpatter.calls.store.CallStore (e.g. "
                f"InMemoryCallStore() or SQLiteCallStore(path)), got {type(call_store).__name__}"
            )
        self._call_store: CallStore = call_store or InMemoryCallStore()
        feed(self._call_events, self._call_store)
        self._call_log: CallLogger | None = None
        """The call logger ``PATTER_LOG_DIR`` turned on, if any."""
        if os.environ.get("PATTER_LOG_DIR", "").strip():  # call logs (spec LG): off unless set
            from getpatter.calls.call_log import log_from_env

            self._call_log = log_from_env(self._call_events, self._call_store)
        self._traced = False
        """A call tracer is subscribed to :attr:`call_events` (tracing was on at serve time)."""
        self._server: EmbeddedServer | None = None
        self._server_starting: asyncio.Event | None = None

    @property
    def carrier(self) -> CarrierConfig | None:
        """The configured carrier, or ``None``."""
        return self._carrier

    @property
    def phone_number(self) -> str:
        """The agent's own number (E.164), or ``""``."""
        return self._phone_number

    @property
    def webhook_url(self) -> str:
        """The public hostname carriers call back, or ``""``."""
        return self._webhook_url

    @property
    def tunnel(self) -> CloudflareTunnel | Static | Ngrok | None:
        """The tunnel directive, or ``None``."""
        return self._tunnel

    @property
    def pricing(self) -> PriceTable:
        """Unit prices used for cost tracking: the defaults with ``pricing=`` applied."""
        return self._pricing

    @property
    def events(self) -> EventBus:
        """The process-wide :class:`EventBus`; subscribe at any time."""
        return default_event_bus()

    @property
    def call_events(self) -> CallEventStream:
        """This phone's calls as typed events (:mod:`getpatter.calls.events`), in order; the
        process-wide :attr:`events` bus receives them too, as dict payloads."""
        return self._call_events

    @property
    def call_store(self) -> CallStore:
        """Where this phone's calls are kept once observed (fed by :attr:`call_events`)."""
        return self._call_store

    #: Build an :class:`Agent`; see :func:`getpatter.agent.build_agent` for every parameter.
    agent = staticmethod(build_agent)

    async def serve(
        self,
        agent: Agent,
        port: int = 8000,
        recording: bool = False,
        on_call_start: CallbackHandler | None = None,
        on_call_end: CallbackHandler | None = None,
        on_transcript: CallbackHandler | None = None,
        on_message: MessageHandler | str | MessageWebhook | None = None,
        on_metrics: CallbackHandler | None = None,
        voicemail_message: str = "",
        dashboard: bool = True,
        dashboard_token: str = "",
        tunnel: bool = False,
        *,
        host: str = "0.0.0.0",
        configure_number: bool | None = None,
        transfer_guard: TransferGuard | None = None,
        verify_with_carrier: bool = False,
    ) -> None:
        """Answer calls with ``agent`` until :meth:`disconnect` (or cancellation) stops the server.

        Webhooks, media streams and ``/health`` share ``port`` on ``host``. Every call reports
        its end to ``on_call_end`` exactly once; calls in progress when the server stops are hung
        up and reported. ``voicemail_message`` is left on answering machines by outbound calls
        placed with ``machine_detection=True``.

        ``dashboard`` (on by default) serves the dashboard on the same port: the page at
        ``/dashboard``, its JSON API under ``/api/v1/`` (see ``getpatter.dashboard``). Every
        dashboard route needs ``dashboard_token`` (16 or more visible ASCII characters), as
        ``Authorization: Bearer <token>`` or ``?token=<token>``; the webhooks and ``/health``
        do not. The server is reachable from the internet through its webhook host, so without
        a ``dashboard_token`` one is generated, and the banner on stderr prints the dashboard
        URL with it (a token you pass is never printed). ``dashboard=False``: no dashboard
        routes at all.

        ``configure_number`` points the phone number at this server before it reports ready
        (spec WH-7). By default (``None``) that happens when the public hostname comes from a
        tunnel that picks a new one every run (``tunnel=True`` here or on :class:`Patter`,
        ``CloudflareTunnel()``), which would otherwise leave the number ringing an old address;
        a ``webhook_url`` or ``Static``/``Ngrok`` hostname is yours to set once, so the number
        is left alone. ``True`` or ``False`` decides either way. When the carrier refuses,
        serving goes on and a warning gives the URL to set by hand (WH-8).

        ``on_message`` (pipeline agents) answers each finished caller utterance instead of an
        LLM: a function ``(message)`` or ``(message, call)`` returning the text to speak, or an
        http(s) URL / :class:`~getpatter.pipeline.brains.MessageWebhook` that gets the message
        as a JSON POST.

        ``transfer_guard`` checks every transfer of every call before it is made, whoever asks
        for it (the model's ``transfer_call``, ``CallControl.transfer()``): the call-control
        service passes its safety policy here (``getpatter.control``). Without one, transfers
        to any valid number go ahead.

        ``verify_with_carrier=True`` asks the carrier, before an AI session is opened for a new
        inbound call, whether that call is really live (on Twilio also: between the numbers the
        webhook names; one REST request per inbound call). It closes the one gap signatures
        leave: a signed webhook captured and replayed for a call this server never saw.
        """
        from getpatter.call import OPEN_TRANSFERS
        from getpatter.dashboard import Dashboard, generate_token, page_url, validate_token
        from getpatter.server.embedded import EmbeddedServer
        from getpatter.session import CallCallbacks

        if not isinstance(agent, Agent):
            raise ConfigError(
                f"serve() needs an Agent from phone.agent(...), got {type(agent).__name__}"
            )
        require_int("port", port, minimum=1, maximum=65535)
        require_bool("recording", recording)
        require_bool("dashboard", dashboard)
        validate_token("dashboard_token", dashboard_token)
        if dashboard_token and not dashboard:
            raise ConfigError(
                "dashboard_token= protects the dashboard, which dashboard=False turns off: "
                "remove one of them"
            )
        require_str("voicemail_message", voicemail_message)
        require_bool("tunnel", tunnel)
        require_str("host", host, allow_empty=False)
        if configure_number is not None:
            require_bool("configure_number", configure_number)
        require_bool("verify_with_carrier", verify_with_carrier)
        if transfer_guard is not None and not callable(getattr(transfer_guard, "transfer", None)):
            raise ConfigError(
                "transfer_guard must have a transfer(request) method returning an async context "
                f"manager (see getpatter.call.TransferGuard), got {type(transfer_guard).__name__}"
            )
        callbacks = {
            "on_call_start": on_call_start,
            "on_call_end": on_call_end,
            "on_transcript": on_transcript,
            "on_metrics": on_metrics,
        }
        for name, value in callbacks.items():
            if value is not None:
                require_callable(name, value)
        if on_message is not None and not isinstance(on_message, str):
            from getpatter.pipeline.brains import MessageWebhook

            if not isinstance(on_message, MessageWebhook):
                require_callable("on_message", on_message)
        if self._carrier is None:
            raise ConfigError(
                "serve() needs a carrier: Patter(carrier=Twilio() or Telnyx(), phone_number=..., "
                "webhook_url=...)"
            )
        if self._server is not None:
            raise ConfigError("this Patter is already serving: call disconnect() first")
        tunnel_directive = self._tunnel
        if tunnel:
            if self._webhook_url:
                raise ConfigError("serve(tunnel=True) cannot be combined with webhook_url=")
            from getpatter.tunnels import CloudflareTunnel

            tunnel_directive = tunnel_directive or CloudflareTunnel()
        public_host = self._webhook_url
        if isinstance(tunnel_directive, Static):
            public_host, tunnel_directive = tunnel_directive.hostname, None
        if not public_host and tunnel_directive is None:
            raise ConfigError(
                "serve() needs the public hostname the carrier calls back: pass "
                "Patter(webhook_url='your.host') or tunnel=True"
            )
        if configure_number is None:
            # A quick tunnel's hostname is new every run: the number must follow it.
            configure_number = tunnel_directive is not None
        board: Dashboard | None = None
        generated_token = dashboard and not dashboard_token
        if dashboard:
            # Reachable from the internet through the webhook host: never without a token.
            token = generate_token() if generated_token else dashboard_token
            board = Dashboard(self._call_store, stream=self._call_events, token=token)
        if not self._traced:  # spec TR: init_tracing() before serve() traces this server's calls
            from getpatter.observability.tracing.call_spans import trace_calls

            self._traced = trace_calls(self._call_events) is not None
        server = EmbeddedServer(
            carrier=self._carrier.port(self._phone_number),
            phone_number=self._phone_number,
            agent=agent,
            callbacks=CallCallbacks(**callbacks),
            events=self._call_events,
            pricing=self._pricing,
            public_host=public_host,
            tunnel=tunnel_directive,
            recording=recording,
            voicemail_message=voicemail_message,
            on_message=on_message,
            transfer_guard=transfer_guard if transfer_guard is not None else OPEN_TRANSFERS,
            verify_with_carrier=verify_with_carrier,
            dashboard=board,
        )
        self._server = server
        try:
            await server.start(host=host, port=port, configure_number=configure_number)
            logger.info(
                "Patter is answering %s at https://%s", self._phone_number, server.public_host
            )
            banner = (
                f"Patter serving {self._phone_number} (agent: "
                f"{agent.describe(on_message=on_message)})\n"
                f"  {server.carrier.name} webhook: {server.carrier.inbound_webhook_url()}"
            )
            if board is not None:
                if generated_token:
                    # Like Jupyter: the token is new and only this console knows it.
                    banner += f"\n  Dashboard: {page_url(host, server.port, board.token)}"
                else:
                    url = page_url(host, server.port)
                    banner += f"\n  Dashboard: {url} (token: the dashboard_token given to serve)"
            # On stderr: stdout may be a protocol channel (an MCP stdio server, a pipe).
            print(banner, file=sys.stderr)
            await server.wait_stopped()
        finally:
            await server.stop()
            self._server = None

    async def call(
        self,
        to: str,
        first_message: str = "",
        from_number: str = "",
        agent: Agent | None = None,
        machine_detection: bool = False,
        on_machine: CallbackHandler | None = None,
        voicemail_message: str = "",
        ring_timeout: int | None = None,
    ) -> str:
        """Place an outbound call through the running server; return the carrier's call id.

        Start :meth:`serve` first (for example as a background task): the call's webhooks and
        media come back to it. ``first_message`` overrides the agent's greeting for this call;
        ``agent`` defaults to the served agent; ``ring_timeout`` is in seconds (5-600).
        ``voicemail_message`` and ``on_machine`` need ``machine_detection=True``.
        """
        require_e164("to", to)
        require_str("first_message", first_message)
        require_str("from_number", from_number)
        if from_number:
            require_e164("from_number", from_number)
        if agent is not None and not isinstance(agent, Agent):
            raise ConfigError(
                f"agent must be an Agent from phone.agent(...), got {type(agent).__name__}"
            )
        require_bool("machine_detection", machine_detection)
        if on_machine is not None:
            require_callable("on_machine", on_machine)
            if not machine_detection:
                raise ConfigError(
                    "on_machine= needs machine_detection=True: without it no machine is detected"
                )
        require_str("voicemail_message", voicemail_message)
        if voicemail_message and not machine_detection:
            raise ConfigError(
                "voicemail_message= needs machine_detection=True to know a machine answered"
            )
        if ring_timeout is not None:
            require_int("ring_timeout", ring_timeout, minimum=5, maximum=600)
        if self._carrier is None:
            raise ConfigError(
                "call() needs a carrier: Patter(carrier=Twilio() or Telnyx(), phone_number=..., "
                "webhook_url=...)"
            )
        server = await self._running_server()
        return await server.dial(
            to=to,
            from_number=from_number or self._phone_number,
            agent=agent,
            first_message=first_message,
            machine_detection=machine_detection,
            on_machine=on_machine,
            voicemail_message=voicemail_message,
            ring_timeout=ring_timeout,
        )

    def live_call(self, call_id: str) -> LiveCall | None:
        """The call ``call_id`` if it is in progress on this phone's server, to act on it
        (hang up, transfer, say, instruct, press keys); ``None`` otherwise."""
        server = self._server
        return server.registry.find(call_sid=call_id) if server is not None else None

    async def ready(self) -> None:
        """Wait (at most 30 s) until :meth:`serve`, started in the background, takes calls."""
        await self._running_server()

    async def _running_server(self) -> EmbeddedServer:
        for _ in range(2):
            if self._server is None:
                await asyncio.sleep(0)
        server = self._server
        if server is None:
            raise ConfigError(
                "no server is running: start it first, e.g. "
                "asyncio.create_task(phone.serve(agent)), then await phone.call(...)"
            )
        try:
            await asyncio.wait_for(server.ready.wait(), _SERVER_START_WAIT)
        except TimeoutError:
            raise ConfigError("the server did not become ready in time") from None
        return server

    async def disconnect(self) -> None:
        """Stop the embedded server: calls in progress are hung up and reported; serve() returns."""
        server = self._server
        if server is not None:
            await server.stop()

    async def test(
        self,
        agent: Agent,
        on_message: MessageHandler | None = None,
        on_call_start: CallbackHandler | None = None,
        on_call_end: CallbackHandler | None = None,
    ) -> None:
        """Run one simulated call in the terminal: you type as the caller, the agent replies.

        No carrier, speech service or server is involved; with ``on_message`` no credentials
        are needed at all. Commands: ``/quit``, ``/hangup``, ``/transfer <number>``, ``/history``.
        """
        from getpatter.testing.terminal import TerminalCall

        await TerminalCall(
            agent,
            on_message=on_message,
            on_call_start=on_call_start,
            on_call_end=on_call_end,
            pricing=self._pricing,
            events=self._call_events,
        ).run()

    def __repr__(self) -> str:
        return (
            f"Patter(carrier={self._carrier!r}, phone_number={self._phone_number!r}, "
            f"webhook_url={self._webhook_url!r}, tunnel={self._tunnel!r})"
        )
