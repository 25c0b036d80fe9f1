"""``TelnyxSimulator``: a loopback Telnyx Call Control (Voice API v2) for an app under test."""

from __future__ import annotations

import secrets
import time

from starlette.applications import Starlette

from getpatter._validation import require_e164, require_number, require_str
from getpatter.errors import ConfigError
from getpatter.testing.phone_network.call import SimulatedCall, Webhook
from getpatter.testing.phone_network.simulator import CarrierSimulator, checked_callee
from getpatter.testing.scenario import Callee
from getpatter.testing.telnyx_simulator.account import (
    CallControlApplication,
    PhoneNumber,
    new_id,
)
from getpatter.testing.telnyx_simulator.exchange import Exchange
from getpatter.testing.telnyx_simulator.rest import build_app

__all__ = ["TelnyxSimulator"]


class TelnyxSimulator(CarrierSimulator[Exchange]):
    """Telnyx Call Control on 127.0.0.1, as seen by an app: REST API, webhooks, media.

    Use it as an async context manager; point the app's Telnyx client at :attr:`base_url`
    (``telnyx.AsyncTelnyx(api_key=sim.api_key, base_url=sim.base_url)``) and give it
    :attr:`public_key` to verify webhooks. The account has one Call Control application,
    :attr:`connection_id`; configure its ``webhook_event_url`` (constructor, over REST, or
    :attr:`application`) and give it numbers with :meth:`add_number`. The simulator places the
    calls the app dials (played by the :class:`Callee` set with :meth:`callee_for`), sends
    Ed25519-signed webhooks, runs the call commands and opens the media WebSocket to the
    ``stream_url`` the app gives. :meth:`place_inbound_call` makes someone call the app. Every
    call is recorded as a :class:`SimulatedCall` in :attr:`calls`.

    URLs are used exactly as given (``https://127.0.0.1:PORT/...``) but connected to over plain
    ``http://``/``ws://`` when the host is loopback: the simulator plays Telnyx and the
    TLS-terminating proxy in front of the app.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        webhook_event_url: str | None = None,
        webhook_timeout: float = 15.0,
        answer_timeout: float = 30.0,
    ) -> None:
        if api_key is None:
            # Every secret Patter makes comes from token_urlsafe (the test suite marks those).
            api_key = "KEY" + secrets.token_urlsafe(24)
        require_str("api_key", api_key, allow_empty=False)
        timeout = require_number("webhook_timeout", webhook_timeout, minimum=0.1)
        answer_s = require_number("answer_timeout", answer_timeout, minimum=0.1)
        self._exchange = Exchange(api_key, timeout, answer_s)
        if webhook_event_url is not None:
            require_str("webhook_event_url", webhook_event_url, allow_empty=False)
        application = CallControlApplication(new_id(), "patter-simulator", webhook_event_url)
        self._exchange.applications[application.id] = application
        self._application = application
        super().__init__(self._exchange)

    @property
    def api_key(self) -> str:
        """The API key the REST API accepts as ``Authorization: Bearer <api_key>``."""
        return self._exchange.api_key

    @property
    def public_key(self) -> str:
        """The webhook verification key (base64 of 32 raw Ed25519 bytes): the app's
        ``TELNYX_PUBLIC_KEY``. The private key never leaves the simulator."""
        return self._exchange.signer.public_key

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v2``: the API base URL, used instead of
        ``https://api.telnyx.com/v2``."""
        self._require_running()
        return self._exchange.base_url + "/v2"

    @property
    def connection_id(self) -> str:
        """The id of the account's Call Control application (the ``connection_id``)."""
        return self._application.id

    @property
    def application(self) -> CallControlApplication:
        """The account's Call Control application; set its ``webhook_event_url`` here or over
        REST (``PATCH /v2/call_control_applications/{id}``)."""
        return self._application

    @property
    def numbers(self) -> dict[str, PhoneNumber]:
        """The account's phone numbers, by E.164 number."""
        return dict(self._exchange.numbers)

    @property
    def answer_timeout(self) -> float:
        """Seconds an incoming call waits for the app's ``answer`` before the caller hangs up
        (``originator_cancel``); 30 by default. Applies to calls placed after it is set."""
        return self._exchange.answer_timeout_s

    @answer_timeout.setter
    def answer_timeout(self, seconds: float) -> None:
        self._exchange.answer_timeout_s = require_number("answer_timeout", seconds, minimum=0.1)

    def add_number(self, number: str, *, connection_id: str | None = None) -> PhoneNumber:
        """Give the account the phone ``number``, routed to ``connection_id`` (by default the
        account's application; ``""`` for none). The app can list and reassign it over REST."""
        require_e164("number", number)
        connection = self.connection_id if connection_id is None else connection_id or None
        if connection is not None and connection not in self._exchange.applications:
            raise ConfigError(f"connection_id {connection!r} is not an application of this account")
        phone = PhoneNumber(new_id(), number, connection)
        self._exchange.numbers[number] = phone
        return phone

    async def place_inbound_call(
        self,
        to: str,
        *,
        from_: str | None = None,
        callee: Callee | None = None,
        webhook_url: str | None = None,
    ) -> SimulatedCall:
        """Someone (``callee``, from ``from_`` or ``callee.number``) calls the app at ``to``.

        ``call.initiated`` (incoming, parked) goes to ``webhook_url``, or to the
        ``webhook_event_url`` of the application the number ``to`` is assigned to. The call
        waits for the app's ``answer``. Returns at once; await ``call.finished()`` for the end.
        """
        require_e164("to", to)
        callee = checked_callee(callee if callee is not None else Callee())
        caller = require_e164("from_", from_ if from_ is not None else callee.number)
        number = self._exchange.numbers.get(to)
        connection = number.connection_id if number is not None else self.connection_id
        application = self._exchange.applications.get(connection or "")
        if application is None:
            raise ConfigError(f"{to} is not assigned to a Call Control application")
        if webhook_url is None and not application.webhook_event_url:
            raise ConfigError(
                f"no webhook URL for {to}: pass webhook_url='https://<host>/webhooks/telnyx/voice'"
                " or set the application's webhook_event_url first"
            )
        self._require_running()
        return self._exchange.ring_in(to, caller, callee, application, webhook_url).call

    async def replay_webhook(
        self, webhook: Webhook, *, resign: bool = False, timestamp: int | None = None
    ) -> int | None:
        """Send a webhook the app already received again, for replay tests.

        By default the body and headers are the same, byte for byte (a replay by an attacker
        or a retried delivery); with ``resign`` it is signed afresh (now, or at ``timestamp``,
        a Unix time: a stale one tests the app's tolerance). The replay is not recorded on the
        call. Returns the app's HTTP status, or ``None`` if it could not be reached.
        """
        if not webhook.body:
            raise ConfigError("only a Telnyx webhook (one with a JSON body) can be replayed")
        if resign and timestamp is None:
            timestamp = int(time.time())
        return await self._exchange.webhooks.replay(webhook, timestamp=timestamp)

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The ``telnyx-signature-ed25519`` and ``telnyx-timestamp`` headers for ``body``, as
        the simulator signs them (for tests that forge or tamper with a webhook)."""
        return self._exchange.signer.headers(body, timestamp)

    def _build_app(self) -> Starlette:
        return build_app(self._exchange)
