"""Memory the call registry keeps per finished call and per CallSid seen, measured by tracemalloc.

Run ``python bench/registry_memory.py``. A finished call leaves a ``FinishedCall`` record (ids,
caller, callee) in the registry for the retention time, and its CallSid among the seen ones for
replay protection (24 h, at most 100,000). Sessions here are stand-ins with the attributes the
registry reads and strings shaped like real ones; the figures include those strings, which the
record keeps once the session is gone.
"""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass
from typing import Any

from getpatter.calls.stream import CallEventStream
from getpatter.server.call_records import RecentCallSids
from getpatter.server.registry import SEEN_KEPT_MAX, SEEN_KEPT_SECONDS, CallRegistry


@dataclass(eq=False)
class _Session:
    patter_id: str
    call_sid: str
    caller: str
    callee: str
    finished: bool = False
    on_finished: Any = None


def finished_record_bytes(calls: int) -> tuple[float, float]:
    """Bytes per finished call: (record + its strings + the registry's entries, seen CallSid)."""
    registry = CallRegistry(CallEventStream(), finished_kept=1e9)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(calls):
        session = _Session(
            patter_id=f"pc_{n:016x}",
            call_sid=f"CA{n:032x}",
            caller=f"+1555{n:07d}",
            callee="".join(("+1555000", "1000")),  # a string of its own per call, as parsed
        )
        registry.add(session)
        session.finished = True
        hook, session.on_finished = session.on_finished, None
        hook(session)
    del session
    gc.collect()
    total = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    seen = seen_call_sid_bytes(calls)
    return total / calls - seen, seen


def seen_call_sid_bytes(count: int) -> float:
    """Bytes per CallSid kept by :class:`RecentCallSids`."""
    recent = RecentCallSids(window=SEEN_KEPT_SECONDS, limit=SEEN_KEPT_MAX)
    sids = [f"CA{n:032x}" for n in range(count)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n, sid in enumerate(sids):
        recent.add(sid, n / 10)
    used = tracemalloc.get_traced_memory()[0] - before
    assert len(recent) == count
    tracemalloc.stop()
    return used / count


def main() -> None:
    print("Call registry memory (tracemalloc; bytes per entry)")
    print(f"{'entries':>8} | {'finished-call record':>21} | {'seen CallSid':>12}")
    for count in (2_400, 10_000, 100_000):
        record, seen = finished_record_bytes(count)
        print(f"{count:>8} | {record:>21.0f} | {seen:>12.0f}")
    print(
        "\nrecord: FinishedCall (patter id, CallSid, caller, callee, time) with its strings, its\n"
        "entries in the registry's tables; seen: a 60-bit hash in a set and two arrays.\n"
        "2,400 records are 10 minutes of calls at 4 a second."
    )


if __name__ == "__main__":
    main()
