"""`credit-ledger bench`: speed and memory goals, measured against baselines in the same process.

Numbers depend on the machine; what matters is the ratio to the baseline run right
next to it. Tests never assert on these timings.
"""
from __future__ import annotations

import gc
import heapq
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from projections.canonical import SHANGHAI
from projections.deadlines import KINDS, Deadline
from projections.effects import DeadlineCounter
from streams.store import SubjectStore, timer_key, timer_value

WRITE_CHUNK = 10_000  # deadlines per store write, like a busy batch of the ledger fold
DEADLINES_MAX = 10_000_000


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) now, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
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
                store.write({}, {}, index=chunk, counters={DeadlineCounter("bench"): len(chunk)})
                chunk = {}
        store.write({}, {}, index=chunk, counters={DeadlineCounter("bench"): len(chunk)})
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


# --- history: one subject's events read by the worker's index vs. a partition scan ----------------
LOG_EVENTS_MAX = 50_000_000
SUBJECT_EVENTS_MAX = 100_000
PRODUCE_QUEUE_MAX = 500_000  # messages the bench producer holds before it waits for the broker
LAYOUTS = ("scattered", "bursts")
BURSTS = 10  # "bursts": the subject's events come in this many imports of consecutive records
BENCH_KEY = b"credit-ledger-bench-pseudonym-key"
FILLER_KINDS = 1_000
# Producer batches of a busy live ledger (many publishers, a few ms of linger each); a bulk import
# with 1 MB batches makes each seek of the index read about 3x dearer (measured).
BATCH_BYTES = 64 * 1024


def subject_events(subject_id: str, count: int) -> list[dict]:
    """`count` valid events of one company: a permit a day from 2024-01-02, as the edge accepts them."""
    from projections.validate import EdgeContext, require_valid

    authority = "11440300MB2C92050G"
    events, day = [], datetime(2024, 1, 2, 10, 0, tzinfo=SHANGHAI)
    for i in range(count):
        on = (day + timedelta(days=i)).date().isoformat()
        raw = {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{subject_id}/{i}")), "type": "PermitGranted",
               "subject": {"id": subject_id, "kind": "LEGAL_PERSON", "name": "深圳市基准测试科技有限公司"},
               "source": {"authority_code": authority, "authority_name": "深圳市市场监督管理局"},
               "occurred_on": on,
               "payload": {"record_id": f"BENCH-{i}", "decision_no": f"深市监许〔2024〕{i}号", "permit_kind": "普通",
                           "content": "食品经营许可", "valid_from": on}}
        events.append(require_valid(raw, EdgeContext(now=day + timedelta(days=i), pseudonym_key=BENCH_KEY)))
    return events


def _subject_positions(layout: str, partition_events: int, count: int) -> list[int]:
    """Where in its partition (0..partition_events-1) each of the subject's events lands."""
    if layout == "scattered":  # spread evenly over the whole partition: one fetch each
        step = partition_events / count
        return [int(i * step + step / 2) for i in range(count)]
    per_burst = count // BURSTS  # BURSTS runs of consecutive records, spread over the partition
    gap = partition_events // BURSTS
    return [b * gap + gap // 2 + i for b in range(BURSTS) for i in range(per_burst + (b < count % BURSTS))]


HISTORY_WARMUP_RUNS_MAX = 1_000
READ_RUNS_MAX = 5  # reads by offset timed beside the proofs (each ~1 s with the library client)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


def _published_tree(broker, reader, store: SubjectStore, partition: int, low: int, high: int):
    """The partition's Merkle tree built in `store` from the log (as the worker's digests timer extends it)
    and its root published on credit.digests by the worker's principal, as the worker publishes it."""
    from confluent_kafka import Producer

    from projections.canonical import instant_text
    from streams import ledger_reader, topics
    from streams.codec import encode_digest
    from streams.kafka_access import WORKER, client_config
    from streams.partitioner import partition_of
    from streams.proofs import PartitionTree

    tree = PartitionTree(store, partition)
    tree.append((o, k, v) for o, k, v, _ in ledger_reader.read_range(reader, topics.EVENTS, partition, low, high))
    root = tree.root().hex()
    producer = Producer(client_config(broker.access(WORKER), **{"enable.idempotence": True}))
    where = partition_of(str(partition), len(ledger_reader.leaders(reader, topics.DIGESTS)))  # as Faust keys it
    producer.produce(topics.DIGESTS, encode_digest({
        "topic": topics.EVENTS, "partition": partition, "offset": tree.last_offset, "root": "0" * 64,  # unread here
        "at": instant_text(datetime.now(SHANGHAI)), "tree_size": tree.size, "tree_root": root,
        "tree_offset": tree.last_offset}), str(partition).encode(), partition=where)
    if producer.flush(30):
        raise RuntimeError("the bench's digest was not delivered")
    tree.set_published(tree.size, root, tree.last_offset)
    return tree


class _Kept:
    """A session lent to one verified history: `with` it leaves it open."""

    def __init__(self, session):
        self.session = session

    def __enter__(self):
        return self.session

    def __exit__(self, *exc) -> None:
        pass


def _check_history_size(log_events: int, count: int, layout: str, partitions: int, warmup_runs: int) -> None:
    """Refuse a history bench the bench cannot build, naming the limit."""
    if not 1 <= log_events <= LOG_EVENTS_MAX or not 1 <= count <= min(SUBJECT_EVENTS_MAX, log_events // partitions):
        raise ValueError(f"log events must be 1..{LOG_EVENTS_MAX}, the subject's 1..{SUBJECT_EVENTS_MAX} "
                         "and at most a partition's share of the log")
    if not 0 <= warmup_runs <= HISTORY_WARMUP_RUNS_MAX:
        raise ValueError(f"warm-up runs must be 0..{HISTORY_WARMUP_RUNS_MAX}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")


def _produce_history_log(broker, subject_id: str, count: int, layout: str, per_partition: int, partitions: int,
                         progress) -> None:
    """Write the ledger: `per_partition` events a partition, the subject's `count` among its partition's
    as `layout` places them, other companies' events everywhere else."""
    from confluent_kafka import Producer

    from projections.ids import make_uscc
    from streams import topics
    from streams.codec import encode_event
    from streams.kafka_access import WORKER, client_config
    from streams.partitioner import partition_of

    other_id = make_uscc("440300", 9002)
    partition = partition_of(subject_id, partitions)
    mine = [encode_event(e) for e in subject_events(subject_id, count)]
    # what other subjects publish: real events, varied so that lz4 compresses them as it would the ledger
    fillers = [encode_event(e) for e in subject_events(other_id, FILLER_KINDS)]
    positions = dict(zip(_subject_positions(layout, per_partition, count), range(count)))
    producer = Producer(client_config(broker.access(WORKER), **{
        "linger.ms": 20, "compression.type": "lz4", "batch.size": BATCH_BYTES,
        "queue.buffering.max.messages": PRODUCE_QUEUE_MAX,
        "enable.idempotence": True}))  # as the SDK: no duplicates on retry
    failures: list[str] = []

    def delivered(error, message) -> None:
        if error is not None:  # raised in here, it would be lost inside the client's callback
            failures.append(str(error))
    for position in range(per_partition):
        for p in range(partitions):
            number = positions.get(position) if p == partition else None
            while True:
                try:
                    if number is None:
                        producer.produce(topics.EVENTS, fillers[(position + p) % FILLER_KINDS],
                                         other_id.encode(), partition=p)
                    else:
                        producer.produce(topics.EVENTS, mine[number], subject_id.encode(), partition=p,
                                         on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)  # the queue is full: let the broker catch up
        if position % 250_000 == 0:
            producer.poll(0)
            progress(f"produced {position * partitions:,} of {per_partition * partitions:,}")
    producer.flush()
    del producer  # closed now: alive when the broker stops, it would log every refused reconnection
    if failures:
        raise RuntimeError(f"the bench producer failed: {failures[0]}")


class _VerifiedHistory:
    """One subject's verified history, as `credit-ledger history` gets it: the worker serving it with
    Merkle proofs from its store, the auditor checking them against the root on credit.digests and the chain."""

    def __init__(self, reader, store: SubjectStore, subject_id: str, partition: int, expected: list[dict]):
        self.reader, self.store, self.subject_id, self.partition = reader, store, subject_id, partition
        self.expected = expected  # the history the scan found: every run must agree with it
        self.cpu_ms: list[float] = []  # of each run: this process's, librdkafka's threads included

    def run(self, kept=None) -> tuple[float, float]:
        """(the worker's serving ms, the auditor's checking ms) of one verified history. The auditor reads
        credit.digests on a fresh client, as each `history` command does, or on the session `kept`."""
        from concurrent.futures import ThreadPoolExecutor

        import orjson

        from ops.history import partition_and_digests, verify_proved
        from streams import ledger_reader
        from streams.proofs import PartitionTree, history_proofs

        cpu_began = time.process_time()
        began = time.perf_counter()
        with kept or ledger_reader.Session(self.reader) as session, ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(partition_and_digests, session, self.subject_id)  # the auditor, meanwhile:
            history = self.store.history(self.subject_id)  # the worker: GET /subjects/{id}/history?proofs=1
            body = orjson.dumps({"subject_id": self.subject_id, "history": history, **history_proofs(
                PartitionTree(self.store, self.partition), [entry["offset"] for entry in history])})
            served = time.perf_counter()  # the auditor: the chain, every proof, the root on credit.digests
            entries = verify_proved(self.reader, session, self.subject_id, orjson.loads(body), ahead.result)
        done = time.perf_counter()
        self.cpu_ms.append((time.process_time() - cpu_began) * 1000)
        assert entries == self.expected, "the proved history disagrees with the scan"
        return (served - began) * 1000, (done - served) * 1000


def _timed_verified_runs(verified: _VerifiedHistory, runs: int, warmup_runs: int, progress) -> dict:
    """The first run, `warmup_runs` more, then `runs` timed ones on fresh clients and on a kept one."""
    from streams import ledger_reader

    result: dict[str, float] = {"first_run_ms": sum(verified.run())}
    warmup_ms = []
    for run in range(warmup_runs):
        warmup_ms.append(sum(verified.run()))
        progress(f"warm-up verified history {run + 1} of {warmup_runs}: {warmup_ms[-1]:.0f} ms")
    result.update(warmup_runs=warmup_runs, warmup_p50_ms=_median(warmup_ms))
    servings, checks, totals = [], [], []
    verified.cpu_ms.clear()
    for run in range(runs):
        serving_ms, checking_ms = verified.run()
        servings.append(serving_ms)
        checks.append(checking_ms)
        totals.append(serving_ms + checking_ms)
        progress(f"verified history {run + 1} of {runs}: {totals[-1]:.0f} ms")
    totals.sort()
    result.update(verified_runs=runs, verified_p50_ms=_median(totals),
                  verified_p95_ms=totals[min(runs - 1, int(runs * 0.95))], verified_max_ms=totals[-1],
                  verified_serving_p50_ms=_median(servings), verified_checking_p50_ms=_median(checks),
                  verified_cpu_p50_ms=_median(verified.cpu_ms))  # a loaded machine's wall time, less its waits
    kept_ms = []  # an auditor's process that keeps its client (its connection and login) between histories
    with ledger_reader.Session(verified.reader) as kept:
        for run in range(runs):
            kept_ms.append(sum(verified.run(_Kept(kept))))
    kept_ms.sort()
    result.update(verified_kept_client_p50_ms=_median(kept_ms),
                  verified_kept_client_p95_ms=kept_ms[min(runs - 1, int(runs * 0.95))] if kept_ms else float("nan"))
    return result


def _timed_offset_reads(reader, partition: int, offsets: list[int], runs: int, progress) -> float:
    """The p50 ms of reading the subject's records by offset with the library client: what proofs replace."""
    from streams import ledger_reader, topics

    reads_ms = []
    for run in range(min(runs, READ_RUNS_MAX)):
        began = time.perf_counter()
        read = list(ledger_reader.read_offsets(reader, topics.EVENTS, partition, offsets))
        reads_ms.append((time.perf_counter() - began) * 1000)
        assert len(read) == len(offsets)
        progress(f"read by offsets {run + 1}: {reads_ms[-1]:.0f} ms")
    return _median(reads_ms)


def bench_history(log_events: int, count: int, layout: str = "scattered", runs: int = 20,
                  partitions: int = 4, on_progress=None, warmup_runs: int = 20) -> dict:
    """A subject with `count` events inside a `log_events`-event ledger (its own embedded broker): its
    verified history (the worker serving it with Merkle proofs from its store, the auditor checking them
    against the root on credit.digests and the chain) vs. scanning and folding its partition, and vs.
    reading its records by offset with the library client."""
    from ops.embedded_kafka import EmbeddedKafka, free_port
    from ops.history import _decoded
    from projections.ids import make_uscc
    from projections.policy import DEFAULT_POLICIES
    from projections.replay import replay
    from streams import ledger_reader, topics
    from streams.kafka_access import AUDITOR
    from streams.partitioner import partition_of
    from streams.principals import create_dev_kafka_credentials
    from streams.topics import ensure_topics

    _check_history_size(log_events, count, layout, partitions, warmup_runs)
    progress = on_progress or (lambda text: None)
    subject_id = make_uscc("440300", 9001)
    partition = partition_of(subject_id, partitions)
    per_partition = log_events // partitions
    result: dict[str, float | str] = {"log_events": per_partition * partitions, "subject_events": count,
                                      "layout": layout, "partitions": partitions}
    with tempfile.TemporaryDirectory(prefix="credit-ledger-bench-") as tmp, \
            EmbeddedKafka(Path(tmp) / "kafka", port=free_port(), heap_mib=1024, full_jit=True,
                          credentials=create_dev_kafka_credentials(tmp)).start() as broker:
        # as a ledger's broker (SASL/SCRAM, ACLs), warmed below; the worker's principal writes, the auditor's reads
        ensure_topics(broker.admin_access, partitions=partitions)
        reader = broker.access(AUDITOR)
        began = time.perf_counter()
        _produce_history_log(broker, subject_id, count, layout, per_partition, partitions, progress)
        result["produce_s"] = time.perf_counter() - began

        began = time.perf_counter()  # the baseline: what history does trusting no worker (--scan)
        low, high = ledger_reader.watermarks(reader, topics.EVENTS)[partition]
        scanned = list(_decoded(ledger_reader.read_range(reader, topics.EVENTS, partition, low, high),
                                subject_id))
        scan_history = replay(scanned, BENCH_KEY, policy=DEFAULT_POLICIES).history[subject_id]
        result["scan_ms"] = (time.perf_counter() - began) * 1000
        assert len(scan_history) == count, f"the scan found {len(scan_history)} of the subject's {count} events"
        began = time.perf_counter()
        replay(scanned, BENCH_KEY, policy=DEFAULT_POLICIES)
        result["fold_only_ms"] = (time.perf_counter() - began) * 1000

        # the worker's side: the partition's Merkle tree and the subject's history in its store, the
        # tree's root published on credit.digests, as the worker's digests timer leaves them
        began = time.perf_counter()
        store = SubjectStore(Path(tmp) / "store")
        tree = _published_tree(broker, reader, store, partition, low, high)
        result["tree_build_s"] = time.perf_counter() - began
        result["tree_records"] = tree.size
        store.write({}, {}, [(subject_id, n, entry) for n, entry in enumerate(scan_history, start=1)])
        result["response_bytes"] = _history_response_bytes(store, partition, scan_history)
        result.update(_timed_verified_runs(_VerifiedHistory(reader, store, subject_id, partition, scan_history),
                                           runs, warmup_runs, progress))
        result["read_only_p50_ms"] = _timed_offset_reads(reader, partition, [h["offset"] for h in scan_history],
                                                         runs, progress)
        result["speedup_scan_to_verified_p95"] = result["scan_ms"] / max(result["verified_p95_ms"], 0.001)
        store.close()
    return result


def _history_response_bytes(store: SubjectStore, partition: int, history: list[dict]) -> int:
    """The size of the worker's answer: the history and its proofs, as JSON."""
    import orjson

    from streams.proofs import PartitionTree, history_proofs

    proofs = history_proofs(PartitionTree(store, partition), [entry["offset"] for entry in history])
    return len(orjson.dumps(proofs)) + len(orjson.dumps(history))
