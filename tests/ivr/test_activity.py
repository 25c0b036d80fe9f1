"""IVRActivity: recognising a menu, reporting loops, notes to the agent and on_event."""

import asyncio
import logging

import pytest

from getpatter import ConfigError, IVRActivity, IVREvent, TfidfLoopDetector
from getpatter.ivr import LOOP_NOTE, MENU_NOTE

MENU = "For billing, press 1. For support, press 2."


class Call:
    """What a call session gives the watch: a note sink and a task spawner."""

    def __init__(self, failing_note=False):
        self.notes = []
        self.tasks = []
        self.failing_note = failing_note

    async def note(self, text):
        if self.failing_note:
            raise ConfigError("the engine takes no instructions")
        self.notes.append(text)

    def spawn(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.tasks.append(task)
        return task

    async def settle(self):
        await asyncio.gather(*self.tasks)


def watch(activity, call):
    return activity.start("CA1", note=call.note, spawn=call.spawn)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("For billing, press 1. For support, press 2.", 2),
        ("Please listen carefully as our menu options have changed.", 2),
        ("Para español, oprima el 9.", 2),
        ("To speak to an agent, press zero, or press the star key to go back.", 2),
        ("If you know your party's extension, you may dial it at any time.", 1),
        ("Pour le service client, appuyez sur le 1.", 1),
        ("Yes, I can help with that. What is your account number?", 0),
        ("I pressed the button but nothing happened.", 0),
    ],
)
def test_menu_phrases(text, count):
    assert len(IVRActivity().menu_matches(text)) == count


async def test_a_menu_is_recognised_once_and_the_agent_told():
    call, events = Call(), []
    ivr = watch(IVRActivity(on_event=events.append), call)
    await ivr.heard("Hello, thanks for calling. Just press 1 if you like.")
    assert call.notes == [] and events == []  # one phrase is not enough
    await ivr.heard("For support, press 2.")
    await ivr.heard(MENU)
    await call.settle()
    assert call.notes == [MENU_NOTE]
    (event,) = events
    assert (event.kind, event.call_id, event.text) == ("menu", "CA1", "For support, press 2.")
    assert event.matches == ("press 1", "press 2")


async def test_a_person_talking_is_never_a_menu_nor_a_loop():
    call, events = Call(), []
    ivr = watch(IVRActivity(on_event=events.append), call)
    for _ in range(5):
        await ivr.heard("Hello? Hello, can you hear me now?")
    await call.settle()
    assert call.notes == [] and events == []


async def test_loops_are_reported_after_the_menu_and_counted_afresh():
    call, events = Call(), []
    activity = IVRActivity(
        loop_detector=TfidfLoopDetector(consecutive_threshold=1), on_event=events.append
    )
    ivr = watch(activity, call)
    await ivr.heard(MENU)
    await ivr.heard(MENU)
    await ivr.heard(MENU)
    await ivr.heard(MENU)
    await call.settle()
    assert [e.kind for e in events] == ["menu", "loop", "loop"]
    assert events[1].similarity == pytest.approx(1.0)
    assert call.notes == [MENU_NOTE, LOOP_NOTE, LOOP_NOTE]
    # Each call starts from a fresh copy of the detector given.
    assert activity.loop_detector.repeats == 0


async def test_min_menu_matches_zero_watches_for_loops_from_the_start():
    call, events = Call(), []
    activity = IVRActivity(
        min_menu_matches=0,
        loop_detector=TfidfLoopDetector(consecutive_threshold=1),
        on_event=events.append,
        loop_note="Give up.",
    )
    ivr = watch(activity, call)
    await ivr.heard("Your call is important to us, please hold.")
    await ivr.heard("Your call is important to us, please hold.")
    await call.settle()
    assert [e.kind for e in events] == ["loop"] and call.notes == ["Give up."]


async def test_extra_phrases_and_no_notes():
    call, events = Call(), []

    async def on_event(event: IVREvent) -> None:
        events.append(event)

    activity = IVRActivity(
        min_menu_matches=1,
        menu_phrases=[r"\bvalid choice\b"],
        notify_agent=False,
        on_event=on_event,
    )
    ivr = watch(activity, call)
    await ivr.heard("That is not a valid choice.")
    await call.settle()
    assert [e.kind for e in events] == ["menu"] and call.notes == []


async def test_a_failing_note_or_callback_never_reaches_the_call(caplog):
    call = Call(failing_note=True)

    def on_event(event):
        raise RuntimeError("user bug")

    ivr = watch(IVRActivity(on_event=on_event), call)
    with caplog.at_level(logging.WARNING, logger="getpatter.ivr"):
        await ivr.heard(MENU)
        await call.settle()
    assert "the IVR note was not added" in caplog.text
    assert "on_event callback failed" in caplog.text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_menu_matches": -1},
        {"menu_phrases": "press"},
        {"menu_phrases": ["(unclosed"]},
        {"loop_detector": object()},
        {"notify_agent": "yes"},
        {"on_event": "print"},
        {"menu_note": ""},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        IVRActivity(**kwargs)
