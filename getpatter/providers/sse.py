"""Server-sent events, read line by line: the framing of the LLM APIs' streamed answers.

A plain decoder with no I/O of its own: an HTTP client hands it each line of the body as it
arrives and gets back each event once its blank line has ended it. It follows the
``text/event-stream`` rules that matter for an API client: ``data`` lines of one event are
joined with ``\\n``, ``event`` names the event, lines starting with ``:`` are comments (keep-alive
pings), other fields (``id``, ``retry``) and unknown ones are ignored, one space after the colon
is dropped, and lines may end in ``\\r\\n``.
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "ServerSentEvent"]

ServerSentEvent = tuple[str, bytes]
"""``(event, data)``: the event's name (``""`` when it gave none) and its data, undecoded."""


class SSEDecoder:
    """Turns lines of an event stream into :data:`ServerSentEvent`\\ s (one decoder per stream)."""

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[bytes] = []

    def line(self, raw: bytes) -> ServerSentEvent | None:
        """Take one line (with or without its line ending); the event it completes, if any."""
        line = raw.rstrip(b"\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        elif line == b"data":
            self._data.append(b"")
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
        # Comments (":"), "id", "retry" and unknown fields carry nothing an API client needs.
        return None

    def close(self) -> ServerSentEvent | None:
        """The end of the stream: the last event, when no blank line ended it."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event, self._event, self._data = self._event, "", []
        return event, data
