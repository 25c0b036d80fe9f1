"""Twilio: credentials and configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from getpatter._env import env_fallback
from getpatter._validation import require_str
from getpatter.errors import ConfigError, InputValidationError

__all__ = ["Carrier"]


@dataclass(frozen=True)
class Carrier:
    """Twilio account credentials.

    Empty arguments are read from ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``. Both are
    required. The auth token never appears in ``repr``.
    """

    account_sid: str = ""
    auth_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        require_str("Twilio account_sid", self.account_sid)
        require_str("Twilio auth_token", self.auth_token)
        sid = env_fallback(self.account_sid, "TWILIO_ACCOUNT_SID")
        token = env_fallback(self.auth_token, "TWILIO_AUTH_TOKEN")
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
        object.__setattr__(self, "account_sid", sid)
        object.__setattr__(self, "auth_token", token)

    @property
    def provider(self) -> str:
        """The telephony provider name used in metrics and logs."""
        return "twilio"
