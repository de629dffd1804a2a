"""`credit-ledger bench`: speed and memory goals, measured against baselines in the same process.

Numbers depend on the machine; what matters is the ratio to the baseline run right
next to it. Tests never assert on these timings.
"""
from __future__ import annotations

import gc
import heapq
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from projections.canonical import SHANGHAI
from projections.deadlines import KINDS, Deadline
from streams.store import SubjectStore, timer_key, timer_value

WRITE_CHUNK = 10_000  # deadlines per store write, like a busy batch of the ledger agent
DEADLINES_MAX = 10_000_000


def rss_mib() -> float:
    """Resident memory of this process now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_deadlines(count: int, start: datetime):
    """`count` deadlines spread over three years from `start`, one subject per 7 deadlines."""
    for i in range(count):
        fires_at = (start + timedelta(minutes=(i * 1579) % (3 * 365 * 24 * 60))).isoformat()
        yield Deadline(fires_at, f"91420202BENCH{i // 7:05d}", KINDS[i % len(KINDS)], f"REF-{i}",
                       fires_at[:10], False)


def bench_timers(count: int, due_fraction: float = 0.01) -> dict:
    """Hold `count` pending deadlines in the store's timer index (on disk) vs. a heap in memory."""
    if not 1 <= count <= DEADLINES_MAX:
        raise ValueError(f"deadlines must be 1..{DEADLINES_MAX}")
    start = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    now = start + timedelta(days=3 * 365 * due_fraction)
    result: dict[str, float] = {"deadlines": count}
    with tempfile.TemporaryDirectory(prefix="credit-ledger-bench-") as tmp:
        gc.collect()
        rss_before = rss_mib()
        store = SubjectStore(Path(tmp) / "subjects")
        began = time.perf_counter()
        chunk: dict[bytes, bytes] = {}
        for deadline in synthetic_deadlines(count, start):
            chunk[timer_key(deadline)] = timer_value(deadline, 0)
            if len(chunk) >= WRITE_CHUNK:
                store.write({}, {}, index=chunk, counters={"deadlines/bench": len(chunk)})
                chunk = {}
        store.write({}, {}, index=chunk, counters={"deadlines/bench": len(chunk)})
        result["index_write_s"] = time.perf_counter() - began
        result["index_rss_mib"] = rss_mib() - rss_before
        began = time.perf_counter()
        due = store.timers_due(now)
        result["index_tick_ms"] = (time.perf_counter() - began) * 1000
        result["index_due_per_tick"] = len(due)
        store.close()

    gc.collect()
    rss_before = rss_mib()
    began = time.perf_counter()
    heap = list(synthetic_deadlines(count, start))
    heapq.heapify(heap)
    result["heap_build_s"] = time.perf_counter() - began
    result["heap_rss_mib"] = rss_mib() - rss_before
    now_text = now.isoformat()
    began = time.perf_counter()
    popped = 0
    while heap and heap[0].fires_at <= now_text and popped < len(due):
        heapq.heappop(heap)
        popped += 1
    result["heap_tick_ms"] = (time.perf_counter() - began) * 1000
    del heap
    result["memory_ratio_index_to_heap"] = result["index_rss_mib"] / max(result["heap_rss_mib"], 0.001)
    return result
