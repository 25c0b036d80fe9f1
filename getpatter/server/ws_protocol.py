"""uvicorn's sans-I/O WebSocket protocol, tuned for media streams.

uvicorn pauses reading the socket after every message it queues for the app and resumes once
the app has read it: two ``epoll_ctl`` calls and a selector update per message. A media stream
brings 50 messages a second per call, each read at once, so this protocol pauses only when
messages pile up unread, which still bounds the memory a fast sender can use.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["MAX_UNREAD", "MediaWebSocketProtocol"]

MAX_UNREAD = 16
"""Messages queued unread before reading pauses (about 300 ms of media)."""


class MediaWebSocketProtocol(WebSocketsSansIOProtocol):
    """Pauses reading only once :data:`MAX_UNREAD` messages wait for the app."""

    def send_receive_event_to_app(self) -> None:
        paused = self.read_paused
        self.read_paused = True  # the base class pauses after each message unless paused
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if not paused and self.queue.qsize() >= MAX_UNREAD:
            self.read_paused = True
            self.transport.pause_reading()
