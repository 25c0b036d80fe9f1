"""What the fake transcription server records about each request, for assertions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["FakeTranscriptionRequest"]


@dataclass
class FakeTranscriptionRequest:
    """One ``POST /v1/audio/transcriptions`` the fake received.

    The form fields as sent: ``model``, ``language`` (``""`` when absent), ``response_format``
    (``"json"`` when absent, as the API defaults), ``include`` and ``api_key``. The uploaded
    file: ``filename``, ``content_type``, ``file_bytes``; when it is a valid WAV file,
    ``sample_rate``, ``channels``, ``sample_width`` (bytes), ``duration`` (seconds) and
    ``rms`` (of its PCM16 samples, int16 scale). ``utterance`` is the caller line it was
    heard as (its index in ``scenario.caller_lines``; -1 for a refused request), ``text`` the
    text answered, ``status`` the HTTP status (0 while unanswered; 499 when the client left). ``stalled`` is set when a stall held the
    answer, ``disconnected`` when the client left before it.
    """

    index: int
    api_key: str
    model: str = ""
    language: str = ""
    response_format: str = "json"
    include: tuple[str, ...] = ()
    filename: str = ""
    content_type: str = ""
    file_bytes: int = 0
    sample_rate: int = 0
    channels: int = 0
    sample_width: int = 0
    duration: float = 0.0
    rms: float = 0.0
    utterance: int = -1
    text: str = ""
    status: int = 0
    stalled: bool = False
    disconnected: bool = False
    received_at: float = field(default_factory=time.monotonic)
