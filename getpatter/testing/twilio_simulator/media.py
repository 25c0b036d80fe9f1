"""One Media Streams WebSocket, as Twilio opens it for ``<Connect><Stream>``.

The wire format of Twilio's Media Streams over the shared pacing and play-out of
:class:`~getpatter.testing.phone_network.stream.MediaStream`: ``connected``
(``protocol: Call``), ``start`` with camelCase fields, 160-byte μ-law ``media`` frames,
``dtmf`` with ``track: inbound_track``, ``mark`` and ``stop``. Numeric fields are strings, as
Twilio sends them, and every numbered message carries ``sequenceNumber`` and ``streamSid``.
App messages must name the stream's ``streamSid`` (error 31951 otherwise). A ``<Stream>`` URL
that is not ``wss://`` is refused (31922). The handshake carries ``X-Twilio-Signature``.
"""

from __future__ import annotations

import secrets
from typing import Any

from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.callee import CalleeLine
from getpatter.testing.phone_network.stream import FRAME_BYTES, MAX_BUFFERED_BYTES
from getpatter.testing.phone_network.stream import MediaStream as _MediaStream
from getpatter.testing.twilio_simulator.webhooks import twilio_headers

__all__ = ["FRAME_BYTES", "MAX_BUFFERED_BYTES", "MediaStream"]


class MediaStream(_MediaStream):
    """Twilio's end of one ``<Connect><Stream>`` media WebSocket."""

    carrier = "twilio"
    user_agent = "Twilio.TmeWs/1.0"

    def __init__(
        self,
        call: SimulatedCall,
        line: CalleeLine,
        url: str,
        parameters: dict[str, str],
        auth_token: str,
    ) -> None:
        super().__init__(call, line, url, parameters)
        self._auth_token = auth_token

    def _new_stream_id(self) -> str:
        return "MZ" + secrets.token_hex(16)

    def _refused_url(self) -> str | None:
        if self._url.startswith("wss://"):
            return None
        return f"<Stream url={self._url!r}>: Media Streams only connect to wss://"

    def _handshake_headers(self) -> dict[str, str]:
        return twilio_headers(self._auth_token, self._url)

    def _connected(self) -> dict[str, Any]:
        return {"event": "connected", "protocol": "Call", "version": "1.0.0"}

    def _start_body(self) -> dict[str, Any]:
        return {
            "accountSid": self._call.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self._call.sid,
            "tracks": ["inbound"],
            "customParameters": dict(self._parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }

    def _envelope(self, event: str, sequence: int) -> dict[str, Any]:
        return {"event": event, "sequenceNumber": str(sequence), "streamSid": self.stream_sid}

    def _dtmf_body(self, digit: str) -> dict[str, Any]:
        return {"track": "inbound_track", "digit": digit}

    def _stop_body(self) -> dict[str, Any]:
        return {"accountSid": self._call.account_sid, "callSid": self._call.sid}

    def _addressed_to_us(self, data: dict[str, Any], event: str) -> bool:
        if data.get("streamSid") == self.stream_sid:
            return True
        self._error(31951, f"{event} has streamSid {data.get('streamSid')!r}, not ours")
        return False
