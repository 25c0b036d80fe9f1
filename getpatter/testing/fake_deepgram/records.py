"""What the fake Deepgram server records about each connection, for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeDeepgramSession"]


@dataclass
class FakeDeepgramSession:
    """What happened on one connection (one call's stream).

    ``query`` is the handshake's query string, one value per name. ``audio_bytes`` and
    ``audio_seconds`` count the binary audio received. ``controls`` lists the ``type`` of every
    JSON message received (``"KeepAlive"``, ``"Finalize"``, ``"CloseStream"``...), ``sent``
    every message the fake sent, and ``transcripts`` the text of every final result it sent
    for an utterance. ``keyterms`` are the keyterms in effect (the ``keyterm`` query values,
    then the last accepted ``Configure``), ``features`` the formatting features a ``Configure``
    turned on or off. ``dropped`` is set by :meth:`FakeDeepgramServer.drop`, ``timed_out`` when
    the fake closed an idle connection, ``closed`` once the connection ended.
    """

    index: int
    path: str
    query: dict[str, str]
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    controls: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    keyterms: list[str] = field(default_factory=list)
    features: dict[str, bool] = field(default_factory=dict)
    closed: bool = False
    dropped: bool = False
    timed_out: bool = False
