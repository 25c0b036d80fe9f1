"""A TTS that moves to the next provider when one fails, instead of leaving the caller in silence.

``FallbackTTSProvider([ElevenLabsTTS(), CartesiaTTS()])`` speaks each sentence with the first
provider that produces audio. A provider that fails before its first audio (refused key, rate
limit, 5xx, network, or no audio within ``first_audio_timeout``) is skipped for that sentence and,
for ``cooldown`` seconds, tried last. A failure after audio started raises
:class:`~getpatter.providers.fallback.PartialStreamError` (the caller has heard part of the
sentence; repeating it with another voice would be worse); when every provider failed,
:class:`~getpatter.providers.fallback.AllProvidersFailedError` lists how each one did.

Each provider is asked for the format the pipeline wants when it produces it natively, else
for its own best format, converted here. The characters of a sentence are priced as the
provider that spoke it (:data:`~getpatter.providers.fallback.ANSWERED_BY`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from getpatter.audio.formats import AudioFormat
from getpatter.errors import PatterError
from getpatter.providers.fallback import (
    ANSWERED_BY,
    AllProvidersFailedError,
    FallbackOrder,
    PartialStreamError,
    check_providers,
    check_timeout,
    first_item,
)
from getpatter.tts.base import TTSCapabilities, TTSProvider

__all__ = ["FallbackTTSProvider"]


class FallbackTTSProvider:
    """Speaks with the first of ``providers`` that works; see the module docstring.

    ``name`` and ``voice`` are the first provider's. ``capabilities.output_formats`` lists every
    provider's native formats, the first provider's first.
    """

    def __init__(
        self,
        providers: Sequence[TTSProvider],
        *,
        first_audio_timeout: float | None = 5.0,
        cooldown: float = 30.0,
    ) -> None:
        self.providers: tuple[TTSProvider, ...] = check_providers(
            "FallbackTTSProvider",
            providers,
            TTSProvider,
            "TTS providers",
            "FallbackTTSProvider([ElevenLabsTTS(), OpenAITTS()])",
        )
        self.first_audio_timeout = check_timeout("first_audio_timeout", first_audio_timeout)
        self._order = FallbackOrder(len(self.providers), cooldown)
        self.cooldown = self._order.cooldown
        formats = dict.fromkeys(f for p in self.providers for f in p.capabilities.output_formats)
        self.capabilities = TTSCapabilities(
            output_formats=tuple(formats),
            streaming=all(p.capabilities.streaming for p in self.providers),
        )

    @property
    def name(self) -> str:
        """The first provider's price key (a sentence another one spoke is priced as its)."""
        return self.providers[0].name

    @property
    def voice(self) -> str:
        """The first provider's voice."""
        return self.providers[0].voice

    def __repr__(self) -> str:
        return f"FallbackTTSProvider({list(self.providers)!r})"

    def synthesize(self, text: str, *, audio_format: AudioFormat) -> AsyncIterator[bytes]:
        """Speak ``text`` in ``audio_format`` with the first provider that produces audio."""
        return self._synthesize(text, audio_format)

    async def _synthesize(self, text: str, audio_format: AudioFormat) -> AsyncIterator[bytes]:
        errors: list[tuple[str, PatterError]] = []
        for index in self._order.order():
            provider = self.providers[index]
            native = provider.capabilities.output_formats
            asked = audio_format if audio_format in native else native[0]
            converter = None
            if asked != audio_format:
                from getpatter.audio.convert import AudioConverter

                converter = AudioConverter(asked, audio_format)
            chunks = provider.synthesize(text, audio_format=asked)
            started = False
            try:
                first = await first_item(chunks, self.first_audio_timeout, "first_audio_timeout")
                started = True
                self._order.succeeded(index)
                ANSWERED_BY.set(provider.name)
                yield first if converter is None else converter.convert(first)
                async for chunk in chunks:
                    yield chunk if converter is None else converter.convert(chunk)
                if converter is not None:
                    tail = converter.flush()
                    if tail:
                        yield tail
                return
            except PatterError as exc:
                if started:
                    raise PartialStreamError(
                        f"{provider.name} TTS failed mid-sentence: {exc.message}"
                    ) from exc
                self._order.failed(index)
                errors.append((provider.name, exc))
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()
        raise AllProvidersFailedError(errors, kind="TTS")

    async def close(self) -> None:
        """Close every provider."""
        for provider in self.providers:
            await provider.close()
