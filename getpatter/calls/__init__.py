"""Calls as observed: the typed events a call publishes and the stream that carries them."""

from getpatter.calls.events import CallEvent
from getpatter.calls.store import CallStore, StoredCall, feed
from getpatter.calls.stream import CallEventStream

__all__ = ["CallEvent", "CallEventStream", "CallStore", "StoredCall", "feed"]
