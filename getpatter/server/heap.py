"""Short full garbage collections while a server takes calls: what startup built is frozen.

A full collection walks every object the cyclic collector tracks and stops the process while it
does. In a serving process most of them were made at startup (modules, the app, the agent: some
60,000 objects, 20-30 ms per pass on a small core) and live as long as the process. Frozen once
the server is up (``gc.freeze()``, after a collection so no garbage is frozen), they are skipped,
and a full pass walks only what calls made: about 25 ms (at most 55) instead of about 80 (up to
105) at 100 calls (``bench/soak.py``), short enough not to hold up the agent's audio.

An object frozen here that later becomes part of an unreachable cycle is only collected once it is
thawed, when the server stops: the cost is bounded by what existed at startup, never per call.
A host that froze objects itself (a pre-fork server, another Patter server in the process) keeps
its own freeze: nothing is frozen here then, and nothing thawed at the end.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_objects", "thaw_startup_objects"]


def freeze_startup_objects() -> bool:
    """Collect, then move every tracked object out of the collector's reach; False (and nothing
    done) when something in the process froze objects already."""
    if gc.get_freeze_count():
        return False
    gc.collect()
    gc.freeze()
    return True


def thaw_startup_objects() -> None:
    """Give the frozen objects back to the collector (the server stopped)."""
    gc.unfreeze()
