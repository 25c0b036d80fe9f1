"""What a JSON-over-WebSocket STT fake asks of its vendor :class:`Dialect` (see the package doc)."""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "Audio",
    "BadMessage",
    "Configure",
    "Control",
    "Dialect",
    "FakeSTTSession",
    "Finalize",
    "Heard",
    "HttpRefusal",
    "Ignore",
    "KeepAlive",
    "Opening",
    "RefusalKind",
    "Refused",
    "StreamSettings",
    "Terminate",
    "Word",
    "decode_base64_audio",
    "key_matches",
]

Encoding = Literal["pcm_s16le", "mulaw", "alaw"]
"""The raw audio encodings the core decodes."""

RefusalKind = Literal["auth", "rate_limit", "bad_request", "server", "idle"]
"""Why a fake refuses or ends a session; the dialect renders each in its vendor's shape."""

_BYTES_PER_SAMPLE = {"pcm_s16le": 2, "mulaw": 1, "alaw": 1}
_CONFIDENCE = 0.97


@dataclass(frozen=True)
class StreamSettings:
    """What a session negotiated, as the core needs it.

    ``endpointing_ms``: the silence after speech that ends a turn (the final is rendered with
    ``reason="endpoint"``); ``None`` when the vendor's endpointing is off, and a final then comes
    after 300 ms of silence with ``reason="segment"``. ``interim_results``: send an interim
    every 200 ms of speech. ``options``: whatever else the dialect parsed, for its renderers.
    """

    encoding: Encoding
    sample_rate: int
    interim_results: bool = True
    endpointing_ms: int | None = 300
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bytes_per_second(self) -> int:
        """How much audio one second is on the wire."""
        return self.sample_rate * _BYTES_PER_SAMPLE[self.encoding]

    def to_pcm16(self, audio: bytes) -> bytes:
        """``audio`` in the negotiated encoding as PCM16 (for the energy VAD)."""
        from getpatter.audio import alaw_to_pcm16, ulaw_to_pcm16

        if self.encoding == "mulaw":
            return ulaw_to_pcm16(audio)
        if self.encoding == "alaw":
            return alaw_to_pcm16(audio)
        return audio


@dataclass(frozen=True)
class Opening:
    """The handshake request as the dialect sees it: path, query (one value per name), headers
    (lower-case names), the key the fake expects (``None``: any non-empty key)."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    expected_key: str | None


@dataclass(frozen=True)
class HttpRefusal:
    """Refuse the handshake with HTTP ``status`` and a JSON ``body``."""

    status: int
    body: Mapping[str, Any]


class Refused(Exception):
    """Raised by a dialect: the session is refused in-band (``kind``, vendor ``message``)."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind
        self.message = message


@dataclass
class FakeSTTSession:
    """What happened on one connection (one call's stream), for assertions.

    ``query`` and ``headers`` are the handshake's (credentials shown as ``"***"``); ``config``
    the configure message, if the vendor takes one (its key removed); ``key_source`` where the
    client put its key (``"header"``, ``"query"``, ``"config"``). ``audio_bytes`` /
    ``audio_seconds`` / ``audio_frames`` count the audio received; ``controls`` names every
    other client message (``"Finalize"``, ``"Terminate"``, ``"KeepAlive"``...); ``sent`` is every
    message the fake sent; ``transcripts`` the text of each utterance's final. ``refused`` is
    the kind of an in-band refusal; ``dropped``/``stalled``/``timed_out``/``closed`` what
    happened to the socket.
    """

    index: int
    id: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    settings: StreamSettings | None = None
    config: dict[str, Any] | None = None
    key_source: str | None = None
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    audio_frames: int = 0
    controls: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    refused: RefusalKind | None = None
    closed: bool = False
    dropped: bool = False
    stalled: bool = False
    timed_out: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    """The dialect's own per-session state (the core never reads it)."""


# Client messages, as the dialect parses them.


@dataclass(frozen=True)
class Audio:
    """Caller audio (binary frames, or decoded from base64 in JSON)."""

    data: bytes


@dataclass(frozen=True)
class Configure:
    """A configuration message: the session's settings (only valid as the opening message)."""

    settings: StreamSettings
    config: Mapping[str, Any]
    """The message as recorded (credentials removed)."""
    key_source: str | None = None
    """Where the key was found (``"config"`` when the message carried it)."""


@dataclass(frozen=True)
class Finalize:
    """Flush the pending utterance now (finalize / force endpoint)."""


@dataclass(frozen=True)
class Terminate:
    """End of audio: send the pending final, the session end, and close."""


@dataclass(frozen=True)
class KeepAlive:
    """Nothing to do but note it."""


@dataclass(frozen=True)
class Ignore:
    """A message the vendor accepts and the fake does nothing with (recorded as ``name``)."""

    name: str


@dataclass(frozen=True)
class BadMessage:
    """A message the vendor refuses: an error (``bad_request``) and close."""

    message: str


Control = Audio | Configure | Finalize | Terminate | KeepAlive | Ignore | BadMessage


@dataclass(frozen=True)
class Word:
    """One word of an utterance with its place in the stream's audio (ms)."""

    text: str
    start_ms: int
    end_ms: int
    confidence: float = _CONFIDENCE


@dataclass(frozen=True)
class Heard:
    """The utterance the core is reporting: the scripted line and where it sits in the audio.

    ``index`` is its order in the session (0 first); ``text`` the whole line; ``shown`` how many
    of its words an interim shows; ``start_ms`` where speech started; ``end_ms`` the audio
    position now; ``speech_end_ms`` the end of the last voiced audio.
    """

    index: int
    text: str
    start_ms: int
    end_ms: int
    speech_end_ms: int
    shown: int

    @property
    def interim_text(self) -> str:
        """The first ``shown`` words."""
        return " ".join(self.text.split()[: self.shown])

    def words(self, text: str | None = None) -> list[Word]:
        """``text`` (default the whole line) as words sharing the spoken time evenly."""
        split = (self.text if text is None else text).split()
        end = min(max(self.speech_end_ms, self.start_ms), self.end_ms)
        step = (end - self.start_ms) / max(len(self.text.split()), 1)
        return [
            Word(w, round(self.start_ms + i * step), round(self.start_ms + (i + 1) * step))
            for i, w in enumerate(split)
        ]


class Dialect(ABC):
    """One vendor's wire protocol on top of the shared core. See the package docstring."""

    label: ClassVar[str]
    """The vendor's name in messages (``"AssemblyAI"``)."""
    path: ClassVar[str]
    """The WebSocket path (``"/v3/ws"``)."""
    idle_timeout: ClassVar[float | None] = None
    """Seconds without any client message before the vendor ends the session (``idle``)."""

    def handshake(self, opening: Opening) -> HttpRefusal | None:
        """Refuse the HTTP handshake (bad key in a header, bad query), or ``None`` to accept."""
        return None

    @abstractmethod
    def open(self, opening: Opening) -> StreamSettings | None:
        """Settings from the handshake alone, or ``None`` when a configure message follows.

        Raise :class:`Refused` for an in-band refusal (the vendor accepts the socket, then
        sends an error and closes).
        """

    def key_source(self, opening: Opening) -> str | None:
        """Where the handshake carried the key (``"header"``, ``"query"``), if it did."""
        return None

    def parse_text(self, opening: Opening, text: str, *, configured: bool) -> Control:
        """One text frame from the client; ``configured`` says whether settings exist yet.

        Raise :class:`Refused` for an in-band refusal of a configure message.
        """
        return BadMessage(f"Unexpected message {text[:60]!r}")

    def parse_binary(self, data: bytes, settings: StreamSettings | None) -> Control:
        """One binary frame (``settings``: ``None`` before the session is configured): audio
        by default. Raise :class:`Refused` to refuse it (a chunk of a forbidden length)."""
        return Audio(data)

    @abstractmethod
    def http_error_body(self, status: int, message: str) -> Mapping[str, Any]:
        """The JSON body of an HTTP refusal of the handshake."""

    @abstractmethod
    def error(self, kind: RefusalKind, message: str) -> tuple[list[dict[str, Any]], int, str]:
        """An in-band refusal or failure: (messages to send, close code, close reason)."""

    def refusal(self, kind: RefusalKind, message: str) -> HttpRefusal | None:
        """How an injected refusal of ``kind`` shows: at the handshake (an
        :class:`HttpRefusal`), or ``None`` for in-band, through :meth:`error`."""
        return None

    def begin(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        """Messages once the session is configured (a session-begins event)."""
        return []

    def audio_received(self, session: FakeSTTSession, frames: int) -> list[dict[str, Any]]:
        """Messages acknowledging the ``frames``-th audio frame (most vendors send none)."""
        return []

    def speech_started(self, session: FakeSTTSession, start_ms: int) -> list[dict[str, Any]]:
        """Messages when the VAD hears speech start."""
        return []

    @abstractmethod
    def interim(self, session: FakeSTTSession, heard: Heard) -> list[dict[str, Any]]:
        """An interim result showing ``heard.interim_text``."""

    @abstractmethod
    def final(
        self,
        session: FakeSTTSession,
        heard: Heard | None,
        reason: Literal["endpoint", "segment", "finalize", "terminate"],
    ) -> list[dict[str, Any]]:
        """The final result of ``heard`` (``None``: nothing pending, e.g. a finalize in silence).

        ``endpoint``: the vendor's endpointer ended the turn; ``segment``: silence with
        endpointing off; ``finalize``: the client forced it; ``terminate``: end of audio.
        """

    @abstractmethod
    def end(self, session: FakeSTTSession) -> list[dict[str, Any]]:
        """Messages after the client ended the audio (after the pending final)."""

    def end_close(self) -> tuple[int, str]:
        """The close code and reason after :meth:`end`."""
        return 1000, ""


def key_matches(given: str | None, expected: str | None) -> bool:
    """A key was given, and it is ``expected`` when the fake expects one."""
    if not given:
        return False
    return expected is None or given == expected


def decode_base64_audio(value: object) -> bytes | None:
    """Base64 audio from a JSON field, or ``None`` when it is not valid base64."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
