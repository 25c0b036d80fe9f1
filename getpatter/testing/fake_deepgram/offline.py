"""Deepgram in the sandbox: ``DeepgramSTT`` pointed at :class:`FakeDeepgramServer`."""

from __future__ import annotations

from getpatter.stt.deepgram import DeepgramSTT
from getpatter.testing.fake_deepgram.server import FakeDeepgramServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget

__all__ = ["OFFLINE"]


def _deepgram(stt: DeepgramSTT, target: SandboxTarget) -> DeepgramSTT:
    # The language and model go on the wire; the fake's endpointing drives the turns.
    return DeepgramSTT(
        api_key=target.api_key,
        base_url=target.base_url,
        language=stt.language,
        model=stt.model,
    )


OFFLINE = (
    OfflineProvider(
        DeepgramSTT,
        "deepgram",
        lambda scenario, key: FakeDeepgramServer(scenario, api_key=key),
        _deepgram,
    ),
)
