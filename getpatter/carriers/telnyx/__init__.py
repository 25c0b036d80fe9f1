"""Telnyx: credentials and configuration.

The wire code lives in submodules that load the ``telnyx`` SDK (the ``getpatter[telnyx]``
extra) only when a server starts: :mod:`~getpatter.carriers.telnyx.media` (media-stream
messages), :mod:`~getpatter.carriers.telnyx.webhooks` (signatures and events),
:mod:`~getpatter.carriers.telnyx.adapter` (Call Control REST) and
:mod:`~getpatter.carriers.telnyx.routes` (the server's routes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_bool, require_str
from getpatter.errors import ConfigError, InputValidationError

if TYPE_CHECKING:
    from getpatter.carriers.base import CarrierPort

__all__ = ["DEFAULT_BASE_URL", "Carrier"]

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
"""Telnyx's Call Control REST API."""


@dataclass(frozen=True)
class Carrier:
    """Telnyx Call Control credentials.

    Empty arguments are read from ``TELNYX_API_KEY``, ``TELNYX_CONNECTION_ID`` (the Call Control
    Application id), ``TELNYX_PUBLIC_KEY`` and ``TELNYX_BASE_URL``. The API key and connection
    id are required. The public key (base64, from the Mission Control portal, "Keys &
    Credentials" > "Public Key") checks the Ed25519 signature of every webhook; a server will
    not start without it unless ``verify_webhooks=False`` says, explicitly, to accept unsigned
    webhooks (for local experiments only). Secrets never appear in ``repr``.

    ``base_url`` is the REST API (``https://api.telnyx.com/v2`` by default), or a local
    Telnyx simulator in tests.
    """

    api_key: str = field(default="", repr=False)
    connection_id: str = ""
    public_key: str = field(default="", repr=False)
    base_url: str = ""
    verify_webhooks: bool = True

    def __post_init__(self) -> None:
        for name in ("api_key", "connection_id", "public_key", "base_url"):
            require_str(f"Telnyx {name}", getattr(self, name))
        require_bool("Telnyx verify_webhooks", self.verify_webhooks)
        api_key = env_secret(self.api_key, "TELNYX_API_KEY")
        connection_id = env_fallback(self.connection_id, "TELNYX_CONNECTION_ID")
        public_key = env_fallback(self.public_key, "TELNYX_PUBLIC_KEY").strip()
        if not api_key or not connection_id:
            raise ConfigError(
                "The Telnyx carrier needs api_key and connection_id: pass them to Telnyx(...) "
                "or set TELNYX_API_KEY and TELNYX_CONNECTION_ID (the id of your Call Control "
                "Application)"
            )
        if public_key:
            _require_public_key(public_key)
            if not self.verify_webhooks:
                raise ConfigError(
                    "Telnyx(verify_webhooks=False) would leave the public key unused: keep the "
                    "key (TELNYX_PUBLIC_KEY) and drop verify_webhooks=False, or unset the key to "
                    "accept unsigned webhooks"
                )
        base_url = _require_base_url(
            env_fallback(self.base_url.strip(), "TELNYX_BASE_URL") or DEFAULT_BASE_URL
        )
        object.__setattr__(self, "api_key", api_key)
        object.__setattr__(self, "connection_id", connection_id)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "base_url", base_url)

    @property
    def provider(self) -> str:
        """The telephony provider name used in metrics and logs."""
        return "telnyx"

    def port(self, phone_number: str) -> CarrierPort:
        """This account as the embedded server uses it, answering ``phone_number``.

        Refuses to run without a public key unless ``verify_webhooks=False``.
        """
        if not self.public_key and self.verify_webhooks:
            raise ConfigError(
                "Telnyx webhooks must be checked with your account's public key: copy it from "
                "the Telnyx portal (Keys & Credentials > Public Key) into TELNYX_PUBLIC_KEY or "
                "Telnyx(public_key=...). To accept unsigned webhooks anyway (anyone who finds "
                "the URL could then start calls), pass Telnyx(verify_webhooks=False)"
            )
        if self.verify_webhooks:
            try:
                import nacl.signing  # noqa: F401  (the SDK checks signatures with PyNaCl)
            except ImportError:
                raise ConfigError(
                    "checking Telnyx webhook signatures needs PyNaCl: "
                    "pip install 'getpatter[telnyx]'"
                ) from None
        from getpatter.carriers.telnyx.port import TelnyxPort

        return TelnyxPort(self, phone_number)


def _require_public_key(key: str) -> None:
    import base64
    import binascii

    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InputValidationError(
            "Telnyx public_key (TELNYX_PUBLIC_KEY) must be the base64 of a 32-byte Ed25519 key, "
            "as the Telnyx portal shows it under Keys & Credentials > Public Key"
        )


def _require_base_url(url: str) -> str:
    hint = (
        f"Telnyx base_url={url!r} (or TELNYX_BASE_URL) must be an absolute http(s) URL such as "
        f"{DEFAULT_BASE_URL!r}"
    )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InputValidationError(hint) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
        or " " in url
    ):
        raise InputValidationError(hint)
    return url.rstrip("/")
