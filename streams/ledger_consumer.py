"""The worker's reader of credit.events: librdkafka in a consumer group, positioned by the store.

Faust's consumer (aiokafka, in Python on the event loop) cost about as much per event as the
fold itself: a bare Faust agent iterates ~4,300-4,700 events/s here, a plain librdkafka consumer
decoding with fastavro ~28,000-34,000 (`credit-ledger bench`). librdkafka fetches and decompresses in its own threads; `take` waits for a batch off
the event loop and hands it over as plain tuples.

The store is the position. On every assignment each partition starts right after the last
offset the store has folded, so a lost data dir, a partition taken over from another worker and
a worker killed mid-batch all resume from what is on disk, and nothing is skipped or folded on
top of a state that lacks it. The offsets committed to the group are for operators' lag tools
(`kafka-consumer-groups`); the worker never reads them back. They are the store's too: every
COMMIT_INTERVAL_S the applied offsets + 1 of the partitions assigned, where they moved since the
last commit, whether or not the take brought anything, and once more on a revoke and on close.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from streams import topics
from streams.kafka_access import KafkaAccess, client_config

log = logging.getLogger(__name__)

GROUP_ID = "credit-ledger"  # one group of workers share the ledger's partitions
# The broker answers a fetch once it holds FETCH_MIN_BYTES for it, or after FETCH_WAIT_MAX_MS: a few
# dozen fetches a second under load instead of one per handful of records, for at most 20 ms of lag.
FETCH_MIN_BYTES = 32 * 1024
FETCH_WAIT_MAX_MS = 20
COMMIT_INTERVAL_S = 1.0  # the group's offsets (for the lag tools) follow the store's this often
# Records prefetched and not yet taken: ten takes keep the fold busy while the next fetch runs.
# librdkafka's defaults (100,000 records, 64 MiB) held ~100 MiB more in a worker folding a backlog.
QUEUED_RECORDS_MIN = 5_000
QUEUED_KBYTES_MAX = 16 * 1024


class LedgerConsumer:
    def __init__(self, kafka: KafkaAccess | str, store, session_timeout_ms: int, heartbeat_interval_ms: int,
                 topic: str = topics.EVENTS, group_id: str = GROUP_ID):
        self._store = store
        self._topic = topic
        self._config = client_config(kafka, **{
            "group.id": group_id,
            "client.id": "credit-ledger-worker",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",  # a position the log no longer holds: from its start
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": heartbeat_interval_ms,
            "fetch.min.bytes": FETCH_MIN_BYTES,
            "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
            "queued.min.messages": QUEUED_RECORDS_MIN,
            "queued.max.messages.kbytes": QUEUED_KBYTES_MAX,
            "on_commit": self._on_commit,
        })
        # one thread calls the client: consume, commit and close never overlap, and the
        # rebalance callbacks run inside consume, between two batches
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-consumer")
        self._assigned: frozenset[int] = frozenset()
        self._consumer: Consumer | None = None  # joins the group at the first take
        self._committed: dict[int, int] = {}  # partition -> the next offset last committed (or under way)
        self._committed_s = 0.0  # monotonic second of the last commit

    def _joined(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self._config)
            self._consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                     on_lost=self._on_lost)
        return self._consumer

    def assigned(self) -> frozenset[int]:
        """The partitions this worker folds now."""
        return self._assigned

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        applied = self._store.applied_offsets()
        for tp in partitions:
            tp.offset = applied[tp.partition] + 1 if tp.partition in applied else OFFSET_BEGINNING
        consumer.assign(partitions)
        self._assigned = frozenset(tp.partition for tp in partitions)
        # the group's offsets show where the store stands from the start, even before anything new comes:
        # whatever was committed for these partitions before (by another worker, maybe), the next take
        # commits the store's
        for tp in partitions:
            self._committed.pop(tp.partition, None)
        self._committed_s = 0.0
        log.info("folding %s from %s", self._topic, {tp.partition: tp.offset for tp in partitions})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The worker may still be folding the batch taken last (the next take runs meanwhile): it goes
        # into this worker's own store, whose offsets position the partition if it comes back here.
        # The group's offsets say where the store stands as the partitions leave.
        revoked = {tp.partition for tp in partitions}
        self._commit(self._assigned & revoked, asynchronous=False)
        self._on_lost(consumer, partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # lost (this worker's session expired): the group has moved on, a commit would be refused
        self._assigned = self._assigned - {tp.partition for tp in partitions}
        log.info("no longer folding %s", sorted(tp.partition for tp in partitions))
        consumer.unassign()

    def _commit(self, partitions: frozenset[int] | set[int], asynchronous: bool = True) -> None:
        """Commits the store's applied offset + 1 of each of `partitions` that moved since its last commit."""
        applied = self._store.applied_offsets()
        moved = {p: applied[p] + 1 for p in partitions if p in applied and self._committed.get(p) != applied[p] + 1}
        self._committed_s = time.monotonic()
        if not moved:
            return
        self._committed.update(moved)
        try:
            self._consumer.commit(offsets=[TopicPartition(self._topic, p, o) for p, o in moved.items()],
                                  asynchronous=asynchronous)
        except KafkaException as error:  # only the lag tools lose: the store holds the position
            self._forget_commits(moved)
            log.warning("committing the group's offsets: %s", error)

    def _on_commit(self, error, partitions: list[TopicPartition]) -> None:
        """librdkafka's answer to an asynchronous commit (served in a take, in this thread): what
        failed is committed again at the next interval."""
        failed = {tp.partition: tp.offset for tp in partitions if error is not None or tp.error is not None}
        if failed:
            self._forget_commits(failed)
            log.info("committing the group's offsets %s: %s; trying again", failed,
                     error or next(tp.error for tp in partitions if tp.error is not None))

    def _forget_commits(self, offsets: dict[int, int]) -> None:
        for partition, offset in offsets.items():
            if self._committed.get(partition) == offset:  # not since replaced by a newer commit
                del self._committed[partition]

    def _take(self, count_max: int, within_s: float, linger_s: float, linger_until_records: int) -> list:
        consumer = self._joined()
        if time.monotonic() - self._committed_s >= COMMIT_INTERVAL_S:
            self._commit(self._assigned)
        # What is already queued, at once; only when nothing is, wait for the first record and take
        # what came with it. Batches grow with the load by themselves: a record waits for the batch
        # in hand, never for a batch to fill (measured at 500 events/s: a 50 ms window made the fold's
        # lag ~110 ms at the median).
        messages = consumer.consume(count_max, 0)
        if not messages:
            messages = consumer.consume(1, within_s)
            if messages and count_max > 1:
                messages += consumer.consume(count_max - 1, 0)
        # A small batch lingers up to `linger_s` for more, until it holds `linger_until_records`: the fold's
        # costs per batch (a store write, a flush of the outputs, the thread hops) serve more events.
        if messages and len(messages) < linger_until_records and linger_s > 0:
            messages += consumer.consume(linger_until_records - len(messages), linger_s)
        records = []
        for message in messages:
            error = message.error()
            if error is not None:  # e.g. the broker away: librdkafka reconnects by itself
                log.warning("reading %s: %s", self._topic, error.str())
                continue
            records.append((message.partition(), message.offset(), message.key(), message.value()))
        return records

    async def take(self, count_max: int, within_s: float, linger_s: float = 0.0,
                   linger_until_records: int = 0) -> list:
        """The records queued, (partition, offset, key, value), at most `count_max`; when none is, waits
        up to `within_s` for the first (an empty list if none comes). Holding fewer than
        `linger_until_records`, it waits up to `linger_s` more until it holds that many. First, every
        COMMIT_INTERVAL_S, commits the store's applied offsets to the group (for the lag tools)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._take, count_max, within_s,
                                                                  linger_s, min(linger_until_records, count_max))

    async def close(self) -> None:
        """Leave the group at once, so that the others take over without waiting for a session to expire."""
        if self._consumer is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=False)

    def _close(self) -> None:
        self._commit(self._assigned, asynchronous=False)
        self._consumer.close()
