"""Telnyx: credentials and configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_str
from getpatter.errors import ConfigError

__all__ = ["Carrier"]


@dataclass(frozen=True)
class Carrier:
    """Telnyx Call Control credentials.

    Empty arguments are read from ``TELNYX_API_KEY``, ``TELNYX_CONNECTION_ID`` (the Call Control
    Application id) and ``TELNYX_PUBLIC_KEY``. The API key and connection id are required; the
    public key is optional and, when present, turns on webhook signature checks. Secrets never
    appear in ``repr``.
    """

    api_key: str = field(default="", repr=False)
    connection_id: str = ""
    public_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for name in ("api_key", "connection_id", "public_key"):
            require_str(f"Telnyx {name}", getattr(self, name))
        api_key = env_secret(self.api_key, "TELNYX_API_KEY")
        connection_id = env_fallback(self.connection_id, "TELNYX_CONNECTION_ID")
        public_key = env_fallback(self.public_key, "TELNYX_PUBLIC_KEY")
        if not api_key or not connection_id:
            raise ConfigError(
                "The Telnyx carrier needs api_key and connection_id: pass them to Telnyx(...) "
                "or set TELNYX_API_KEY and TELNYX_CONNECTION_ID (the id of your Call Control "
                "Application)"
            )
        object.__setattr__(self, "api_key", api_key)
        object.__setattr__(self, "connection_id", connection_id)
        object.__setattr__(self, "public_key", public_key)

    @property
    def provider(self) -> str:
        """The telephony provider name used in metrics and logs."""
        return "telnyx"
