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
from datetime import datetime

from projections.fold import APPLIED, REJECTED, fold
from projections.validate import EdgeContext, Problem, validate_event
from streams import metrics
from streams.codec import CodecError, decode_event

log = logging.getLogger(__name__)

# (partition, offset, key, value) of one Kafka record
Record = tuple[int, int, bytes | None, bytes | None]
GapReader = Callable[[int, int, int], Iterable[Record]]  # (partition, start, end) -> records
NO_KEY = b""  # the validation context's key is unused: decoded events are already pseudonymised


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
        self.store.write(batch.states, batch.offsets)

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
        try:
            decoded = decode_event(value or b"")
        except CodecError as error:
            self._reject(batch, partition, offset, value, [Problem("$", "avro", str(error))], None,
                         key.decode("utf-8", "replace") if key else None)
            return
        event, problems = validate_event(decoded, _context_of(decoded))
        if problems:
            self._reject(batch, partition, offset, value, problems, decoded.get("event_id"),
                         decoded.get("subject", {}).get("id"))
            return
        subject_id = event["subject"]["id"]
        state = batch.states.get(subject_id) or self.store.get(subject_id)
        new_state, outcome = fold(state, event, offset)
        batch.states[subject_id] = new_state
        metrics.EVENTS.labels(event["type"]).inc()
        if outcome.kind == APPLIED:
            batch.applied += 1
            metrics.observe_lag(event["recorded_at"])
        elif outcome.kind == REJECTED:
            self._reject(batch, partition, offset, value, list(outcome.reasons), event["event_id"], subject_id)
        else:
            metrics.DUPLICATES.inc()

    def _reject(self, batch, partition, offset, value, reasons, event_id, subject_id) -> None:
        for reason in reasons:
            metrics.REJECTED.labels(reason.rule).inc()
        batch.rejections.append(Rejection(partition, offset, value or b"", reasons, event_id, subject_id))


def _context_of(decoded: dict) -> EdgeContext:
    # The worker checks an event against its own recorded_at, never the wall
    # clock, so a replay in ten years reaches the same verdicts.
    return EdgeContext(now=datetime.fromisoformat(decoded["recorded_at"]), pseudonym_key=NO_KEY,
                       stamp_recorded_at=False, allow_system=True)
