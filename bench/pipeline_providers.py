"""STT and TTS provider families in the pipeline benchmark, against the getpatter.testing fakes.

``bench/pipeline.py`` measures one STT or TTS provider family per extra brain: the ``message``
brain (an instant ``on_message``) with one provider swapped for a package one, pointed at the
getpatter.testing fakes that ``bench/providers_fakes.py`` serves in a process of its own (so
their CPU is not Patter's). The other provider stays the bench's lean peer:

- ``stt-<name>`` (:data:`STT_BRAINS`): the named STT against its package fake, TTS the lean
  ElevenLabs HTTP fake. The fake STT's energy VAD hears the caller's babble and sends a final
  300 ms into the silence, like the lean Deepgram; every utterance is heard as a stamp word that
  becomes the fake's wall clock (µs) as it writes the final (``providers_fakes.py``). The brain
  echoes it, the lean TTS puts the stamp into the reply frames' markers (``pipeline_peers``),
  and the caller reading the first frame compares it with ``time.time()`` (the same
  CLOCK_REALTIME).
- ``tts-<name>`` (:data:`TTS_BRAINS`): the lean Deepgram (finals on the caller's endpoint, sent
  at a monotonic time this process knows), TTS the named package provider against its fake
  (``speedup`` 10**6: the tone audio is sent at once). The fake's audio carries no marker: the
  first frame a call receives after its final is the reply's first frame (one turn at a time).

Turn latency in both: the fake STT writing the final -> the caller receiving the reply's first
frame. For TTS rows it includes the TTS fake's own answer (each fake's server stack differs).
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline_peers import STAMP_MARK

__all__ = ["STT_BRAINS", "TTS_BRAINS", "TurnWatch", "make_provider"]

STT_BRAINS: dict[str, str] = {
    "stt-deepgram": "DeepgramSTT",
    "stt-assemblyai": "AssemblyAISTT",
    "stt-soniox": "SonioxSTT",
    "stt-speechmatics": "SpeechmaticsSTT",
    # CartesiaSTT has no endpointing of its own (the agent needs a VAD to finalize): left out.
}
"""Brain -> the provider class (as ``bench/providers.py`` names its factories)."""

TTS_BRAINS: dict[str, str] = {
    "tts-elevenlabs": "ElevenLabsTTS",
    "tts-elevenlabs_ws": "ElevenLabsWebSocketTTS",
    "tts-openai": "OpenAITTS",
    "tts-cartesia": "CartesiaTTS",
    "tts-rime": "RimeTTS",
    "tts-lmnt": "LMNTTTS",
}


def make_provider(brain: str, urls: dict[str, str]) -> Any:
    """The STT or TTS of provider brain ``brain``, pointed at its fake in ``urls``."""
    from providers import stt_providers, tts_providers

    if brain in STT_BRAINS:
        return stt_providers(urls)[STT_BRAINS[brain]][1]()
    return tts_providers(urls)[TTS_BRAINS[brain]][1]()


@dataclass
class TurnWatch:
    """Every call's turns as its caller hears them: final -> the reply's first frame.

    ``stamped``: the finals' times are stamps in the reply frames (``stt-*`` brains);
    otherwise :meth:`final` gives them (``tts-*`` brains).
    """

    stamped: bool
    turns: list[tuple[float, float]] = field(default_factory=list)
    """(the final's time on ``time.monotonic()``, turn latency in ms), in arrival order."""
    endpoints: int = 0
    _pending: dict[int, float] = field(default_factory=dict)
    _endpoint_at: dict[int, list[float]] = field(default_factory=dict)
    _finals: list[tuple[int, float]] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set)

    def endpoint(self, call: int) -> None:
        """The caller's speech ended ``ENDPOINT_MS`` ago (stamped brains)."""
        self.endpoints += 1
        self._endpoint_at.setdefault(call, []).append(time.time())

    def final(self, call: int, sent: float | None) -> None:
        """The lean Deepgram wrote ``call``'s final at ``sent`` (monotonic)."""
        self.endpoints += 1
        if sent is not None:
            self._pending[call] = sent

    def attach(self, caller: Any, call: int) -> None:
        """Watch the agent audio ``caller`` (a ``relay_peers.MediaCaller``) receives."""
        original: Callable[[bytes], None] = caller._media

        def media(payload: bytes) -> None:
            original(payload)
            self._frame(call, payload)

        caller._media = media

    def _frame(self, call: int, payload: bytes) -> None:
        if not self.stamped:
            sent = self._pending.pop(call, None)
            if sent is not None:
                self.turns.append((sent, (time.monotonic() - sent) * 1000))
            return
        start = payload.find(b'"payload":"') + 11
        marker = binascii.a2b_base64(payload[start : start + 16])
        if marker[:2] != STAMP_MARK or marker[2] != 0:
            return
        stamp = int.from_bytes(marker[3:11], "big")
        if stamp in self._seen:
            return
        now_wall, now_mono = time.time(), time.monotonic()
        self._seen.add(stamp)
        sent_wall = stamp / 1e6
        self.turns.append((now_mono - (now_wall - sent_wall), (now_wall - sent_wall) * 1000))
        self._finals.append((call, sent_wall))

    @property
    def final_lag_ms(self) -> list[float]:
        """Stamped: each package fake's final after the nearest caller endpoint (when the lean
        Deepgram would send its final), ms; negative when the fake's endpointing is shorter."""
        lags = []
        for call, sent in self._finals:
            endpoints = self._endpoint_at.get(call)
            if endpoints:
                lags.append(min((sent - e for e in endpoints), key=abs) * 1000)
        return lags

    def in_window(self, t0: float, t1: float) -> list[float]:
        """The latencies of the turns whose final was written between ``t0`` and ``t1``."""
        return [ms for sent, ms in self.turns if t0 <= sent <= t1]
