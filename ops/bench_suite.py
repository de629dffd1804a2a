"""`credit-ledger bench [--quick] [--json]`: every speed and memory goal, each against a baseline
run in the same bench on the same events.

One embedded broker holds a ledger of realistic events (the demo's stories, all event types,
cloned over many subjects and interleaved at random, each subject's events in order). Then:
- baselines: a plain consumer decoding with fastavro; a bare Faust agent; a Faust agent writing
  a RocksDB-backed Table per event (ops/bench_faust.py, in child processes);
- e2e: one `credit-ledger worker` folding the whole ledger from a fresh store, timed from the first
  applied offset to the last, as its /readyz shows them;
- lag: the same worker, stopped while the stories' next events are written, restarted: its backlog
  fold rate on events like those it is then offered; then events offered at half that rate, each
  one's recorded_at to the first /readyz poll that shows it applied (so the numbers include up to one
  poll interval);
- edge: the same worker's HTTP edge (the SDK's POST /events:batch, validation, recorded_at, produce,
  every delivery awaited) accepting new events while it folds them, against the old direct produce
  (the same validation and encoding and a plain confluent-kafka producer with the worker's config, in
  this process), and against the worker's own fold rate (the goal: the edge is never the bottleneck);
- scale-out: two fresh workers in one group over the same ledger, against the one;
- rebuild: the `rebuild` path (streams.rebuild.rebuild_from_log) over the same ledger;
- history: ops.bench.bench_history in a child process (its own broker and a long ledger);
- memory: a worker opening a store with N subjects and N pending deadlines (cloned from a real
  fold), its resident memory once ready.
Tests never assert on these numbers; a smoke test runs `--quick` and checks the keys only.
"""
from __future__ import annotations

import heapq
import http.client
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time as day_time, timedelta, timezone
from itertools import islice
from pathlib import Path

from projections.canonical import SHANGHAI
from streams.kafka_access import KafkaAccess

BENCH_PSEUDONYM_KEY = b"credit-ledger-bench-pseudonym-key"
READY_TIMEOUT_S = 300.0  # a child process starting, or a baseline reading its events
SLOWEST_FOLD_PER_S = 100  # the fold runs give up when slower than this (plus READY_TIMEOUT_S)
POLL_INTERVAL_S = 0.01  # how often the lag run asks the worker where it is: the lag's resolution
PROGRESS_POLL_S = 0.1  # ... and the throughput runs
MEMORY_SETTLE_S = 3.0  # after start-up, before the memory run reads the worker's resident memory
PRODUCER_CONNECT_TIMEOUT_S = 30.0  # the lag run's publisher connects before its offer starts
# The lag run's publisher sends what is due every OFFER_TICK_S (its producer batches for 5 ms anyway):
# measured at 4,000 events/s against a broker alone, 0.1-0.15 of a core less than a sleep before each event,
# on the cores the worker is measured on (docs/performance.md).
OFFER_TICK_S = 0.001
LAG_DRAIN_S = 120.0  # after the offer, how long the lag run waits for the worker to apply the rest
SETTLE_QUIET_S = 1.0  # before the offer: the ledger unchanged this long, all of it applied
SETTLE_TIMEOUT_S = 300.0
BASE_STORIES = 2_000  # demo stories generated; more subjects are clones of these under new ids
SERIAL_BASE = 50_000_000  # clones' USCC serials: far from the demo's own
PRODUCE_QUEUE_MAX = 500_000
SUBJECTS_MAX = 10_000_000
DAY_RECORDED = day_time(10, 0)  # as `up --demo`: each event recorded at 10:00 of its day


@dataclass(frozen=True)
class Scale:
    subjects: int  # over which the ledger's events are spread
    events: int  # in the ledger the throughput runs fold
    faust_events: int  # the Faust baselines read this many of them (their rate is steady long before)
    lag_s: float  # the lag run offers half the worker's own backlog fold rate (LAG_SHARE_OF_FOLD) this long
    lag_backlog_events: int  # ... its backlog rate measured on this many events like the offer's
    history_log_events: int
    history_runs: int
    memory_subjects: int  # subjects, each with one pending deadline, in the memory run
    edge_events: int  # new events each edge run publishes (the edge's, the direct produce's)


FULL = Scale(subjects=100_000, events=150_000, faust_events=50_000, lag_s=30.0, lag_backlog_events=30_000,
             history_log_events=10_000_000, history_runs=20, memory_subjects=1_000_000, edge_events=30_000)
# 4,500 subjects give ~41,000 events: the load, the lag's backlog, an offer at up to ~8,000 events/s, both edge runs
QUICK = Scale(subjects=4_500, events=6_000, faust_events=3_000, lag_s=3.0, lag_backlog_events=3_000,
              history_log_events=60_000, history_runs=3, memory_subjects=5_000, edge_events=2_000)
EDGE_BATCH_LINES = 5_000  # the SDK's default batch
LAG_SHARE_OF_FOLD = 0.5  # the lag run's offer: this share of the worker's backlog rate on events like it, same run
# the e2e and lag parts' worker: its validating and folding spread over two processes (streams/fold_pool.py),
# as on a host with a core for them beside the worker's own
FOLD_PROCESSES = 2
PARTS = ("all", "throughput")  # `bench throughput`: load, the raw and replay baselines, e2e, lag, rebuild

# name: (goal, "min" or "max") for the table; the goals on the 2-core reference machine
GOALS = {
    "e2e_events_per_s": (5_000, "min"),
    "ratio_e2e_vs_replay": (0.5, "min"),
    "ratio_rebuild_vs_replay_per_process": (0.8, "min"),
    "ratio_e2e_vs_faust": (0.7, "min"),
    "ratio_edge_vs_fold": (1.0, "min"),
    "scaleout_2_workers_ratio": (1.0, "min"),
    "lag_p99_ms": (250, "max"),
    "rebuild_events_per_s": (50_000, "min"),
    "ratio_rebuild_vs_raw": (0.5, "min"),
    "history_p95_ms": (100, "max"),
    "verified_p95_ms": (100, "max"),  # `bench history` alone: the same measure
    "timers_pending_1m_rss_mib": (1024, "max"),
}


# --- the ledger's events ---------------------------------------------------------------------------

def _produce_event(producer, event: dict, on_delivery) -> None:
    """One event onto credit.events, keyed by its subject; a full queue is drained by delivery polls."""
    from streams import topics
    from streams.codec import encode_event

    while True:
        try:
            producer.produce(topics.EVENTS, encode_event(event), event["subject"]["id"].encode(),
                             on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)

def mixed_events(subjects: int, seed: int = 11):
    """Realistic raw events (as a publisher sends them) over `subjects` organisations, endless order
    of a busy ledger: the demo's stories, cloned under new USCCs, interleaved at random with each
    subject's own events in their order, so that every prefix is a consistent ledger."""
    from ops.demo import demo_events
    from projections.ids import make_uscc

    if not 1 <= subjects <= SUBJECTS_MAX:
        raise ValueError(f"subjects must be 1..{SUBJECTS_MAX}")
    today = datetime.now(SHANGHAI).date()
    base = demo_events(seed=seed, subjects=max(12, min(subjects, BASE_STORIES)),
                       start=today - timedelta(days=700), days=699)
    stories: dict[str, list[dict]] = {}
    for event in base:
        if event["subject"].get("id"):  # organisations; a person's id is derived from the ID number
            stories.setdefault(event["subject"]["id"], []).append(event)
    templates = list(stories.values())
    rng = random.Random(seed)
    slots = [i for i in range(subjects) for _ in templates[i % len(templates)]]
    rng.shuffle(slots)
    position = [0] * subjects
    for n, i in enumerate(slots):
        template = templates[i % len(templates)]
        event = template[position[i]]
        position[i] += 1
        if i >= len(templates):  # a clone: same story, its own subject and event ids
            old = event["subject"]["id"]
            new = make_uscc(old[2:8], SERIAL_BASE + i, old[0], old[1])
            event = {**event, "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{seed}/{n}")),
                     "subject": {**event["subject"], "id": new}}
        yield event


def _validated(raw: dict, now: datetime) -> dict:
    from projections.validate import EdgeContext, require_valid

    return require_valid(raw, EdgeContext(now=now, pseudonym_key=BENCH_PSEUDONYM_KEY))


def _recorded_on_its_day(raw: dict) -> datetime:
    return datetime.combine(date.fromisoformat(raw["occurred_on"]), DAY_RECORDED, SHANGHAI)


def _producer(bootstrap: KafkaAccess):
    from confluent_kafka import Producer

    from streams.kafka_access import client_config
    from streams.outputs import IDEMPOTENT_PRODUCER

    return Producer(client_config(bootstrap, **IDEMPOTENT_PRODUCER, **{
        # a steady publisher's batches; the broker's CPU follows their number, not the events' (docs/performance.md)
        "linger.ms": 5, "compression.type": "lz4",
        "queue.buffering.max.messages": PRODUCE_QUEUE_MAX}))


def taken(events, count: int, part: str) -> list[dict]:
    """The next `count` events of the stream for `part`; a stream that runs short is the scale's mistake,
    said as such (a part measured on fewer events than it should would report a wrong rate)."""
    batch = list(islice(events, count))
    if len(batch) < count:
        raise RuntimeError(f"the bench's events ran out in {part}: {len(batch):,} of {count:,} left; "
                           f"spread them over more subjects")
    return batch


def load_ledger(bootstrap: KafkaAccess, events, count: int, recorded_at=None) -> int:
    """Validate, encode and write the first `count` events; each is recorded at 10:00 of its day, or at
    `recorded_at(raw)`."""
    producer, failures, written = _producer(bootstrap), [], 0

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(str(error))
    for raw in events:
        event = _validated(raw, (recorded_at or _recorded_on_its_day)(raw))
        _produce_event(producer, event, delivered)
        written += 1
        if written % 10_000 == 0:
            producer.poll(0)
        if written >= count:
            break
    producer.flush()
    if failures:
        raise RuntimeError(f"the bench producer failed: {failures[0]}")
    return written


# --- baselines ---------------------------------------------------------------------------------------
def baseline_raw(bootstrap: KafkaAccess, count: int) -> float:
    """Events/s of a plain consumer that decodes each event with fastavro and does nothing else."""
    from io import BytesIO

    import fastavro
    from confluent_kafka import Consumer

    from streams import codec, topics
    from streams.kafka_access import client_config

    schemas = {fp: fastavro.parse_schema(json.loads(path.read_text()))
               for fp, path in codec.published_versions().items()}
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"credit-ledger-bench-raw-{uuid.uuid4().hex}",
                                                    "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe([topics.EVENTS])
    seen, began = 0, None
    try:
        while seen < count:
            for message in consumer.consume(min(10_000, count - seen), timeout=1.0):  # not a timeout's wait at the end
                if message.error():
                    continue
                value = message.value()
                fastavro.schemaless_reader(BytesIO(value[codec.HEADER_BYTES:]), schemas[value[2:codec.HEADER_BYTES]])
                if began is None:
                    began = time.perf_counter()
                seen += 1
    finally:
        consumer.close()
    return (seen - 1) / (time.perf_counter() - began)


def baseline_replay(bootstrap: KafkaAccess, ends: dict[int, int]) -> tuple[float, float]:
    """Events/s of the pure replay (projections.replay.replay, as `replay --from-file`: validate and fold,
    no I/O) of the ledger's first `ends` ({partition: next offset}) records, read and decoded beforehand
    (untimed), in one process on one core; and the CPU time it took an event, in µs."""
    import gc

    from projections.policy import DEFAULT_POLICIES
    from projections.replay import replay
    from streams import ledger_reader, topics
    from streams.codec import CodecError, decode_event

    entries = []
    for partition, end in sorted(ends.items()):
        for offset, _, value, _ in ledger_reader.read_range(bootstrap, topics.EVENTS, partition, 0, end):
            try:
                entries.append((offset, decode_event(value or b"")))
            except CodecError:
                continue  # none in the bench's ledger; the fold's totality is tested elsewhere
    gc.collect()
    gc.freeze()  # as ops.config.tune_gc: what came before is not walked again by the collector
    try:
        began, began_cpu = time.perf_counter(), time.thread_time()
        replay(entries, policy=DEFAULT_POLICIES)
        seconds, cpu_s = time.perf_counter() - began, time.thread_time() - began_cpu
    finally:
        gc.unfreeze()
    return len(entries) / seconds, cpu_s * 1e6 / len(entries)


def baseline_faust(bootstrap: KafkaAccess, count: int, with_table: bool, data_dir: Path) -> float:
    """Events/s of a minimal Faust agent (ops/bench_faust.py) over the first `count` events; its tables
    go in `data_dir`, a directory of the caller's."""
    from ops.config import kafka_env

    command = [sys.executable, "-m", "ops.bench_faust", str(count), str(data_dir),
               *(["--table"] if with_table else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=READY_TIMEOUT_S,
                          cwd=Path(__file__).resolve().parent.parent, env={**os.environ, **kafka_env(bootstrap)})
    found = re.search(r'\{"events".*\}', done.stdout)  # the worker's terminal codes may come before it
    if done.returncode != 0 or not found:
        raise RuntimeError(f"the Faust baseline failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(found.group(0))
    return result["events"] / result["seconds"]


# --- workers -------------------------------------------------------------------------------------------
class BenchWorker:
    """`credit-ledger worker` as a child process with its own fresh data dir."""

    def __init__(self, bootstrap: KafkaAccess, data_dir: Path, fold_processes: int = 1):
        from ops.config import Settings
        from ops.embedded_kafka import free_port

        self.settings = Settings(data_dir=str(data_dir), web_port=free_port(), fold_processes=fold_processes,
                                 pseudonym_key=BENCH_PSEUDONYM_KEY.decode(), pii_key_store="off").with_kafka(bootstrap)
        self.log_path = data_dir / "worker.log"
        self.process = None
        self.tokens: dict = {}  # the development principals' (streams/principals.py), once started
        # one kept-alive connection a polling thread: a new one each poll cost the worker ~0.9 ms of CPU
        # against ~0.5 (measured), and the lag run polls 100 times a second beside the fold
        self._connections = threading.local()

    def start(self) -> BenchWorker:
        from ops.up import start_worker
        from streams.principals import create_dev_principals

        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.tokens = create_dev_principals(self.settings.data_dir, ())  # the admin publishes through the edge
        self.process = start_worker(self.settings, self.log_path)
        return self

    def applied(self) -> dict[int, int] | None:
        """{partition: last applied offset} from /readyz, None while it does not answer."""
        if self.process.poll() is not None:
            raise RuntimeError(f"the worker exited {self.process.returncode}: "
                               f"{self.log_path.read_text(errors='replace')[-2000:]}")
        connection = getattr(self._connections, "readyz", None)
        if connection is None:
            address = urllib.parse.urlsplit(self.settings.web_url)
            connection = self._connections.readyz = http.client.HTTPConnection(address.hostname, address.port,
                                                                               timeout=2)
        try:
            connection.request("GET", "/readyz")
            body = connection.getresponse().read()  # 503 while catching up: the body says where it is
        except (OSError, http.client.HTTPException):
            connection.close()  # the next poll connects again
            return None
        return {int(p): o for p, o in json.loads(body)["applied_offsets"].items()}

    def rss_mib(self) -> float:
        from ops.bench import rss_mib

        return rss_mib(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a process and every process under it have used, as /proc has them now."""
    parent_of, cpu_ticks = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            parent_of[int(entry.name)], cpu_ticks[int(entry.name)] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, grown = {pid}, True
    while grown:
        under = {child for child, parent in parent_of.items() if parent in tree} - tree
        tree, grown = tree | under, bool(under)
    return sum(cpu_ticks.get(member, 0) for member in tree) / os.sysconf("SC_CLK_TCK")


class CoresUsed:
    """The cores each party used over a window: processes (with the processes under them) by name, and
    this one (the lag run's publisher, with its poller) as "publisher". On a machine that also runs the
    broker and the publisher, the worker has only what they leave it."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.cores: dict[str, float] = {}
        self._began: tuple[float, float, dict[str, float]] | None = None

    def start(self) -> None:
        self._began = time.monotonic(), time.process_time(), {name: process_tree_cpu_s(pid)
                                                             for name, pid in self.pids.items()}

    def stop(self) -> None:
        assert self._began is not None, "stop before start"
        began_s, began_cpu_s, began_trees = self._began
        seconds = max(time.monotonic() - began_s, 1e-9)
        self.cores = {name: (process_tree_cpu_s(pid) - began_trees[name]) / seconds for name, pid in self.pids.items()}
        self.cores["publisher"] = (time.process_time() - began_cpu_s) / seconds


def fold_throughput(workers: list[BenchWorker], ends: dict[int, int], cores: CoresUsed | None = None) -> float:
    """Events/s the workers fold together: from the first poll that shows more applied than their first
    answer did (a fresh store's: nothing; a restarted worker's: where it stood, so that its start-up is not
    timed) to the first that shows every partition applied up to `ends` ({partition: next offset}).
    `cores`, if given, measures the cores used over the same time."""
    total = sum(ends.values())
    timeout_s = READY_TIMEOUT_S + total / SLOWEST_FOLD_PER_S
    deadline = time.monotonic() + timeout_s
    answered_done = first_s = first_done = None
    while time.monotonic() < deadline:
        answers = [worker.applied() for worker in workers]
        applied: dict[int, int] = {}
        for answer in answers:
            for p, offset in (answer or {}).items():
                applied[p] = max(applied.get(p, -1), offset)
        now_s, done = time.perf_counter(), sum(min(applied.get(p, -1) + 1, end) for p, end in ends.items())
        if answered_done is None and any(answer is not None for answer in answers):
            answered_done = done
        elif answered_done is not None and first_s is None and done > answered_done:
            first_s, first_done = now_s, done
            if cores is not None:
                cores.start()
        if done >= total:
            if first_s is None or first_done >= total:
                raise RuntimeError("the workers folded every record between two polls: too few records to time")
            if cores is not None:
                cores.stop()
            return (done - first_done) / (now_s - first_s)
        time.sleep(PROGRESS_POLL_S)
    raise RuntimeError(f"the workers did not fold the ledger within {timeout_s:.0f} s")


def backlog_fold_throughput(bootstrap: KafkaAccess, worker: BenchWorker, raws: list[dict]) -> tuple[float, float]:
    """Events/s `worker` folds of `raws` as a backlog: written while it is stopped, each recorded now (as the
    lag run's offer is), and folded once it is started again; and the cores it used meanwhile."""
    from streams import ledger_reader, topics

    worker.stop()  # what its timers wrote before is folded with the backlog, as it is with the offer
    load_ledger(bootstrap, iter(raws), len(raws), recorded_at=lambda raw: datetime.now(timezone.utc))
    ends = {p: high for p, (_, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items()}
    cores = CoresUsed({"worker": worker.start().process.pid})
    return fold_throughput([worker], ends, cores), cores.cores["worker"]


def settled_s(bootstrap: KafkaAccess, worker: BenchWorker) -> float:
    """Seconds until the worker has applied the whole ledger and the ledger stayed unchanged for
    SETTLE_QUIET_S (its timers publish no more): the quiet second included."""
    from streams import ledger_reader, topics

    began = time.monotonic()
    while time.monotonic() - began < SETTLE_TIMEOUT_S:
        ends = {p: high for p, (_, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items()}
        applied = worker.applied() or {}
        if all(applied.get(p, -1) + 1 >= end for p, end in ends.items()):
            time.sleep(SETTLE_QUIET_S)
            if {p: high for p, (_, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items()} == ends:
                return time.monotonic() - began
        time.sleep(PROGRESS_POLL_S)
    raise RuntimeError(f"the worker did not settle within {SETTLE_TIMEOUT_S:.0f} s")


def _ledger_records(bootstrap: KafkaAccess) -> int:
    """Records on credit.events, all partitions (their high watermarks)."""
    from streams import ledger_reader, topics

    return sum(high for _, high in ledger_reader.watermarks(bootstrap, topics.EVENTS).values())


class _LagPoller:
    """The offered events' lags: each delivered event waits in its partition's heap, and a thread polling
    the worker beside the producer dates each from its recorded_at to the first poll showing it applied."""

    def __init__(self, worker: BenchWorker):
        self.worker = worker
        # partition -> heap of (offset, recorded_at in Unix s) not yet seen applied: a poll pops what it shows
        # applied and no more (scanning all of it made the bench's poller busier the further the worker fell behind)
        self.recorded: dict[int, list[tuple[int, float]]] = {}
        self.failures: list[str] = []
        self.lags_ms: list[float] = []
        self.lock = threading.Lock()
        self.offering = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="bench-lag-poll", daemon=True)

    def delivered(self, error, message, recorded_s: float) -> None:
        """The producer's delivery report of an event stamped at `recorded_s`."""
        if error is not None:
            self.failures.append(str(error))
        else:
            with self.lock:
                heapq.heappush(self.recorded.setdefault(message.partition(), []), (message.offset(), recorded_s))

    def start(self) -> None:
        self.offering.set()
        self.thread.start()

    def finish(self, drain_s: float) -> list[float]:
        """Every lag, once the offer is sent and the poller has drained (or `drain_s` passed): what is still
        unapplied then counts as having waited until now."""
        self.offering.clear()
        self.thread.join(drain_s)
        if self.failures:
            raise RuntimeError(f"the bench producer failed: {self.failures[0]}")
        with self.lock:  # a worker that could not keep up: what is still unapplied has waited at least this long
            now_s = time.time()
            self.lags_ms += [(now_s - recorded_s) * 1000 for waiting in self.recorded.values()
                             for _, recorded_s in waiting]
            self.recorded.clear()
        return self.lags_ms

    def _unapplied(self) -> bool:
        with self.lock:
            return any(self.recorded.values())

    def _poll(self) -> None:  # beside the producer: each poll's answer dates what it shows applied
        while self.offering.is_set() or self._unapplied():
            applied = self.worker.applied() or {}
            now_s = time.time()
            with self.lock:
                for partition, waiting in self.recorded.items():
                    while waiting and waiting[0][0] <= applied.get(partition, -1):
                        self.lags_ms.append((now_s - heapq.heappop(waiting)[1]) * 1000)
            time.sleep(POLL_INTERVAL_S)


def _send_on_schedule(producer, prepared: list[dict], rate_per_s: int, delivered) -> None:
    """Send `prepared` at `rate_per_s` on a fixed schedule, not "as fast as it goes": what is due, every
    OFFER_TICK_S, each event stamped (recorded_at) as it is sent; `delivered(error, message, recorded_s)`."""
    from projections.canonical import instant_text
    from streams import topics
    from streams.codec import encode_event

    total = len(prepared)
    began, sent = time.perf_counter(), 0
    while sent < total:
        due = min(total, int((time.perf_counter() - began) * rate_per_s) + 1)
        for n in range(sent, due):
            now = datetime.now(timezone.utc)  # each stamped as it is sent
            event, recorded_s = {**prepared[n], "recorded_at": instant_text(now)}, now.timestamp()
            producer.produce(topics.EVENTS, encode_event(event), event["subject"]["id"].encode(),
                             on_delivery=lambda e, m, s=recorded_s: delivered(e, m, s))
        sent = due
        producer.poll(0)
        time.sleep(OFFER_TICK_S)
    producer.flush()


def offered_lag_ms(bootstrap: KafkaAccess, worker: BenchWorker, events, rate_per_s: int, seconds: float,
                   cores: CoresUsed | None = None) -> list[float]:
    """Offer `events` at `rate_per_s` for `seconds`, validated beforehand and each stamped (recorded_at) as
    it is sent; returns each one's milliseconds from recorded_at to the first poll showing it applied.
    `cores`, if given, measures the cores used while the offer is sent."""
    from streams import topics

    total = int(rate_per_s * seconds)
    # Validated before the offer, each stamped as it is sent (an event's id does not depend on its
    # recorded_at): the bench's publisher shares the two cores with the worker and the broker, and a
    # department's runs elsewhere. Validating while sending cost the bench ~0.5 of a core at 4,500 events/s.
    prepared = [_validated(raw, datetime.now(timezone.utc)) for raw in taken(events, total, "the lag offer")]
    producer = _producer(bootstrap)
    # Connected and authenticated before the first event is stamped, as a publisher that has run for days
    # is: measured, the first ~0.6 s of an offer otherwise waited 0.5-0.7 s for the bench's own producer to
    # connect (SASL/SCRAM), which made a 3 s offer's p99 that start-up and not the worker's lag.
    producer.list_topics(topics.EVENTS, timeout=PRODUCER_CONNECT_TIMEOUT_S)
    poller = _LagPoller(worker)
    poller.start()
    if cores is not None:
        cores.start()
    _send_on_schedule(producer, prepared, rate_per_s, poller.delivered)
    if cores is not None:
        cores.stop()
    return poller.finish(LAG_DRAIN_S)


# --- the edge: the HTTP way in against the old direct produce ----------------------------------------
def edge_throughput(worker: BenchWorker, raws: list[dict]) -> float:
    """Events/s the worker's edge accepts from the SDK (POST /events:batch of EDGE_BATCH_LINES lines, each
    answered once the broker has every record), from the first request to the last answer."""
    from streams.sdk import Publisher

    began = time.perf_counter()
    with Publisher(worker.settings.web_url, token=worker.tokens["admin"], batch_lines=EDGE_BATCH_LINES) as publisher:
        report = publisher.publish_many(raws)
    seconds = time.perf_counter() - began
    if not report.ok:
        raise RuntimeError(f"the edge refused bench events: {report.invalid or report.failed}")
    return len(report.delivered) / seconds


def direct_throughput(kafka: KafkaAccess, raws: list[dict]) -> float:
    """Events/s of the old way in, the SDK producing to credit.events itself: the edge's function
    (access, validation, recorded_at now), the Avro encoding and a plain confluent-kafka producer with the
    worker's settings (its principal, acks=all, idempotent), in this process, every delivery confirmed."""
    from confluent_kafka import Producer

    from projections.access import OPERATOR
    from projections.validate import EdgeContext
    from streams.edge import accept_event
    from streams.kafka_access import client_config
    from streams.outputs import IDEMPOTENT_PRODUCER, QUEUE_RECORDS_MAX

    producer = Producer(client_config(kafka, **IDEMPOTENT_PRODUCER, **{
        "linger.ms": 2, "queue.buffering.max.messages": QUEUE_RECORDS_MAX}))
    failures: list[str] = []

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(str(error))
    began = time.perf_counter()
    for raw in raws:
        event, problems = accept_event(raw, EdgeContext(now=datetime.now(timezone.utc),
                                                        pseudonym_key=BENCH_PSEUDONYM_KEY), principal=OPERATOR)
        if problems:
            raise RuntimeError(f"a bench event is invalid: {problems[0]}")
        _produce_event(producer, event, delivered)
        producer.poll(0)
    producer.flush()
    seconds = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"the direct producer failed: {failures[0]}")
    return len(raws) / seconds


# --- memory: a store with many subjects and pending deadlines ------------------------------------------
def write_big_store(data_dir: Path, bootstrap: KafkaAccess, subjects: int) -> None:
    """A worker's store holding `subjects` companies, each with one pending commitment deadline: one
    real fold of a template company, cloned under new ids. Its offsets are the ledger's ends, so the
    worker that opens it folds nothing and only holds what it holds."""
    from projections.ids import make_uscc
    from projections.policy import DEFAULT_POLICIES
    from streams import ledger_reader, topics
    from streams.codec import encode_event
    from streams.ledger import LedgerProcessor
    from streams.store import MemoryStore, SubjectStore

    template_id = make_uscc("440300", 7_777_777)
    today = datetime.now(SHANGHAI).date()
    authority = {"authority_code": "11440300MB2C92050G", "authority_name": "深圳市市场监督管理局"}
    subject = {"id": template_id, "kind": "LEGAL_PERSON", "name": "深圳市内存基准测试有限公司"}
    raws = [{"event_id": str(uuid.uuid4()), "type": "SubjectRegistered", "subject": subject, "source": authority,
             "occurred_on": (today - timedelta(days=400)).isoformat(),
             "payload": {"registered_on": (today - timedelta(days=400)).isoformat(), "region_code": "440304",
                         "legal_representative": "张三"}},
            {"event_id": str(uuid.uuid4()), "type": "CommitmentMade", "subject": subject, "source": authority,
             "occurred_on": today.isoformat(),
             "payload": {"commitment_id": "BENCH-CM-1", "commitment_kind": "VOLUNTARY", "content": "承诺诚信经营",
                         "due_on": (today + timedelta(days=365)).isoformat()}}]
    events = [_validated(raw, datetime.now(timezone.utc)) for raw in raws]
    processor = LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICIES)
    batch = processor.process([(0, n, template_id.encode(), encode_event(e)) for n, e in enumerate(events)])
    assert batch.states and batch.index, "the template fold holds no state or no pending deadline"
    parts = json.dumps({"states": batch.states, "history": batch.history, "grades": batch.grades,
                        "index": {k.decode(): v.decode() for k, v in batch.index.items()}})
    store = SubjectStore(data_dir / "subjects")
    chunk_subjects = 5_000
    for start in range(0, subjects, chunk_subjects):
        states, history, grades, index = {}, [], {}, {}
        for i in range(start, min(subjects, start + chunk_subjects)):
            clone = json.loads(parts.replace(template_id, make_uscc("440300", SERIAL_BASE + i)))
            states.update(clone["states"])
            history += [tuple(entry) for entry in clone["history"]]
            grades.update(clone["grades"])
            index.update({k.encode(): v.encode() for k, v in clone["index"].items()})
        count = len(range(start, min(subjects, start + chunk_subjects)))
        store.write(states, {}, history, index=index, grades=grades,
                    counters={name: delta * count for name, delta in batch.counters.items()})
    ends = {p: high - 1 for p, (_, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items()}
    policy = DEFAULT_POLICIES.in_force(today.isoformat())
    store.write({}, ends, meta={"graded_with": policy.version})  # nothing to re-fold, nothing to regrade
    store.close()


def history_in_child(log_events: int, runs: int) -> dict:
    """`credit-ledger bench history` in a process of its own, as an auditor runs `history`: not in this
    one, whose heap of events and stores every collection of the garbage collector would walk."""
    command = [sys.executable, "-m", "ops.cli", "bench", "history", "--json", "--log-events", str(log_events),
               "--runs", str(runs)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=READY_TIMEOUT_S + log_events / 10_000,
                          cwd=Path(__file__).resolve().parent.parent)
    found = re.search(r'\{"log_events".*\}', done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"the history bench failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(found.group(0))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class _Measures(dict):
    """The bench's numbers, each reported as it is measured (a long run shows where it is)."""

    def __init__(self, report):
        super().__init__()
        self.report = report

    def __setitem__(self, name: str, value) -> None:
        super().__setitem__(name, value)
        self.report(f"  {name} = {value:,.3f}" if isinstance(value, float) else f"  {name} = {value}")


# --- the whole bench ---------------------------------------------------------------------------------
def run_bench(scale: Scale, on_progress=None, what: str = "all", fold_processes: int = FOLD_PROCESSES) -> dict:
    """The bench: `what` "all" (every part) or "throughput" (load, the raw and replay baselines, e2e, lag,
    rebuild: the fold's goals alone, at the same size). The e2e and lag parts' worker runs with
    `fold_processes` (its setting, streams/fold_pool.py)."""
    from ops.embedded_kafka import EmbeddedKafka, free_port
    from streams.fold_pool import FOLD_PROCESSES_MAX
    from streams.principals import create_dev_kafka_credentials
    from streams.topics import ensure_topics

    if what not in PARTS:
        raise ValueError(f"what must be one of {', '.join(PARTS)}, not {what!r}")
    if not 1 <= fold_processes <= FOLD_PROCESSES_MAX:
        raise ValueError(f"fold processes must be 1..{FOLD_PROCESSES_MAX}, not {fold_processes}")
    progress = on_progress or (lambda text: None)
    result = _Measures(progress)
    with tempfile.TemporaryDirectory(prefix="credit-ledger-bench-") as tmp_name, \
            EmbeddedKafka(Path(tmp_name) / "kafka", port=free_port(), heap_mib=1024,
                          credentials=create_dev_kafka_credentials(tmp_name)).start() as broker:
        ensure_topics(broker.admin_access)
        result["e2e_fold_processes"] = fold_processes
        _on_one_broker(scale, broker, Path(tmp_name), result, progress, what, fold_processes)
    if what == "all":
        _history_part(scale, result, progress)
        result["ratio_e2e_vs_faust"] = result["e2e_events_per_s"] / result["baseline_faust_events_per_s"]
        result["ratio_e2e_vs_faust_table"] = result["e2e_events_per_s"] / result["baseline_faust_table_events_per_s"]
        result["ratio_edge_vs_direct"] = result["edge_events_per_s"] / result["edge_direct_events_per_s"]
        result["ratio_edge_vs_fold"] = result["edge_events_per_s"] / result["e2e_events_per_s"]
    result["ratio_e2e_vs_raw"] = result["e2e_events_per_s"] / result["baseline_raw_events_per_s"]
    result["ratio_e2e_vs_replay"] = result["e2e_events_per_s"] / result["baseline_replay_events_per_s"]
    result["ratio_rebuild_vs_raw"] = result["rebuild_events_per_s"] / result["baseline_raw_events_per_s"]
    result["ratio_rebuild_vs_replay"] = result["rebuild_events_per_s"] / result["baseline_replay_events_per_s"]
    result["ratio_rebuild_vs_replay_per_process"] = result["ratio_rebuild_vs_replay"] / result["rebuild_processes"]
    # the same per core, from CPU time rather than wall time: what a shared machine's load moves least
    result["ratio_rebuild_vs_replay_cpu"] = result["baseline_replay_cpu_us_per_event"] / result["rebuild_cpu_us_per_event"]
    result.update(events=scale.events, subjects=scale.subjects)
    return dict(result)


def _cpu_s() -> float:
    """CPU seconds of this process and of its children waited for (a rebuild's processes, once it returns)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _on_one_broker(scale: Scale, broker, tmp: Path, result: _Measures, progress, what: str,
                   fold_processes: int) -> None:
    from projections.policy import DEFAULT_POLICIES
    from streams import ledger_reader, topics
    from streams.kafka_access import AUDITOR, WORKER
    from streams.rebuild import rebuild_from_log, rebuild_processes

    # as on the ledger's broker: the worker's principal writes and folds, the auditor's re-folds (rebuild)
    writer, auditor = broker.access(WORKER), broker.access(AUDITOR)
    events = mixed_events(scale.subjects)
    progress(f"writing {scale.events:,} events over {scale.subjects:,} subjects")
    began = time.perf_counter()
    load_ledger(writer, events, scale.events)
    result["load_events_per_s"] = scale.events / (time.perf_counter() - began)
    ends = {p: high for p, (_, high) in ledger_reader.watermarks(writer, topics.EVENTS).items()}

    progress("baselines: a plain consumer, the pure replay" + (", a bare Faust agent, one with a Table"
                                                                 if what == "all" else ""))
    result["baseline_raw_events_per_s"] = baseline_raw(writer, scale.events)
    result["baseline_replay_events_per_s"], result["baseline_replay_cpu_us_per_event"] = baseline_replay(writer, ends)
    if what == "all":
        result["baseline_faust_events_per_s"] = baseline_faust(writer, scale.faust_events, False, tmp / "faust")
        result["baseline_faust_table_events_per_s"] = baseline_faust(writer, scale.faust_events, True,
                                                                 tmp / "faust-table")
    written = _worker_part(scale, writer, broker.process.pid, tmp, result, progress, events, ends, what,
                           fold_processes)

    ends = {p: high for p, (_, high) in ledger_reader.watermarks(writer, topics.EVENTS).items()}
    # what the worker's timers added: deadlines of the stories that fell due as they were folded
    result["timer_events_written"] = sum(ends.values()) - scale.events - written
    if what == "all":
        progress("scale-out: two workers fold the same ledger")
        pair = [BenchWorker(writer, tmp / f"pair-{n}").start() for n in (1, 2)]
        try:
            two = fold_throughput(pair, ends)
        finally:
            for w in pair:
                w.stop()
        result["scaleout_2_workers_events_per_s"] = two
        result["scaleout_2_workers_ratio"] = two / result["e2e_events_per_s"]

    progress("rebuild: the same ledger re-folded with no Faust in the loop")
    began, began_cpu_s = time.perf_counter(), _cpu_s()
    rebuilt, records = rebuild_from_log(auditor, policy=DEFAULT_POLICIES)
    result["rebuild_events_per_s"] = records / (time.perf_counter() - began)
    result["rebuild_cpu_us_per_event"] = (_cpu_s() - began_cpu_s) * 1e6 / records
    rebuilt.close()
    result["rebuild_processes"] = rebuild_processes(len(ends), records)
    if what == "all":
        _memory_part(scale, writer, tmp, result, progress)


def _worker_part(scale: Scale, writer, broker_pid: int, tmp: Path, result: _Measures, progress, events,
                 ends: dict[int, int], what: str, fold_processes: int) -> int:
    """e2e, lag (and with "all" the edge) on one worker; returns the events its parts wrote (not its timers)."""
    worker = BenchWorker(writer, tmp / "worker", fold_processes).start()
    try:
        result["e2e_events_per_s"] = fold_throughput([worker], ends)
        result["e2e_worker_rss_mib"] = worker.rss_mib()
        # The offer continues the stories the ledger began: most of its events fall on subjects with a state
        # already, and cost the fold more than the ledger's, most of them a subject's first (measured in one
        # fold process: the stream's events 150,000-160,000 216-233 µs of CPU each, its first 10,000 111-119).
        # So the offer is half the worker's backlog rate on events like the offer's (docs/performance.md).
        progress(f"lag: the worker's backlog of {scale.lag_backlog_events:,} of the stories' next events")
        result["lag_backlog_events_per_s"], result["lag_backlog_worker_cores"] = backlog_fold_throughput(
            writer, worker, taken(events, scale.lag_backlog_events, "the lag's backlog"))
        # A worker that has just caught up fires the deadlines the stories left overdue (thousands,
        # each a system event it then folds) for some seconds: the lag is measured once that is done.
        result["lag_settle_s"] = settled_s(writer, worker)
        rate_per_s = result["lag_rate_per_s"] = max(1, int(result["lag_backlog_events_per_s"] * LAG_SHARE_OF_FOLD))
        progress(f"lag: {rate_per_s:,} events/s offered for {scale.lag_s:.0f} s")
        ledger_before = _ledger_records(writer)
        cores = CoresUsed({"worker": worker.process.pid, "broker": broker_pid})
        lags_ms = offered_lag_ms(writer, worker, events, rate_per_s, scale.lag_s, cores)
        # what the offer cost each party on this machine, while it was sent: the worker (its fold processes
        # included) has the cores the broker and the publisher leave it (docs/performance.md)
        result["machine_cores"] = os.cpu_count() or 1
        for party in ("worker", "broker", "publisher"):
            result[f"lag_{party}_cores"] = cores.cores[party]
        # the events the worker's own timers wrote meanwhile (deadlines the offered events left past due),
        # which it folded beside the offer
        timer_events = _ledger_records(writer) - ledger_before - int(rate_per_s * scale.lag_s)
        result["lag_timer_events_per_s"] = max(0, timer_events) / scale.lag_s
        result["lag_p50_ms"] = _percentile(lags_ms, 0.5)
        result["lag_p99_ms"] = _percentile(lags_ms, 0.99)
        result["lag_poll_interval_ms"] = POLL_INTERVAL_S * 1000
        if what != "all":
            return scale.lag_backlog_events + len(lags_ms)
        # the edge and the direct produce, each on new events of the ledger's stories, each while the
        # worker folds what arrives (the edge runs in the worker's process, beside its fold)
        progress(f"edge: {scale.edge_events:,} events through POST /events:batch, then produced directly")
        settled_s(writer, worker)
        result["edge_events_per_s"] = edge_throughput(worker, taken(events, scale.edge_events, "the edge"))
        settled_s(writer, worker)
        result["edge_direct_events_per_s"] = direct_throughput(writer, taken(events, scale.edge_events,
                                                                                  "the direct produce"))
        return scale.lag_backlog_events + len(lags_ms) + 2 * scale.edge_events
    finally:
        worker.stop()


def _memory_part(scale: Scale, writer, tmp: Path, result: _Measures, progress) -> None:
    progress(f"memory: a worker holding {scale.memory_subjects:,} subjects and pending deadlines")
    big = tmp / "big"
    write_big_store(big, writer, scale.memory_subjects)
    worker = BenchWorker(writer, big).start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while worker.applied() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(MEMORY_SETTLE_S)  # its timers and dashboard have looked at the store
        result["timers_pending_1m_rss_mib"] = worker.rss_mib()
        result["memory_subjects"] = scale.memory_subjects
    finally:
        worker.stop()


def _history_part(scale: Scale, result: _Measures, progress) -> None:
    progress(f"history: a 1,000-event subject in a {scale.history_log_events:,}-event ledger")
    history = history_in_child(scale.history_log_events, scale.history_runs)
    result["history_p95_ms"] = history["verified_p95_ms"]  # the verified history: proofs, root, chain
    result["history_p50_ms"] = history["verified_p50_ms"]
    result["history_first_run_ms"] = history["first_run_ms"]
    result["history_warmup_p50_ms"] = history["warmup_p50_ms"]
    result["history_serving_p50_ms"] = history["verified_serving_p50_ms"]
    result["history_checking_p50_ms"] = history["verified_checking_p50_ms"]
    result["history_read_only_p50_ms"] = history["read_only_p50_ms"]
    result["history_fold_only_ms"] = history["fold_only_ms"]
    result["history_scan_ms"] = history["scan_ms"]


REPLICATION_EVENTS_DEFAULT = 20_000
REPLICATION_ROUNDS = 2  # each measure taken this many times on each Kafka, the best kept: the machine's speed wanders


def bench_replication(events: int = REPLICATION_EVENTS_DEFAULT, on_progress=None) -> dict:
    """What three replicas cost a write: the same events published through a worker's edge (the SDK, every
    record on two in-sync replicas before the edge answers) and produced directly (the edge's producer
    settings, acks=all, idempotent, in this process), on one embedded broker (1 replica) and on the embedded
    cluster of three (ops/kafka_cluster.py: 3 replicas, 2 in sync), one after the other on this machine."""
    from ops.embedded_kafka import EmbeddedKafka, free_port
    from ops.kafka_cluster import EmbeddedKafkaCluster
    from streams.kafka_access import WORKER
    from streams.principals import create_dev_kafka_credentials
    from streams.topics import ensure_topics

    if not 1_000 <= events <= 1_000_000:
        raise ValueError(f"events must be 1,000..1,000,000, not {events:,}")
    progress = on_progress or (lambda text: None)
    result: dict = {}
    raws = list(islice(mixed_events(events), REPLICATION_ROUNDS * 2 * events))  # ~8 events a subject: enough
    if len(raws) < REPLICATION_ROUNDS * 2 * events:
        raise RuntimeError(f"{len(raws):,} bench events made, {REPLICATION_ROUNDS * 2 * events:,} needed")
    for replicas in (1, 3):
        with tempfile.TemporaryDirectory(prefix="credit-ledger-bench-") as tmp_name:
            tmp = Path(tmp_name)
            credentials = create_dev_kafka_credentials(tmp_name)
            if replicas == 1:
                kafka = EmbeddedKafka(tmp / "kafka", port=free_port(), heap_mib=1024, credentials=credentials)
            else:
                kafka = EmbeddedKafkaCluster(tmp / "cluster", credentials=credentials)
            progress(f"{replicas} replica(s): starting Kafka")
            with kafka.start(timeout_s=240):
                if replicas == 1:
                    ensure_topics(kafka.admin_access)
                else:
                    kafka.ensure_topics()
                writer = kafka.access(WORKER)
                worker = BenchWorker(writer, tmp / "worker").start()
                try:
                    deadline = time.monotonic() + READY_TIMEOUT_S
                    while worker.applied() is None:  # its edge answers: no start-up in the first run's time
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"the worker did not answer within {READY_TIMEOUT_S:.0f} s")
                        time.sleep(PROGRESS_POLL_S)
                    settled_s(writer, worker)
                    edge, direct = [], []
                    for round_ in range(REPLICATION_ROUNDS):
                        part = raws[2 * round_ * events:(2 * round_ + 1) * events]
                        progress(f"{replicas} replica(s), round {round_ + 1}: {events:,} events through the edge, "
                                 "then as many produced directly")
                        edge.append(edge_throughput(worker, part))
                        settled_s(writer, worker)
                        direct.append(direct_throughput(writer, raws[(2 * round_ + 1) * events:(2 * round_ + 2) * events]))
                        settled_s(writer, worker)
                finally:
                    worker.stop()
            result[f"rf{replicas}_edge_events_per_s"] = max(edge)
            result[f"rf{replicas}_direct_events_per_s"] = max(direct)
            result[f"rf{replicas}_edge_rounds"] = [round(x) for x in edge]
            result[f"rf{replicas}_direct_rounds"] = [round(x) for x in direct]
    result["ratio_edge_rf3_vs_rf1"] = result["rf3_edge_events_per_s"] / result["rf1_edge_events_per_s"]
    result["ratio_direct_rf3_vs_rf1"] = result["rf3_direct_events_per_s"] / result["rf1_direct_events_per_s"]
    result["events"] = events
    return result


def goal_met(name: str, value: float) -> str:
    """'met', 'missed' or '' (no goal) for the table."""
    if name not in GOALS:
        return ""
    goal, kind = GOALS[name]
    return "met" if (value >= goal if kind == "min" else value <= goal) else "missed"
