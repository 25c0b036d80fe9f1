"""Cartesia ``ink-whisper`` streaming speech-to-text over its ``/stt/websocket`` (spec STT-5).

:class:`STT` (flat name ``CartesiaSTT``) is the provider: configuration shared by every call of
an agent. Each call opens its own :class:`CartesiaStream` with :meth:`STT.open_stream`, which
owns one socket, opened with the settings in its query string (``model``, ``language``,
``encoding``, ``sample_rate``) and the headers of Cartesia's 4.x SDK (``Authorization: Bearer
<key>``, ``Cartesia-Version``):

- caller audio goes up as binary frames as the carrier sent it: Twilio's μ-law 8 kHz as
  ``pcm_mulaw``, Telnyx's PCM16 16 kHz as ``pcm_s16le``, A-law as ``pcm_alaw``;
- Cartesia answers ``transcript`` messages: interim ones, then final ones, each final one the
  text since the previous final one;
- :meth:`CartesiaStream.finalize` sends the ``finalize`` text command; the final text it
  produces is handed over as one final :class:`~getpatter.stt.base.Transcript` when Cartesia
  confirms with ``flush_done`` (an empty one when nothing was said), so the pipeline gets
  exactly one answer to each end of turn;
- closing sends ``close``; Cartesia transcribes what is left and answers ``done``.

This endpoint has no turn detection of its own (Cartesia's SDK calls it "manual finalize"), so
``capabilities.endpointing`` is ``False``: a pipeline agent using it needs a local ``vad=``,
whose end of speech triggers ``finalize``.
"""

from __future__ import annotations

import copy
import logging
from typing import Literal, get_args
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, ValidationError

from getpatter._env import env_secret
from getpatter._redaction import register_secret
from getpatter._validation import require_number, require_str
from getpatter.engines.base import AudioFormat
from getpatter.errors import ConfigError, PatterError
from getpatter.providers.errors import body_message, status_error
from getpatter.providers.formats import WireFormats
from getpatter.providers.urls import base_url as resolve_base_url
from getpatter.providers.urls import websocket_url
from getpatter.stt._websocket import Frame, WebSocketSTTStream
from getpatter.stt.base import STTCapabilities, STTEvent, Transcript
from getpatter.tts.cartesia import CARTESIA_VERSION  # one API version for both sockets

__all__ = [
    "DEFAULT_BASE_URL",
    "SAMPLE_RATES",
    "STT",
    "CartesiaSTT",
    "CartesiaStream",
    "Encoding",
]

logger = logging.getLogger("getpatter.stt.cartesia")

Encoding = Literal["pcm_s16le", "pcm_mulaw", "pcm_alaw"]
"""The raw audio encodings a stream can announce."""

SAMPLE_RATES = (8000, 16000, 24000, 44100, 48000)
"""The sample rates ``ink-whisper`` takes (spec STT-5)."""

#: The public Cartesia API, used when neither ``base_url`` nor ``CARTESIA_BASE_URL`` is set (the
#: variable Cartesia's SDK reads too).
DEFAULT_BASE_URL = "https://api.cartesia.ai"
_ENV_URL = "CARTESIA_BASE_URL"
_KEY_HINT = "CartesiaSTT(api_key=...) or CARTESIA_API_KEY"

_WIRE = WireFormats[tuple[Encoding, int]](
    "CartesiaSTT",
    {
        "ulaw_8000": ("pcm_mulaw", 8000),
        "pcm16_16000": ("pcm_s16le", 16000),
        "alaw_8000": ("pcm_alaw", 8000),
        "pcm16_8000": ("pcm_s16le", 8000),
        "pcm16_24000": ("pcm_s16le", 24000),
    },
)
_FINALIZE = "finalize"
_CLOSE = "close"


class STT:
    """Cartesia streaming STT; implements :class:`~getpatter.stt.base.STTProvider`.

    ``api_key`` falls back to ``CARTESIA_API_KEY``; ``base_url`` (the API root, such as
    ``https://api.cartesia.ai`` or a local fake's ``http://127.0.0.1:<port>``) to
    ``CARTESIA_BASE_URL``. ``encoding`` and ``sample_rate`` (one of :data:`SAMPLE_RATES`) are
    what a stream announces when :meth:`open_stream` is called without a format (the low-level
    contract's PCM16 16 kHz by default); a pipeline opens its streams in the carrier's format.
    ``max_silence_duration_secs`` and ``min_volume``, when given, are passed to Cartesia, which
    then also finalizes by itself after that much silence (text arriving that way goes into the
    caller's turn like any final text).
    """

    name: str = "cartesia_stt"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        language: str = "en",
        model: str = "ink-whisper",
        encoding: Encoding = "pcm_s16le",
        sample_rate: int = 16000,
        max_silence_duration_secs: float | None = None,
        min_volume: float | None = None,
        base_url: str | None = None,
    ) -> None:
        if api_key is not None:
            require_str("CartesiaSTT api_key", api_key)
        key = env_secret((api_key or "").strip(), "CARTESIA_API_KEY")
        if not key:
            raise ConfigError(
                "CartesiaSTT needs an API key: pass CartesiaSTT(api_key=...) or set "
                "CARTESIA_API_KEY"
            )
        self._api_key = key
        self._language = require_str("CartesiaSTT language", language, allow_empty=False)
        self._model = require_str("CartesiaSTT model", model, allow_empty=False)
        if encoding not in get_args(Encoding):
            raise ConfigError(
                f"CartesiaSTT encoding={encoding!r} is not supported: use one of "
                f"{list(get_args(Encoding))}"
            )
        if isinstance(sample_rate, bool) or sample_rate not in SAMPLE_RATES:
            raise ConfigError(
                f"CartesiaSTT sample_rate={sample_rate!r} is not supported: use one of "
                f"{list(SAMPLE_RATES)}"
            )
        self._default_wire: tuple[Encoding, int] = (encoding, sample_rate)
        self._options: dict[str, str] = {}
        if max_silence_duration_secs is not None:
            silence = require_number(
                "CartesiaSTT max_silence_duration_secs", max_silence_duration_secs
            )
            if silence <= 0:
                raise ConfigError(
                    "CartesiaSTT max_silence_duration_secs must be above 0 (or None for "
                    f"Cartesia's default), got {max_silence_duration_secs!r}"
                )
            self._options["max_silence_duration_secs"] = f"{silence:g}"
        if min_volume is not None:
            volume = require_number("CartesiaSTT min_volume", min_volume, minimum=0)
            self._options["min_volume"] = f"{volume:g}"
        root = resolve_base_url(
            "CartesiaSTT",
            base_url,
            env_var=_ENV_URL,
            default=DEFAULT_BASE_URL,
            schemes=("https", "http", "wss", "ws"),
        )
        self._url = _stt_url(root)
        configured = [f for f in _WIRE.formats if _WIRE.wire(f) == self._default_wire]
        self.capabilities = STTCapabilities(
            streaming=True,
            interim_results=True,
            endpointing=False,
            input_formats=_WIRE.preferring("ulaw_8000", *configured),
        )

    @property
    def language(self) -> str:
        """The language Cartesia transcribes; a pipeline agent's ``language`` follows it."""
        return self._language

    def __repr__(self) -> str:
        return f"CartesiaSTT(model={self._model!r}, language={self._language!r})"

    def _pointed_at(self, api_key: str, base_url: str) -> STT:
        """This provider, every option kept, talking to ``base_url`` with ``api_key`` (the
        sandbox points an agent's provider at a local fake this way)."""
        other = copy.copy(self)
        other._url = _stt_url(base_url)
        other._api_key = register_secret(api_key)
        return other

    def open_stream(
        self, *, audio_format: AudioFormat | None = None, language: str | None = None
    ) -> CartesiaStream:
        """A new, unconnected stream for one call, receiving ``audio_format``.

        ``audio_format`` defaults to the constructor's ``encoding``/``sample_rate``; ``language``
        to the constructor's ``language``.
        """
        encoding, rate = self._default_wire if audio_format is None else _WIRE.wire(audio_format)
        lang = self._language if language is None else language
        require_str("CartesiaSTT open_stream language", lang, allow_empty=False)
        query = {
            "model": self._model,
            "language": lang,
            "encoding": encoding,
            "sample_rate": str(rate),
            **self._options,
        }
        return CartesiaStream(f"{self._url}?{urlencode(query)}", self._api_key)


CartesiaSTT = STT


class CartesiaStream(WebSocketSTTStream):
    """One call's Cartesia socket; see :class:`~getpatter.stt._websocket.WebSocketSTTStream`.

    Interim results with no text are skipped; see the module docstring for finals. A Cartesia
    ``error`` message raises from :meth:`receive_transcripts`; ``done`` ends it.
    """

    provider = "Cartesia"
    key_hint = _KEY_HINT

    def __init__(self, url: str, api_key: str) -> None:
        super().__init__(
            url,
            api_key,
            headers={"Authorization": f"Bearer {api_key}", "Cartesia-Version": CARTESIA_VERSION},
            logger=logger,
        )
        self._flushes = 0  # finalize commands Cartesia has not confirmed yet
        self._flushed: list[str] = []  # final text received since the oldest of them

    def _sent(self, frame: Frame) -> None:
        if frame == _FINALIZE:
            self._flushes += 1

    def _finalize_frames(self) -> list[Frame]:
        return [_FINALIZE]

    def _end_frames(self) -> list[Frame]:
        return [_CLOSE]

    def _ends(self, message: object) -> bool:
        return isinstance(message, dict) and message.get("type") == "done"

    def _parse(self, message: object) -> list[STTEvent]:
        parsed = _parse(message)
        if isinstance(parsed, _Error):
            raise _error(parsed, self._api_key)
        event = self._event(parsed)
        return [] if event is None else [event]

    def _refusal_detail(self, body: object) -> str:
        return body_message(body, "")

    def _event(self, message: _Transcript | _FlushDone | _Done | None) -> Transcript | None:
        if isinstance(message, _FlushDone):
            if not self._flushes:
                return None
            self._flushes -= 1
            text, self._flushed = "".join(self._flushed).strip(), []
            return Transcript(text=text, is_final=True)
        if not isinstance(message, _Transcript):
            return None
        if not message.is_final:
            text = message.text.strip()
            return Transcript(text=text, is_final=False) if text else None
        if self._flushes:  # part of the answer to a finalize: handed over on flush_done
            self._flushed.append(message.text)
            return None
        text = message.text.strip()
        return Transcript(text=text, is_final=True) if text else None


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str


class _Transcript(_Message):
    text: str = ""
    is_final: bool = False
    duration: float | None = None


class _FlushDone(_Message):
    pass


class _Done(_Message):
    pass


class _Error(_Message):
    message: str = ""
    title: str = ""
    status_code: int | None = None
    error_code: str | None = None


_MODELS: dict[str, type[_Message]] = {
    "transcript": _Transcript,
    "flush_done": _FlushDone,
    "done": _Done,
    "error": _Error,
}


def _parse(data: object) -> _Transcript | _FlushDone | _Done | _Error | None:
    """The decoded message, or ``None`` for one that is malformed or not needed."""
    kind = data.get("type") if isinstance(data, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        logger.debug("Cartesia message %r ignored", kind)
        return None
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        logger.warning("Cartesia sent a malformed %s message, skipped: %s", kind, exc)
        return None


def _error(error: _Error, api_key: str) -> PatterError:
    detail = error.message or error.title or "no message"
    if error.error_code:
        detail += f" ({error.error_code})"
    status = error.status_code if error.status_code and error.status_code >= 400 else 500
    return status_error("Cartesia", status, detail, api_key=api_key, key_hint=_KEY_HINT)


def _stt_url(base_url: str) -> str:
    return websocket_url(
        "CartesiaSTT", base_url, "/stt/websocket", env_var=_ENV_URL, example=DEFAULT_BASE_URL
    )
