"""One Telnyx media-streaming WebSocket, opened toward the app's ``stream_url``.

The wire format of Telnyx media streaming over the shared pacing and play-out of
:class:`~getpatter.testing.phone_network.stream.MediaStream`: ``connected``, then numbered
messages in snake_case carrying ``sequence_number`` and a top-level ``stream_id``: ``start``
(``start.call_control_id``, ``media_format`` {encoding, sample_rate, channels},
``client_state``, ``custom_parameters``), a ``media`` frame every 20 ms, ``dtmf``
(``{"digit": "1"}``), ``mark`` echoes and ``stop``. With a ``stream_auth_token`` the handshake
carries ``x-telnyx-streaming-auth-token`` and ``connected`` repeats the token.

Codecs. ``media.payload`` is a base64 RTP payload without RTP headers: PCMU or PCMA at 8 kHz, or
L16, 16-bit linear PCM in network byte order (big-endian, as RTP carries L16 per RFC 3551), at
16 kHz unless ``stream_bidirectional_sampling_rate`` sets 8, 24 or 48 kHz. This is the
simulator's assumption where Telnyx's documents say only "L16". The callee's audio is sent in
the stream codec (``stream_codec``); the app's ``media`` must be in the bidirectional codec and
is converted to 8 kHz μ-law for play-out, so ``SimulatedCall.heard`` means the same on every
carrier. Sending audio needs ``stream_bidirectional_mode: rtp`` (error 31951 otherwise).

``stream_track`` ``outbound_track`` and ``both_tracks`` add ``outbound`` frames: the agent audio
the callee heard in that tick (silence when none).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from getpatter.audio import Resampler, alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16
from getpatter.audio.g711 import ULAW_SILENCE
from getpatter.testing.phone_network.call import SimulatedCall, StreamRecord
from getpatter.testing.phone_network.callee import CalleeLine
from getpatter.testing.phone_network.stream import FRAME_BYTES, MediaStream
from getpatter.testing.telnyx_simulator.params import StreamConfig

__all__ = ["MAX_CHUNK_MS", "TelnyxMediaStream"]

MAX_CHUNK_MS = 30_000
"""The longest audio one app ``media`` message may carry."""

_AUTH_HEADER = "x-telnyx-streaming-auth-token"


class _Encoder:
    """8 kHz μ-law frames into one codec, as a continuous stream (L16 is resampled)."""

    def __init__(self, codec: str, rate: int) -> None:
        self._codec = codec
        self._resampler: Resampler | None = None
        if codec == "L16" and rate != 8000:
            self._resampler = Resampler(8000, rate)
            # Prime the filter, so that every 20 ms frame in gives a whole frame out.
            self._resampler.process(bytes(2 * FRAME_BYTES))

    def encode(self, ulaw: bytes) -> bytes:
        if self._codec == "PCMU":
            return ulaw
        pcm = ulaw_to_pcm16(ulaw)
        if self._codec == "PCMA":
            return pcm16_to_alaw(pcm)
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        return np.frombuffer(pcm, dtype="<i2").astype(">i2").tobytes()


def _decode(codec: str, rate: int, payload: bytes) -> bytes:
    """One app payload as 8 kHz μ-law; each chunk is resampled on its own (exact length)."""
    if codec == "PCMU":
        return payload
    if codec == "PCMA":
        return pcm16_to_ulaw(alaw_to_pcm16(payload))
    pcm = np.frombuffer(payload, dtype=">i2").astype("<i2").tobytes()
    if rate != 8000:
        resampler = Resampler(rate, 8000)
        pcm = resampler.process(pcm) + resampler.flush()
    return pcm16_to_ulaw(pcm)


class TelnyxMediaStream(MediaStream):
    """Telnyx's end of one media-streaming WebSocket."""

    carrier = "telnyx"
    user_agent = "Telnyx-Media-Streaming/1.0"
    marks_at_once_when_idle = True

    def __init__(
        self,
        call: SimulatedCall,
        line: CalleeLine,
        config: StreamConfig,
        *,
        user_id: str,
        call_session_id: str,
        client_state: str | None,
    ) -> None:
        super().__init__(call, line, config.url, config.custom_parameters)
        self.config = config
        self._user_id = user_id
        self._session = call_session_id
        self._client_state = client_state
        self._inbound = _Encoder(config.codec, config.sample_rate)
        self._outbound = _Encoder(config.codec, config.sample_rate)

    def _new_stream_id(self) -> str:
        return str(uuid.uuid4()).upper()

    def _handshake_headers(self) -> dict[str, str]:
        token = self.config.auth_token
        return {_AUTH_HEADER: token} if token is not None else {}

    def _record(self, started_ms: float) -> StreamRecord:
        config = self.config
        return StreamRecord(
            self._url,
            self.stream_sid,
            dict(self._parameters),
            started_ms,
            codec=config.codec,
            sample_rate=config.sample_rate,
            bidirectional_codec=config.bidirectional_codec,
            bidirectional_sample_rate=config.bidirectional_sample_rate,
        )

    def _connected(self) -> dict[str, Any]:
        connected: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if self.config.auth_token is not None:
            connected["connected"] = {_AUTH_HEADER: self.config.auth_token}
        return connected

    def _start_body(self) -> dict[str, Any]:
        call = self._call
        return {
            "user_id": self._user_id,
            "call_control_id": call.sid,
            "call_session_id": self._session,
            "from": call.from_,
            "to": call.to,
            "tags": [],
            "client_state": self._client_state,
            "custom_parameters": dict(self._parameters),
            "media_format": {
                "encoding": self.config.codec,
                "sample_rate": self.config.sample_rate,
                "channels": 1,
            },
        }

    def _envelope(self, event: str, sequence: int) -> dict[str, Any]:
        return {"event": event, "sequence_number": str(sequence), "stream_id": self.stream_sid}

    def _dtmf_body(self, digit: str) -> dict[str, Any]:
        return {"digit": digit}

    def _stop_body(self) -> dict[str, Any]:
        return {"call_control_id": self._call.sid}

    def _media_bodies(
        self, chunk: int, callee_ulaw: bytes, played_ulaw: bytes
    ) -> list[dict[str, Any]]:
        tracks: list[dict[str, Any]] = []
        if self.config.track != "outbound_track":
            tracks += super()._media_bodies(chunk, self._inbound.encode(callee_ulaw), b"")
        if self.config.track != "inbound_track":
            agent = played_ulaw.ljust(FRAME_BYTES, ULAW_SILENCE)
            [outbound] = super()._media_bodies(chunk, self._outbound.encode(agent), b"")
            tracks.append(outbound | {"track": "outbound"})
        return tracks

    def _addressed_to_us(self, data: dict[str, Any], event: str) -> bool:
        stream_id = data.get("stream_id")
        if stream_id is None or stream_id == self.stream_sid:
            return True
        self._error(31951, f"{event} has stream_id {stream_id!r}, not ours")
        return False

    def _decode_audio(self, audio: bytes) -> bytes | None:
        config = self.config
        if config.bidirectional_mode != "rtp":
            self._error(
                31951,
                "media from the app on a stream without stream_bidirectional_mode 'rtp' "
                "(Telnyx would take it for an MP3 file): dropped",
            )
            return None
        codec, rate = config.bidirectional_codec, config.bidirectional_sample_rate
        width = 2 if codec == "L16" else 1
        if len(audio) % width:
            self._error(31951, f"L16 media of {len(audio)} bytes: not whole 16-bit samples")
            return None
        if len(audio) // width > rate * MAX_CHUNK_MS // 1000:
            self._error(31951, "media longer than 30 s in one message: dropped")
            return None
        return _decode(codec, rate, audio)
