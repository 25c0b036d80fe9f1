"""Turning measured usage into USD with a :class:`PriceTable` (spec 06, PR-1, PR-4).

Each helper returns a cost in USD. A provider the table cannot price for that kind of usage
(unknown key, or a price in another unit) adds 0 to the sum and is logged once per process at
debug level on the ``getpatter.cost`` logger; :meth:`CostMeter.breakdown` names it in
``CostBreakdown.unpriced``, so a report says the cost is unknown rather than free. Negative
usage raises :class:`InputValidationError`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from getpatter._validation import require_amount, require_int, require_str
from getpatter.errors import InputValidationError
from getpatter.observability.metrics import CostBreakdown
from getpatter.observability.pricing import PriceTable, PriceUnit

__all__ = [
    "CostMeter",
    "PipelineUsage",
    "RealtimeUsage",
    "llm_cost",
    "realtime_cost",
    "stt_cost",
    "telephony_cost",
    "tts_cost",
]

logger = logging.getLogger("getpatter.cost")

#: Carriers that bill every started minute (spec PR-4): 61 s costs 2 minutes.
_WHOLE_MINUTE_CARRIERS = frozenset({"twilio", "telnyx"})

_REALTIME_RATES = (
    "audio_input",
    "audio_output",
    "text_input",
    "text_output",
    "cached_audio_input",
    "cached_text_input",
)

# (provider, usage kind) pairs already reported as unpriced, so each is logged once.
_reported_unpriced: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class RealtimeUsage:
    """Token counts of a speech-to-speech model, as reported by the provider.

    As in OpenAI's ``response.done`` usage, ``audio_input`` and ``text_input`` count every
    input token, cached ones included; ``cached_audio_input`` and ``cached_text_input`` say how
    many of those were cached (and are billed at the cached rate instead).
    """

    audio_input: int = 0
    audio_output: int = 0
    text_input: int = 0
    text_output: int = 0
    cached_audio_input: int = 0
    cached_text_input: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            _count(f"RealtimeUsage.{f.name}", getattr(self, f.name))
        for kind in ("audio", "text"):
            cached = getattr(self, f"cached_{kind}_input")
            total = getattr(self, f"{kind}_input")
            if cached > total:
                raise InputValidationError(
                    f"RealtimeUsage.cached_{kind}_input={cached} exceeds {kind}_input={total}: "
                    f"{kind}_input must include the cached tokens"
                )

    def __add__(self, other: RealtimeUsage) -> RealtimeUsage:
        if not isinstance(other, RealtimeUsage):
            return NotImplemented
        return RealtimeUsage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @classmethod
    def from_openai_usage(cls, usage: Mapping[str, Any]) -> RealtimeUsage:
        """Read the ``usage`` object of an OpenAI Realtime ``response.done`` event.

        Missing or null counts read as 0; without ``cached_tokens_details`` no input token is
        treated as cached, which can only overestimate the cost.
        """
        if not isinstance(usage, Mapping):
            raise InputValidationError(f"usage must be a dict, got {type(usage).__name__}")
        inputs = _section(usage, "input_token_details")
        cached = _section(inputs, "cached_tokens_details")
        outputs = _section(usage, "output_token_details")
        return cls(
            audio_input=_token(inputs, "audio_tokens"),
            audio_output=_token(outputs, "audio_tokens"),
            text_input=_token(inputs, "text_tokens"),
            text_output=_token(outputs, "text_tokens"),
            cached_audio_input=_token(cached, "audio_tokens"),
            cached_text_input=_token(cached, "text_tokens"),
        )

    def to_dict(self) -> dict[str, int]:
        """The six counts."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PipelineUsage:
    """What one pipeline response used: STT audio, LLM tokens and TTS characters."""

    stt_seconds: float = 0.0
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    tts_characters: int = 0
    llm_provider: str = ""
    """The price-table key of the LLM that used the tokens (``""`` for ``on_message``)."""
    tts_characters_by_provider: Mapping[str, int] = field(default_factory=dict)
    """Of ``tts_characters``, those a fallback TTS's other providers spoke, by price key."""
    stt_provider: str = ""
    """The price key of the STT that heard ``stt_seconds`` when a fallback STT had moved the
    call to another provider (``""``: the agent's STT)."""
    """Of ``tts_characters``, those a fallback TTS's other providers spoke, by price key."""


def stt_cost(table: PriceTable, provider: str, audio_seconds: float) -> float:
    """Cost of ``audio_seconds`` of audio transcribed by ``provider`` (priced per minute)."""
    seconds = require_amount("audio_seconds", audio_seconds)
    rates = _rates(table, provider, PriceUnit.MINUTE, ("price",), "stt") if seconds else None
    return seconds / 60.0 * rates["price"] if rates else 0.0


def tts_cost(table: PriceTable, provider: str, characters: int) -> float:
    """Cost of synthesising ``characters`` characters with ``provider`` (priced per 1 000)."""
    count = _count("characters", characters)
    rates = _rates(table, provider, PriceUnit.THOUSAND_CHARS, ("price",), "tts") if count else None
    return count / 1000.0 * rates["price"] if rates else 0.0


def telephony_cost(table: PriceTable, provider: str, duration_seconds: float) -> float:
    """Carrier cost of a call lasting ``duration_seconds``.

    Twilio and Telnyx bill each started minute: 60 s bills 1 minute, 61 s bills 2, 0 s bills 0.
    """
    seconds = require_amount("duration_seconds", duration_seconds)
    rates = _rates(table, provider, PriceUnit.MINUTE, ("price",), "telephony") if seconds else None
    if not rates:
        return 0.0
    minutes = math.ceil(seconds / 60.0) if provider in _WHOLE_MINUTE_CARRIERS else seconds / 60.0
    return minutes * rates["price"]


def llm_cost(table: PriceTable, provider: str, input_tokens: int, output_tokens: int) -> float:
    """Cost of a pipeline LLM's tokens (rates ``input`` and ``output`` per 1 M tokens)."""
    tokens_in = _count("input_tokens", input_tokens)
    tokens_out = _count("output_tokens", output_tokens)
    if not tokens_in and not tokens_out:
        return 0.0
    rates = _rates(table, provider, PriceUnit.MILLION_TOKENS, ("input", "output"), "llm")
    if not rates:
        return 0.0
    return (tokens_in * rates["input"] + tokens_out * rates["output"]) / 1_000_000


def realtime_cost(
    table: PriceTable, usage: RealtimeUsage, provider: str = "openai_realtime"
) -> float:
    """Cost of a speech-to-speech model's tokens; cached input uses the cached rates."""
    if not isinstance(usage, RealtimeUsage):
        raise InputValidationError(f"usage must be a RealtimeUsage, got {type(usage).__name__}")
    if usage == RealtimeUsage():
        return 0.0
    rates = _rates(table, provider, PriceUnit.MILLION_TOKENS, _REALTIME_RATES, "realtime")
    if not rates:
        return 0.0
    tokens = (
        (usage.audio_input - usage.cached_audio_input) * rates["audio_input"]
        + usage.cached_audio_input * rates["cached_audio_input"]
        + (usage.text_input - usage.cached_text_input) * rates["text_input"]
        + usage.cached_text_input * rates["cached_text_input"]
        + usage.audio_output * rates["audio_output"]
        + usage.text_output * rates["text_output"]
    )
    return tokens / 1_000_000


class CostMeter:
    """Accumulates one call's usage and prices it on demand with :meth:`breakdown`.

    The ``llm`` bucket holds the pipeline LLM's tokens and, in engine mode, the engine's cost:
    Realtime tokens for a token-priced engine (``"openai_realtime"``), or the call duration for
    a minute-priced one (``"elevenlabs_convai"``). Telephony is priced from the duration.
    """

    def __init__(
        self,
        table: PriceTable | None = None,
        *,
        stt_provider: str = "",
        tts_provider: str = "",
        llm_provider: str = "",
        telephony_provider: str = "",
    ) -> None:
        self.table = table if table is not None else PriceTable()
        self.stt_provider = require_str("stt_provider", stt_provider)
        self.tts_provider = require_str("tts_provider", tts_provider)
        self.llm_provider = require_str("llm_provider", llm_provider)
        self.telephony_provider = require_str("telephony_provider", telephony_provider)
        self._stt_seconds: dict[str, float] = {}
        """Audio seconds by the STT provider that heard them ("": the meter's ``stt_provider``)."""
        self._tts_characters: dict[str, int] = {}
        """Characters by the TTS provider that spoke them ("": the meter's ``tts_provider``)."""
        self._llm_tokens: dict[str, tuple[int, int]] = {}
        """Pipeline LLM ``(input, output)`` tokens by the provider that used them ("": the
        meter's ``llm_provider``)."""
        self._realtime_usage = RealtimeUsage()
        self._duration_seconds = 0.0

    @property
    def stt_seconds(self) -> float:
        """Audio seconds sent to STT so far."""
        return sum(self._stt_seconds.values())

    @property
    def tts_characters(self) -> int:
        """Characters sent to TTS so far."""
        return sum(self._tts_characters.values())

    @property
    def llm_tokens(self) -> tuple[int, int]:
        """Pipeline LLM ``(input_tokens, output_tokens)`` so far, every provider's."""
        return (
            sum(tokens[0] for tokens in self._llm_tokens.values()),
            sum(tokens[1] for tokens in self._llm_tokens.values()),
        )

    @property
    def realtime_usage(self) -> RealtimeUsage:
        """Engine tokens so far."""
        return self._realtime_usage

    @property
    def duration_seconds(self) -> float:
        """The call duration last given to :meth:`set_duration`."""
        return self._duration_seconds

    def add_stt_seconds(self, seconds: float, provider: str = "") -> None:
        """Count ``seconds`` more audio sent to STT, priced as ``provider``'s (default: the
        meter's ``stt_provider``; a fallback STT names the one it moved the call to)."""
        amount = require_amount("seconds", seconds)
        key = "" if provider == self.stt_provider else require_str("provider", provider)
        self._stt_seconds[key] = self._stt_seconds.get(key, 0.0) + amount

    def add_tts_characters(self, characters: int, provider: str = "") -> None:
        """Count ``characters`` more characters sent to TTS, priced as ``provider``'s (default:
        the meter's ``tts_provider``; a fallback TTS names the one that spoke)."""
        count = _count("characters", characters)
        key = "" if provider == self.tts_provider else require_str("provider", provider)
        self._tts_characters[key] = self._tts_characters.get(key, 0) + count

    def add_llm_tokens(self, input_tokens: int, output_tokens: int, provider: str = "") -> None:
        """Count one pipeline LLM request's tokens, priced as ``provider``'s (default: the
        meter's ``llm_provider``; a fallback LLM names the one that answered)."""
        tokens_in = _count("input_tokens", input_tokens)
        tokens_out = _count("output_tokens", output_tokens)
        key = "" if provider == self.llm_provider else require_str("provider", provider)
        had_in, had_out = self._llm_tokens.get(key, (0, 0))
        self._llm_tokens[key] = (had_in + tokens_in, had_out + tokens_out)

    def add_realtime_usage(self, usage: RealtimeUsage) -> None:
        """Count one engine response's tokens."""
        if not isinstance(usage, RealtimeUsage):
            raise InputValidationError(f"usage must be a RealtimeUsage, got {type(usage).__name__}")
        self._realtime_usage += usage

    def set_duration(self, seconds: float) -> None:
        """Set the call's duration so far (replaces the previous value)."""
        self._duration_seconds = require_amount("seconds", seconds)

    def breakdown(self) -> CostBreakdown:
        """The cost of the usage counted so far."""
        table = self.table
        if self.llm_provider in table and table.unit(self.llm_provider) is PriceUnit.MINUTE:
            llm = self._duration_seconds / 60.0 * table.price(self.llm_provider)
        else:
            llm = sum(
                llm_cost(table, provider or self.llm_provider, tokens_in, tokens_out)
                for provider, (tokens_in, tokens_out) in self._llm_tokens.items()
            ) + realtime_cost(table, self._realtime_usage, self.llm_provider)
        return CostBreakdown(
            stt=sum(
                stt_cost(table, provider or self.stt_provider, seconds)
                for provider, seconds in self._stt_seconds.items()
            ),
            tts=sum(
                tts_cost(table, provider or self.tts_provider, count)
                for provider, count in self._tts_characters.items()
            ),
            llm=llm,
            telephony=telephony_cost(table, self.telephony_provider, self._duration_seconds),
            unpriced=self._unpriced(),
        )

    def _unpriced(self) -> tuple[str, ...]:
        """The providers that were used and that the table has no price for."""
        table = self.table
        used: list[tuple[str, PriceUnit, tuple[str, ...], bool]] = [
            *(
                (provider or self.stt_provider, PriceUnit.MINUTE, ("price",), seconds > 0)
                for provider, seconds in self._stt_seconds.items()
            ),
            *(
                (provider or self.tts_provider, PriceUnit.THOUSAND_CHARS, ("price",), count > 0)
                for provider, count in self._tts_characters.items()
            ),
            (self.telephony_provider, PriceUnit.MINUTE, ("price",), self._duration_seconds > 0),
        ]
        for provider, (tokens_in, tokens_out) in self._llm_tokens.items():
            used.append(
                (
                    provider or self.llm_provider,
                    PriceUnit.MILLION_TOKENS,
                    ("input", "output"),
                    tokens_in + tokens_out > 0,
                )
            )
        if self._realtime_usage != RealtimeUsage():
            used.append((self.llm_provider, PriceUnit.MILLION_TOKENS, _REALTIME_RATES, True))
        return tuple(
            provider
            for provider, unit, needed, counted in used
            if counted and provider and not _has_rates(table, provider, unit, needed)
        )

    def __repr__(self) -> str:
        return f"CostMeter({self.breakdown()!r})"


def _has_rates(table: PriceTable, provider: str, unit: PriceUnit, needed: tuple[str, ...]) -> bool:
    if provider not in table or table.unit(provider) is not unit:
        return False
    rates = table.rates(provider)
    return all(rate in rates for rate in needed)


def _rates(
    table: PriceTable, provider: str, unit: PriceUnit, needed: tuple[str, ...], kind: str
) -> Mapping[str, float] | None:
    if _has_rates(table, provider, unit, needed):
        return table.rates(provider)
    if (provider, kind) not in _reported_unpriced:
        _reported_unpriced.add((provider, kind))
        logger.debug("no %s price for provider %r in the price table: counted as 0", kind, provider)
    return None


def _count(param: str, value: object) -> int:
    count = require_int(param, value)
    if count < 0:
        raise InputValidationError(f"{param} must be >= 0, got {count}")
    return count


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputValidationError(f"usage {key!r} must be an object, got {type(value).__name__}")
    return value


def _token(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputValidationError(f"usage token count {key!r} must be an int >= 0, got {value!r}")
    return value
