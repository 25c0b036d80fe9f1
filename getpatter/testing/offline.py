"""How the sandbox runs each provider class against a loopback fake of its service.

A pipeline agent in the :class:`~getpatter.testing.sandbox.Sandbox` keeps its own STT, LLM and
TTS classes: each is rebuilt pointing at the fake of its service, so a sandbox call goes through
the same client code as a real one. Every fake family (``getpatter/testing/fake_<family>/``)
describes its providers in an ``offline`` module exposing ``OFFLINE``, a tuple of
:class:`OfflineProvider`; the module is listed in :data:`FAMILIES`.

A provider class with no entry (a user's own) is left as it is: it talks to whatever it was
configured for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import TracebackType
from typing import Any, Protocol, Self

from getpatter.testing.scenario import Scenario

__all__ = ["FAMILIES", "FakeService", "OfflineProvider", "SandboxTarget", "offline_provider"]


class FakeService(Protocol):
    """A loopback fake: started with ``async with``, reachable at ``base_url``."""

    @property
    def base_url(self) -> str:
        """Where the fake listens (what a provider's ``base_url`` takes)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


@dataclass(frozen=True)
class SandboxTarget:
    """What a rebuilt provider is pointed at: the started fake's ``base_url``, the key the fake
    accepts, and the sandbox's settings a provider may need."""

    base_url: str
    api_key: str
    tts_stall_timeout: float = 10.0


@dataclass(frozen=True)
class OfflineProvider:
    """One provider class and the fake that serves it in the sandbox.

    ``fake`` names the fake: providers with the same name share one fake per sandbox (the
    OpenAI chat fake serves OpenAI and Groq). ``start(scenario, api_key)`` builds the fake,
    unstarted, accepting ``api_key``. ``retarget(provider, target)`` returns a provider of the
    same class, keeping the user's options where the fake supports them, pointed at the fake.
    """

    provider: type[Any]
    fake: str
    start: Callable[[Scenario, str], FakeService]
    retarget: Callable[[Any, SandboxTarget], Any]


FAMILIES: tuple[str, ...] = (
    "getpatter.testing.fake_deepgram.offline",
    "getpatter.testing.fake_llm.offline",
    "getpatter.testing.fake_stt_http.offline",
    "getpatter.testing.fake_stt_ws.offline",
    "getpatter.testing.fake_tts.offline",
)
"""The modules whose ``OFFLINE`` tuples the sandbox reads."""


@cache
def _entries() -> dict[type[Any], OfflineProvider]:
    found: dict[type[Any], OfflineProvider] = {}
    for module in FAMILIES:
        for entry in importlib.import_module(module).OFFLINE:
            found[entry.provider] = entry
    return found


def offline_provider(provider: object) -> OfflineProvider | None:
    """The entry for ``provider``'s class (its exact class, not a subclass: a subclass may
    speak another service), or ``None``."""
    return _entries().get(type(provider))
