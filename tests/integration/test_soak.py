"""Soak: the worker under a steady offered load for a bounded time.

Injected: realistic demo stories (ops.demo, thousands of subjects; for a run longer than one
dataset, further rounds with the subjects renumbered) published with the SDK in a paced loop at
RATE_PER_S for SOAK_S seconds, while the worker's clock runs a day a second, so deadlines keep
falling due and the timers keep publishing their system events.

Sampled every SAMPLE_INTERVAL_S: the worker process's resident memory (VmRSS of
/proc/<pid>/status), the bytes its store holds in RocksDB's write buffer (the live write-ahead
log, *.log in the store's directory, which holds exactly what the memtable holds), and its
consumer lag (the sum of credit_consumer_lag_messages at /metrics).

Checked: neither the memory beyond the write buffer nor the lag grows without bound
(`unbounded_growth`, unit-tested here against a synthetic growing series and a flat noisy one);
the rate was really offered and every event delivered; timers fired, as many times as the log holds
timer events written since the soak began (the published subjects' among them); at the end every subject's
state equals a clean re-fold of the log up to where the worker stands (by digest, as `rebuild
--verify` compares) and so do the files the worker serves for a sample of subjects.

Why the write buffer is taken out: a fresh worker's memory grows with its memtable, by design,
until 64 MiB of writes are buffered and flushed (some 70-85 s at RATE_PER_S); afterwards the
memory is reused (measured: resident memory stayed flat while the next memtable refilled to
30 MiB). A run within the suite's budget ends about when that first flush comes, so it would see
the bounded buffer filling as steady growth: +60 MiB on a level of 100 MiB.

SOAK_S keeps the whole test under about 100 s (the suite's budget);
CREDIT_LEDGER_SOAK_S=600 runs a longer soak by hand, which sees smaller leaks.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

from ops.bench import rss_mib
from ops.config import Settings
from ops.demo import demo_events
from ops.embedded_kafka import free_port
from projections.deadlines import TIMER_SYSTEM
from projections.fold import credit_file
from projections.ids import make_resident_id, make_uscc
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.rebuild import rebuild_from_log
from streams.sdk import Publisher
from tests.helpers import Worker, folded_file, wait_for

SOAK_S = float(os.environ.get("CREDIT_LEDGER_SOAK_S", "65"))
RATE_PER_S = 200.0  # offered events per second
CHUNKS_PER_S = 10  # the paced publisher sends RATE_PER_S / CHUNKS_PER_S events at a time
CATCH_UP_CHUNKS_MAX = 10  # ... or, behind schedule, what is due, up to this many chunks at a time
SAMPLE_INTERVAL_S = 2.0
CLOCK_SPEED = 86_400.0  # a day a second: deadlines fall due during the run
SUBJECTS_PER_ROUND = 2_200  # one demo dataset (~16.5k events); ops.demo slows down steeply far beyond this
SUBJECT_SERIALS_PER_ROUND = 100_000  # renumbered subjects of round r start at serial r * this
RATE_SHORTFALL_MAX = 0.2  # the paced publisher may fall this far behind RATE_PER_S on a loaded machine
CAUGHT_UP_TIMEOUT_S = 60.0
FILES_COMPARED = 12  # served files compared one by one (every state is compared by digest)
KEY = b"soak-test-pseudonym-key-000000001"

# What "grows without bound" means for a short run (see unbounded_growth). The first samples
# are dropped: the worker starts from idle, the first batches import code and fill caches.
WARMUP_FRACTION = 0.25
# Memory beyond the write buffer may rise by this share of its level after warm-up: a fresh
# process's heap still settles (+6 to +8% over the steady part, measured). A leak of 3 KB per
# event (0.6 MiB/s at RATE_PER_S) exceeds it within the default run; longer runs see smaller leaks.
RSS_RELATIVE_TOLERANCE = 0.2
# Lag may wander by this many messages (three seconds of input) without counting as growth: a
# worker that cannot keep up gains its whole deficit every second.
LAG_ABSOLUTE_TOLERANCE = 3 * RATE_PER_S


def unbounded_growth(samples: Sequence[float], warmup_fraction: float = WARMUP_FRACTION,
                     relative_tolerance: float = 0.0, absolute_tolerance: float = 0.0) -> str | None:
    """Why a series sampled at equal intervals looks as if it grows without bound, or None.

    The first `warmup_fraction` of the samples is dropped. The rest is cut into three windows; its
    level is the median of the first window and the tolerance max(absolute_tolerance,
    relative_tolerance * level). It grows when both
    - the median of the last window exceeds the level by more than the tolerance (medians: a few
      spikes, e.g. a garbage collection or a lag burst, move nothing), and
    - the least-squares line through the rest rises by more than the tolerance over its span
      (a hump that came back down is not growth).
    """
    rest = list(samples)[int(len(samples) * warmup_fraction):]
    if len(rest) < 6:
        raise ValueError(f"{len(samples)} samples leave {len(rest)} after warm-up; at least 6 are needed")
    third = len(rest) // 3
    level, last = statistics.median(rest[:third]), statistics.median(rest[-third:])
    tolerance = max(absolute_tolerance, relative_tolerance * abs(level))
    xs = range(len(rest))
    slope = statistics.linear_regression(xs, rest).slope
    rise = slope * (len(rest) - 1)
    if last - level > tolerance and rise > tolerance:
        return (f"after warm-up it went from {level:.1f} (median of the first third) to {last:.1f} (of the "
                f"last), a fitted rise of {rise:.1f} over {len(rest)} samples; tolerance {tolerance:.1f}")
    return None


def test_unbounded_growth_sees_a_leak_under_noise_and_warmup():
    noise = [((i * 7919) % 13 - 6) * 0.5 for i in range(60)]  # deterministic, ±3
    warmup = [100 + 60 * (1 - math.exp(-i / 4)) for i in range(60)]  # rises fast, then levels off at 160
    leaking = [w + 0.8 * i + n for i, (w, n) in enumerate(zip(warmup, noise))]  # +0.8 per sample for ever
    assert unbounded_growth(leaking, relative_tolerance=0.1) is not None
    assert unbounded_growth([float(i) for i in range(60)], absolute_tolerance=5) is not None


def test_unbounded_growth_accepts_a_flat_noisy_series_with_warmup_and_spikes():
    noise = [((i * 7919) % 13 - 6) * 0.5 for i in range(60)]
    plateau = [100 + 60 * (1 - math.exp(-i / 4)) + n for i, n in enumerate(noise)]
    plateau[45] += 80  # one late spike (a burst, a collection)
    assert unbounded_growth(plateau, relative_tolerance=0.1) is None
    lag = [0, 900, 40, 300, 0, 1200, 10, 0] * 8  # bursty, but not rising
    assert unbounded_growth(lag, absolute_tolerance=LAG_ABSOLUTE_TOLERANCE) is None
    hump = [100.0] * 20 + [150.0] * 10 + [100.0] * 30  # rose and came back down
    assert unbounded_growth(hump, relative_tolerance=0.1) is None


def soak_events(count: int) -> list[dict]:
    """At least `count` demo events, in rounds of SUBJECTS_PER_ROUND subjects; rounds after the first
    renumber their subjects (and natural persons' ID numbers) so that every round is new subjects."""
    events: list[dict] = []
    start = date.today() - timedelta(days=300)
    for round_no in range(1_000):
        if len(events) >= count:
            break
        batch = demo_events(seed=61 + round_no, subjects=SUBJECTS_PER_ROUND, start=start, days=299)
        events += batch if round_no == 0 else _renumbered(batch, round_no)
    return events[:count]


def _renumbered(events: list[dict], round_no: int) -> list[dict]:
    renames: dict[str, str] = {}
    for event in events:
        subject = event["subject"]
        old = subject.get("id") or subject.get("id_number")
        if old in renames:
            continue
        if subject.get("id"):  # a USCC: same registration authority, kind and region, a new serial
            renames[old] = make_uscc(old[2:8], round_no * SUBJECT_SERIALS_PER_ROUND + len(renames), old[0], old[1])
        else:  # a resident ID number: same region and birthday, another sequence code
            birth = date(int(old[6:10]), int(old[10:12]), int(old[12:14]))
            renames[old] = make_resident_id(old[:6], birth, (int(old[14:17]) + round_no) % 1000)
    pattern = re.compile("|".join(map(re.escape, renames)))
    # the ids also appear inside other fields (a permit's certificate number): renamed everywhere
    return [json.loads(pattern.sub(lambda m: renames[m.group(0)], json.dumps(e, ensure_ascii=False)))
            for e in events]


def metric_sum(worker: Worker, name: str) -> float:
    """The sum of a metric over its labels, from the worker's /metrics."""
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


class PacedPublisher(threading.Thread):
    """Publishes `events` at `rate_per_s` with the SDK (through the worker's edge) until they run out or
    stop() is called."""

    def __init__(self, url: str, token: str, events: list[dict], rate_per_s: float):
        super().__init__(daemon=True)
        self.url, self.token, self.events, self.rate_per_s = url, token, events, rate_per_s
        self.delivered, self.problems, self.offered = [], [], 0
        self.elapsed_s = 0.0
        self._stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        chunk = max(1, round(self.rate_per_s / CHUNKS_PER_S))
        try:
            with Publisher(self.url, token=self.token) as publisher:
                started_s = time.monotonic()
                while not self._stopping.is_set() and self.offered < len(self.events):
                    # behind schedule (a slow answer on a loaded machine): what is due goes in one call
                    due = int((time.monotonic() - started_s) * self.rate_per_s)
                    size = min(max(chunk, due - self.offered), CATCH_UP_CHUNKS_MAX * chunk,
                               len(self.events) - self.offered)
                    report = publisher.publish_many(self.events[self.offered:self.offered + size])
                    self.offered += size
                    self.delivered += report.delivered
                    self.problems += [*report.invalid.values(), *report.failed.values()]
                    ahead_s = started_s + self.offered / self.rate_per_s - time.monotonic()
                    if ahead_s > 0:  # behind schedule: no sleep, the next chunk goes at once
                        self._stopping.wait(ahead_s)
                self.elapsed_s = time.monotonic() - started_s
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def stop(self) -> None:
        self._stopping.set()


@pytest.mark.slow
@pytest.mark.timeout(SOAK_S + 300)  # a longer soak by hand must not meet the suite's per-test timeout
def test_a_steady_load_keeps_memory_and_lag_bounded_and_the_state_exact(kafka, tmp_path):
    clock = {"CREDIT_LEDGER_CLOCK_SPEED": str(CLOCK_SPEED), "CREDIT_LEDGER_CLOCK_STARTED_S": str(time.time()),
             "CREDIT_LEDGER_PSEUDONYM_KEY": KEY.decode()}
    worker = Worker(kafka.bootstrap, tmp_path / "worker", free_port(), env=clock)
    begun_s = time.monotonic()
    with ThreadPoolExecutor(1) as pool:  # the events are made while the worker starts
        making = pool.submit(soak_events, math.ceil(RATE_PER_S * SOAK_S * 1.05))
        worker.start()
        events = making.result()
    ready_s = time.monotonic() - begun_s
    publisher = PacedPublisher(worker.url, worker.tokens["admin"], events, RATE_PER_S)
    rss, buffered, lag = [], [], []  # MiB, MiB, messages
    try:
        fired_before = metric_sum(worker, "credit_timers_fired_total")
        marks_before = ledger_reader.watermarks(kafka.access("auditor"), topics.EVENTS)  # timer events after these
        publisher.start()
        started_s = time.monotonic()
        for n in range(int(SOAK_S / SAMPLE_INTERVAL_S)):
            # at fixed instants, so that a slow sample does not stretch the run
            time.sleep(max(0.0, started_s + n * SAMPLE_INTERVAL_S - time.monotonic()))
            worker.alive()
            rss.append(rss_mib(worker.process.pid))
            buffered.append(write_buffer_mib(worker))
            lag.append(metric_sum(worker, "credit_consumer_lag_messages"))
        publisher.stop()
        publisher.join(30)
        assert publisher.error is None, publisher.error
        # after a flush the memory stays at its high-water mark (reused): take out the most buffered so far
        beyond = [r - max(buffered[:i + 1]) for i, r in enumerate(rss)]
        print(f"soak: worker started and events made in {ready_s:.1f} s; {len(publisher.delivered)} events in "
              f"{publisher.elapsed_s:.1f} s; rss_mib {rss[0]:.1f} -> {rss[-1]:.1f} (max {max(rss):.1f}), "
              f"of it write buffer {buffered[0]:.1f} -> {buffered[-1]:.1f}; "
              f"beyond it {beyond[0]:.1f} -> {beyond[-1]:.1f}; lag max {max(lag):.0f}, last {lag[-1]:.0f}\n"
              f"rss_mib {[round(r, 1) for r in rss]}\nwrite_buffer_mib {[round(b, 1) for b in buffered]}\n"
              f"lag {[round(x) for x in lag]}")

        offered_per_s = publisher.offered / publisher.elapsed_s
        assert offered_per_s >= RATE_PER_S * (1 - RATE_SHORTFALL_MAX), f"only {offered_per_s:.0f} events/s offered"
        assert publisher.problems == [] and len(publisher.delivered) == publisher.offered, publisher.problems[:3]
        growth = unbounded_growth(beyond, relative_tolerance=RSS_RELATIVE_TOLERANCE)
        assert growth is None, f"the worker's memory beyond its write buffer (MiB) grows: {growth}; samples {beyond}"
        growth = unbounded_growth(lag, absolute_tolerance=LAG_ABSOLUTE_TOLERANCE)
        assert growth is None, f"the worker's consumer lag grows: {growth}; samples {lag}"

        wait_for(lambda: metric_sum(worker, "credit_consumer_lag_messages") == 0, CAUGHT_UP_TIMEOUT_S,
                 what="the worker caught up")
        # Deadlines fell due and their system events were published under load: as many as the log holds
        # since the soak began. The clock runs on (a day a second) and the timers with it, so the log is
        # read between two readings of the counter, each timer event counted once published (the counter
        # before the log has it; the log only once it is counted): fired_then <= in the log <= fired_now.
        fired = metric_sum(worker, "credit_timers_fired_total") - fired_before
        in_log: list[str] = []

        def counted_in_log() -> bool:
            in_log[:] = timer_events_since(kafka.access("auditor"), marks_before)
            return len(in_log) >= fired
        wait_for(counted_in_log, CAUGHT_UP_TIMEOUT_S, interval_s=1.0, what=f"the {fired:.0f} timer events counted in the log")
        fired_now = metric_sum(worker, "credit_timers_fired_total") - fired_before
        soak_subjects = {r.subject_id for r in publisher.delivered}
        of_soak = sum(1 for subject_id in in_log if subject_id in soak_subjects)
        print(f"soak: timer events {fired:.0f} counted <= {len(in_log)} in the log <= {fired_now:.0f} counted "
              f"after; {of_soak} of them for the subjects it published (the others: earlier tests' subjects in the "
              f"session's log, whose deadlines the fast clock brings due too)")
        assert fired <= len(in_log) <= fired_now, (fired, len(in_log), fired_now)
        assert of_soak > 0  # the published events' own deadlines fired, not only older subjects'
        subject_ids = sorted({r.subject_id for r in publisher.delivered})
        sample_ids = subject_ids[::max(1, len(subject_ids) // FILES_COMPARED)]
        wait_for(lambda: state_equals_refold(worker, kafka.access("auditor"), sample_ids), CAUGHT_UP_TIMEOUT_S,
                 what="the sampled files at the offsets the state was compared at")
        print(f"soak: {fired:.0f} timers fired; caught up and compared with the re-fold in "
              f"{time.monotonic() - started_s - SOAK_S:.1f} s")
    finally:
        publisher.stop()
        worker.stop()


def state_equals_refold(worker: Worker, bootstrap, sample_ids: list[str]) -> bool:
    """Compare every subject's state (by digest, as `rebuild --verify` does) and the files served for
    `sample_ids` with one clean re-fold of the log up to the offsets the worker has reached. Raises
    on a difference; False when a sampled file moved on meanwhile (a timer fired: compare again)."""
    status, live = worker.get("/state/digest")
    assert status == 200, live
    until = {int(p): offset for p, offset in live["applied_offsets"].items()}
    expected, _ = rebuild_from_log(bootstrap, until, policy=Settings().policies())
    want = expected.state_digest()
    assert (live["subjects"], live["digest"]) == (want["subjects"], want["digest"]), \
        f"the worker's state at {until} differs from a clean re-fold: {live} vs {want}"
    for subject_id in sample_ids:
        served, refolded = folded_file(worker.file(subject_id)), credit_file(expected.get(subject_id))
        if served is None or served["as_of"] != refolded["as_of"]:
            return False  # it moved on since the digest
        keys = sorted(k for k in set(served) | set(refolded) if served.get(k) != refolded.get(k))
        assert not keys, f"{subject_id} differs from a clean re-fold in {keys}"
    return True


def timer_events_since(auditor, marks: dict[int, tuple[int, int]]) -> list[str]:
    """The subject id of every timer system event written to credit.events after `marks` (high watermarks)."""
    found = []
    for partition, (_, high) in ledger_reader.watermarks(auditor, topics.EVENTS).items():
        for _, _, value, _ in ledger_reader.read_range(auditor, topics.EVENTS, partition, marks[partition][1], high):
            try:
                event = decode_event(value)
            except CodecError:  # other tests' poison records share this topic
                continue
            if event["source"].get("system") == TIMER_SYSTEM:
                found.append(event["subject"]["id"])
    return found


def write_buffer_mib(worker: Worker) -> float:
    """What the worker's store holds in its memtable: the size of its live write-ahead log(s)."""
    total = 0
    for wal in (Path(worker.data_dir) / "subjects").glob("*.log"):  # the info log is LOG, without a suffix
        try:
            total += wal.stat().st_size
        except FileNotFoundError:  # deleted by a flush meanwhile
            pass
    return total / 2**20
