"""A loopback simulator of Twilio Programmable Voice, for tests, the sandbox and the demo.

It behaves on the wire like Twilio does toward an app:

* **REST** (``sim.base_url`` replaces ``https://api.twilio.com``; HTTP Basic with the
  account sid and auth token): create a call, fetch it, hang it up or redirect it (a
  ``<Dial>`` is a transfer), start a recording, list and update IncomingPhoneNumbers.
* **Webhooks** signed with ``X-Twilio-Signature`` (HMAC-SHA1, computed here independently of
  the ``twilio`` SDK): the voice URL, status callbacks (only the requested
  ``StatusCallbackEvent`` values, plus the final status always), async AMD results and
  recording status callbacks.
* **Media Streams**: a WebSocket client for ``<Connect><Stream>`` that sends ``connected``,
  ``start``, a paced 20 ms μ-law ``media`` frame stream, ``dtmf`` and ``stop``, and plays the
  app's audio out in real time, echoing ``mark`` and honouring ``clear``.

The callee is scripted with :class:`~getpatter.testing.scenario.Callee`. Everything that
happens is recorded on a :class:`SimulatedCall`.

Loopback rule: the app is configured with a public host like ``127.0.0.1:PORT`` and builds
``https://``/``wss://`` URLs. The simulator signs the URL string it was given, exactly, but
connects over plain ``http://``/``ws://`` when the host is ``127.0.0.1``, ``localhost`` or
``::1``, playing both Twilio and the TLS-terminating proxy in front of the app.

Using the official ``twilio`` SDK against it::

    client = twilio.rest.Client(sim.account_sid, sim.auth_token)
    client.api.base_url = sim.base_url
"""

from getpatter.testing.phone_network.call import (
    CallError,
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
from getpatter.testing.twilio_simulator.exchange import PhoneNumber
from getpatter.testing.twilio_simulator.signature import twilio_signature
from getpatter.testing.twilio_simulator.simulator import TwilioSimulator
from getpatter.testing.twilio_simulator.webhooks import loopback_url

__all__ = [
    "AGENT_QUIET_MS",
    "VOICEMAIL_GREETING",
    "CallError",
    "DtmfEvent",
    "HangupBy",
    "HeardFrame",
    "MarkEvent",
    "PhoneNumber",
    "SimulatedCall",
    "StreamRecord",
    "TwilioSimulator",
    "Utterance",
    "Webhook",
    "loopback_url",
    "twilio_signature",
]
