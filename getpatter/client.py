"""The :class:`Patter` client: one carrier, one phone number, agents, and how calls are run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from getpatter._hostname import require_hostname
from getpatter._validation import require_e164, require_str
from getpatter.agent import Agent, Engine, build_agent
from getpatter.carriers.telnyx import Carrier as Telnyx
from getpatter.carriers.twilio import Carrier as Twilio
from getpatter.errors import ConfigError
from getpatter.guardrails import Guardrail
from getpatter.observability.events import EventBus, default_event_bus
from getpatter.observability.pricing import PriceTable
from getpatter.tunnels import CloudflareTunnel, Ngrok, Static

__all__ = ["Patter"]

MessageHandler = Callable[..., Awaitable[str | None] | str | None]
CallbackHandler = Callable[[dict[str, Any]], Awaitable[Any] | Any]


class Patter:
    """The Patter client.

    ``carrier`` is ``Twilio(...)``, ``Telnyx(...)`` or ``None``. Without a carrier the client can
    still build agents and run :meth:`test` (terminal test mode) and the sandbox; real calls need
    one. With a carrier, ``phone_number`` (E.164) is required. ``webhook_url`` is the public
    hostname carriers call back, without scheme; ``tunnel`` (``True`` = ``CloudflareTunnel()``)
    obtains one instead. ``pricing`` overrides unit prices, e.g. ``{"twilio": {"price": 0.015}}``.
    """

    def __init__(
        self,
        carrier: Twilio | Telnyx | None = None,
        phone_number: str = "",
        webhook_url: str = "",
        tunnel: CloudflareTunnel | Static | Ngrok | bool | None = None,
        pricing: dict[str, dict[str, float]] | None = None,
    ) -> None:
        if carrier is not None and not isinstance(carrier, Twilio | Telnyx):
            raise ConfigError(
                f"carrier must be Twilio(...), Telnyx(...) or None, got {type(carrier).__name__}"
            )
        require_str("phone_number", phone_number)
        if phone_number:
            require_e164("phone_number", phone_number)
        elif carrier is not None:
            raise ConfigError(
                f"phone_number is required with the {carrier.provider} carrier: pass your "
                "number in E.164 form, e.g. Patter(carrier=..., phone_number='+15550001234')"
            )
        require_str("webhook_url", webhook_url)
        if webhook_url:
            webhook_url = require_hostname("webhook_url", webhook_url)
        if tunnel is True:
            tunnel = CloudflareTunnel()
        elif tunnel is False:
            tunnel = None
        if tunnel is not None and not isinstance(tunnel, CloudflareTunnel | Static | Ngrok):
            raise ConfigError(
                "tunnel must be True, False, None, CloudflareTunnel(), Static(hostname=...) or "
                f"Ngrok(hostname=...), got {type(tunnel).__name__}"
            )
        if tunnel is not None and webhook_url:
            raise ConfigError(
                "pass either webhook_url= (your public hostname) or tunnel=, not both"
            )
        self._carrier = carrier
        self._phone_number = phone_number
        self._webhook_url = webhook_url
        self._tunnel = tunnel
        self._pricing = PriceTable(pricing)

    @property
    def carrier(self) -> Twilio | Telnyx | None:
        """The configured carrier, or ``None``."""
        return self._carrier

    @property
    def phone_number(self) -> str:
        """The agent's own number (E.164), or ``""``."""
        return self._phone_number

    @property
    def webhook_url(self) -> str:
        """The public hostname carriers call back, or ``""``."""
        return self._webhook_url

    @property
    def tunnel(self) -> CloudflareTunnel | Static | Ngrok | None:
        """The tunnel directive, or ``None``."""
        return self._tunnel

    @property
    def pricing(self) -> PriceTable:
        """Unit prices used for cost tracking: the defaults with ``pricing=`` applied."""
        return self._pricing

    @property
    def events(self) -> EventBus:
        """The process-wide :class:`EventBus`; subscribe at any time."""
        return default_event_bus()

    def agent(
        self,
        system_prompt: str,
        engine: Engine | None = None,
        stt: Any = None,
        llm: Any = None,
        tts: Any = None,
        voice: str = "alloy",
        model: str = "gpt-4o-mini-realtime-preview",
        language: str = "en",
        first_message: str = "",
        tools: Sequence[Any] | None = None,
        variables: dict[str, Any] | None = None,
        guardrails: Sequence[Guardrail] | None = None,
        hooks: Any = None,
        text_transforms: Sequence[Callable[[str], str]] | None = None,
        vad: Any = None,
        audio_filter: Any = None,
        background_audio: Any = None,
        barge_in_threshold_ms: int = 300,
        aggressive_first_flush: bool = False,
        disable_phone_preamble: bool = False,
    ) -> Agent:
        """Build an :class:`Agent`.

        Pass ``engine=OpenAIRealtime(...)`` or ``engine=ElevenLabsConvAI(...)`` for an
        end-to-end engine, or ``stt=`` and ``tts=`` (plus ``llm=``) for pipeline mode; with
        neither, the agent uses OpenAI Realtime, keyed by ``OPENAI_API_KEY`` when a call needs it.

        Raises:
            ConfigError: (also a ``ValueError``) on missing credentials or conflicting options,
                such as ``engine=`` together with ``stt=``/``tts=``.
        """
        return build_agent(
            system_prompt,
            engine=engine,
            stt=stt,
            llm=llm,
            tts=tts,
            voice=voice,
            model=model,
            language=language,
            first_message=first_message,
            tools=tools,
            variables=variables,
            guardrails=guardrails,
            hooks=hooks,
            text_transforms=text_transforms,
            vad=vad,
            audio_filter=audio_filter,
            background_audio=background_audio,
            barge_in_threshold_ms=barge_in_threshold_ms,
            aggressive_first_flush=aggressive_first_flush,
            disable_phone_preamble=disable_phone_preamble,
        )

    async def test(
        self,
        agent: Agent,
        on_message: MessageHandler | None = None,
        on_call_start: CallbackHandler | None = None,
        on_call_end: CallbackHandler | None = None,
    ) -> None:
        """Run one simulated call in the terminal: you type as the caller, the agent replies.

        No carrier, speech service or server is involved; with ``on_message`` no credentials
        are needed at all. Commands: ``/quit``, ``/hangup``, ``/transfer <number>``, ``/history``.
        """
        from getpatter.testing.terminal import TerminalCall

        await TerminalCall(
            agent,
            on_message=on_message,
            on_call_start=on_call_start,
            on_call_end=on_call_end,
            pricing=self._pricing,
            events=self.events,
        ).run()

    def __repr__(self) -> str:
        return (
            f"Patter(carrier={self._carrier!r}, phone_number={self._phone_number!r}, "
            f"webhook_url={self._webhook_url!r}, tunnel={self._tunnel!r})"
        )
