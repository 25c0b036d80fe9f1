"""``TwilioSimulator``: a loopback Twilio Programmable Voice for an app under test."""

from __future__ import annotations

import re
import secrets
from typing import Literal

from starlette.applications import Starlette

from getpatter._validation import require_e164, require_number, require_str
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.simulator import CarrierSimulator, checked_callee
from getpatter.testing.scenario import Callee
from getpatter.testing.twilio_simulator.exchange import Exchange, PhoneNumber, new_sid
from getpatter.testing.twilio_simulator.leg import LegConfig
from getpatter.testing.twilio_simulator.rest import build_app

__all__ = ["TwilioSimulator"]

_ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$")


class TwilioSimulator(CarrierSimulator[Exchange]):
    """Twilio Programmable Voice on 127.0.0.1, as seen by an app: REST API, webhooks, media.

    Use it as an async context manager; point the app's Twilio REST client at
    :attr:`base_url` and give it :attr:`account_sid` / :attr:`auth_token`. The simulator then
    places the calls the app asks for (played by the :class:`Callee` set with
    :meth:`callee_for`), sends signed webhooks to the URLs the app gives, and opens the
    ``<Connect><Stream>`` media WebSocket. :meth:`place_inbound_call` makes someone call the
    app. Every call is recorded as a :class:`SimulatedCall` in :attr:`calls`.

    Webhook URLs are signed exactly as given (``https://127.0.0.1:PORT/...``) but connected to
    over plain ``http://``/``ws://`` when the host is loopback: the simulator plays Twilio and
    the TLS-terminating proxy in front of the app.
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        webhook_timeout: float = 15.0,
    ) -> None:
        if account_sid is None:
            account_sid = new_sid("AC")
        elif not isinstance(account_sid, str) or not _ACCOUNT_SID.fullmatch(account_sid):
            raise InputValidationError(
                f"account_sid={account_sid!r} is not a Twilio account sid: use 'AC' followed by "
                "32 lowercase hex digits, or leave it out to get a random one"
            )
        if auth_token is None:
            # Every secret Patter makes comes from token_urlsafe (the test suite marks those).
            auth_token = secrets.token_urlsafe(24)
        require_str("auth_token", auth_token, allow_empty=False)
        timeout = require_number("webhook_timeout", webhook_timeout, minimum=0.1)
        self._exchange = Exchange(account_sid, auth_token, timeout)
        super().__init__(self._exchange)

    @property
    def account_sid(self) -> str:
        """The simulated account's sid (``AC`` + 32 hex digits)."""
        return self._exchange.account_sid

    @property
    def auth_token(self) -> str:
        """The account's auth token: REST password and webhook signing key."""
        return self._exchange.auth_token

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the REST API base URL, used instead of api.twilio.com."""
        self._require_running()
        return self._exchange.base_url

    @property
    def numbers(self) -> dict[str, PhoneNumber]:
        """The account's phone numbers, by E.164 number."""
        return dict(self._exchange.numbers)

    def add_number(
        self,
        number: str,
        *,
        voice_url: str | None = None,
        voice_method: Literal["GET", "POST"] = "POST",
        status_callback: str | None = None,
    ) -> PhoneNumber:
        """Give the account the phone ``number`` (an IncomingPhoneNumber with a ``PN`` sid).

        Once the account has numbers, outbound calls must come ``From`` one of them (Twilio's
        error 21210 otherwise). The app can list and reconfigure numbers over REST.
        """
        require_e164("number", number)
        if voice_method not in ("GET", "POST"):
            raise ConfigError(f"voice_method must be 'GET' or 'POST', got {voice_method!r}")
        return self._exchange.add_number(
            PhoneNumber(new_sid("PN"), number, voice_url, voice_method, status_callback)
        )

    async def place_inbound_call(
        self,
        to: str,
        *,
        from_: str | None = None,
        callee: Callee | None = None,
        voice_url: str | None = None,
        voice_method: Literal["GET", "POST"] | None = None,
        status_callback: str | None = None,
    ) -> SimulatedCall:
        """Someone (``callee``, from ``from_`` or ``callee.number``) calls the app at ``to``.

        The voice webhook goes to ``voice_url``, or to the voice URL configured on the owned
        number ``to``. Like Twilio for an incoming call, only the final status callback is
        sent, to ``status_callback`` or the number's status callback, if any. Returns at once;
        await ``call.finished()`` for the end.
        """
        require_e164("to", to)
        callee = checked_callee(callee if callee is not None else Callee())
        caller = require_e164("from_", from_ if from_ is not None else callee.number)
        number = self._exchange.numbers.get(to)
        url = voice_url if voice_url is not None else (number.voice_url if number else None)
        if not url:
            raise ConfigError(
                f"no voice URL for {to}: pass voice_url='https://<host>/webhooks/twilio/voice' "
                "or configure the number's VoiceUrl first"
            )
        require_str("voice_url", url, allow_empty=False)
        method = voice_method or (number.voice_method if number else "POST")
        config = LegConfig(
            url=url,
            method=method,
            status_callback=status_callback or (number.status_callback if number else None),
            status_callback_method=number.status_callback_method if number else "POST",
        )
        self._require_running()
        return self._exchange.ring_in(to, caller, callee, config).call

    def _build_app(self) -> Starlette:
        return build_app(self._exchange)
