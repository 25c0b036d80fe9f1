"""What an end-to-end engine does by itself, declared before any call (no dependencies)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineCapabilities"]


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine does by itself. The call session acts on these, never on engine classes."""

    answers_speech_turns: bool = True
    """Every caller turn the engine reports with :class:`SpeechStopped` gets a response without
    being asked (a speech-to-speech model with its own turn detection). False: the engine
    answers only the turns it transcribed, and emits :class:`UserTranscript` before each."""
    streams_agent_text: bool = False
    """With ``EngineConfig.stream_agent_text`` the engine emits :class:`AgentTextDelta`, the
    text of its speech as it is generated, so the session can screen it with guardrails."""
    screens_output: bool = False
    """The engine applies the agent's guardrails itself, before anything is spoken."""
    speaks_verbatim: bool = True
    """:meth:`Engine.say` speaks the text exactly (a greeting, a voicemail, ``CallControl.say``)."""
    takes_instructions: bool = True
    """:meth:`Engine.instruct` changes the agent's next replies mid-call."""
    decides_interruptions: bool = False
    """The engine decides when the caller has interrupted the agent and emits
    :class:`AgentInterrupted`; the session then only clears the line, and never interrupts the
    engine on its own barge-in timer."""
    truncates_to_heard: bool = True
    """:meth:`Engine.interrupt` cuts the engine's record of the agent's message to what the
    caller heard. False: the engine corrects its own transcript after an interruption."""
    greets_itself: bool = False
    """The engine speaks ``EngineConfig.greeting`` itself as the conversation starts; the
    session does not ask for it with :meth:`Engine.say`."""
