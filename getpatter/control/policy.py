"""The safety policy an external agent's calls must pass before Patter dials.

A :class:`SafetyPolicy` is pure: it holds the limits and answers "may this call go ahead?" from
numbers the caller passes in (active calls, calls and spend so far today). Refusals raise
:class:`~getpatter.errors.PolicyError` whose ``rule`` is one of ``"blocked"``, ``"premium"``,
``"allowlist"``, ``"concurrency"``, ``"daily_calls"`` or ``"daily_spend"``, and whose message
names the setting (and its environment variable, see :data:`ENV_VARS`) that would allow it.

Destination rules, in order (the first that refuses wins):

1. ``blocked_prefixes`` (the user's do-not-call list) always refuse.
2. With ``block_premium``, :data:`PREMIUM_PREFIXES` and numbers too short to be a subscriber
   number refuse. An ``allowed_prefixes`` entry at least as specific as the matching premium
   prefix (``"+1809"`` or ``"+18095550100"`` against ``"+1809"``, but not ``"+1"`` or ``"*"``)
   lifts the block for the numbers it matches, so one country need not disable the whole list.
3. ``allowed_prefixes`` must match (``"*"`` matches every number). It fails closed: on a live
   carrier an empty allowlist refuses every number; in the sandbox it allows every number.

Days are UTC days: "per day" counts and spend restart at 00:00 UTC.

The premium list is a conservative starter list, not a complete registry of costly numbers. It
covers NANP premium area code 900; the Caribbean NANP area codes the FTC names in its one-ring
("wangiri") scam warnings; the ITU's global premium (+979), shared-cost (+808), satellite (+870,
+881) and International Networks (+882, +883) codes; the UK's 09, 084, 087 and 070 ranges; the
premium ranges of Germany (0900), France (089), Italy (899) and Spain (803, 806, 807); and
emergency numbers written as E.164 (+1 911, +112, +999, and any number under 7 digits, shorter
than every real subscriber number). It does not cover NANP "976" exchanges (976 was a premium
exchange code inside ordinary area codes, not an area code, so no prefix can express it), other
countries' national premium ranges, or numbers a carrier prices high without a premium range.
Extend it with ``blocked_prefixes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from getpatter._validation import (
    require_amount,
    require_bool,
    require_e164,
    require_int,
    require_str,
)
from getpatter.errors import ConfigError, InputValidationError, PolicyError

__all__ = ["ENV_VARS", "MAX_CALL_SECONDS", "PREMIUM_PREFIXES", "SafetyPolicy"]

MAX_CALL_SECONDS = 1800
"""The longest call any policy allows (30 minutes), matching the tool schema's maximum."""

_DEFAULT_CALL_SECONDS = 180

ENV_VARS: dict[str, str] = {
    "allowed_prefixes": "PATTER_ALLOWED_PREFIXES",
    "blocked_prefixes": "PATTER_BLOCKED_PREFIXES",
    "block_premium": "PATTER_BLOCK_PREMIUM",
    "max_concurrent_calls": "PATTER_MAX_CONCURRENT_CALLS",
    "max_call_seconds": "PATTER_MAX_CALL_SECONDS",
    "max_calls_per_day": "PATTER_MAX_CALLS_PER_DAY",
    "max_spend_per_day_usd": "PATTER_MAX_SPEND_PER_DAY_USD",
}
"""The environment variable named in refusal messages for each :class:`SafetyPolicy` field."""

# Facts behind the entries (E.164 prefix -> what it reaches):
# - NANP area code 900 is premium rate. NANP area codes never start with 1 and N11 codes are
#   service codes, so "+1911" and "+112" match no real number: only emergency numbers written
#   with a "+". Country code 999 is unassigned, so "+999" is only the UK/IE emergency number.
# - The FTC's one-ring scam warnings name area codes 268, 284, 473, 649, 664, 767, 809, 829, 849
#   and 876: Caribbean countries inside +1, billed at international (often premium) rates.
# - ITU global codes: +979 International Premium Rate Service, +808 International Shared Cost
#   Service, +870 Inmarsat, +881 Global Mobile Satellite System (Iridium, Globalstar), +882 and
#   +883 International Networks (Thuraya and other non-geographic carriers); all bill far above
#   ordinary numbers and are frequent targets of international revenue-share fraud.
# - UK (Ofcom numbering): 09 premium rate, 084 and 087 service-charge numbers, 070 personal
#   numbers that look like mobiles but cost more.
# - Germany 0900, France 089, Italy 899, Spain 803/806/807: national premium-rate ranges.
PREMIUM_PREFIXES: tuple[tuple[str, str], ...] = (
    ("+1900", "NANP 900 premium-rate number"),
    ("+1911", "the 911 emergency number"),
    ("+1268", "Antigua and Barbuda, an area code used in one-ring toll fraud"),
    ("+1284", "British Virgin Islands, an area code used in one-ring toll fraud"),
    ("+1473", "Grenada, an area code used in one-ring toll fraud"),
    ("+1649", "Turks and Caicos Islands, an area code used in one-ring toll fraud"),
    ("+1664", "Montserrat, an area code used in one-ring toll fraud"),
    ("+1767", "Dominica, an area code used in one-ring toll fraud"),
    ("+1809", "Dominican Republic, an area code used in one-ring toll fraud"),
    ("+1829", "Dominican Republic, an area code used in one-ring toll fraud"),
    ("+1849", "Dominican Republic, an area code used in one-ring toll fraud"),
    ("+1876", "Jamaica, an area code used in one-ring toll fraud"),
    ("+112", "the 112 emergency number"),
    ("+999", "the 999 emergency number"),
    ("+979", "International Premium Rate Service"),
    ("+808", "International Shared Cost Service"),
    ("+870", "Inmarsat satellite phone"),
    ("+881", "Global Mobile Satellite System (satellite phone)"),
    ("+882", "International Networks (satellite and non-geographic carriers)"),
    ("+883", "International Networks (non-geographic carriers)"),
    ("+449", "UK 09 premium-rate number"),
    ("+4484", "UK 084 service-charge number"),
    ("+4487", "UK 087 service-charge number"),
    ("+4470", "UK 070 personal number"),
    ("+49900", "Germany 0900 premium-rate number"),
    ("+3389", "France 089 premium-rate number"),
    ("+39899", "Italy 899 premium-rate number"),
    ("+34803", "Spain 803 premium-rate number"),
    ("+34806", "Spain 806 premium-rate number"),
    ("+34807", "Spain 807 premium-rate number"),
)
"""Built-in ``(prefix, reason)`` pairs refused while ``block_premium`` is on (see module doc)."""

# The shortest real E.164 numbers (Niue, Tokelau, Saint Helena) have 7 digits with the country
# code; anything shorter is a short code such as 911, 112, 999 or 000.
_MIN_SUBSCRIBER_DIGITS = 7

_PREFIX = re.compile(r"^\+[1-9]\d{0,14}$")
_ANY = "*"

# "AI" only in capitals: lowercase "ai" is an ordinary word in Italian and Portuguese.
_AI_ACRONYM = re.compile(r"\bA\.?I\b")
_DISCLOSING_WORDS = re.compile(
    r"\b(?:artificial intelligence|automated|virtual assistant|(?:chat)?bots?)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class SafetyPolicy:
    """Limits on the calls an external agent may place; every check is pure.

    ``allowed_prefixes`` and ``blocked_prefixes`` hold E.164 prefixes (``"+1555"``, ``"+4420"``)
    or whole numbers; ``"*"`` matches every number (in ``blocked_prefixes`` it stops all calls).
    ``max_call_seconds`` (1..1800) caps every call; the daily limits count UTC days.
    ``disclosure`` is spoken first when ``ai_disclosure`` is on and the first message does not
    already say the caller is an AI. ``require_confirmation`` asks the service to hold each call
    for an explicit confirmation before dialling.
    """

    allowed_prefixes: tuple[str, ...] = ()
    blocked_prefixes: tuple[str, ...] = ()
    block_premium: bool = True
    max_concurrent_calls: int = 3
    max_call_seconds: int = 600
    max_calls_per_day: int = 50
    max_spend_per_day_usd: float = 10.0
    ai_disclosure: bool = True
    disclosure: str = "Hi, this is an AI assistant calling."
    require_confirmation: bool = False

    def __post_init__(self) -> None:
        for name in ("allowed_prefixes", "blocked_prefixes"):
            object.__setattr__(self, name, _require_prefixes(name, getattr(self, name)))
        require_bool("block_premium", self.block_premium)
        require_int("max_concurrent_calls", self.max_concurrent_calls, minimum=1)
        require_int("max_call_seconds", self.max_call_seconds, minimum=1, maximum=MAX_CALL_SECONDS)
        require_int("max_calls_per_day", self.max_calls_per_day, minimum=1)
        spend = require_amount("max_spend_per_day_usd", self.max_spend_per_day_usd)
        if spend <= 0:
            raise ConfigError(
                "max_spend_per_day_usd must be > 0 (a daily cap in US dollars, e.g. 10.0); to stop "
                "all calls set blocked_prefixes=['*'] instead"
            )
        object.__setattr__(self, "max_spend_per_day_usd", spend)
        require_bool("ai_disclosure", self.ai_disclosure)
        require_str("disclosure", self.disclosure)
        if self.ai_disclosure and not _discloses(self.disclosure):
            raise ConfigError(
                f"disclosure={self.disclosure!r} does not say the caller is an AI: mention 'AI', "
                "'artificial intelligence', 'automated', 'virtual assistant' or 'bot', e.g. "
                "'Hi, this is an AI assistant calling.'"
            )
        require_bool("require_confirmation", self.require_confirmation)

    def check_destination(self, to: str, *, live: bool) -> None:
        """Refuse ``to`` unless every destination rule allows it.

        ``live`` is True when real carrier credentials will place the call: then an empty
        ``allowed_prefixes`` refuses everything (fail closed). In the sandbox it allows all.
        Raises :class:`InputValidationError` when ``to`` is not E.164, :class:`PolicyError` with
        rule ``"blocked"``, ``"premium"`` or ``"allowlist"`` when a rule refuses.
        """
        require_e164("to", to)
        blocked = _first_match(to, self.blocked_prefixes)
        if blocked is not None:
            raise PolicyError(
                f"refused by the do-not-call list: {to} matches {blocked!r} in blocked_prefixes. "
                f"Remove it from blocked_prefixes ({ENV_VARS['blocked_prefixes']}) to allow the "
                "call",
                rule="blocked",
            )
        if self.block_premium:
            self._check_premium(to)
        if not self.allowed_prefixes:
            if live:
                raise PolicyError(
                    f"refused by the allowlist: no allowlist is configured, so live calls to any "
                    f"number (here {to}) are refused. Set allowed_prefixes "
                    f"({ENV_VARS['allowed_prefixes']}) to the prefixes you mean to call, e.g. "
                    "'+1555', or '*' to allow every number",
                    rule="allowlist",
                )
            return
        if _first_match(to, self.allowed_prefixes) is None:
            raise PolicyError(
                f"refused by the allowlist: {to} is not in allowed_prefixes "
                f"({_shown(self.allowed_prefixes)}). Add its prefix to "
                f"{ENV_VARS['allowed_prefixes']} to allow it",
                rule="allowlist",
            )

    def check_capacity(
        self, *, active_calls: int, calls_today: int, spend_today_usd: float
    ) -> None:
        """Refuse one more call when it would break a limit.

        A limit is reached at its value: with ``max_concurrent_calls=3``, three active calls
        refuse a fourth. ``calls_today`` and ``spend_today_usd`` cover the current UTC day.
        Raises :class:`PolicyError` with rule ``"concurrency"``, ``"daily_calls"`` or
        ``"daily_spend"``.
        """
        active = require_int("active_calls", active_calls, minimum=0)
        placed = require_int("calls_today", calls_today, minimum=0)
        spent = require_amount("spend_today_usd", spend_today_usd)
        if active >= self.max_concurrent_calls:
            raise PolicyError(
                f"refused by the concurrency limit: {active} calls are in progress and "
                f"max_concurrent_calls is {self.max_concurrent_calls}. Wait for a call to end, or "
                f"raise {ENV_VARS['max_concurrent_calls']}",
                rule="concurrency",
            )
        if placed >= self.max_calls_per_day:
            raise PolicyError(
                f"refused by the daily call limit: {placed} calls placed today (UTC) and "
                f"max_calls_per_day is {self.max_calls_per_day}. The count restarts at 00:00 UTC, "
                f"or raise {ENV_VARS['max_calls_per_day']}",
                rule="daily_calls",
            )
        if spent >= self.max_spend_per_day_usd:
            raise PolicyError(
                f"refused by the daily spend cap: ${spent:.2f} spent today (UTC) and "
                f"max_spend_per_day_usd is ${self.max_spend_per_day_usd:.2f}. The total restarts "
                f"at 00:00 UTC, or raise {ENV_VARS['max_spend_per_day_usd']}",
                rule="daily_spend",
            )

    def call_seconds(self, requested: int | None) -> int:
        """The hard time limit for one call, in seconds.

        ``None`` gives the default, 180 s or ``max_call_seconds`` if lower. A request within
        1..1800 is clamped to ``max_call_seconds`` rather than refused, so an agent asking for
        more than the policy allows still gets a call, only a shorter one. Outside 1..1800 the
        request is malformed: :class:`InputValidationError`.
        """
        if requested is None:
            return min(_DEFAULT_CALL_SECONDS, self.max_call_seconds)
        if isinstance(requested, bool) or not isinstance(requested, int):
            raise ConfigError(
                f"max_duration_sec must be an int number of seconds, got {type(requested).__name__}"
            )
        if not 1 <= requested <= MAX_CALL_SECONDS:
            raise InputValidationError(
                f"max_duration_sec={requested} is out of range: pass 1..{MAX_CALL_SECONDS} "
                f"seconds, or leave it out for {_DEFAULT_CALL_SECONDS}"
            )
        return min(requested, self.max_call_seconds)

    def first_message(self, text: str = "") -> str:
        """What the agent says when the callee answers.

        With ``ai_disclosure`` on, ``disclosure`` is put in front of ``text`` unless ``text``
        already says the caller is an AI ("AI" or "A.I." in capitals, or "artificial
        intelligence", "automated", "virtual assistant", "bot", "chatbot" in any case, as whole
        words). An empty ``text`` gives ``disclosure`` alone, or "" with disclosure off.
        """
        message = require_str("first_message", text).strip()
        if not self.ai_disclosure or _discloses(message):
            return message
        if not message:
            return self.disclosure
        return f"{self.disclosure} {message}"

    def describe(self) -> dict[str, Any]:
        """The policy as a JSON-able dict (for docs, logs and the MCP server's policy tool)."""
        return {
            "allowed_prefixes": list(self.allowed_prefixes),
            "blocked_prefixes": list(self.blocked_prefixes),
            "block_premium": self.block_premium,
            "premium_prefixes": (
                [{"prefix": prefix, "reason": reason} for prefix, reason in PREMIUM_PREFIXES]
                if self.block_premium
                else []
            ),
            "max_concurrent_calls": self.max_concurrent_calls,
            "max_call_seconds": self.max_call_seconds,
            "max_calls_per_day": self.max_calls_per_day,
            "max_spend_per_day_usd": self.max_spend_per_day_usd,
            "ai_disclosure": self.ai_disclosure,
            "disclosure": self.disclosure,
            "require_confirmation": self.require_confirmation,
            "day_boundary": "00:00 UTC",
            "empty_allowlist": "refuses every live call; allows every sandbox call",
        }

    def _check_premium(self, to: str) -> None:
        if len(to) - 1 < _MIN_SUBSCRIBER_DIGITS:
            raise PolicyError(
                f"refused by the premium-number block: {to} is too short to be a phone number "
                "(an emergency or short service code). Patter does not dial these",
                rule="premium",
            )
        for prefix, reason in PREMIUM_PREFIXES:
            if to.startswith(prefix) and not self._explicitly_allowed(to, prefix):
                raise PolicyError(
                    f"refused by the premium-number block: {to} matches {prefix} ({reason}). "
                    f"To call it anyway add the number, or a prefix at least as specific as "
                    f"{prefix}, to {ENV_VARS['allowed_prefixes']}; or set "
                    f"{ENV_VARS['block_premium']}=false to turn the built-in list off",
                    rule="premium",
                )

    def _explicitly_allowed(self, to: str, premium_prefix: str) -> bool:
        return any(
            allowed.startswith(premium_prefix) and to.startswith(allowed)
            for allowed in self.allowed_prefixes
        )


def _require_prefixes(param: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(
            f"{param} must be a list of E.164 prefixes, e.g. ['+1555', '+4420'], or ['*'], "
            f"got {type(value).__name__}"
        )
    prefixes: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"{param}[{i}] must be a str like '+1555', got {type(item).__name__}")
        if item != _ANY and _PREFIX.fullmatch(item) is None:
            raise InputValidationError(
                f"{param}[{i}]={item!r} is not an E.164 prefix: write '+', then 1 to 15 digits "
                "with no spaces or dashes (e.g. '+1555' or '+442071234567'), or '*' for every "
                "number"
            )
        if item not in prefixes:
            prefixes.append(item)
    return tuple(prefixes)


def _first_match(to: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if p == _ANY or to.startswith(p)), None)


def _discloses(text: str) -> bool:
    return bool(_AI_ACRONYM.search(text) or _DISCLOSING_WORDS.search(text))


def _shown(prefixes: tuple[str, ...], limit: int = 5) -> str:
    shown = ", ".join(prefixes[:limit])
    extra = len(prefixes) - limit
    return f"{shown}, and {extra} more" if extra > 0 else shown
