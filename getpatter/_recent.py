"""Remembering which ids were seen lately, in little memory: for replay protection."""

from __future__ import annotations

from array import array

__all__ = ["RecentKeys"]

# A key is kept as this many bits of its hash: two keys among 100,000 share one with a
# probability of about 1e-8, and a new key matches one of them with about 1e-13.
_KEY_MASK = (1 << 60) - 1
# The arrays behind the queue are compacted once this many leading slots are spent.
_COMPACT_AFTER = 4096


class RecentKeys:
    """Keys (CallSids, webhook ids) seen within ``window`` seconds, at most ``limit`` of them
    (the most recent).

    Each is kept as a 60-bit hash (``hash()`` is salted per process, so hashes never leave it):
    a set of those ints answers membership, and two arrays hold the hashes and the times they
    were first seen, oldest first, so that expired ones are dropped from the front.
    """

    def __init__(self, *, window: float, limit: int) -> None:
        self.window = window
        self.limit = limit
        self._keys: set[int] = set()
        self._order = array("Q")
        self._seen_at = array("d")
        self._head = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, now: float) -> None:
        """Remember ``key`` as seen at ``now`` (a key already kept keeps its time)."""
        hashed = hash(key) & _KEY_MASK
        if hashed not in self._keys:
            self._keys.add(hashed)
            self._order.append(hashed)
            self._seen_at.append(now)
        self._forget(now)

    def seen(self, key: str, now: float) -> bool:
        """True if ``key`` was added within the window (and is among the ``limit`` kept)."""
        self._forget(now)
        return hash(key) & _KEY_MASK in self._keys

    def _forget(self, now: float) -> None:
        head, count = self._head, len(self._order)
        cutoff = now - self.window
        while head < count and (count - head > self.limit or self._seen_at[head] < cutoff):
            self._keys.discard(self._order[head])
            head += 1
        if head >= _COMPACT_AFTER and head * 2 >= count:
            del self._order[:head]
            del self._seen_at[:head]
            head = 0
        self._head = head
