"""``bench/pipeline_server.py`` with a probe of its event loop's lag, for ``bench/call_logs.py``.

Run by the benchmark as ``python bench/call_logs_server.py PORT DEEPGRAM_URL HTTP_URL BRAIN``
(the pipeline server's arguments) with ``CALL_LOGS_LAG_FILE`` in the environment, and
``PATTER_LOG_DIR`` when calls are logged. While Patter serves, a probe sleeps 5 ms again and
again and records how late each sleep wakes up, and whether a call was active then (counted
from the phone's call events). At exit the samples are written to the lag file as JSON:
``{"lag_ms": [...], "in_call": [...]}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pipeline_server

from getpatter import Patter
from getpatter.calls.events import CallEnded, CallEvent, CallStarted

PERIOD_S = 0.005


class _Watched(Patter):
    """A Patter whose active calls the probe counts (an inline subscriber of two kinds)."""

    active = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.call_events.subscribe(
            self._count, kinds=(CallStarted, CallEnded), inline=True, name="lag probe"
        )

    @staticmethod
    def _count(event: CallEvent) -> None:
        _Watched.active += 1 if isinstance(event, CallStarted) else -1


async def _probe(lag_ms: list[float], in_call: list[bool]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(PERIOD_S)
        lag_ms.append((loop.time() - start - PERIOD_S) * 1000)
        in_call.append(_Watched.active > 0)


async def main(args: list[str]) -> dict[str, list[Any]]:
    lag_ms: list[float] = []
    in_call: list[bool] = []
    probe = asyncio.create_task(_probe(lag_ms, in_call))
    pipeline_server.Patter = _Watched  # type: ignore[misc]  # the server builds this phone
    try:
        await pipeline_server.serve(int(args[0]), args[1], args[2], args[3])
    finally:
        probe.cancel()
    return {"lag_ms": lag_ms, "in_call": in_call}


if __name__ == "__main__":
    samples = asyncio.run(main(sys.argv[1:]))
    Path(os.environ["CALL_LOGS_LAG_FILE"]).write_text(json.dumps(samples))
