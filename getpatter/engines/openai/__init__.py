"""OpenAI Realtime: the engine's configuration, and the factory of its per-call connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from getpatter._env import env_fallback, env_secret
from getpatter._validation import require_str
from getpatter.engines.capabilities import EngineCapabilities
from getpatter.engines.openai.endpoint import DEFAULT_BASE_URL, realtime_url
from getpatter.errors import ConfigError

if TYPE_CHECKING:
    from getpatter.audio.formats import AudioFormat
    from getpatter.engines.base import Engine, EngineFactory

__all__ = ["REALTIME_CAPABILITIES", "Realtime"]

REALTIME_CAPABILITIES = EngineCapabilities(answers_speech_turns=True, streams_agent_text=True)
"""The model answers each turn its server VAD detects; the transcript of its audio streams
alongside the audio (``response.output_audio_transcript.delta``), so guardrails can screen it."""


@dataclass(frozen=True)
class Realtime:
    """The OpenAI Realtime speech-to-speech engine.

    An empty ``api_key`` is read from ``OPENAI_API_KEY``. A missing key is reported when an agent
    is built with this engine, so the object itself can be created before the environment is set.

    An empty ``base_url`` is read from ``OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
    The WebSocket URL is derived from it (``https`` -> ``wss``, ``http`` -> ``ws``, plus
    ``/realtime?model=<model>``), so a local fake such as ``http://127.0.0.1:8765/v1`` can stand
    in for OpenAI.
    """

    audio_formats: ClassVar[tuple[AudioFormat, ...]] = ("ulaw_8000", "alaw_8000", "pcm16_24000")
    """The audio formats OpenAI Realtime takes as they are, best first (phone audio first)."""

    api_key: str = field(default="", repr=False)
    voice: str = "alloy"
    model: str = "gpt-4o-mini-realtime-preview"
    base_url: str = ""

    def __post_init__(self) -> None:
        require_str("OpenAIRealtime api_key", self.api_key)
        require_str("OpenAIRealtime voice", self.voice, allow_empty=False)
        require_str("OpenAIRealtime model", self.model, allow_empty=False)
        require_str("OpenAIRealtime base_url", self.base_url)
        object.__setattr__(self, "api_key", env_secret(self.api_key, "OPENAI_API_KEY"))
        base_url = env_fallback(self.base_url.strip(), "OPENAI_BASE_URL") or DEFAULT_BASE_URL
        realtime_url(base_url, self.model)
        object.__setattr__(self, "base_url", base_url.strip().rstrip("/"))

    @property
    def capabilities(self) -> EngineCapabilities:
        """What a Realtime engine does by itself (:data:`REALTIME_CAPABILITIES`)."""
        return REALTIME_CAPABILITIES

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

    def create_engine(self) -> Engine:
        """A new, unconnected :class:`~getpatter.engines.base.Engine` for one call.

        Raises :class:`ConfigError` when no API key is available.
        """
        from getpatter.engines.openai.engine import RealtimeEngine

        self.check_credentials()
        return RealtimeEngine(self.api_key, base_url=self.base_url)

    def factory(self) -> EngineFactory:
        """How to open each call's engine; checks the credentials now."""
        from getpatter.engines.base import EngineFactory

        self.check_credentials()
        return EngineFactory(
            self.create_engine, self.audio_formats, self.capabilities, name="OpenAI Realtime"
        )
