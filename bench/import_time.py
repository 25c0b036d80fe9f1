"""Print how long ``import getpatter`` takes and how much memory it adds (target: < 100 ms, < 25 MB).

Each figure comes from a fresh interpreter; the import time is the median of several runs.
Run: ``python bench/import_time.py``.
"""

import statistics
import subprocess
import sys

PROBE = """
import resource, time
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
import getpatter
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(elapsed * 1000, base / 1024, after / 1024)
"""


def main(runs: int = 7) -> None:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        )
        samples.append(tuple(float(x) for x in out.stdout.split()))
    import_ms = statistics.median(s[0] for s in samples)
    base_mb = statistics.median(s[1] for s in samples)
    rss_mb = statistics.median(s[2] for s in samples)
    print(f"import getpatter: {import_ms:.1f} ms (median of {runs} fresh interpreters)")
    print(
        f"max RSS after import: {rss_mb:.1f} MB (bare interpreter: {base_mb:.1f} MB; added {rss_mb - base_mb:.1f} MB)"
    )


if __name__ == "__main__":
    main()
