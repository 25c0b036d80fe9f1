"""OpenAI Realtime: engine configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from getpatter._env import env_fallback
from getpatter._validation import require_str
from getpatter.errors import ConfigError

__all__ = ["Realtime"]


@dataclass(frozen=True)
class Realtime:
    """The OpenAI Realtime speech-to-speech engine.

    An empty ``api_key`` is read from ``OPENAI_API_KEY``. A missing key is reported when an agent
    is built with this engine, so the object itself can be created before the environment is set.
    """

    api_key: str = field(default="", repr=False)
    voice: str = "alloy"
    model: str = "gpt-4o-mini-realtime-preview"

    def __post_init__(self) -> None:
        require_str("OpenAIRealtime api_key", self.api_key)
        require_str("OpenAIRealtime voice", self.voice, allow_empty=False)
        require_str("OpenAIRealtime model", self.model, allow_empty=False)
        object.__setattr__(self, "api_key", env_fallback(self.api_key, "OPENAI_API_KEY"))

    @property
    def provider(self) -> Literal["openai_realtime"]:
        """The provider-mode string (spec EN-9)."""
        return "openai_realtime"

    def check_credentials(self) -> None:
        """Raise :class:`ConfigError` when no API key is available."""
        if not self.api_key:
            raise ConfigError(
                "OpenAIRealtime needs an API key: pass OpenAIRealtime(api_key=...) or set "
                "OPENAI_API_KEY"
            )
