"""Guardrails for engines that speak on their own: screen the agent's text as it streams.

A speech-to-speech model (OpenAI Realtime) produces audio and, alongside it, the text of that
audio. Patter paces the audio out in real time while the model generates faster than that, so
the text of a sentence normally arrives before the caller hears it. :class:`OutputScreen`
reads that text as it comes: blocked terms are matched on everything said so far in the
message, ``check`` functions on each finished sentence (as the pipeline applies them), and the
first guardrail that blocks decides. The session then silences the message and has the
guardrail's replacement spoken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from getpatter.guardrails import Guardrail, GuardrailVerdict, apply_guardrails
from getpatter.pipeline.chunker import SentenceChunker

__all__ = ["OutputScreen"]

_KEPT_MESSAGES = 8


@dataclass
class _Message:
    text: str = ""
    lowered: str = ""
    chunker: SentenceChunker | None = None
    exempt: bool = False
    blocked: bool = False
    sentences: list[str] = field(default_factory=list)


class OutputScreen:
    """Screens each agent message's streamed text with ``guardrails``.

    :meth:`push` and :meth:`finish` return a verdict the first time a message is blocked, else
    ``None``. After a block, the next new message (the guardrail's replacement, spoken
    verbatim) is not screened, so a replacement can never block itself.
    """

    def __init__(self, guardrails: Sequence[Guardrail], language: str = "en") -> None:
        self._guardrails = tuple(guardrails)
        self._terms = tuple(
            (rule, tuple(term.casefold() for term in rule.blocked_terms or ()))
            for rule in self._guardrails
        )
        self._checks = any(rule.check is not None for rule in self._guardrails)
        self._language = language
        self._messages: dict[str, _Message] = {}
        self._exempt_next = False

    def push(self, item_id: str, text: str) -> GuardrailVerdict | None:
        """More text of message ``item_id``."""
        message = self._message(item_id)
        if message.exempt or message.blocked or not text:
            return None
        message.text += text
        message.lowered += text.casefold()
        verdict = self._term_verdict(message)
        if verdict is None and message.chunker is not None:
            verdict = self._sentence_verdict(message, message.chunker.push(text))
        return self._blocking(message, verdict)

    def finish(self, item_id: str, text: str) -> GuardrailVerdict | None:
        """Message ``item_id`` is complete with ``text``; screen what was not screened yet."""
        message = self._message(item_id)
        if message.exempt or message.blocked:
            return None
        if text.startswith(message.text):
            rest = text[len(message.text) :]
            message.text, message.lowered = text, message.lowered + rest.casefold()
        else:  # no deltas came (or they differ): screen the final text whole
            message.text, message.lowered, message.sentences = text, text.casefold(), []
            message.chunker = self._new_chunker()
            rest = text
        verdict = self._term_verdict(message)
        if verdict is None and message.chunker is not None:
            pending = message.chunker.push(rest) + message.chunker.flush()
            verdict = self._sentence_verdict(message, pending)
        return self._blocking(message, verdict)

    def blocked(self, item_id: str) -> bool:
        """True when message ``item_id`` was blocked."""
        message = self._messages.get(item_id)
        return message is not None and message.blocked

    def _message(self, item_id: str) -> _Message:
        message = self._messages.get(item_id)
        if message is None:
            message = self._messages[item_id] = _Message(
                chunker=self._new_chunker(), exempt=self._exempt_next
            )
            self._exempt_next = False
            while len(self._messages) > _KEPT_MESSAGES:
                del self._messages[next(iter(self._messages))]
        return message

    def _new_chunker(self) -> SentenceChunker | None:
        return SentenceChunker(self._language) if self._checks else None

    def _term_verdict(self, message: _Message) -> GuardrailVerdict | None:
        for rule, terms in self._terms:
            if any(term in message.lowered for term in terms):
                return apply_guardrails(message.text, (rule,))
        return None

    def _sentence_verdict(self, message: _Message, sentences: list[str]) -> GuardrailVerdict | None:
        for sentence in sentences:
            message.sentences.append(sentence)
            verdict = apply_guardrails(sentence, self._guardrails)
            if verdict.blocked:
                return verdict
        return None

    def _blocking(
        self, message: _Message, verdict: GuardrailVerdict | None
    ) -> GuardrailVerdict | None:
        if verdict is None or not verdict.blocked:
            return None
        message.blocked = True
        self._exempt_next = True
        return verdict
