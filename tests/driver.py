"""A broker-free driver of the worker's fold loop, in the spirit of Kafka Streams' TopologyTestDriver.

`drive(records)` runs the worker's own loop, streams.worker_fold.fold_ledger (take, fold, publish then
commit, the dashboard fed), over a list of Kafka records, with stand-ins for the ledger's consumer and
the outputs' producer and an in-memory store (streams.store.MemoryStore). It is the unit-level harness
of the loop; the integration tests run the worker against a real broker, and the driver mocks no Kafka
client library: it stands in for the worker's own two small interfaces (LedgerConsumer.take/assigned/
close, BatchProducer.produce/delivered).

`MemoryTopics` stands in, likewise, for the reader the parts read topics with (Worker.reader, a
streams.ledger_reader.TopicReader in the worker): the statistics, the releases, the exports' receipts,
the access log, the digests and readiness run on it in tests/unit/test_worker_loops.py and
test_log_reading_routes.py.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

from confluent_kafka import KafkaException

from projections.policy import DEFAULT_POLICIES, Policy, PolicyBook
from streams import topics
from streams.clock import Clock
from streams.dashboard import Dashboard
from streams.fold_pool import FoldPool, PooledProcessor
from streams.ledger import LedgerProcessor, Record
from streams.ledger_reader import IDLE_POLLS_MAX
from streams.partitioner import partition_of
from streams.store import MemoryStore
from streams.topics import PARTITIONS_DEFAULT, partitions_of
from streams.worker import Worker
from streams.worker_fold import TAKE_MAX, fold_ledger

RECORDS_MAX = 200_000  # a driver run's records: a unit test's, not a bench's
DRAIN_STEPS_MAX = 1_000_000  # event-loop turns the driver waits for the loop to commit its last take
DRIVER_PSEUDONYM_KEY = b"credit-ledger-driver-pseudonym-key"


class RecordsConsumer:
    """The ledger consumer's interface over a fixed list: takes of at most `count_max` records, in order;
    once every record was taken, a take waits (as a consumer with nothing queued does) until closed."""

    def __init__(self, records: list[Record], take_max: int):
        self.records, self.position, self.take_max = records, 0, take_max
        self.takes: list[int] = []  # the size of each take handed out
        self.closed = False

    def assigned(self) -> frozenset[int]:
        return frozenset(record[0] for record in self.records)

    async def take(self, count_max: int, within_s: float, linger_s: float = 0.0,
                   linger_until_records: int = 0) -> list[Record]:  # takes what is there: no linger
        count = min(count_max, self.take_max)
        if self.position >= len(self.records):
            await asyncio.sleep(within_s)  # nothing more: as the real one, an empty take after within_s
            return []
        taken = self.records[self.position:self.position + count]
        self.position += len(taken)
        self.takes.append(len(taken))
        return taken

    async def close(self) -> None:
        self.closed = True


@dataclass
class RecordingProducer:
    """The outputs' interface: what the loop produced, in order; each flush delivers it all."""
    produced: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    flushes: int = 0

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.produced.append((topic, key, value))

    async def delivered(self) -> None:
        self.flushes += 1

    def on(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        return [(key, value) for produced_topic, key, value in self.produced if produced_topic == topic]


class MemoryTopics:
    """The worker's topics in memory, read as streams.ledger_reader.TopicReader reads the real ones (the
    interface a part is handed as Worker.reader: `watermarks`, `read_range`), and appended to as a
    producer writes (`append`, or `sender(topic)` for the parts that send through a Faust topic). Every
    topic of streams/topics.py exists with its partitions; a key goes to the partition Kafka's default
    partitioner gives it. `away = True` is a broker gone: every read raises what the real reader raises
    then (KafkaException from the watermarks, TimeoutError from a range, and a send is never acknowledged).
    `refused` holds the topics the reader's principal may not read (its ACLs): KafkaException at once.
    `unwritable` holds the topics whose sends no broker acknowledges (their partitions' leader away) while
    the rest of the log is up: a send to one raises TimeoutError, as with `away`.
    `delete_before` moves a partition's start (low watermark) as retention would."""

    def __init__(self, partitions: int = PARTITIONS_DEFAULT):
        self.logs = {topic: [[] for _ in range(partitions_of(topic, partitions))] for topic in topics.ALL}
        self.starts: dict[tuple[str, int], int] = {}  # (topic, partition) -> its first offset still held
        self.away = False
        self.refused: set[str] = set()
        self.unwritable: set[str] = set()
        self.ranges_read: list[tuple[str, int, int, int]] = []  # (topic, partition, start, end) of each read

    def create(self, topic: str, partitions: int) -> None:
        """A topic beside the worker's (tests/integration/test_ledger_reader.py compares one with the real)."""
        self.logs[topic] = [[] for _ in range(partitions)]

    def append(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None
               ) -> tuple[int, int]:
        """(partition, offset) of the record appended."""
        log = self.logs[topic]
        if partition is None:
            partition = partition_of(key.decode(), len(log)) if key else 0
        log[partition].append((key, value))
        return partition, len(log[partition]) - 1

    def sender(self, topic: str):
        """An async send(key, value) -> its record's metadata (partition, offset), as the broker acknowledges it."""
        async def send(key: bytes | None, value: bytes) -> SimpleNamespace:
            if self.away or topic in self.unwritable:
                raise TimeoutError(f"{topic}: no broker acknowledged the record")
            partition, offset = self.append(topic, key, value)
            return SimpleNamespace(topic=topic, partition=partition, offset=offset)
        return send

    def delete_before(self, topic: str, partition: int, offset: int) -> None:
        self.starts[(topic, partition)] = offset

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        if self.away:
            raise KafkaException(f"no leaders for {topic}: all brokers are down")
        if topic not in self.logs:
            raise KafkaException(f"{topic}: UNKNOWN_TOPIC_OR_PART")
        if topic in self.refused:
            raise KafkaException(f"{topic}: TOPIC_AUTHORIZATION_FAILED")
        return {p: (self.starts.get((topic, p), 0), len(records)) for p, records in enumerate(self.logs[topic])}

    def read_range(self, topic: str, partition: int, start: int, end: int, idle_polls_max: int = IDLE_POLLS_MAX
                   ) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
        """(offset, key, value, timestamp_ms) for start <= offset < end (from the partition's start when
        `start` is below it); TimeoutError when the log ends before `end` or the broker is away, as the real
        read's idle polls end. Every timestamp is 0: no part reads it."""
        if start >= end:
            return
        if topic in self.refused:
            raise KafkaException(f"{topic}: TOPIC_AUTHORIZATION_FAILED")
        self.ranges_read.append((topic, partition, start, end))
        records = self.logs[topic][partition]
        for offset in range(max(start, self.starts.get((topic, partition), 0)), end):
            if self.away or offset >= len(records):
                raise TimeoutError(f"{topic}[{partition}] stopped before offset {end}")
            key, value = records[offset]
            yield offset, key, value, 0


@dataclass
class Driven:
    store: MemoryStore
    producer: RecordingProducer
    consumer: RecordsConsumer
    dashboard: Dashboard
    error: Exception | None  # what stopped the loop, if anything did


def drive(records: list[Record], policy: Policy | PolicyBook = DEFAULT_POLICIES, grading: Policy | None = None,
          take_max: int = TAKE_MAX, store: MemoryStore | None = None, pool: FoldPool | None = None) -> Driven:
    """Run the worker's fold loop over `records` ((partition, offset, key, value), in log order per
    partition) until it has committed them all, or an error stopped it. `grading`: the policy in force
    for the published grades (None: each event's own day's, as `rebuild`)."""
    if len(records) > RECORDS_MAX:
        raise ValueError(f"a driver run takes at most {RECORDS_MAX} records")
    if not 1 <= take_max <= TAKE_MAX:
        raise ValueError(f"take_max must be 1..{TAKE_MAX}")
    return asyncio.run(_drive(records, policy, grading, take_max, store or MemoryStore(), pool))


async def _drive(records, policy, grading, take_max: int, store: MemoryStore, pool: FoldPool | None) -> Driven:
    clock = Clock()
    consumer, producer = RecordsConsumer(records, take_max), RecordingProducer()
    dashboard = Dashboard(store, clock)
    grading_policy = (lambda: grading) if grading else None
    processor = (LedgerProcessor(store, policy=policy, grading_policy=grading_policy) if pool is None else
                 PooledProcessor(store, pool, grading_policy=grading_policy))
    worker = Worker(settings=SimpleNamespace(pseudonym_key_bytes=DRIVER_PSEUDONYM_KEY), kafka=None, store=store,
                    clock=clock, policies=policy, processor=processor, gate=None, key_store=None,
                    pseudonym_key=DRIVER_PSEUDONYM_KEY, ledger_consumer=consumer, outputs=producer,
                    events_producer=None, dashboard=dashboard)
    stopped: list[Exception] = []

    async def stop(_worker, error: Exception) -> None:  # instead of stop_worker's SIGTERM to this process
        stopped.append(error)

    ends: dict[int, int] = {}
    for partition, offset, _, _ in records:
        ends[partition] = max(offset, ends.get(partition, -1))
    loop = asyncio.create_task(fold_ledger(worker, stop))
    for _ in range(DRAIN_STEPS_MAX):
        if loop.done() or all(store.applied_offset(p) >= end for p, end in ends.items()):
            break
        await asyncio.sleep(0)
    else:
        raise RuntimeError(f"the fold loop did not commit its records within {DRAIN_STEPS_MAX} steps")
    loop.cancel()
    try:
        await loop
    except asyncio.CancelledError:
        pass
    return Driven(store, producer, consumer, dashboard, stopped[0] if stopped else None)
