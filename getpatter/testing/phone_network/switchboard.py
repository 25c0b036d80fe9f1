"""The calls of one simulated carrier account: who answers where, and every call placed."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.leg import BaseLeg
from getpatter.testing.scenario import Callee

__all__ = ["Switchboard"]

LegT = TypeVar("LegT", bound=BaseLeg)


class Switchboard(ABC, Generic[LegT]):
    """Scripted callees, calls and their legs, shared by a simulator's REST API and facade."""

    def __init__(self) -> None:
        self.base_url = ""
        self.callees: dict[str, Callee] = {}
        self.calls: list[SimulatedCall] = []
        self.legs: dict[str, LegT] = {}
        self.transfer_talk_s = 1.0
        self._new_call = asyncio.Event()

    def callee(self, number: str) -> Callee:
        """Who answers calls to ``number`` (a silent ``Callee()`` unless scripted)."""
        return self.callees.get(number, Callee())

    def register(self, leg: LegT) -> LegT:
        """Start the clock of ``leg``'s call and list it; wake :meth:`wait_for_call`."""
        leg.call._started_at = asyncio.get_running_loop().time()
        self.calls.append(leg.call)
        self.legs[leg.call.sid] = leg
        self._new_call.set()
        self._new_call = asyncio.Event()
        return leg

    async def wait_for_call(self, predicate: Callable[[SimulatedCall], bool]) -> SimulatedCall:
        """The first call (oldest first) matching ``predicate``, waiting for one if needed."""
        while True:
            found = next((call for call in self.calls if predicate(call)), None)
            if found is not None:
                return found
            await self._new_call.wait()

    async def shutdown(self, grace: float) -> None:
        """End every live call as the carrier would, then stop what is left after ``grace``."""
        for leg in self.legs.values():
            leg.shut_down()
        tasks = [leg.task for leg in self.legs.values() if leg.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for leg in self.legs.values():
            await leg.cancel()
        await self._close()

    @abstractmethod
    async def _close(self) -> None:
        """Release what the account holds (the webhook connection pool)."""
