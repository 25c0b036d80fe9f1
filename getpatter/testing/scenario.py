"""Scripts for sandbox calls: what the callee does, and what the fake model answers.

A :class:`Scenario` ties the two halves of a sandbox call together. The Twilio simulator plays
the :class:`Callee` (answering, speaking as audio with timing, pressing keys, hanging up); the
fake OpenAI Realtime server "hears" the callee's n-th utterance as the n-th :class:`Say` text and
answers each caller turn with the next :class:`Reply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from getpatter._validation import require_int
from getpatter.errors import ConfigError

__all__ = [
    "Callee",
    "HangUp",
    "Press",
    "Reply",
    "Say",
    "Scenario",
    "Step",
    "ToolCall",
    "speech_ms",
]

_MS_PER_CHAR = 60
_MIN_SPEECH_MS = 400


def speech_ms(text: str) -> int:
    """How long ``text`` takes to say in the sandbox: 60 ms a character, at least 400 ms."""
    return max(_MIN_SPEECH_MS, _MS_PER_CHAR * len(text))


@dataclass(frozen=True)
class Say:
    """The callee says ``text``.

    It starts ``pause_ms`` after the agent stops talking (or after the previous step when the
    agent is silent). With ``interrupt_after_ms`` it does not wait: it starts that long after
    the agent's next speech begins, talking over it (barge-in).
    """

    text: str
    pause_ms: int = 600
    duration_ms: int | None = None
    interrupt_after_ms: int | None = None

    @property
    def audio_ms(self) -> int:
        """How long the utterance lasts."""
        return self.duration_ms if self.duration_ms is not None else speech_ms(self.text)


@dataclass(frozen=True)
class Press:
    """The callee presses keys (``0-9``, ``*``, ``#``), one DTMF event each."""

    digits: str
    pause_ms: int = 300


@dataclass(frozen=True)
class HangUp:
    """The callee hangs up."""

    pause_ms: int = 300


Step = Say | Press | HangUp


@dataclass(frozen=True)
class Callee:
    """The person (or machine) on the other end of a sandbox call.

    ``answer``: ``"answer"`` picks up; ``"busy"``, ``"no-answer"`` and ``"fail"`` never connect;
    ``"voicemail"`` is answered by a machine that plays a greeting and a beep (AMD reports
    ``machine_end_beep``), then records. After the last step a callee that has not hung up
    stays on the line silently until the agent ends the call.
    """

    steps: tuple[Step, ...] = ()
    answer: Literal["answer", "busy", "no-answer", "voicemail", "fail"] = "answer"
    number: str = "+15550100001"
    ring_ms: int = 200
    machine_greeting_ms: int = 1500

    def __post_init__(self) -> None:
        answers = ("answer", "busy", "no-answer", "voicemail", "fail")
        if self.answer not in answers:
            raise ConfigError(f"Callee answer={self.answer!r} must be one of {list(answers)}")


@dataclass(frozen=True)
class ToolCall:
    """The fake model calls tool ``name`` with ``arguments``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """The fake model's answer to one caller turn.

    With ``tool_call`` the model first calls the tool, waits for its result, then says
    ``text`` (which may contain ``{result}``, replaced by the tool's output).
    """

    text: str = ""
    tool_call: ToolCall | None = None
    audio_ms: int | None = None

    @property
    def speech_duration_ms(self) -> int:
        """How long the spoken reply lasts at the default speech rate."""
        return self.audio_ms if self.audio_ms is not None else speech_ms(self.text)


@dataclass(frozen=True)
class Scenario:
    """A whole sandbox call: the callee's behaviour and the model's replies, in order."""

    callee: Callee = field(default_factory=Callee)
    replies: tuple[Reply, ...] = ()
    ms_per_char: int = _MS_PER_CHAR
    """How fast the fake model talks: audio per character of a reply or verbatim text."""

    def __post_init__(self) -> None:
        require_int("Scenario ms_per_char", self.ms_per_char, minimum=1, maximum=1000)

    def speech_ms(self, text: str) -> int:
        """How long the fake model takes to say ``text``: ``ms_per_char`` a character.

        At the default 60 ms a character this is :func:`speech_ms`; the 400 ms minimum scales
        with the rate.
        """
        minimum = _MIN_SPEECH_MS * self.ms_per_char // _MS_PER_CHAR
        return max(minimum, self.ms_per_char * len(text))

    @property
    def caller_lines(self) -> tuple[str, ...]:
        """What the callee says, in order: the fake model's transcripts of each utterance."""
        return tuple(step.text for step in self.callee.steps if isinstance(step, Say))
