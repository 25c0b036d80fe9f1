"""Scripts for sandbox calls: what the callee does, and what the fake model answers.

A :class:`Scenario` ties the two halves of a sandbox call together. The Twilio simulator plays
the :class:`Callee` (answering, speaking as audio with timing, pressing keys, hanging up); the
fake OpenAI Realtime server "hears" the callee's n-th utterance as the n-th :class:`Say` text and
answers each caller turn with the next :class:`Reply`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from getpatter._validation import require_int
from getpatter.errors import ConfigError

__all__ = [
    "Callee",
    "HangUp",
    "Menu",
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


@dataclass(frozen=True, eq=False)
class Menu:
    """An automated phone menu (IVR): the callee says ``prompt``, then listens for a key.

    The keys are the ones the callee hears the agent press (in-band tones found by the
    simulator's DTMF detector, or Telnyx ``send_dtmf`` commands), from the start of the
    prompt until ``wait_ms`` after its end. The first key that is one of ``choices`` runs that
    choice's steps once the prompt has ended (menus may nest), then the steps after the menu. A key that is not a choice,
    or none, plays the menu again as one utterance, ``retry`` then the prompt, up to
    ``attempts`` plays in all; after the last, the callee hangs up.
    """

    prompt: str
    choices: Mapping[str, tuple[Step, ...]]
    wait_ms: int = 3000
    attempts: int = 3
    retry: str = ""
    ms_per_char: int | None = None
    """How fast the menu talks (default: the sandbox's 60 ms a character)."""

    def __post_init__(self) -> None:
        require_int("Menu wait_ms", self.wait_ms, minimum=100, maximum=60_000)
        require_int("Menu attempts", self.attempts, minimum=1, maximum=20)
        if not self.choices or any(len(key) != 1 for key in self.choices):
            raise ConfigError("Menu choices must map single keys ('1', '#') to tuples of steps")

    def utterance(self, attempt: int) -> str:
        """What the menu says on play ``attempt`` (0 for the first)."""
        return f"{self.retry} {self.prompt}".strip() if attempt and self.retry else self.prompt

    def audio_ms(self, text: str) -> int:
        """How long saying ``text`` lasts."""
        if self.ms_per_char is None:
            return speech_ms(text)
        return max(_MIN_SPEECH_MS * self.ms_per_char // _MS_PER_CHAR, self.ms_per_char * len(text))


Step = Say | Press | HangUp | Menu


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
    spoken: list[str] = field(default_factory=list, compare=False, repr=False)
    """What a callee with :class:`Menu` steps has said so far, in order (the simulator fills
    it): the fakes' transcripts follow the menu's branches. One call at a time per callee."""

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
    def caller_lines(self) -> Sequence[str]:
        """What the callee says, in order: the fake model's transcripts of each utterance.

        With :class:`Menu` steps, what it has said so far on its call (the branches taken).
        """
        if any(isinstance(step, Menu) for step in self.callee.steps):
            return _Spoken(self.callee.spoken)
        return tuple(step.text for step in self.callee.steps if isinstance(step, Say))


class _Spoken(Sequence[str]):
    """A live, read-only view of what a callee with menus has said so far."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._lines[index]

    def __len__(self) -> int:
        return len(self._lines)
