"""Default unit prices (USD) and the user-overridable :class:`PriceTable` (spec 06, PR).

Prices are approximate list prices gathered on :data:`PRICING_LAST_UPDATED`; they change often
and depend on plan, region and volume. Override them with ``Patter(pricing={...})``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from getpatter.errors import ConfigError

__all__ = [
    "DEFAULT_PRICING",
    "PRICING_LAST_UPDATED",
    "PRICING_VERSION",
    "PriceTable",
    "PriceUnit",
]

#: Identifies the default table; bumped whenever a default price changes.
PRICING_VERSION = "2026-11-25"
#: The date the default prices were last checked.
PRICING_LAST_UPDATED = "2026-11-25"


class PriceUnit(StrEnum):
    """What one unit price buys."""

    MINUTE = "minute"
    THOUSAND_CHARS = "1k_chars"
    MILLION_TOKENS = "1m_tokens"


def _entry(unit: PriceUnit, **rates: float) -> tuple[PriceUnit, dict[str, float]]:
    return unit, rates


_DEFAULT_RATES: dict[str, tuple[PriceUnit, dict[str, float]]] = {
    # Speech-to-text, per audio minute.
    "deepgram": _entry(PriceUnit.MINUTE, price=0.0077),  # nova-3 streaming, monolingual
    "whisper": _entry(PriceUnit.MINUTE, price=0.006),
    "openai_transcribe": _entry(PriceUnit.MINUTE, price=0.006),
    "assemblyai": _entry(PriceUnit.MINUTE, price=0.0025),
    "cartesia_stt": _entry(PriceUnit.MINUTE, price=0.0025),  # ink-whisper
    "soniox": _entry(PriceUnit.MINUTE, price=0.002),
    "speechmatics": _entry(PriceUnit.MINUTE, price=0.0173),
    # Text-to-speech, per 1 000 characters.
    "elevenlabs": _entry(PriceUnit.THOUSAND_CHARS, price=0.06),  # flash / turbo v2.5
    "openai_tts": _entry(PriceUnit.THOUSAND_CHARS, price=0.015),  # tts-1
    "openai_tts_hd": _entry(PriceUnit.THOUSAND_CHARS, price=0.030),  # tts-1-hd
    "cartesia_tts": _entry(PriceUnit.THOUSAND_CHARS, price=0.030),  # sonic-2
    "rime": _entry(PriceUnit.THOUSAND_CHARS, price=0.030),  # arcana / mist
    "lmnt": _entry(PriceUnit.THOUSAND_CHARS, price=0.050),  # blizzard / aurora
    # Telephony, per call minute (billed in whole started minutes, see cost.telephony_cost).
    "twilio": _entry(PriceUnit.MINUTE, price=0.0085),  # US inbound, local number
    "telnyx": _entry(PriceUnit.MINUTE, price=0.007),
    # Speech-to-speech engines.
    "openai_realtime": _entry(  # gpt-4o-mini-realtime-preview; override for other models
        PriceUnit.MILLION_TOKENS,
        audio_input=10.0,
        audio_output=20.0,
        text_input=0.60,
        text_output=2.40,
        cached_audio_input=0.30,
        cached_text_input=0.06,
    ),
    "elevenlabs_convai": _entry(PriceUnit.MINUTE, price=0.08),
    # Pipeline LLMs, per 1 M tokens.
    "openai_llm": _entry(PriceUnit.MILLION_TOKENS, input=0.15, output=0.60),  # gpt-4o-mini
    "anthropic_llm": _entry(PriceUnit.MILLION_TOKENS, input=1.00, output=5.00),  # haiku 4.5
    # gpt-oss-120b: inference-docs.cerebras.ai/models/openai-oss and the public model list
    # (api.cerebras.ai/public/v1/models), checked 2026-12-07. Groq (groq_llm) is left out: no
    # primary source for its price could be checked (see UNPRICED_PROVIDERS below).
    "cerebras_llm": _entry(PriceUnit.MILLION_TOKENS, input=0.35, output=0.75),
}

#: Providers Patter supports but has no confirmed list price for: their usage is reported as
#: unpriced (unknown cost, never $0) until ``Patter(pricing={...})`` gives every rate named here.
UNPRICED_PROVIDERS: Mapping[str, tuple[PriceUnit, tuple[str, ...]]] = MappingProxyType(
    {
        "groq_llm": (PriceUnit.MILLION_TOKENS, ("input", "output")),
    }
)

#: Provider key -> ``{"unit": PriceUnit, <rate name>: USD per unit, ...}``, read-only.
#: Single-rate providers have one rate called ``"price"``.
DEFAULT_PRICING: Mapping[str, Mapping[str, float | str]] = MappingProxyType(
    {
        provider: MappingProxyType({"unit": unit, **rates})
        for provider, (unit, rates) in _DEFAULT_RATES.items()
    }
)


class PriceTable:
    """The default prices with the user's overrides merged in.

    ``overrides`` has the shape of ``Patter(pricing=...)``: provider key -> {rate name: USD},
    e.g. ``{"deepgram": {"price": 0.005}, "openai_realtime": {"audio_input": 32.0}}``. Rates
    not mentioned keep their default. Unknown providers or rates, and prices that are not
    numbers >= 0, raise :class:`ConfigError`.
    """

    def __init__(self, overrides: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self.version = PRICING_VERSION
        self._units: dict[str, PriceUnit] = {}
        self._rates: dict[str, dict[str, float]] = {}
        for provider, (unit, default_rates) in _DEFAULT_RATES.items():
            self._units[provider] = unit
            self._rates[provider] = dict(default_rates)
        if overrides is None:
            return
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                "pricing must be a dict like {'deepgram': {'price': 0.005}}, "
                f"got {type(overrides).__name__}"
            )
        for provider, rates in overrides.items():
            self._merge(provider, rates)

    @property
    def providers(self) -> tuple[str, ...]:
        """Every provider key the table prices."""
        return tuple(self._rates)

    def __contains__(self, provider: object) -> bool:
        return provider in self._rates

    def price(self, provider: str, rate: str = "price") -> float:
        """USD per :meth:`unit` for ``rate`` of ``provider``."""
        rates = self._known_rates(provider)
        if rate not in rates:
            raise ConfigError(
                f"{provider!r} has no rate {rate!r}; its rates are: {', '.join(rates)}"
            )
        return rates[rate]

    def unit(self, provider: str) -> PriceUnit:
        """What one of ``provider``'s prices buys."""
        self._known_rates(provider)
        return self._units[provider]

    def rates(self, provider: str) -> Mapping[str, float]:
        """All of ``provider``'s rates, read-only."""
        return MappingProxyType(self._known_rates(provider))

    def to_dict(self) -> dict[str, dict[str, float | str]]:
        """The whole table, defaults and overrides merged, as plain values."""
        return {
            provider: {"unit": self._units[provider].value, **rates}
            for provider, rates in self._rates.items()
        }

    def __repr__(self) -> str:
        return f"PriceTable(version={self.version!r})"

    def _known_rates(self, provider: str) -> dict[str, float]:
        rates = self._rates.get(provider)
        if rates is None:
            raise ConfigError(
                f"no price for provider {provider!r}; known providers: {', '.join(self._rates)}"
            )
        return rates

    def _merge(self, provider: object, rates: object) -> None:
        if (
            isinstance(provider, str)
            and provider in UNPRICED_PROVIDERS
            and provider not in self._rates
        ):
            self._price_unpriced(provider, rates)
            return
        if not isinstance(provider, str) or provider not in self._rates:
            raise ConfigError(
                f"pricing has an unknown provider {provider!r}; known providers: "
                f"{', '.join([*self._rates, *UNPRICED_PROVIDERS])}"
            )
        known = self._rates[provider]
        if not isinstance(rates, Mapping):
            example = next(iter(known))
            raise ConfigError(
                f"pricing[{provider!r}] must be a dict like {{{example!r}: 0.01}}, "
                f"got {type(rates).__name__}"
            )
        for rate, value in rates.items():
            if rate not in known:
                raise ConfigError(
                    f"pricing[{provider!r}] has an unknown rate {rate!r}; "
                    f"its rates are: {', '.join(known)} (USD per {self._units[provider].value})"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(
                    f"pricing[{provider!r}][{rate!r}] must be a number >= 0 "
                    f"(USD per {self._units[provider].value}), got {value!r}"
                )
            known[rate] = float(value)

    def _price_unpriced(self, provider: str, rates: object) -> None:
        """Add a provider the defaults do not price: every one of its rates must be given."""
        unit, needed = UNPRICED_PROVIDERS[provider]
        missing = [rate for rate in needed if not isinstance(rates, Mapping) or rate not in rates]
        if missing:
            example = ", ".join(f"{rate!r}: 0.5" for rate in needed)
            raise ConfigError(
                f"Patter has no default price for {provider!r}: give every rate, e.g. "
                f"pricing={{{provider!r}: {{{example}}}}} (USD per {unit.value})"
            )
        self._units[provider] = unit
        self._rates[provider] = dict.fromkeys(needed, 0.0)
        self._merge(provider, rates)
