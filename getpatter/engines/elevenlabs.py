"""ElevenLabs Conversational AI: engine configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_str
from getpatter.errors import ConfigError

__all__ = ["ConvAI"]


@dataclass(frozen=True)
class ConvAI:
    """An ElevenLabs conversational agent, configured on the ElevenLabs side, referenced by id.

    Empty values are read from ``ELEVENLABS_API_KEY`` and ``ELEVENLABS_AGENT_ID``. ``voice``
    overrides the remote agent's default voice; empty keeps it.
    """

    api_key: str = field(default="", repr=False)
    agent_id: str = ""
    voice: str = ""

    def __post_init__(self) -> None:
        require_str("ElevenLabsConvAI api_key", self.api_key)
        require_str("ElevenLabsConvAI agent_id", self.agent_id)
        require_str("ElevenLabsConvAI voice", self.voice)
        object.__setattr__(self, "api_key", env_secret(self.api_key, "ELEVENLABS_API_KEY"))
        object.__setattr__(self, "agent_id", env_fallback(self.agent_id, "ELEVENLABS_AGENT_ID"))

    @property
    def provider(self) -> Literal["elevenlabs_convai"]:
        """The provider-mode string."""
        return "elevenlabs_convai"

    def check_credentials(self) -> None:
        """Raise :class:`ConfigError` when the API key or the agent id is missing."""
        missing = [
            f"{arg}= (or {env})"
            for arg, value, env in (
                ("api_key", self.api_key, "ELEVENLABS_API_KEY"),
                ("agent_id", self.agent_id, "ELEVENLABS_AGENT_ID"),
            )
            if not value
        ]
        if missing:
            raise ConfigError("ElevenLabsConvAI needs " + " and ".join(missing))
