"""What the fake TTS servers share: serving, request records, faults and paced audio."""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from getpatter._validation import require_error_status, require_int, require_number, require_str
from getpatter.errors import ConfigError, InputValidationError
from getpatter.testing._fake_audio import CHUNK_MS
from getpatter.testing._loopback_http import LoopbackHTTPFake
from getpatter.testing.fake_tts.records import TTSRequest
from getpatter.testing.scenario import Scenario

Transport = Literal["http", "websocket"]


@dataclass(frozen=True)
class Fail:
    """Answer the next request with HTTP ``status`` (a WebSocket handshake too)."""

    status: int


@dataclass(frozen=True)
class Stall:
    """Stop sending for ``seconds`` once ``after_bytes`` of the next request's audio are out."""

    after_bytes: int
    seconds: float


@dataclass(frozen=True)
class ErrorFrame:
    """Answer the next stream-input socket with an error frame instead of audio."""

    message: str
    error: str
    status: int | None = None


@dataclass(frozen=True)
class Drop:
    """Drop the next request's connection once ``after_bytes`` of its audio are out."""

    after_bytes: int


class Dropped(Exception):
    """Raised inside a response body to cut the connection (a :class:`Drop` fault)."""


@dataclass(frozen=True)
class HugeFrame:
    """Send the next stream-input socket one audio frame of ``size`` bytes first."""

    size: int


Fault = Fail | Stall | ErrorFrame | HugeFrame | Drop
_WEBSOCKET_ONLY = (ErrorFrame, HugeFrame)


class FakeTTSServer(LoopbackHTTPFake):
    """A loopback TTS API: ``async with`` it, point the client at ``base_url``.

    Every request speaks its text as ``scenario.speech_ms(text)`` ms of a 400 Hz tone, sent in
    100 ms chunks ``speedup`` times faster than real time. ``api_key`` given: requests must
    carry exactly that key (any non-empty key otherwise).
    """

    _label = "FakeTTSServer"
    _websockets = False

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        api_key: str | None = None,
        speedup: float = 4.0,
    ) -> None:
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ConfigError(
                f"{self._label} scenario must be a Scenario, got {type(scenario).__name__}"
            )
        if api_key is not None:
            require_str(f"{self._label} api_key", api_key, allow_empty=False)
        if require_number(f"{self._label} speedup", speedup) <= 0:
            raise InputValidationError(f"{self._label} speedup must be > 0, got {speedup!r}")
        self.scenario = scenario if scenario is not None else Scenario()
        self._api_key = api_key
        self._speedup = float(speedup)
        self._faults: deque[Fault] = deque()
        self._requests: list[TTSRequest] = []

    def _app(self) -> Starlette:
        return Starlette(routes=self._routes())

    def _server_options(self) -> dict[str, Any]:
        return {
            "ws": "websockets-sansio" if self._websockets else "none",
            "timeout_graceful_shutdown": 1,
        }

    @property
    def _fake_name(self) -> str:
        return self._label

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` plus the API's root path, as the client's ``base_url``."""
        return f"{self._origin('base_url')}{self._root}"

    @property
    def requests(self) -> list[TTSRequest]:
        """Every accepted request, in arrival order."""
        return list(self._requests)

    def fail_next(self, status: int = 500) -> None:
        """Answer the next request with HTTP ``status``; each call fails one more request."""
        self._faults.append(Fail(require_error_status("fail_next status", status)))

    def stall_next(self, *, after_bytes: int = 0, seconds: float = 30.0) -> None:
        """Make the next request stop sending audio for ``seconds`` after ``after_bytes``
        bytes of it (a provider stall); it resumes afterwards if the client is still there."""
        require_int("stall_next after_bytes", after_bytes, minimum=0)
        if require_number("stall_next seconds", seconds) <= 0:
            raise InputValidationError(f"stall_next seconds must be > 0, got {seconds!r}")
        self._faults.append(Stall(after_bytes, float(seconds)))

    def drop_next(self, *, after_bytes: int = 0) -> None:
        """Cut the next request's connection, without a proper end, once ``after_bytes`` bytes
        of its audio are out (a provider or network failure mid-sentence)."""
        self._faults.append(Drop(require_int("drop_next after_bytes", after_bytes, minimum=0)))

    @property
    @abstractmethod
    def _root(self) -> str:
        """The API root path of ``base_url`` (``""`` or ``"/v1"``)."""

    @abstractmethod
    def _routes(self) -> list[BaseRoute]:
        """The Starlette routes of the fake API."""

    @abstractmethod
    def _error(self, status: int, message: str) -> JSONResponse:
        """An error answer shaped like the real API's."""

    def _key_refusal(self, key: str) -> JSONResponse | None:
        """The 401 answer for a missing or wrong key, else ``None``."""
        if not key or (self._api_key is not None and key != self._api_key):
            return self._error(401, "Invalid API key")
        return None

    def _take_fault(self, transport: Transport) -> Fault | None:
        if not self._faults or (
            transport == "http" and isinstance(self._faults[0], _WEBSOCKET_ONLY)
        ):
            return None
        return self._faults.popleft()

    def _record(self, transport: Transport, path: str, **fields: Any) -> TTSRequest:
        request = TTSRequest(index=len(self._requests), transport=transport, path=path, **fields)
        self._requests.append(request)
        return request

    async def _streamed(
        self,
        record: TTSRequest,
        audio: bytes,
        bytes_per_ms: int,
        stall: Stall | None,
        *,
        drop: Drop | None = None,
        head: bytes = b"",
    ) -> AsyncIterator[bytes]:
        """An HTTP response body: ``head`` (a container header, not counted), then ``audio``
        paced and counted into ``record``; a ``drop`` cuts the connection part-way."""
        try:
            if head:
                yield head
            async for piece in self._paced(audio, bytes_per_ms, stall=stall):
                if drop is not None and record.audio_bytes + len(piece) >= drop.after_bytes:
                    piece = piece[: drop.after_bytes - record.audio_bytes]
                    if piece:
                        yield piece
                        record.audio_bytes += len(piece)
                    raise Dropped("connection dropped by drop_next")
                yield piece
                record.audio_bytes += len(piece)
            record.completed = True
        finally:
            record.disconnected = not record.completed
            record._finished.set()

    async def _paced(
        self,
        audio: bytes,
        bytes_per_ms: int,
        *,
        sent_before: int = 0,
        stall: Stall | None = None,
        gone: asyncio.Event | None = None,
    ) -> AsyncIterator[bytes]:
        """``audio`` in 100 ms pieces at ``speedup`` times real time, stalling as asked.

        ``sent_before``: audio bytes of the request already sent (the stall offset counts
        them). ``gone``, once set, cuts a stall short: the client has left.
        """
        stall_at = None if stall is None else stall.after_bytes - sent_before
        if stall_at is not None and not 0 <= stall_at <= len(audio):
            stall_at = None
        step = bytes_per_ms * CHUNK_MS
        cuts = sorted(
            {*range(0, len(audio), step), len(audio), *([] if stall_at is None else [stall_at])}
        )
        for start, end in itertools.pairwise(cuts):
            if start == stall_at and stall is not None:
                await _pause(stall.seconds, gone)
            yield audio[start:end]
            await asyncio.sleep((end - start) / bytes_per_ms / 1000 / self._speedup)
        if stall_at == len(audio) and stall is not None:
            await _pause(stall.seconds, gone)


async def _pause(seconds: float, gone: asyncio.Event | None) -> None:
    if gone is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await gone.wait()


def status_phrase(status: int) -> str:
    """``"too_many_requests"`` for 429: an error code shaped from the HTTP status."""
    return http.HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
