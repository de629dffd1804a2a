"""The ledger agent's work, without Faust: decode, validate, fold, store.

`LedgerProcessor.process` takes a batch of raw Kafka records and returns the
rejections to publish; the caller publishes them and then calls `commit`, so a
crash in between only repeats work (at-least-once) and never loses a rejection.
Faust (streams/app.py), `rebuild` and the tests all drive this one class.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from projections.canonical import log_link
from projections.fold import APPLIED, DUPLICATE, REJECTED
from projections.replay import INVALID, step
from projections.validate import Problem
from streams import ledger_reader, metrics, topics
from streams.codec import CodecError, decode_event
from streams.store import MemoryStore

log = logging.getLogger(__name__)

# (partition, offset, key, value) of one Kafka record
Record = tuple[int, int, bytes | None, bytes | None]
REBUILD_CHUNK = 5_000  # records folded per in-memory commit
GapReader = Callable[[int, int, int], Iterable[Record]]  # (partition, start, end) -> records


@dataclass
class Rejection:
    partition: int
    offset: int
    raw: bytes
    reasons: list[Problem]
    event_id: str | None = None
    subject_id: str | None = None


@dataclass
class Batch:
    states: dict[str, dict] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    history: list[tuple[str, int, dict]] = field(default_factory=list)  # (subject id, chain length, entry)
    roots: dict[int, str] = field(default_factory=dict)  # partition -> log root at batch.offsets[partition]
    applied: int = 0


class LedgerProcessor:
    def __init__(self, store, gap_reader: GapReader | None = None):
        self.store = store
        self.gap_reader = gap_reader

    def process(self, records: list[Record]) -> Batch:
        batch = Batch()
        for record in self._with_gaps_filled(records):
            self._one(batch, *record)
        return batch

    def commit(self, batch: Batch) -> None:
        self.store.write(batch.states, batch.offsets, batch.history, batch.roots)

    def applied_offset(self, batch: Batch, partition: int) -> int:
        return batch.offsets.get(partition, self.store.applied_offset(partition))

    def catch_up(self, committed: dict[int, int]) -> int:
        """Fold what the consumer group has committed past the store (a lost or older store)."""
        folded = 0
        for partition, next_offset in sorted(committed.items()):
            start = self.store.applied_offset(partition) + 1
            if next_offset > start and self.gap_reader is not None:
                log.warning("partition %d: store at %d, group at %d: re-folding the gap",
                            partition, start - 1, next_offset)
                batch = self.process(list(self.gap_reader(partition, start, next_offset)))
                self.commit(batch)
                folded += next_offset - start
        return folded

    def _with_gaps_filled(self, records: list[Record]) -> Iterator[Record]:
        # The consumer group's position can be ahead of the store (a lost or
        # older data dir): read the missing range straight from the log.
        expected: dict[int, int] = {}
        for record in records:
            partition, offset = record[0], record[1]
            if partition not in expected:
                expected[partition] = self.store.applied_offset(partition) + 1
            if offset > expected[partition] and self.gap_reader is not None:
                log.warning("partition %d: store at %d, log at %d: re-folding the gap",
                            partition, expected[partition] - 1, offset)
                yield from self.gap_reader(partition, expected[partition], offset)
            expected[partition] = max(expected[partition], offset + 1)
            yield record

    def _one(self, batch: Batch, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if offset <= self.applied_offset(batch, partition):
            metrics.REDELIVERED.inc()
            return
        batch.offsets[partition] = offset
        batch.roots[partition] = log_link(batch.roots.get(partition) or self.store.log_root(partition),
                                          offset, key, value)
        try:
            decoded = decode_event(value or b"")
        except CodecError as error:
            self._reject(batch, partition, offset, value, [Problem("$", "avro", str(error))], None,
                         key.decode("utf-8", "replace") if key else None)
            return
        done = step(lambda subject_id: batch.states.get(subject_id) or self.store.get(subject_id), decoded, offset)
        if done.state is not None:
            batch.states[done.subject_id] = done.state
        if done.outcome == APPLIED:
            batch.applied += 1
            batch.history.append((done.subject_id, done.state["chain"]["length"], done.history_entry(offset)))
            metrics.EVENTS.labels(done.event["type"]).inc()
            metrics.observe_lag(done.event["recorded_at"])
        elif done.outcome in (INVALID, REJECTED):
            self._reject(batch, partition, offset, value, list(done.problems), decoded.get("event_id"),
                         done.subject_id)
        elif done.outcome == DUPLICATE:
            metrics.DUPLICATES.inc()

    def _reject(self, batch, partition, offset, value, reasons, event_id, subject_id) -> None:
        for reason in reasons:
            metrics.REJECTED.labels(reason.rule).inc()
        batch.rejections.append(Rejection(partition, offset, value or b"", reasons, event_id, subject_id))



def rebuild_from_log(bootstrap: str, until: dict[int, int] | None = None) -> tuple[MemoryStore, int]:
    """Re-fold credit.events from offset 0 into fresh state, with no Faust in the loop.

    `until` ({partition: last offset}) stops where a live store stood, to compare like with like.
    Returns the store and the number of records read."""
    store = MemoryStore()
    processor = LedgerProcessor(store)
    records_read = 0
    for partition, (low, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items():
        end = high if until is None else min(high, until.get(partition, -1) + 1)
        chunk: list[Record] = []
        for offset, key, value, _ in ledger_reader.read_range(bootstrap, topics.EVENTS, partition, low, end):
            chunk.append((partition, offset, key, value))
            if len(chunk) >= REBUILD_CHUNK:
                processor.commit(processor.process(chunk))
                records_read, chunk = records_read + len(chunk), []
        processor.commit(processor.process(chunk))
        records_read += len(chunk)
    return store, records_read
