"""A broker-free driver of the worker's fold loop, in the spirit of Kafka Streams' TopologyTestDriver.

`drive(records)` runs the worker's own loop, streams.worker_fold.fold_ledger (take, fold, publish then
commit, the dashboard fed), over a list of Kafka records, with stand-ins for the ledger's consumer and
the outputs' producer and an in-memory store (streams.store.MemoryStore). It is the unit-level harness
of the loop; the integration tests run the worker against a real broker, and the driver mocks no Kafka
client library: it stands in for the worker's own two small interfaces (LedgerConsumer.take/assigned/
close, BatchProducer.produce/delivered).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

from projections.policy import DEFAULT_POLICIES, Policy, PolicyBook
from streams.clock import Clock
from streams.dashboard import Dashboard
from streams.ledger import LedgerProcessor, Record
from streams.store import MemoryStore
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

    async def take(self, count_max: int, within_s: float) -> list[Record]:
        count = min(count_max, self.take_max)
        if self.position >= len(self.records):
            await asyncio.Event().wait()  # nothing more: the fold loop waits here until cancelled
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


@dataclass
class Driven:
    store: MemoryStore
    producer: RecordingProducer
    consumer: RecordsConsumer
    dashboard: Dashboard
    error: Exception | None  # what stopped the loop, if anything did


def drive(records: list[Record], policy: Policy | PolicyBook = DEFAULT_POLICIES, grading: Policy | None = None,
          take_max: int = TAKE_MAX, store: MemoryStore | None = None) -> Driven:
    """Run the worker's fold loop over `records` ((partition, offset, key, value), in log order per
    partition) until it has committed them all, or an error stopped it. `grading`: the policy in force
    for the published grades (None: each event's own day's, as `rebuild`)."""
    if len(records) > RECORDS_MAX:
        raise ValueError(f"a driver run takes at most {RECORDS_MAX} records")
    if not 1 <= take_max <= TAKE_MAX:
        raise ValueError(f"take_max must be 1..{TAKE_MAX}")
    return asyncio.run(_drive(records, policy, grading, take_max, store or MemoryStore()))


async def _drive(records, policy, grading, take_max: int, store: MemoryStore) -> Driven:
    clock = Clock()
    consumer, producer = RecordsConsumer(records, take_max), RecordingProducer()
    dashboard = Dashboard(store, clock)
    processor = LedgerProcessor(store, policy=policy, grading_policy=(lambda: grading) if grading else None)
    worker = Worker(settings=SimpleNamespace(pseudonym_key_bytes=DRIVER_PSEUDONYM_KEY), kafka=None, store=store,
                    clock=clock, policies=policy, processor=processor, gate=None, key_store=None,
                    pseudonym_key=DRIVER_PSEUDONYM_KEY, ledger_consumer=consumer, outputs=producer,
                    events_topic=None, dashboard=dashboard)
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
