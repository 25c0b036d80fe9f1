"""Knowing that the far end is an automated phone menu, and that it goes round in circles.

:class:`IVRActivity` is an agent option (``phone.agent(..., ivr=IVRActivity())``). For each
call it reads the far end's final transcripts (the ``user`` lines
of the transcript, as the call session records them; key presses are not speech) and:

1. **Recognises a menu.** Each utterance is searched for menu phrasing (:data:`MENU_PHRASES`:
   "press 1 for", "para español", "please listen carefully as our menu options have
   changed", "oprima", "appuyez sur"...). Once ``min_menu_matches`` phrases have been heard on
   the call, the far end counts as a menu: a ``"menu"`` :class:`IVREvent` is reported, once.
   ``min_menu_matches=0`` treats the far end as a menu from the start (a number known to be
   one), and reports no ``"menu"`` event.
2. **Notices a loop.** From then on each utterance also goes to a :class:`TfidfLoopDetector`
   (a fresh copy of ``loop_detector`` per call). When it finds a loop, a ``"loop"`` event is
   reported and the detector starts over, so the next report needs fresh repeats.

Each event goes to ``on_event`` (a function or coroutine function taking the
:class:`IVREvent`; its errors are logged, never raised into the call) and, with
``notify_agent`` (the default), into the conversation as a system note (:data:`MENU_NOTE`,
:data:`LOOP_NOTE`, or your own texts): the model reads it with its next reply and can press
other keys (the ``send_dtmf`` tool), say something, or give up with ``end_call``. The note is
added as soon as the far end's sentence is transcribed, before the session handles anything
else: in a pipeline the reply to that very sentence reads it; a speech-to-speech engine
(OpenAI Realtime) may already be answering the sentence when its transcript arrives, and then
its next reply does.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from getpatter._validation import require_bool, require_callable, require_int, require_str
from getpatter.errors import ConfigError
from getpatter.ivr.loop import TfidfLoopDetector

__all__ = ["LOOP_NOTE", "MENU_NOTE", "MENU_PHRASES", "IVRActivity", "IVREvent", "IVRWatch"]

logger = logging.getLogger("getpatter.ivr")

_KEY = r"(?:\d|one|two|three|four|five|six|seven|eight|nine|zero|star|pound|hash)"

MENU_PHRASES: tuple[str, ...] = (
    rf"\bpress(?:ing)?\s+{_KEY}\b",
    rf"\b(?:dial|enter)\s+{_KEY}\b",
    r"\bpress\s+(?:the\s+)?(?:star|pound|hash)\s+key\b",
    r"\bsay\s+or\s+press\b",
    r"\bmenu\s+options\s+have\s+changed\b",
    r"\blisten\s+carefully\b",
    r"\bmain\s+menu\b",
    r"\bto\s+repeat\s+(?:these|this|the)\s+(?:options|menu)\b",
    r"\bif\s+you\s+know\s+your\s+party'?s\s+extension\b",
    r"\bpara\s+espa[nñ]ol\b",
    r"\b(?:oprima|marque|pulse)\s+(?:el\s+)?\d\b",
    r"\bappuyez\s+sur\b",
    r"\b(?:premi|prema)\s+(?:il\s+)?\d\b",
    r"\bdr[uü]cken\s+sie\b",
)
"""Regular expressions (case-insensitive) of what automated menus say; ``menu_phrases=`` adds
to them."""

MENU_NOTE = (
    "System note: the other side of this call is an automated phone menu (IVR), not a person. "
    "Listen to its options and press the key that leads to your goal with the send_dtmf tool "
    "(say nothing while you press); if it asks for speech, answer in a few words."
)
"""The note the agent gets when the far end is recognised as a menu."""

LOOP_NOTE = (
    "System note: the phone menu is repeating itself; what you did has not moved it on. "
    "Choose a different option, press 0 or say 'representative' to reach a person, or end "
    "the call with end_call if the goal cannot be reached."
)
"""The note the agent gets when the menu's prompts repeat."""


@dataclass(frozen=True)
class IVREvent:
    """Something :class:`IVRActivity` found on call ``call_id``.

    ``kind`` is ``"menu"`` (the far end is an automated menu) or ``"loop"`` (its prompts
    repeat); ``text`` is the far-end utterance that decided it. ``matches`` are the menu
    phrases heard so far (a ``"menu"`` event); ``similarity`` is the TF-IDF cosine similarity
    of the utterance with its closest earlier one (a ``"loop"`` event).
    """

    kind: Literal["menu", "loop"]
    call_id: str
    text: str
    matches: tuple[str, ...] = ()
    similarity: float = 0.0
    at: float = field(default_factory=time.time)


OnIVREvent = Callable[[IVREvent], Awaitable[Any] | Any]
"""``on_event(event)``: a function or an ``async def``."""


class IVRActivity:
    """Automated-menu awareness for a call; see the module docstring.

    Args:
        min_menu_matches: Menu phrases to hear before the far end counts as a menu (0-20,
            default 2: "For sales press 1, for support press 2" is enough, a person saying
            "just press 1" once is not). 0: it is a menu from the start.
        menu_phrases: More regular expressions (case-insensitive) of menu phrasing, added
            to :data:`MENU_PHRASES`.
        loop_detector: Settings for loop detection, as a :class:`TfidfLoopDetector`; each call
            gets a fresh copy (``loop_detector.fresh()``). Default ``TfidfLoopDetector()``.
        notify_agent: Put a system note into the conversation on each event (default True).
        on_event: Called with each :class:`IVREvent`.
        menu_note: The note for a ``"menu"`` event (default :data:`MENU_NOTE`).
        loop_note: The note for a ``"loop"`` event (default :data:`LOOP_NOTE`).
    """

    def __init__(
        self,
        *,
        min_menu_matches: int = 2,
        menu_phrases: Sequence[str] = (),
        loop_detector: TfidfLoopDetector | None = None,
        notify_agent: bool = True,
        on_event: OnIVREvent | None = None,
        menu_note: str = MENU_NOTE,
        loop_note: str = LOOP_NOTE,
    ) -> None:
        self.min_menu_matches = require_int(
            "min_menu_matches", min_menu_matches, minimum=0, maximum=20
        )
        if isinstance(menu_phrases, str) or not isinstance(menu_phrases, Sequence):
            raise ConfigError(
                "menu_phrases must be a list of regular expressions, e.g. [r'\\bvalid choice\\b']"
            )
        extra = []
        for i, phrase in enumerate(menu_phrases):
            try:
                extra.append(re.compile(require_str(f"menu_phrases[{i}]", phrase), re.IGNORECASE))
            except re.error as exc:
                raise ConfigError(
                    f"menu_phrases[{i}]={phrase!r} is not a regular expression: {exc}"
                ) from None
        self._phrases = tuple(re.compile(p, re.IGNORECASE) for p in MENU_PHRASES) + tuple(extra)
        if loop_detector is not None and not isinstance(loop_detector, TfidfLoopDetector):
            raise ConfigError(
                f"loop_detector must be a TfidfLoopDetector(...), got {type(loop_detector).__name__}"
            )
        self.loop_detector = loop_detector if loop_detector is not None else TfidfLoopDetector()
        self.notify_agent = require_bool("notify_agent", notify_agent)
        self.on_event = require_callable("on_event", on_event) if on_event is not None else None
        self.menu_note = require_str("menu_note", menu_note, allow_empty=False)
        self.loop_note = require_str("loop_note", loop_note, allow_empty=False)

    def menu_matches(self, text: str) -> list[str]:
        """The menu phrases found in ``text``, each occurrence once, in order."""
        found = [(m.start(), m.group(0)) for p in self._phrases for m in p.finditer(text)]
        return [phrase for _, phrase in sorted(found)]

    def start(
        self,
        call_id: str,
        *,
        note: Callable[[str], Awaitable[None]],
        spawn: Callable[[Awaitable[Any]], object],
    ) -> IVRWatch:
        """The watch over call ``call_id``: the call session starts one for an agent with
        ``ivr=`` and tells it each far-end final transcript (:meth:`IVRWatch.heard`).

        ``note(text)`` puts a system note into the call's conversation; ``spawn(coroutine)``
        runs a coroutine as part of the call (``on_event`` runs that way).
        """
        return IVRWatch(self, call_id, note, spawn)

    def __repr__(self) -> str:
        return (
            f"IVRActivity(min_menu_matches={self.min_menu_matches}, "
            f"loop_detector={self.loop_detector!r}, notify_agent={self.notify_agent})"
        )


class IVRWatch:
    """One call's menu recognition and loop detection (built by :meth:`IVRActivity.start`)."""

    def __init__(
        self,
        activity: IVRActivity,
        call_id: str,
        note: Callable[[str], Awaitable[None]],
        spawn: Callable[[Awaitable[Any]], object],
    ) -> None:
        self._activity = activity
        self._call_id = call_id
        self._note = note
        self._spawn = spawn
        self._matches: list[str] = []
        self._is_menu = activity.min_menu_matches == 0
        self._loops = activity.loop_detector.fresh()

    async def heard(self, text: str) -> None:
        """The far end said ``text`` (a final transcript): notes are in the conversation when
        this returns; ``on_event`` runs on its own."""
        for event in self.hear(text):
            logger.info("call %s: IVR %s detected", self._call_id, event.kind)
            activity = self._activity
            if activity.notify_agent:
                note = activity.menu_note if event.kind == "menu" else activity.loop_note
                try:
                    await self._note(note)
                except Exception as exc:
                    logger.warning("call %s: the IVR note was not added: %s", self._call_id, exc)
            if activity.on_event is not None:
                self._spawn(self._tell(activity.on_event, event))

    def hear(self, text: str) -> list[IVREvent]:
        """Take one far-end utterance; return what it revealed."""
        found: list[IVREvent] = []
        activity = self._activity
        if not self._is_menu:
            self._matches.extend(activity.menu_matches(text))
            if len(self._matches) < activity.min_menu_matches:
                return found
            self._is_menu = True
            found.append(IVREvent("menu", self._call_id, text, matches=tuple(self._matches)))
        if self._loops.add(text):
            similarity = self._loops.last_similarity
            self._loops.reset()
            found.append(IVREvent("loop", self._call_id, text, similarity=similarity))
        return found

    async def _tell(self, on_event: OnIVREvent, event: IVREvent) -> None:
        try:
            result = on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("call %s: the IVR on_event callback failed", self._call_id)
