"""An STT that moves a call to the next provider when one fails, so the caller is still heard.

``FallbackSTTProvider([DeepgramSTT(), AssemblyAISTT()])`` opens each call's stream on the first
provider that connects. When that provider's stream fails mid-call (the socket drops, the
service reports an error), the call moves to the next provider that connects: the audio of the
last ``replay_seconds`` is sent to it again, so the words the caller was saying while the first
one failed are not lost. A provider that failed is tried last for ``cooldown`` seconds. Only
when no provider is left does the stream raise
:class:`~getpatter.providers.fallback.AllProvidersFailedError` (the pipeline then reconnects
once, as for any STT).

Every provider must be able to run the call: all streaming, or all not; all endpointing, or a
VAD on the agent. Each takes the pipeline's audio format natively when it can, else its own
best format, converted here. The stream's :attr:`FallbackSTTStream.provider_name` says which
provider is listening.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from getpatter._validation import require_amount
from getpatter.audio.formats import AudioFormat, bytes_per_ms
from getpatter.errors import ConfigError, PatterError
from getpatter.providers.fallback import AllProvidersFailedError, FallbackOrder, check_providers
from getpatter.stt.base import STTCapabilities, STTEvent, STTProvider, STTStream

if TYPE_CHECKING:
    from getpatter.audio.convert import AudioConverter

__all__ = ["FallbackSTTProvider", "FallbackSTTStream"]


class FallbackSTTProvider:
    """Listens with the first of ``providers`` that works; see the module docstring.

    ``name`` is the first provider's price key. ``capabilities.input_formats`` lists every
    provider's native formats, the first provider's first.
    """

    def __init__(
        self,
        providers: Sequence[STTProvider],
        *,
        cooldown: float = 30.0,
        replay_seconds: float = 2.0,
    ) -> None:
        self.providers: tuple[STTProvider, ...] = check_providers(
            "FallbackSTTProvider",
            providers,
            STTProvider,
            "STT providers",
            "FallbackSTTProvider([DeepgramSTT(), AssemblyAISTT()])",
        )
        caps = [p.capabilities for p in self.providers]
        if len({c.streaming for c in caps}) > 1:
            raise ConfigError(
                "FallbackSTTProvider cannot mix streaming STTs with ones that transcribe whole "
                "utterances: group providers of one kind"
            )
        self.replay_seconds = require_amount("replay_seconds", replay_seconds)
        self.order = FallbackOrder(len(self.providers), cooldown)
        self.cooldown = self.order.cooldown
        formats = dict.fromkeys(f for c in caps for f in c.input_formats)
        self.capabilities = STTCapabilities(
            streaming=caps[0].streaming,
            interim_results=all(c.interim_results for c in caps),
            endpointing=all(c.endpointing for c in caps),
            input_formats=tuple(formats),
        )

    @property
    def name(self) -> str:
        """The first provider's price key."""
        return self.providers[0].name

    def __repr__(self) -> str:
        return f"FallbackSTTProvider({list(self.providers)!r})"

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> FallbackSTTStream:
        """A new, unconnected stream for one call, receiving ``audio_format``."""
        fmt = audio_format if audio_format is not None else self.capabilities.input_formats[0]
        return FallbackSTTStream(self, fmt, language)


class FallbackSTTStream:
    """One call's stream over a :class:`FallbackSTTProvider`; an
    :class:`~getpatter.stt.base.STTStream`."""

    def __init__(
        self, owner: FallbackSTTProvider, audio_format: AudioFormat, language: str | None
    ) -> None:
        self._owner = owner
        self._format = audio_format
        self._language = language
        self._current: STTStream | None = None
        self._index = -1
        self._converter: AudioConverter | None = None
        self._tried: set[int] = set()
        self._switching = asyncio.Lock()
        limit = int(owner.replay_seconds * 1000 * bytes_per_ms(audio_format))
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
        self._recent_limit = limit
        self._closed = False

    @property
    def provider_name(self) -> str:
        """The price key of the provider listening now (``""`` before :meth:`connect`)."""
        return self._owner.providers[self._index].name if self._index >= 0 else ""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def connect(self) -> None:
        """Connect the first provider that accepts; raises when none does."""
        self._tried = set()
        await self._connect_next([])

    async def send_audio(self, chunk: bytes) -> None:
        """Send caller audio to the provider listening (kept for a replay on a switch)."""
        if self._closed:
            return
        self._remember(chunk)
        if self._switching.locked():
            return  # the replay after the switch carries it
        current = self._current
        if current is not None:
            audio = chunk if self._converter is None else self._converter.convert(chunk)
            with contextlib.suppress(PatterError):  # a failed stream is seen by the reader
                await current.send_audio(audio)

    async def finalize(self) -> None:
        """Flush the listening provider's buffered audio into a final result."""
        if self._current is not None and not self._switching.locked():
            with contextlib.suppress(PatterError):
                await self._current.finalize()

    async def receive_transcripts(self) -> AsyncIterator[STTEvent]:
        """Results from the provider listening; on its failure, from the next one."""
        errors: list[tuple[str, PatterError]] = []
        while self._current is not None and not self._closed:
            stream = self._current
            try:
                async for event in stream.receive_transcripts():
                    yield event
                return
            except PatterError as exc:
                if self.closed:  # close() ran while the provider was failing
                    return
                errors.append((self.provider_name, exc))
                self._owner.order.failed(self._index)
                with contextlib.suppress(Exception):
                    await stream.close()
                await self._connect_next(errors)

    async def close(self) -> None:
        """Close the listening provider's stream (idempotent)."""
        self._closed = True
        current, self._current = self._current, None
        if current is not None:
            await current.close()

    async def _connect_next(self, errors: list[tuple[str, PatterError]]) -> None:
        """Connect the next untried provider in the owner's order and replay recent audio."""
        async with self._switching:
            self._current = None
            for index in self._owner.order.order():
                if index in self._tried:
                    continue
                self._tried.add(index)
                provider = self._owner.providers[index]
                native = provider.capabilities.input_formats
                asked = self._format if self._format in native else native[0]
                stream = provider.open_stream(audio_format=asked, language=self._language)
                try:
                    await stream.connect()
                except PatterError as exc:
                    errors.append((provider.name, exc))
                    self._owner.order.failed(index)
                    with contextlib.suppress(Exception):
                        await stream.close()
                    continue
                self._converter = None
                if asked != self._format:
                    from getpatter.audio.convert import AudioConverter

                    self._converter = AudioConverter(self._format, asked)
                self._current, self._index = stream, index
                self._owner.order.succeeded(index)
                break
            else:
                raise AllProvidersFailedError(errors, kind="STT")
            if errors:  # a switch mid-call: the new provider hears what the failed one missed
                for chunk in list(self._recent):
                    audio = chunk if self._converter is None else self._converter.convert(chunk)
                    with contextlib.suppress(PatterError):
                        await self._current.send_audio(audio)

    def _remember(self, chunk: bytes) -> None:
        self._recent.append(chunk)
        self._recent_bytes += len(chunk)
        while self._recent_bytes > self._recent_limit and self._recent:
            self._recent_bytes -= len(self._recent.popleft())
