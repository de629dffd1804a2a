"""The ledger fold's work, without Faust: decode, validate, fold, store.

`LedgerProcessor.process` takes a batch of raw Kafka records and returns the
rejections to publish; the caller publishes them and then calls `commit`, so a
crash in between only repeats work (at-least-once) and never loses a rejection. The next batch may be
processed before that commit (the worker folds it while the broker acknowledges the outputs): it folds on
top of the batches not yet committed, which are then committed in the order processed.
The worker (streams/app.py), `rebuild` (streams/rebuild.py) and the tests all drive this one class.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from projections.canonical import log_link
from projections.deadlines import Deadline
from projections.effects import Counter, Effects, Regrade, effects_of, grade_deltas, regrade_of
from projections.fold import APPLIED, DUPLICATE, QUARANTINED, REJECTED
from projections.policy import DEFAULT_POLICY, Policy, PolicyBook
from projections.replay import INVALID
from projections.validate import Problem
from streams import metrics
from streams.codec import CodecError, decode_event
from streams.store import decoded_state, list_key, timer_key, timer_value

log = logging.getLogger(__name__)

# (partition, offset, key, value) of one Kafka record
Record = tuple[int, int, bytes | None, bytes | None]
REGRADE_CHUNK = 500  # subjects regraded per store write in a policy sweep
PENDING_KNOWN_MAX = 20_000  # subjects whose pending deadlines (and grade's basis) the processor remembers (a few MiB)
HOT_STATES_MAX = 4_000  # decoded states (and grades) kept from the batches written last (~10 KiB each in the bench)
UNSETTLED_BATCHES_MAX = 2  # batches folded and not yet written to the store (their outputs in flight)
GapReader = Callable[[int, int, int], Iterable[Record]]  # (partition, start, end) -> records
# A test hook, empty unless set: events with these ids raise while their consequences are derived, as
# an unknown bug would, so that the tests can show a real worker quarantining them and folding on.
FAULT_EVENT_IDS = frozenset(filter(None, os.environ.get("CREDIT_LEDGER_TEST_FAULT_EVENT_IDS", "").split(",")))


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
    index: dict[bytes, bytes | None] = field(default_factory=dict)  # timer and list index changes (None: delete)
    counters: dict[Counter, int] = field(default_factory=dict)  # deltas of the statistics (the store keys them)
    grades: dict[str, dict] = field(default_factory=dict)  # subject -> its grade after this batch
    grade_changes: list[dict] = field(default_factory=list)  # GradeChanged records to publish
    records: list[Record] = field(default_factory=list)  # what was folded, in order (the partitions' trees grow by it)
    # subject -> its `subject` part, for the subjects of grade_changes whose state is in `states` encoded
    # (a batch of the fold processes, streams/fold_pool.py): what the dashboard shows of them
    subjects: dict[str, dict] = field(default_factory=dict)
    applied: int = 0
    committed: bool = False  # written to the store (LedgerProcessor.commit): once only
    # (counter, label or None) -> increment: one inc() a series a batch, not one an event (a lock each)
    tallies: dict[tuple[object, str | None], int] = field(default_factory=dict)

    def count(self, counter: Counter, delta: int = 1) -> None:
        self.counters[counter] = self.counters.get(counter, 0) + delta

    def tally(self, counter, label: str | None = None) -> None:
        self.tallies[counter, label] = self.tallies.get((counter, label), 0) + 1

    def subject_of(self, subject_id: str) -> dict:
        """The `subject` part of a subject's state in this batch ({} if none)."""
        state = self.states.get(subject_id)
        return state["subject"] if isinstance(state, dict) else self.subjects.get(subject_id, {})

    def publish_tallies(self) -> None:
        for (counter, label), increment in self.tallies.items():
            (counter if label is None else metrics.labelled(counter, label)).inc(increment)
        self.tallies.clear()


class LedgerProcessor:
    folding = False  # batches handed to fold processes and not merged (streams/fold_pool.py): never here
    writes_behind = False  # whether a batch is written while the next one folds (streams/fold_pool.py): no

    def __init__(self, store, gap_reader: GapReader | None = None, policy: Policy | PolicyBook = DEFAULT_POLICY,
                 grading_policy: Callable[[], Policy] | None = None, publishing: bool = True,
                 observing_lag: bool | None = None, chaining: bool = True):
        self.store = store
        # False for `rebuild`, which publishes nothing: no GradeChanged records are built, no lag observed
        self.publishing = publishing
        # the lag metric, observed by the process that serves /metrics (not by a fold process)
        self.observing_lag = publishing if observing_lag is None else observing_lag
        self.chaining = chaining  # the partitions' log roots (False: a fold process, whose parent chains them)
        self.gap_reader = gap_reader
        self.policy = policy  # the fold's: each event under the policy of the day it was recorded
        self.grading_policy = grading_policy  # the published grade's: the policy in force now (live worker)
        # Caches of pure results, handed to projections.effects.effects_of, which checks them against the state:
        # subject -> (as_of offset, deadlines) of the last state this processor indexed: the next event's
        # "before" is usually that state, and its deadlines are the ones to replace in the index
        self._pending_known: dict[str, tuple[int, frozenset[Deadline]]] = {}
        # subject -> (as_of offset, policy version) of the last state this processor graded: an event
        # that leaves what grading reads alone (a permit, a decision registered) needs no regrade
        self._graded: dict[str, tuple[int, str]] = {}
        # Batches folded but not yet written (`commit`), oldest first: the next batch folds on top of them
        # while their outputs are acknowledged (streams/worker_fold.py). Their states, grades, offsets and
        # roots are read from here before the store.
        self._unsettled: list[Batch] = []
        # The decoded states and grades of the batches written last (bounded): a subject's next event
        # needs no store read nor decode. Only `commit` fills it, with what it wrote: it is the store.
        self._hot_states: OrderedDict[str, dict] = OrderedDict()
        self._hot_grades: OrderedDict[str, dict] = OrderedDict()

    def process(self, records: list[Record]) -> Batch:
        """Fold `records` on top of the store and of the batches folded and not yet committed."""
        self._check_room()
        batch = self.fold_records(records)
        batch.publish_tallies()
        self._unsettled.append(batch)
        return batch

    async def fold(self, records: list[Record], meanwhile: Callable[[], Awaitable[None]]) -> Batch | None:
        """`process`, and `meanwhile` (the worker writes the batch before): here one after the other (None:
        no records). The fold processes (streams/fold_pool.py) fold while it runs, one batch behind."""
        batch = self.process(records) if records else None
        await meanwhile()
        return batch

    def fold_records(self, records: list[Record]) -> Batch:
        """The batch of `records` folded, its metrics' tallies not yet published, not yet among the unsettled."""
        batch = Batch()
        # the policy in force now, once a batch: a batch is folded within a second
        grading = self.grading_policy() if self.grading_policy else None
        for record in self._with_gaps_filled(records):
            batch.records.append(record)
            self._one(batch, grading, *record)
        return batch

    def close(self) -> None:
        """Nothing to stop here (PooledProcessor stops its fold processes)."""

    def _check_room(self) -> None:
        if len(self._unsettled) >= UNSETTLED_BATCHES_MAX:
            raise RuntimeError(f"{len(self._unsettled)} batches folded and not committed: commit before the next")

    def commit(self, batch: Batch) -> None:
        """Write a batch `process` returned, in the order they were folded; or a sweep's (`regrade_all`),
        when no folded batch waits (it was graded from the states written)."""
        folded = bool(self._unsettled) and self._unsettled[0] is batch
        if batch.committed or (not folded and self._unsettled):
            raise RuntimeError("batches are committed once each, in the order they were folded")
        self.store.write(batch.states, batch.offsets, batch.history, batch.roots, batch.index, batch.counters,
                         batch.grades)
        batch.committed = True
        if folded:
            self._unsettled.pop(0)
        _keep_newest(self._hot_states, batch.states)
        _keep_newest(self._hot_grades, batch.grades)

    def forget(self) -> None:
        """Drop every batch folded and not committed, the states kept and the memos of what was derived
        from them: after an error, the store alone says where the fold stands."""
        self._unsettled.clear()
        self._hot_states.clear()
        self._hot_grades.clear()
        self._pending_known.clear()
        self._graded.clear()

    def _state(self, batch: Batch, subject_id: str) -> dict | None:
        state = self._newest(batch, "states", subject_id, self._hot_states, self.store.get)
        # a batch of the fold processes holds its states encoded (streams/fold_pool.py)
        return decoded_state(subject_id, state) if isinstance(state, bytes) else state

    def _grade(self, batch: Batch, subject_id: str) -> dict | None:
        return self._newest(batch, "grades", subject_id, self._hot_grades, self.store.grade)

    def _newest(self, batch: Batch, table: str, subject_id: str, hot, stored) -> dict | None:
        """A subject's newest state or grade (`table`): this batch's, else the newest unwritten batch's, else
        the cache of recently written ones, else the store's."""
        value = getattr(batch, table).get(subject_id)
        if value is None:
            for earlier in reversed(self._unsettled):
                if subject_id in getattr(earlier, table):
                    return getattr(earlier, table)[subject_id]
            value = hot.get(subject_id)
        return value if value is not None else stored(subject_id)

    def applied_offset(self, batch: Batch, partition: int) -> int:
        for folded in (batch, *reversed(self._unsettled)):
            if partition in folded.offsets:
                return folded.offsets[partition]
        return self.store.applied_offset(partition)  # the store read only if needed

    def _log_root(self, batch: Batch, partition: int) -> str:
        for folded in (batch, *reversed(self._unsettled)):
            if partition in folded.roots:
                return folded.roots[partition]
        return self.store.log_root(partition)

    def _with_gaps_filled(self, records: list[Record]) -> Iterator[Record]:
        # A record past the store's next offset (a consumer positioned by anything but the store):
        # read the missing range straight from the log rather than fold on top of a state that lacks it.
        expected: dict[int, int] = {}
        for record in records:
            partition, offset = record[0], record[1]
            if partition not in expected:
                expected[partition] = self.applied_offset(Batch(), partition) + 1
            if offset > expected[partition] and self.gap_reader is not None:
                log.warning("partition %d: store at %d, log at %d: re-folding the gap",
                            partition, expected[partition] - 1, offset)
                yield from self.gap_reader(partition, expected[partition], offset)
            expected[partition] = max(expected[partition], offset + 1)
            yield record

    def _one(self, batch: Batch, grading: Policy | None, partition: int, offset: int, key: bytes | None,
             value: bytes | None) -> None:
        if offset <= self.applied_offset(batch, partition):
            batch.tally(metrics.REDELIVERED)
            return
        batch.offsets[partition] = offset
        if self.chaining:
            batch.roots[partition] = log_link(self._log_root(batch, partition), offset, key, value)
        try:
            decoded = decode_event(value or b"")
        except CodecError as error:
            self._reject(batch, partition, offset, value, [Problem("$", "avro", str(error))], None,
                         key.decode("utf-8", "replace") if key else None)
            return
        subject_id = _subject_id(decoded)
        before = self._state(batch, subject_id) if subject_id else None
        effects = effects_of(before, decoded, offset, self.policy, grading,
                             pending_memo=self._pending_known.get(subject_id),
                             graded_memo=self._graded.get(subject_id))
        if effects.outcome == APPLIED and effects.event["event_id"] in FAULT_EVENT_IDS:
            effects = effects.quarantined(before, RuntimeError("a fault injected by CREDIT_LEDGER_TEST_FAULT_EVENT_IDS"
                                                               ))
        if effects.writes_state:
            batch.states[effects.subject_id] = effects.state
        if effects.outcome == APPLIED:
            self._record_applied(batch, partition, effects)
        elif effects.outcome in (INVALID, REJECTED, QUARANTINED):
            if effects.outcome == QUARANTINED:
                log.error("partition %d offset %d quarantined: %s", partition, offset, effects.problems[0].message)
                batch.tally(metrics.QUARANTINED)
            self._reject(batch, partition, offset, value, list(effects.problems), decoded.get("event_id"),
                         effects.subject_id)
        elif effects.outcome == DUPLICATE:
            batch.tally(metrics.DUPLICATES)

    def _record_applied(self, batch: Batch, partition: int, effects: Effects) -> None:
        """Move an applied event's effects (projections/effects.py) into the batch."""
        subject_id, event = effects.subject_id, effects.event
        batch.applied += 1
        batch.history.append((subject_id, effects.state["chain"]["length"], effects.history_entry))
        batch.tally(metrics.EVENTS, event["type"])
        if self.observing_lag:
            metrics.observe_lag(event["recorded_at"])
        if len(self._pending_known) >= PENDING_KNOWN_MAX:
            self._pending_known.clear()
        self._pending_known[subject_id] = effects.pending_memo
        for deadline in effects.deadlines_removed:
            batch.index[timer_key(deadline)] = None
        for deadline in effects.deadlines_added:
            batch.index[timer_key(deadline)] = timer_value(deadline, partition)
        for entry in effects.lists_removed:
            batch.index[list_key(entry.list_kind, entry.subject_id, entry.entry_id)] = None
        for entry in effects.lists_added:
            batch.index[list_key(entry.list_kind, entry.subject_id, entry.entry_id)] = b""
        if effects.regrade is None:
            self._remember_graded(subject_id, effects.graded_memo)  # the same grade, still stored
        else:
            self._store_grade(batch, effects.regrade)
        for delta in effects.deltas:
            batch.count(delta.counter, delta.delta)
        for delta in effects.timeliness:
            if delta.delta > 0:  # a Prometheus counter only grows: the store's count is the net one
                batch.tally(metrics.TIMELINESS[delta.outcome], delta.authority_code)

    def _remember_graded(self, subject_id: str, basis: tuple[int, str]) -> None:
        if len(self._graded) >= PENDING_KNOWN_MAX:
            self._graded.clear()
        self._graded[subject_id] = basis

    def _store_grade(self, batch: Batch, regrade: Regrade) -> None:
        """Store the subject's new grade; a change becomes a GradeChanged to publish."""
        subject_id = regrade.subject_id
        self._remember_graded(subject_id, regrade.basis)
        stored = None if regrade.ungraded_before else self._grade(batch, subject_id)
        if self.publishing:
            change = regrade.change(stored)
            if change is None:
                return
            batch.grade_changes.append(change.record)
            deltas = change.deltas
        else:
            deltas = grade_deltas(stored, regrade.grade)
            if not deltas:
                return
        batch.grades[subject_id] = regrade.grade
        for delta in deltas:
            batch.count(delta.counter, delta.delta)
        batch.tally(metrics.GRADE_CHANGES, regrade.grade["letter"])

    def regrade_all(self, policy: Policy, chunk: int = REGRADE_CHUNK):
        """Regrade every subject under `policy` (a new one took effect): yields one batch per chunk
        of subjects, for the caller to publish and commit."""
        after = ""
        while ids := self.store.subject_ids_after(after, chunk):
            batch = Batch()
            for subject_id in ids:
                try:
                    self._store_grade(batch, regrade_of(subject_id, self._state(batch, subject_id), policy, {
                        "cause": f"policy {policy.version}", "cause_event_id": None, "offset": -1}))
                except Exception:  # noqa: BLE001 - one subject's grade that cannot be computed stops no sweep
                    log.exception("subject %s keeps its grade: regrading under %s raised", subject_id,
                                  policy.version)
            batch.publish_tallies()
            yield batch, len(ids)
            after = ids[-1]

    def _reject(self, batch, partition, offset, value, reasons, event_id, subject_id) -> None:
        for reason in reasons:
            batch.tally(metrics.REJECTED, reason.rule)
        batch.rejections.append(Rejection(partition, offset, value or b"", reasons, event_id, subject_id))



def _keep_newest(kept: OrderedDict[str, dict], written: dict[str, dict]) -> None:
    """`written` into `kept`, each as the newest; the oldest go once there are HOT_STATES_MAX. An OrderedDict:
    a plain dict's first key is found by stepping over the keys deleted before it (measured: 2% of a worker)."""
    for subject_id, value in written.items():
        kept[subject_id] = value
        kept.move_to_end(subject_id)
    while len(kept) > HOT_STATES_MAX:
        kept.popitem(last=False)


def _subject_id(decoded) -> str | None:
    subject = decoded.get("subject") if isinstance(decoded, dict) else None
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    return subject_id if isinstance(subject_id, str) else None
