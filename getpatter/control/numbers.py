"""Phone numbers as the safety policy sees them: parsed and classified with libphonenumber.

:func:`classify` turns an E.164 string (ASCII digits only, see
:func:`~getpatter._validation.require_e164`) into a :class:`Destination`: its canonical E.164
form (the form every rule is applied to and the one dialed), whether libphonenumber knows it as a
valid number, its type (premium rate, shared cost...), and whether it is an emergency number or
a short service code in any region that shares its country code (``+1`` alone covers 25).

``phonenumbers`` (libphonenumber's Python port) is imported on first use, so ``import getpatter``
stays light; :func:`preload` imports it and loads the metadata the checks read in a worker
thread, so the first check does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

__all__ = ["Destination", "classify", "preload"]

# libphonenumber's PhoneNumberType values, named as the policy reports them.
_KINDS = {
    0: "fixed-line",
    1: "mobile",
    2: "fixed-line or mobile",
    3: "toll-free",
    4: "premium-rate",
    5: "shared-cost",
    6: "VoIP",
    7: "personal",
    8: "pager",
    9: "universal access",
    10: "voicemail",
}
COSTLY_KINDS = frozenset({"premium-rate", "shared-cost", "personal"})
"""Number types refused while ``block_premium`` is on (UK 070 "personal" numbers are billed
like premium numbers while looking like mobiles)."""

_loaded = threading.Lock()
_metadata_ready = False


@dataclass(frozen=True)
class Destination:
    """What libphonenumber says about one number.

    ``e164`` is the canonical form (``+4409...`` becomes ``+449...``); ``possible`` is True when
    its length fits its country (a number libphonenumber does not know as ``valid``, such as the
    fictional ``+1555`` range, can still be possible). ``kind`` is ``"premium-rate"``,
    ``"shared-cost"``, ``"personal"``, ``"mobile"``... for valid numbers and ``"unknown"``
    otherwise. ``problem`` says why an impossible number is impossible.
    """

    e164: str
    international: str
    country_code: int
    national: str
    region: str
    valid: bool
    possible: bool
    kind: str
    emergency: bool
    short_code: bool
    problem: str = ""

    @property
    def costly(self) -> bool:
        """A premium-rate, shared-cost or personal number (see :data:`COSTLY_KINDS`)."""
        return self.kind in COSTLY_KINDS

    def range_prefix(self) -> str:
        """The country code and the first three national digits, e.g. ``+44901``."""
        return f"+{self.country_code}{self.national[:3]}"


def classify(to: str) -> Destination:
    """Parse and classify ``to``, an E.164 number written with ASCII digits.

    Never raises for a number libphonenumber cannot parse (an unknown country code, too few
    digits): the result is then not ``possible``, and ``emergency`` says whether the digits are an
    emergency number somewhere (``+999``, ``+112`` and ``+911`` are people dialing 999, 112 and
    911 with a plus).
    """
    import phonenumbers
    from phonenumbers import shortnumberinfo

    if not _metadata_ready:
        _load_metadata()
    digits = to[1:]
    try:
        number = phonenumbers.parse(to, None)
    except phonenumbers.NumberParseException as exc:
        return Destination(
            e164=to,
            international=to,
            country_code=0,
            national=digits,
            region="",
            valid=False,
            possible=False,
            kind="unknown",
            emergency=_emergency_anywhere(digits),
            short_code=False,
            problem=_parse_problem(exc),
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.national_significant_number(number)
    country_code = number.country_code or 0
    regions = phonenumbers.region_codes_for_country_code(country_code)
    reason = phonenumbers.is_possible_number_with_reason(number)
    possible = reason == phonenumbers.ValidationResult.IS_POSSIBLE
    valid = possible and phonenumbers.is_valid_number(number)
    emergency = any(shortnumberinfo.is_emergency_number(national, r) for r in regions)
    if not valid:
        # "911 555..." or "112 3..." on a line that is not a known number reaches the emergency
        # service in countries that route by prefix; a valid number (Delhi's 011 2...) does not.
        emergency = emergency or any(
            shortnumberinfo.connects_to_emergency_number(national, r) for r in regions
        )
    if not possible:
        emergency = emergency or _emergency_anywhere(digits)
    return Destination(
        e164=e164,
        international=phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
        country_code=country_code,
        national=national,
        region=phonenumbers.region_code_for_number(number) or "",
        valid=valid,
        possible=possible,
        kind=_KINDS.get(phonenumbers.number_type(number), "unknown") if valid else "unknown",
        emergency=emergency,
        short_code=not possible and _is_short_code(number),
        problem="" if possible else _length_problem(reason, country_code),
    )


async def preload() -> None:
    """Import ``phonenumbers`` and load the metadata :func:`classify` reads, off the event loop.

    The work is done once per process (concurrent callers wait for the same load); later calls
    return at once.
    """
    if not _metadata_ready:
        await asyncio.to_thread(_load_metadata)


def _load_metadata() -> None:
    """Load the short-number metadata of every region (read by the emergency checks)."""
    global _metadata_ready
    with _loaded:
        if not _metadata_ready:
            import phonenumbers
            from phonenumbers import shortnumberinfo

            for region in phonenumbers.SUPPORTED_SHORT_REGIONS:
                shortnumberinfo.is_emergency_number("0", region)
            _metadata_ready = True


def _emergency_anywhere(digits: str) -> bool:
    import phonenumbers
    from phonenumbers import shortnumberinfo

    return any(
        shortnumberinfo.is_emergency_number(digits, region)
        for region in phonenumbers.SUPPORTED_SHORT_REGIONS
    )


def _is_short_code(number: PhoneNumber) -> bool:
    from phonenumbers import shortnumberinfo

    return shortnumberinfo.is_valid_short_number(number)


def _parse_problem(exc: Exception) -> str:
    import phonenumbers

    if not isinstance(exc, phonenumbers.NumberParseException):
        return "it is not a phone number"
    if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return "no country uses the country code it starts with"
    return "it has too few digits to be a phone number"


def _length_problem(reason: int, country_code: int) -> str:
    import phonenumbers

    result = phonenumbers.ValidationResult
    if reason == result.INVALID_COUNTRY_CODE:
        return "no country uses the country code it starts with"
    if reason == result.TOO_LONG:
        return f"it has too many digits for country code +{country_code}"
    if reason == result.IS_POSSIBLE_LOCAL_ONLY:
        return f"it is a local number: add the area code after +{country_code}"
    if reason == result.INVALID_LENGTH:
        return f"it has the wrong number of digits for country code +{country_code}"
    return f"it has too few digits for country code +{country_code}"
