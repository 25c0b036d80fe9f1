"""The safety policy an external agent's calls must pass before Patter dials.

A :class:`SafetyPolicy` is pure: it holds the limits and answers "may this call go ahead?" from
numbers the caller passes in (active calls, calls and spend so far today). Refusals raise
:class:`~getpatter.errors.PolicyError` whose ``rule`` is one of ``"emergency"``,
``"short_code"``, ``"blocked"``, ``"premium"``, ``"allowlist"``, ``"concurrency"``,
``"daily_calls"`` or ``"daily_spend"``, and whose message names the setting (and its
environment variable, see :data:`ENV_VARS`) that would allow it.

Numbers are parsed, not pattern-matched: :meth:`SafetyPolicy.check_destination` classifies the
number with libphonenumber (:mod:`getpatter.control.numbers`), applies every rule to its canonical
E.164 form and returns that form, which is the one to dial. Destination rules, in order (the
first that refuses wins):

1. Emergency numbers (in any region sharing the country code, or the digits after ``+`` on their
   own, like ``+911``) and :data:`EMERGENCY_PREFIXES` always refuse, whatever the other settings.
2. Numbers whose length fits no real number refuse: short service codes (``+1411``) with rule
   ``"short_code"``, anything else as malformed input. A number libphonenumber does not know as
   valid but whose length fits (the fictional ``+1555 01xx`` range) is not refused for that.
3. ``blocked_prefixes`` (the user's do-not-call list) always refuse. They are matched against the
   canonical number and the number as written, so an entry written with a trunk zero
   (``+4407...``) still blocks what it blocked before.
4. With ``block_premium``, premium-rate, shared-cost and personal numbers (by libphonenumber's
   number type) and :data:`PREMIUM_PREFIXES` refuse. An ``allowed_prefixes`` entry at least as
   specific as the matching prefix (for a number type: the country code and three national
   digits, e.g. ``+44901``; ``"+1809"`` or ``"+18095550100"`` against ``"+1809"``, but not
   ``"+1"`` or ``"*"``) lifts the block for the numbers it matches.
5. ``allowed_prefixes`` must match the canonical number (``"*"`` matches every number). It fails
   closed: on a live carrier an empty allowlist refuses every number; in the sandbox it allows
   every number.

Days are UTC days: "per day" counts and spend restart at 00:00 UTC.

:data:`PREMIUM_PREFIXES` adds to libphonenumber's types what they miss: the Caribbean NANP area
codes the FTC names in its one-ring ("wangiri") scam warnings (ordinary numbers by type, billed at
international rates), the ITU's satellite and International Networks codes, and national premium
ranges whose numbers libphonenumber does not know as valid. Numbers a carrier prices high without
a premium range are not covered; extend the list with ``blocked_prefixes``.
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
from getpatter.control.numbers import COSTLY_KINDS, Destination, classify
from getpatter.errors import ConfigError, InputValidationError, PolicyError

__all__ = [
    "EMERGENCY_PREFIXES",
    "ENV_VARS",
    "MAX_CALL_SECONDS",
    "PREMIUM_PREFIXES",
    "SafetyPolicy",
]

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

EMERGENCY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("+1911", "the 911 emergency number"),
    ("+112", "the 112 emergency number"),
    ("+999", "the 999 emergency number"),
)
"""Always refused, whatever the policy says; libphonenumber's emergency data covers these too.

NANP area codes never start with 1 and N11 codes are service codes, so ``+1911`` and ``+112``
match no real number: only emergency numbers written with a ``+``. Country code 999 is
unassigned, so ``+999`` is only the UK/IE emergency number.
"""

# Facts behind the entries (E.164 prefix -> what it reaches):
# - NANP area code 900 is premium rate.
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
"""Built-in ``(prefix, reason)`` pairs refused while ``block_premium`` is on, in addition to the
premium-rate, shared-cost and personal numbers libphonenumber recognises (see module doc)."""

_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")  # [0-9]: \d matches every Unicode digit
_ANY = "*"

# Checks that the configured disclosure text says what it must; never used to skip it.
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
    ``disclosure`` is spoken first whenever ``ai_disclosure`` is on, whatever the first message
    says. ``require_confirmation`` holds each call until a person (not the model asking for it)
    confirms it; see :meth:`~getpatter.control.service.CallService.plan_call`.
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

    def check_destination(self, to: str, *, live: bool) -> str:
        """Refuse ``to`` unless every destination rule allows it; return the number to dial.

        The returned number is ``to`` in canonical E.164 form (``+4409...`` gives ``+449...``):
        every rule was applied to it, so dial that string and no other. ``live`` is True when real
        carrier credentials will place the call: then an empty ``allowed_prefixes`` refuses
        everything (fail closed). In the sandbox it allows all. Raises
        :class:`InputValidationError` when ``to`` is not E.164 with ASCII digits or cannot be a
        phone number, and :class:`PolicyError` with rule ``"emergency"``, ``"short_code"``,
        ``"blocked"``, ``"premium"`` or ``"allowlist"`` when a rule refuses.
        """
        require_e164("to", to)
        number = classify(to)
        canonical = number.e164
        shown = canonical if canonical == to else f"{canonical} (written {to})"
        emergency = _first_match(canonical, tuple(p for p, _ in EMERGENCY_PREFIXES))
        if number.emergency or emergency is not None:
            raise PolicyError(
                f"refused: {shown} is an emergency number. Patter never places automated calls "
                "to emergency services, whatever the policy says; a person must call them",
                rule="emergency",
            )
        if not number.possible:
            if number.short_code:
                raise PolicyError(
                    f"refused: {shown} is a short service code, not a phone number. Patter "
                    "dials full E.164 numbers only; call the service's full number instead",
                    rule="short_code",
                )
            raise InputValidationError(
                f"to={to!r} cannot be a phone number: {number.problem}. Check the number and "
                "write it in E.164 form, e.g. '+15550001234'"
            )
        blocked = _first_match(canonical, self.blocked_prefixes) or _first_match(
            to, self.blocked_prefixes
        )
        if blocked is not None:
            raise PolicyError(
                f"refused by the do-not-call list: {shown} matches {blocked!r} in "
                f"blocked_prefixes. Remove it from blocked_prefixes "
                f"({ENV_VARS['blocked_prefixes']}) to allow the call",
                rule="blocked",
            )
        if self.block_premium:
            self._check_premium(number, shown)
        if not self.allowed_prefixes:
            if live:
                raise PolicyError(
                    f"refused by the allowlist: no allowlist is configured, so live calls to any "
                    f"number (here {shown}) are refused. Set allowed_prefixes "
                    f"({ENV_VARS['allowed_prefixes']}) to the prefixes you mean to call, e.g. "
                    "'+1555', or '*' to allow every number",
                    rule="allowlist",
                )
            return canonical
        if _first_match(canonical, self.allowed_prefixes) is None:
            raise PolicyError(
                f"refused by the allowlist: {shown} is not in allowed_prefixes "
                f"({_shown(self.allowed_prefixes)}). Add its prefix to "
                f"{ENV_VARS['allowed_prefixes']} to allow it (prefixes are matched against the "
                "E.164 form, which has no trunk 0 after the country code)",
                rule="allowlist",
            )
        return canonical

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

        With ``ai_disclosure`` on, ``disclosure`` is put in front of ``text``, whatever ``text``
        says: a message that merely mentions "AI" or "bot" ("I'm not a bot") is not a
        disclosure. Only a ``text`` that already starts with ``disclosure`` word for word is left
        as it is. An empty ``text`` gives ``disclosure`` alone, or "" with disclosure off.
        """
        message = require_str("first_message", text).strip()
        if not self.ai_disclosure or message.startswith(self.disclosure):
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
            "premium_types": sorted(COSTLY_KINDS) if self.block_premium else [],
            "premium_prefixes": (
                [{"prefix": prefix, "reason": reason} for prefix, reason in PREMIUM_PREFIXES]
                if self.block_premium
                else []
            ),
            "always_refused": [
                "emergency numbers (libphonenumber's data for every region of the country code)",
                "short service codes and numbers too short to be a phone number",
                *(f"{prefix} ({reason})" for prefix, reason in EMERGENCY_PREFIXES),
            ],
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

    def _check_premium(self, number: Destination, shown: str) -> None:
        to = number.e164
        if number.costly:
            prefix = number.range_prefix()
            found = f"is a {number.kind} number ({number.region})"
        else:
            match = next(((p, r) for p, r in PREMIUM_PREFIXES if to.startswith(p)), None)
            if match is None:
                return
            prefix, reason = match
            found = f"matches {prefix} ({reason})"
        if self._explicitly_allowed(to, prefix):
            return
        raise PolicyError(
            f"refused by the premium-number block: {shown} {found}. To call it anyway add the "
            f"number, or a prefix at least as specific as {prefix}, to "
            f"{ENV_VARS['allowed_prefixes']}; or set {ENV_VARS['block_premium']}=false to turn "
            "the premium block off (emergency numbers stay refused)",
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
                f"{param}[{i}]={item!r} is not an E.164 prefix: write '+', then 1 to 15 ASCII "
                "digits 0-9 with no spaces or dashes (e.g. '+1555' or '+442071234567'), or '*' "
                "for every number"
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
