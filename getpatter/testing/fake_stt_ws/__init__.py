"""Loopback fakes of the JSON-over-WebSocket streaming STT APIs, on one shared core.

A vendor fake is ``class FakeXServer(FakeSTTServer)`` with ``_label = "FakeXServer"`` and
``dialect = XDialect()``; :mod:`._core` runs the connection and :class:`Dialect` speaks the
vendor's protocol. The fakes "hear" the n-th caller utterance of a connection as
``scenario.caller_lines[n]`` (``"hello"`` past the end of the script) and run on audio time:
an energy VAD over 20 ms windows (RMS >= 500 on the int16 scale is voiced; 3 voiced windows
start speech), so audio may be sent faster than real time.

The Dialect contract (every hook is called by the core, in this order):

1. ``handshake(opening) -> HttpRefusal | None``: refuse the HTTP upgrade the vendor's way
   (a bad key in a header, a bad query). ``opening`` has ``path``, ``query``, lower-cased
   ``headers`` and ``expected_key`` (``None``: any non-empty key; use :func:`key_matches`).
   ``key_source(opening)`` says where the handshake carried the key (for the records).
2. ``open(opening) -> StreamSettings | None``: settings from the handshake alone (query
   parameters), or ``None`` when the vendor's first text frame configures the session. Raise
   ``Refused(kind, message)`` for an in-band refusal.
3. ``parse_text(opening, text, configured=...)`` / ``parse_binary(data, settings)`` turn each client
   frame into a control: ``Configure(settings, config, key_source)`` (only before settings
   exist), ``Audio(bytes)`` (use :func:`decode_base64_audio` for base64 in JSON),
   ``Finalize()``, ``Terminate()``, ``KeepAlive()``, ``Ignore(name)`` or
   ``BadMessage(message)``; raise ``Refused`` for a refused configure message.
4. Renderers return lists of JSON messages (dicts) for the core to send: ``begin(session)``
   once configured; ``audio_received(session, frames)`` after each audio frame (acks);
   ``speech_started(session, start_ms)``; ``interim(session, heard)`` every 200 ms of speech
   when ``settings.interim_results`` (``heard.interim_text``: one more word each time);
   ``final(session, heard | None, reason)`` with ``reason`` ``"endpoint"`` (silence of
   ``settings.endpointing_ms``), ``"segment"`` (300 ms of silence, endpointing off),
   ``"finalize"`` (the client forced it; ``heard`` is ``None`` when nothing was pending) or
   ``"terminate"``; ``end(session)`` after ``Terminate``, then ``end_close()``.
5. ``error(kind, message) -> (messages, close_code, reason)`` renders a refusal or failure
   (``kind``: ``auth``, ``rate_limit``, ``bad_request``, ``server``, ``idle``);
   ``refusal(kind, message)`` returns an ``HttpRefusal`` when the vendor refuses that kind at
   the handshake, ``None`` for in-band; ``http_error_body(status, message)`` is the body of an
   HTTP refusal. ``idle_timeout`` (class attribute) is the vendor's idle limit, or ``None``.

``session`` in the renderers is the :class:`FakeSTTSession` record (``id``, ``settings``,
``audio_seconds``, ``audio_frames``...). ``heard`` is a :class:`Heard`: ``index``, ``text``,
``start_ms``, ``end_ms``, ``speech_end_ms``, ``shown`` and ``words(text)`` with timings.
"""

from getpatter.testing.fake_stt_ws._core import UNSCRIPTED_TEXT, FakeSTTServer
from getpatter.testing.fake_stt_ws._dialect import (
    Audio,
    BadMessage,
    Configure,
    Control,
    Dialect,
    FakeSTTSession,
    Finalize,
    Heard,
    HttpRefusal,
    Ignore,
    KeepAlive,
    Opening,
    RefusalKind,
    Refused,
    StreamSettings,
    Terminate,
    Word,
    decode_base64_audio,
    key_matches,
)

__all__ = [
    "UNSCRIPTED_TEXT",
    "Audio",
    "BadMessage",
    "Configure",
    "Control",
    "Dialect",
    "FakeSTTServer",
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
