"""Twilio: credentials and configuration.

The wire code lives in submodules that load the ``twilio`` SDK and pydantic only when imported:
:mod:`~getpatter.carriers.twilio.media` (Media Streams frames),
:mod:`~getpatter.carriers.twilio.webhooks` (signatures, form posts, TwiML) and
:mod:`~getpatter.carriers.twilio.adapter` (REST calls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_str
from getpatter.errors import ConfigError, InputValidationError

if TYPE_CHECKING:
    from getpatter.carriers.base import CarrierPort

__all__ = ["DEFAULT_BASE_URL", "Carrier"]

DEFAULT_BASE_URL = "https://api.twilio.com"
"""Twilio's REST API host; the SDK appends ``/2010-04-01/Accounts/...`` to it."""


@dataclass(frozen=True)
class Carrier:
    """Twilio account credentials.

    Empty arguments are read from ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``. Both are
    required. The auth token never appears in ``repr``.

    ``base_url`` is the REST API host (``TWILIO_BASE_URL``, else ``https://api.twilio.com``):
    a regional host such as ``https://api.dublin.ie1.twilio.com``, or a local Twilio simulator
    in tests. It is a scheme and host with an optional port, without a path.
    """

    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    base_url: str = ""

    def __post_init__(self) -> None:
        require_str("Twilio account_sid", self.account_sid)
        require_str("Twilio auth_token", self.auth_token)
        require_str("Twilio base_url", self.base_url)
        sid = env_fallback(self.account_sid, "TWILIO_ACCOUNT_SID")
        token = env_secret(self.auth_token, "TWILIO_AUTH_TOKEN")
        missing = [
            name
            for name, value, env in (
                ("account_sid", sid, "TWILIO_ACCOUNT_SID"),
                ("auth_token", token, "TWILIO_AUTH_TOKEN"),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "The Twilio carrier needs account_sid and auth_token: pass "
                + " and ".join(f"{name}=..." for name in missing)
                + " to Twilio(...) or set "
                + " and ".join(
                    {"account_sid": "TWILIO_ACCOUNT_SID", "auth_token": "TWILIO_AUTH_TOKEN"}[n]
                    for n in missing
                )
            )
        if not sid.startswith("AC"):
            raise InputValidationError(
                "Twilio account_sid must start with 'AC' (find it on the Twilio console home "
                "page); an API key SID ('SK...') is not an account SID"
            )
        base_url = _require_base_url(
            env_fallback(self.base_url.strip(), "TWILIO_BASE_URL") or DEFAULT_BASE_URL
        )
        object.__setattr__(self, "account_sid", sid)
        object.__setattr__(self, "auth_token", token)
        object.__setattr__(self, "base_url", base_url)

    @property
    def provider(self) -> str:
        """The telephony provider name used in metrics and logs."""
        return "twilio"

    def port(self, phone_number: str) -> CarrierPort:
        """This account as the embedded server uses it, answering ``phone_number``."""
        from getpatter.carriers.twilio.port import TwilioPort

        return TwilioPort(self, phone_number)


def _require_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash if it is ``http(s)://host[:port]``."""
    hint = (
        f"Twilio base_url={url!r} (or TWILIO_BASE_URL) must be an absolute http(s) URL with "
        f"no path, such as {DEFAULT_BASE_URL!r}"
    )
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise InputValidationError(hint) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or parts.netloc.endswith(":")
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or " " in url
    ):
        raise InputValidationError(hint)
    return f"{parts.scheme}://{parts.netloc}"
