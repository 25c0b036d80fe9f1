"""Output guardrails: screen each agent response before it is spoken (spec 05, GR)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from getpatter._validation import require_callable, require_str, require_str_list
from getpatter.errors import ConfigError

__all__ = ["DEFAULT_REPLACEMENT", "Guardrail", "GuardrailVerdict", "apply_guardrails", "guardrail"]

logger = logging.getLogger("getpatter.guardrails")

DEFAULT_REPLACEMENT = "I'm sorry, I can't respond to that."


@dataclass(frozen=True)
class Guardrail:
    """A rule that replaces a whole agent response when it matches.

    ``blocked_terms`` match case-insensitively anywhere in the response (``"sue"`` matches
    ``"issue"``). ``check(text) -> bool`` runs only when no term matched; ``True`` blocks. A
    ``check`` that raises blocks too: a guardrail fails closed.
    """

    name: str
    blocked_terms: list[str] | None = None
    check: Callable[[str], bool] | None = None
    replacement: str = DEFAULT_REPLACEMENT

    def __post_init__(self) -> None:
        require_str("Guardrail name", self.name, allow_empty=False)
        if self.blocked_terms is not None:
            terms = require_str_list(f"Guardrail {self.name!r} blocked_terms", self.blocked_terms)
            object.__setattr__(self, "blocked_terms", terms)
        if self.check is not None:
            require_callable(f"Guardrail {self.name!r} check", self.check)
        if not self.blocked_terms and self.check is None:
            raise ConfigError(
                f"Guardrail {self.name!r} would never block: pass blocked_terms=[...] and/or "
                "check=<function returning True to block>"
            )
        require_str(f"Guardrail {self.name!r} replacement", self.replacement, allow_empty=False)

    def blocks(self, text: str) -> bool:
        """True when this guardrail blocks ``text``."""
        lowered = text.casefold()
        if self.blocked_terms and any(term.casefold() in lowered for term in self.blocked_terms):
            return True
        if self.check is None:
            return False
        try:
            return bool(self.check(text))
        except Exception:
            logger.exception("guardrail %r check raised; blocking the response", self.name)
            return True


def guardrail(
    name: str,
    blocked_terms: list[str] | None = None,
    check: Callable[[str], bool] | None = None,
    replacement: str = DEFAULT_REPLACEMENT,
) -> Guardrail:
    """Build a :class:`Guardrail`; same arguments, same checks."""
    return Guardrail(name=name, blocked_terms=blocked_terms, check=check, replacement=replacement)


@dataclass(frozen=True)
class GuardrailVerdict:
    """What :func:`apply_guardrails` decided: the text to speak and which guardrail blocked."""

    text: str
    blocked_by: str | None = None

    @property
    def blocked(self) -> bool:
        """True when a guardrail replaced the response."""
        return self.blocked_by is not None


def apply_guardrails(text: str, guardrails: Sequence[Guardrail]) -> GuardrailVerdict:
    """Run ``guardrails`` in order; the first that blocks replaces ``text`` and the rest are skipped."""
    for rule in guardrails:
        if rule.blocks(text):
            logger.warning("guardrail %r blocked a response", rule.name)
            return GuardrailVerdict(text=rule.replacement, blocked_by=rule.name)
    return GuardrailVerdict(text=text)
