"""ElevenLabs Conversational AI: the engine's configuration, and the factory of its calls.

The conversational agent itself (its prompt, voice, LLM, tools, audio formats) is configured on
ElevenLabs and referenced by ``agent_id``; Patter bridges the phone call to it over the
conversation WebSocket (:mod:`getpatter.engines.elevenlabs.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_str
from getpatter.engines.capabilities import EngineCapabilities
from getpatter.engines.elevenlabs.endpoint import (
    AGENT_FORMATS,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    conversation_url,
)
from getpatter.errors import ConfigError

if TYPE_CHECKING:
    from getpatter.audio.formats import AudioFormat
    from getpatter.engines.base import Engine, EngineFactory

__all__ = ["CONVAI_CAPABILITIES", "ConvAI"]

CONVAI_CAPABILITIES = EngineCapabilities(
    answers_speech_turns=True,
    speaks_verbatim=False,
    takes_instructions=True,
    decides_interruptions=True,
    truncates_to_heard=False,
    greets_itself=True,
)
"""ConvAI answers every caller turn, decides interruptions and corrects its own transcript; it
speaks its first message itself and takes new context as ``contextual_update``, but it cannot
be made to speak a given text verbatim, and speaks with no text step guardrails could screen."""


@dataclass(frozen=True)
class ConvAI:
    """An ElevenLabs conversational agent, configured on the ElevenLabs side, referenced by id.

    Empty values are read from ``ELEVENLABS_API_KEY``, ``ELEVENLABS_AGENT_ID`` and
    ``ELEVENLABS_BASE_URL`` (else ``https://api.elevenlabs.io``). With an API key each call
    starts from a signed URL fetched server-side (private agents; the key never travels on the
    WebSocket); without one, the agent must be public.

    ``voice`` overrides the remote agent's default voice; empty keeps it. ``audio_format`` is
    the format the agent is set to on ElevenLabs (its user input and agent output format,
    ElevenLabs' names): calls are streamed in it when the carrier can, and converted when the
    conversation reports another. ``for_twilio()`` / ``for_telnyx()`` pick the phone formats.
    """

    api_key: str = field(default="", repr=False)
    agent_id: str = ""
    voice: str = ""
    base_url: str = ""
    audio_format: str = "ulaw_8000"

    def __post_init__(self) -> None:
        require_str("ElevenLabsConvAI api_key", self.api_key)
        require_str("ElevenLabsConvAI agent_id", self.agent_id)
        require_str("ElevenLabsConvAI voice", self.voice)
        require_str("ElevenLabsConvAI base_url", self.base_url)
        require_str("ElevenLabsConvAI audio_format", self.audio_format, allow_empty=False)
        if self.audio_format not in AGENT_FORMATS:
            raise ConfigError(
                f"ElevenLabsConvAI audio_format={self.audio_format!r} must be the agent's format "
                f"on ElevenLabs, one of {list(AGENT_FORMATS)} (ulaw_8000 for phone calls)"
            )
        object.__setattr__(self, "api_key", env_secret(self.api_key, "ELEVENLABS_API_KEY"))
        object.__setattr__(self, "agent_id", env_fallback(self.agent_id, "ELEVENLABS_AGENT_ID"))
        base_url = env_fallback(self.base_url.strip(), BASE_URL_ENV) or DEFAULT_BASE_URL
        conversation_url(base_url, "check")
        object.__setattr__(self, "base_url", base_url.strip().rstrip("/"))

    @classmethod
    def for_twilio(cls, **options: Any) -> Self:
        """An agent set to μ-law 8 kHz, Twilio's own format: no conversion on the call."""
        return cls(**{**options, "audio_format": "ulaw_8000"})

    @classmethod
    def for_telnyx(cls, **options: Any) -> Self:
        """An agent set to 16-bit PCM at 16 kHz, which Telnyx streams natively (as L16)."""
        return cls(**{**options, "audio_format": "pcm_16000"})

    @property
    def provider(self) -> Literal["elevenlabs_convai"]:
        """The provider-mode string (also the price-table key: billed per minute)."""
        return "elevenlabs_convai"

    @property
    def capabilities(self) -> EngineCapabilities:
        """What a ConvAI engine does by itself (:data:`CONVAI_CAPABILITIES`)."""
        return CONVAI_CAPABILITIES

    @property
    def audio_formats(self) -> tuple[AudioFormat, ...]:
        """The Patter audio format the agent takes as it is (what carriers should stream)."""
        return (AGENT_FORMATS[self.audio_format],)

    def check_credentials(self) -> None:
        """Raise :class:`ConfigError` when the agent id is missing.

        The API key is optional: a public agent needs none.
        """
        if not self.agent_id:
            raise ConfigError(
                "ElevenLabsConvAI needs the agent's id: pass ElevenLabsConvAI(agent_id=...) or "
                "set ELEVENLABS_AGENT_ID"
            )

    def create_engine(self) -> Engine:
        """A new, unconnected engine for one call."""
        from getpatter.engines.elevenlabs.engine import ConvAIEngine

        self.check_credentials()
        return ConvAIEngine(
            api_key=self.api_key,
            agent_id=self.agent_id,
            voice=self.voice,
            base_url=self.base_url,
        )

    def factory(self) -> EngineFactory:
        """How to open each call's engine; checks the credentials now."""
        from getpatter.engines.base import EngineFactory

        self.check_credentials()
        return EngineFactory(
            self.create_engine, self.audio_formats, self.capabilities, name="ElevenLabs ConvAI"
        )
