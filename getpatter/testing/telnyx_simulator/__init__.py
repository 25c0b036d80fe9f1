"""A loopback simulator of Telnyx Call Control (Voice API v2), for tests and the sandbox.

It behaves on the wire like Telnyx does toward an app:

* **REST** (``sim.base_url`` = ``http://127.0.0.1:PORT/v2`` replaces
  ``https://api.telnyx.com/v2``; ``Authorization: Bearer <api key>``; JSON): dial
  (``POST /calls``), call status, the call commands ``answer``, ``hangup``, ``reject``,
  ``transfer``, ``record_start``, ``record_stop``, ``send_dtmf``, ``streaming_start``,
  ``streaming_stop`` and ``client_state_update``, Call Control applications and phone numbers.
  Errors are Telnyx's ``{"errors": [{"code", "title", "detail"}]}``; a command for an ended
  call is 422 with code ``90018``. Unknown fields are ignored; ``command_id`` repeats too.
* **Webhooks**: Telnyx's event envelope, signed with Ed25519 (``telnyx-signature-ed25519``
  over ``f"{timestamp}|{body}"``, ``telnyx-timestamp``) with a key pair made per simulator
  (:attr:`TelnyxSimulator.public_key`): ``call.initiated``, ``call.answered``, ``call.hangup``,
  ``call.bridged``, ``call.dtmf.received``, ``call.machine.*``, ``streaming.*`` and
  ``call.recording.saved``.
* **Media streaming**: a WebSocket client for the ``stream_url`` that sends ``connected``,
  ``start``, paced 20 ms ``media`` frames (PCMU, PCMA or L16), ``dtmf`` and ``stop``, and plays
  the app's audio out in real time, echoing ``mark`` and honouring ``clear``.

The callee is scripted with :class:`~getpatter.testing.scenario.Callee`. Everything that
happens is recorded on a :class:`SimulatedCall`, the same record as the Twilio simulator's.

Loopback rule: URLs like ``https://127.0.0.1:PORT/...`` and ``wss://127.0.0.1:PORT/...`` are
used as given but connected to over plain ``http://``/``ws://``.

Using the official ``telnyx`` SDK against it::

    client = telnyx.AsyncTelnyx(api_key=sim.api_key, base_url=sim.base_url)
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
from getpatter.testing.telnyx_simulator.account import CallControlApplication, PhoneNumber
from getpatter.testing.telnyx_simulator.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from getpatter.testing.telnyx_simulator.simulator import TelnyxSimulator

__all__ = [
    "AGENT_QUIET_MS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "VOICEMAIL_GREETING",
    "CallControlApplication",
    "CallError",
    "Command",
    "DtmfEvent",
    "HangupBy",
    "HeardFrame",
    "MarkEvent",
    "PhoneNumber",
    "SimulatedCall",
    "StreamRecord",
    "TelnyxSimulator",
    "Utterance",
    "Webhook",
    "loopback_url",
]
