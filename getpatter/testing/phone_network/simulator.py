"""What a carrier simulator's facade has in common: serving, scripted callees, finding calls."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

from getpatter._validation import require_e164, require_number
from getpatter.errors import ConfigError, InputValidationError
from getpatter.server.background import BackgroundServer
from getpatter.testing.phone_network.call import SimulatedCall
from getpatter.testing.phone_network.switchboard import Switchboard
from getpatter.testing.scenario import Callee, Press

__all__ = ["CarrierSimulator", "checked_callee"]

_DTMF_KEYS = frozenset("0123456789*#")
_SHUTDOWN_GRACE_S = 5.0

SwitchboardT = TypeVar("SwitchboardT", bound=Switchboard[Any])


class CarrierSimulator(ABC, Generic[SwitchboardT]):
    """A carrier on 127.0.0.1 for an app under test; a subclass gives its REST API."""

    def __init__(self, switchboard: SwitchboardT) -> None:
        self._switchboard = switchboard
        self._server: BackgroundServer | None = None
        self._used = False

    @property
    def transfer_talk_s(self) -> float:
        """How long a transferred call stays connected to the number it was transferred to
        (unless the transfer's time limit ends it first), in seconds; 1 by default. Applies to
        calls placed after it is set."""
        return self._switchboard.transfer_talk_s

    @transfer_talk_s.setter
    def transfer_talk_s(self, seconds: float) -> None:
        self._switchboard.transfer_talk_s = require_number("transfer_talk_s", seconds, minimum=0)

    @property
    def calls(self) -> list[SimulatedCall]:
        """Every call so far, oldest first."""
        return list(self._switchboard.calls)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start serving on 127.0.0.1 at a free port. A simulator runs once."""
        if self._used:
            raise ConfigError(f"a {type(self).__name__} runs only once: create a new one")
        self._used = True
        self._server = BackgroundServer(self._build_app(), ws="none", timeout_graceful_shutdown=1)
        port = await self._server.start()
        self._switchboard.base_url = f"http://127.0.0.1:{port}"

    async def aclose(self) -> None:
        """End live calls (``stop``, final webhooks), then stop the server. Idempotent."""
        if self._server is None:
            return
        await self._switchboard.shutdown(_SHUTDOWN_GRACE_S)
        await self._server.stop(_SHUTDOWN_GRACE_S)
        self._server = None

    def callee_for(self, number: str, callee: Callee) -> None:
        """Script who answers outbound calls to ``number`` (default: ``Callee()``, silent)."""
        require_e164("number", number)
        self._switchboard.callees[number] = checked_callee(callee)

    def get_call(self, sid: str) -> SimulatedCall:
        """The call whose id is ``sid`` (``KeyError`` if none)."""
        call: SimulatedCall = self._switchboard.legs[sid].call
        return call

    async def wait_for_call(
        self,
        *,
        to: str | None = None,
        direction: Literal["inbound", "outbound-api"] | None = None,
    ) -> SimulatedCall:
        """The oldest call matching ``to`` and ``direction``, waiting for one if there is none.

        Bound the wait with ``asyncio.timeout``.
        """

        def matches(call: SimulatedCall) -> bool:
            return (to is None or call.to == to) and (
                direction is None or call.direction == direction
            )

        return await self._switchboard.wait_for_call(matches)

    @abstractmethod
    def _build_app(self) -> Any:
        """The ASGI app serving the carrier's REST API."""

    def _require_running(self) -> None:
        if not self._switchboard.base_url:
            raise ConfigError(
                f"the simulator is not running: use 'async with {type(self).__name__}()'"
            )


def checked_callee(callee: object) -> Callee:
    """``callee`` if it is a :class:`Callee` whose key presses are all DTMF keys."""
    if not isinstance(callee, Callee):
        raise ConfigError(
            f"callee must be a getpatter.testing.scenario.Callee, got {type(callee).__name__}"
        )
    for step in callee.steps:
        if isinstance(step, Press) and not set(step.digits) <= _DTMF_KEYS:
            raise InputValidationError(f"Press({step.digits!r}): DTMF keys are 0-9, '*' and '#'")
    return callee
