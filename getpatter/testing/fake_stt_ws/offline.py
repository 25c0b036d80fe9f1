"""The JSON-over-WebSocket STTs in the sandbox: each provider pointed at its vendor's fake.

Every option of the user's provider is kept (``_pointed_at``): the format, the model and the
turn settings go on the wire and the fakes honour them. Add a provider of the family as one
more entry of :data:`OFFLINE`.
"""

from __future__ import annotations

from typing import Any

from getpatter.stt.assemblyai import AssemblyAISTT
from getpatter.stt.soniox import SonioxSTT
from getpatter.testing.fake_stt_ws.assemblyai import FakeAssemblyAIServer
from getpatter.testing.fake_stt_ws.soniox import FakeSonioxServer
from getpatter.testing.offline import OfflineProvider, SandboxTarget

__all__ = ["OFFLINE"]


def _pointed_at(stt: Any, target: SandboxTarget) -> Any:
    return stt._pointed_at(target.api_key, target.base_url)


OFFLINE = (
    OfflineProvider(
        AssemblyAISTT,
        "assemblyai",
        lambda scenario, key: FakeAssemblyAIServer(scenario, api_key=key),
        _pointed_at,
    ),
    OfflineProvider(
        SonioxSTT,
        "soniox",
        lambda scenario, key: FakeSonioxServer(scenario, api_key=key),
        _pointed_at,
    ),
)
