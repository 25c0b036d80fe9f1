"""What the carrier simulators share: the call record, the scripted callee, media pacing.

:mod:`getpatter.testing.twilio_simulator` and :mod:`getpatter.testing.telnyx_simulator` both
build on these parts, so a call looks the same in a test whichever carrier carried it: a
:class:`SimulatedCall` with the same fields and meanings.
"""

from getpatter.testing.phone_network.call import (
    CallError,
    Command,
    DtmfEvent,
    HangupBy,
    HeardFrame,
    MarkEvent,
    SimulatedCall,
    StreamRecord,
    Utterance,
    Webhook,
)
from getpatter.testing.phone_network.callee import AGENT_QUIET_MS, VOICEMAIL_GREETING
from getpatter.testing.phone_network.webhooks import loopback_url

__all__ = [
    "AGENT_QUIET_MS",
    "VOICEMAIL_GREETING",
    "CallError",
    "Command",
    "DtmfEvent",
    "HangupBy",
    "HeardFrame",
    "MarkEvent",
    "SimulatedCall",
    "StreamRecord",
    "Utterance",
    "Webhook",
    "loopback_url",
]
