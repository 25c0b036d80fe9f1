"""A loopback fake of ElevenLabs Conversational AI that speaks its real WebSocket protocol.

:class:`FakeConvAIServer` serves ``GET /v1/convai/conversation/get-signed-url`` and the
conversation WebSocket ``ws://127.0.0.1:<port>/v1/convai/conversation?agent_id=...``, and plays
the agent's half of a :class:`~getpatter.testing.scenario.Scenario`: it "hears" the n-th caller
utterance as the n-th ``Say`` text (sent back as ``user_transcript``) and answers each turn with
the next ``Reply``: its text in ``agent_response``, then a tone lasting as long as the text
takes to say, in ``audio`` events of 100 ms sent ``speedup`` (4) times faster than real time. A
``Reply`` with a ``tool_call`` first sends ``client_tool_call`` and waits for the
``client_tool_result``; ``{result}`` in its text is replaced by the result.

Turn detection is the Realtime fake's energy VAD on the caller's audio (20 ms windows with an
RMS of at least 500 on the int16 scale are voiced; 3 in a row start speech; ``silence_ms`` of
unvoiced audio ends the turn). Caller speech that starts while a reply is still being sent
interrupts it: the fake sends ``interruption`` with the last audio ``event_id`` and
``agent_response_correction`` with the words the caller heard, measured on the caller's clock
(caller audio received since the turn began).
"""

from getpatter.testing.fake_convai.records import (
    AgentReply,
    FakeAgent,
    FakeConversation,
    ToolResult,
)
from getpatter.testing.fake_convai.server import FakeConvAIServer

__all__ = ["AgentReply", "FakeAgent", "FakeConvAIServer", "FakeConversation", "ToolResult"]
