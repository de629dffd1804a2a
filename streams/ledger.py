"""The ledger fold's work, without Faust: decode, validate, fold, store.

`LedgerProcessor.process` takes a batch of raw Kafka records and returns the
rejections to publish; the caller publishes them and then calls `commit`, so a
crash in between only repeats work (at-least-once) and never loses a rejection.
The worker (streams/app.py), `rebuild` and the tests all drive this one class.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from projections.canonical import log_link
from projections.deadlines import Deadline, pending_deadlines
from projections.fold import APPLIED, DUPLICATE, QUARANTINED, REJECTED
from projections.grading import grade, grade_change, grade_inputs_unchanged
from projections.lists import active_entries
from projections.policy import DEFAULT_POLICY, Policy, PolicyBook, policy_for
from projections.records import own_key, recorded_day
from projections.replay import INVALID, Step, quarantined, step
from projections.validate import Problem
from streams import ledger_reader, metrics, topics
from streams.codec import CodecError, decode_event
from streams.kafka_access import KafkaAccess
from streams.store import MemoryStore, list_key, timer_key, timer_value

log = logging.getLogger(__name__)

# (partition, offset, key, value) of one Kafka record
Record = tuple[int, int, bytes | None, bytes | None]
REBUILD_CHUNK = 5_000  # records folded per in-memory commit
REGRADE_CHUNK = 500  # subjects regraded per store write in a policy sweep
PENDING_KNOWN_MAX = 20_000  # subjects whose pending deadlines (and grade's basis) the processor remembers (a few MiB)
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


@dataclass(frozen=True)
class Derived:
    """What an applied event changes beyond the subject's state (streams/ledger.py `_derive`)."""
    policy: Policy  # the fold's, for the event's day
    deadlines_before: set[Deadline]
    deadlines_after: set[Deadline]
    lists_before: dict[str, str]  # public active list entries: entry id -> list kind
    lists_after: dict[str, str]
    grading: Policy  # the published grade's
    grade: dict | None  # None when what grading reads did not change
    timeliness: tuple[tuple[str, int, str | None], ...]  # (store counter, delta, metric outcome or None)


@dataclass
class Batch:
    states: dict[str, dict] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    history: list[tuple[str, int, dict]] = field(default_factory=list)  # (subject id, chain length, entry)
    roots: dict[int, str] = field(default_factory=dict)  # partition -> log root at batch.offsets[partition]
    index: dict[bytes, bytes | None] = field(default_factory=dict)  # timer and list index changes (None: delete)
    counters: dict[str, int] = field(default_factory=dict)  # deltas of pending deadlines and timeliness counts
    grades: dict[str, dict] = field(default_factory=dict)  # subject -> its grade after this batch
    grade_changes: list[dict] = field(default_factory=list)  # GradeChanged records to publish
    applied: int = 0
    # (counter, label or None) -> increment: one inc() a series a batch, not one an event (a lock each)
    tallies: dict[tuple[object, str | None], int] = field(default_factory=dict)

    def count(self, name: str, delta: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + delta

    def tally(self, counter, label: str | None = None) -> None:
        self.tallies[counter, label] = self.tallies.get((counter, label), 0) + 1

    def publish_tallies(self) -> None:
        for (counter, label), increment in self.tallies.items():
            (counter if label is None else metrics.labelled(counter, label)).inc(increment)
        self.tallies.clear()


class LedgerProcessor:
    def __init__(self, store, gap_reader: GapReader | None = None, policy: Policy | PolicyBook = DEFAULT_POLICY,
                 grading_policy: Callable[[], Policy] | None = None):
        self.store = store
        self.gap_reader = gap_reader
        self.policy = policy  # the fold's: each event under the policy of the day it was recorded
        self.grading_policy = grading_policy  # the published grade's: the policy in force now (live worker)
        # subject -> (as_of offset, policy version, pending deadlines) of the last state this processor
        # indexed: the next event's "before" is usually that state, whose deadlines need no recount
        self._pending_known: dict[str, tuple[int, str, set[Deadline]]] = {}
        # subject -> (as_of offset, policy version) of the last state this processor graded: an event
        # that leaves what grading reads alone (a permit, a decision registered) needs no regrade
        self._graded: dict[str, tuple[int, str]] = {}

    def process(self, records: list[Record]) -> Batch:
        batch = Batch()
        # the policy in force now, once a batch: a batch is folded within a second
        grading = self.grading_policy() if self.grading_policy else None
        for record in self._with_gaps_filled(records):
            self._one(batch, grading, *record)
        batch.publish_tallies()
        return batch

    def commit(self, batch: Batch) -> None:
        self.store.write(batch.states, batch.offsets, batch.history, batch.roots, batch.index, batch.counters,
                         batch.grades)

    def applied_offset(self, batch: Batch, partition: int) -> int:
        offset = batch.offsets.get(partition)
        return self.store.applied_offset(partition) if offset is None else offset  # the store read only if needed

    def _with_gaps_filled(self, records: list[Record]) -> Iterator[Record]:
        # A record past the store's next offset (a consumer positioned by anything but the store):
        # read the missing range straight from the log rather than fold on top of a state that lacks it.
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

    def _one(self, batch: Batch, grading: Policy | None, partition: int, offset: int, key: bytes | None,
             value: bytes | None) -> None:
        if offset <= self.applied_offset(batch, partition):
            batch.tally(metrics.REDELIVERED)
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
        subject_id = _subject_id(decoded)
        before = (batch.states.get(subject_id) or self.store.get(subject_id)) if subject_id else None

        def get_state(wanted: str) -> dict | None:  # the state just read, not a second read and decode
            return before if wanted == subject_id else batch.states.get(wanted) or self.store.get(wanted)
        done = step(get_state, decoded, offset, policy=self.policy, deadlines=True)
        derived = None
        if done.outcome == APPLIED:
            try:
                derived = self._derive(done, before, grading or policy_for(self.policy, recorded_day(done.event)))
            except Exception as error:  # noqa: BLE001 - one event's bug never stops the ledger
                done = quarantined(done, before, error)
        if done.state is not None and done.outcome != QUARANTINED:
            batch.states[done.subject_id] = done.state
        if derived is not None and done.outcome == APPLIED:
            self._record_applied(batch, partition, offset, done, before, derived)
        elif done.outcome in (INVALID, REJECTED, QUARANTINED):
            if done.outcome == QUARANTINED:
                log.error("partition %d offset %d quarantined: %s", partition, offset, done.problems[0].message)
                batch.tally(metrics.QUARANTINED)
            self._reject(batch, partition, offset, value, list(done.problems), decoded.get("event_id"),
                         done.subject_id)
        elif done.outcome == DUPLICATE:
            batch.tally(metrics.DUPLICATES)

    def _derive(self, done: Step, before: dict | None, grading: Policy) -> Derived:
        """Everything an applied event changes beyond its state, computed before the batch is written, so
        that an event whose consequences raise is quarantined with nothing of it written."""
        if done.event["event_id"] in FAULT_EVENT_IDS:
            raise RuntimeError("a fault injected by CREDIT_LEDGER_TEST_FAULT_EVENT_IDS")
        policy = policy_for(self.policy, recorded_day(done.event))
        subject_id, after = done.subject_id, done.state
        known = self._pending_known.get(subject_id)
        if before is None:
            old: set[Deadline] = set()
        elif known is not None and known[:2] == (before["as_of"]["offset"], policy.version):
            old = known[2]  # a state is what the log up to its offset makes it: same offset, same deadlines
        else:
            old = set(pending_deadlines(before, policy))
        unchanged = (before is not None and grade_inputs_unchanged(before, after)
                     and self._graded.get(subject_id) == (before["as_of"]["offset"], grading.version))
        return Derived(policy, old, set(done.deadlines),
                       active_entries(before) if before is not None else {}, active_entries(after),
                       grading, None if unchanged else grade(after, grading),
                       _timeliness(done.event, before, after))

    def _record_applied(self, batch: Batch, partition: int, offset: int, done: Step, before: dict | None,
                        derived: Derived) -> None:
        subject_id = done.subject_id
        batch.applied += 1
        batch.history.append((subject_id, done.state["chain"]["length"], done.history_entry(offset)))
        batch.tally(metrics.EVENTS, done.event["type"])
        metrics.observe_lag(done.event["recorded_at"])
        self._index_deadlines(batch, partition, subject_id, done.state["as_of"]["offset"], derived)
        _index_lists(batch, subject_id, derived.lists_before, derived.lists_after)
        if derived.grade is None:
            self._graded[subject_id] = (offset, derived.grading.version)  # the same grade, still stored
        else:
            self._store_grade(batch, subject_id, offset, derived.grade, derived.grading,
                              {"cause": done.event["type"], "cause_event_id": done.event["event_id"],
                               "offset": offset}, first=before is None)
        for counter, delta, outcome in derived.timeliness:
            batch.count(counter, delta)
            if outcome is not None:
                batch.tally(metrics.TIMELINESS[outcome], done.event["source"]["authority_code"])

    def _index_deadlines(self, batch: Batch, partition: int, subject_id: str, as_of_offset: int,
                         derived: Derived) -> None:
        """Keep the timer index equal to the pending deadlines of every folded state."""
        old, new = derived.deadlines_before, derived.deadlines_after
        if len(self._pending_known) >= PENDING_KNOWN_MAX:
            self._pending_known.clear()
        self._pending_known[subject_id] = (as_of_offset, derived.policy.version, new)
        for deadline in old - new:
            batch.index[timer_key(deadline)] = None
            batch.count(f"deadlines/{deadline.kind}", -1)
        for deadline in new - old:
            batch.index[timer_key(deadline)] = timer_value(deadline, partition)
            batch.count(f"deadlines/{deadline.kind}")

    def _regrade(self, batch: Batch, subject_id: str, state: dict, policy: Policy, cause: dict) -> None:
        """Keep the subject's stored grade current under `policy` (a policy sweep)."""
        self._store_grade(batch, subject_id, state["as_of"]["offset"], grade(state, policy), policy, cause)

    def _store_grade(self, batch: Batch, subject_id: str, as_of_offset: int, new: dict, policy: Policy,
                     cause: dict, first: bool = False) -> None:
        """Store the subject's new grade; a change becomes a GradeChanged to publish.
        `first`: the subject had no state, so it has no grade to read (a store read saved)."""
        if len(self._graded) >= PENDING_KNOWN_MAX:
            self._graded.clear()
        self._graded[subject_id] = (as_of_offset, policy.version)
        old = None if first else batch.grades.get(subject_id) or self.store.grade(subject_id)
        change = grade_change(old, new)
        if change is not None:
            batch.grade_changes.append({"subject_id": subject_id, **change, **cause})
            batch.grades[subject_id] = new
            if old is not None:
                batch.count(f"grades/{old['letter']}", -1)
            batch.count(f"grades/{new['letter']}")
            batch.tally(metrics.GRADE_CHANGES, new["letter"])

    def regrade_all(self, policy: Policy, chunk: int = REGRADE_CHUNK):
        """Regrade every subject under `policy` (a new one took effect): yields one batch per chunk
        of subjects, for the caller to publish and commit."""
        after = ""
        while ids := self.store.subject_ids_after(after, chunk):
            batch = Batch()
            for subject_id in ids:
                try:
                    self._regrade(batch, subject_id, self.store.get(subject_id), policy,
                                  {"cause": f"policy {policy.version}", "cause_event_id": None, "offset": -1})
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



def _subject_id(decoded) -> str | None:
    subject = decoded.get("subject") if isinstance(decoded, dict) else None
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    return subject_id if isinstance(subject_id, str) else None


def _index_lists(batch: Batch, subject_id: str, old: dict[str, str], new: dict[str, str]) -> None:
    """Keep the list index (public active entries by list kind) equal to the folded states."""
    for entry_id in old.keys() - new.keys():
        batch.index[list_key(old[entry_id], subject_id, entry_id)] = None
    for entry_id in new.keys() - old.keys():
        batch.index[list_key(new[entry_id], subject_id, entry_id)] = b""


def _timeliness(event: dict, before: dict | None, state: dict) -> tuple[tuple[str, int, str | None], ...]:
    """双公示 timeliness per authority: records on time or late (迟报), decisions overdue (漏报), as
    (store counter, delta, metric outcome or None). Each decision counts once, in its final outcome (issue 29
    R6): a record arriving for a decision marked overdue takes it out of the overdue count, whether it came in
    time after all (on time) or late (迟报, not 漏报 as well); the DisclosureOverdue stays in the log."""
    authority = event["source"]["authority_code"]
    if event["type"] in ("PermitGranted", "PenaltyImposed"):
        collection = "permits" if event["type"] == "PermitGranted" else "penalties"
        # the tables are keyed per authority (records.own_key; `before` may be a state stored before that)
        record = state["records"][collection][own_key(state, authority, event["payload"]["record_id"])]
        # an exempt record (R8) is counted apart: not judged on time or late, so 瞒报 risk shows
        outcome = ("historical" if record.get("historical") else "exempt" if record.get("exemption")  # R10, R8: apart
                   else "late" if record.get("late") else "on_time")
        no = event["payload"]["decision_no"]
        decision = state["decisions"][own_key(state, authority, no)]
        counts = [(f"timeliness/{authority}/{outcome}", 1, outcome)]
        if before is not None and before["decisions"].get(own_key(before, authority, no), {}).get("overdue"):
            counts.append((f"timeliness/{decision['authority_code']}/overdue", -1, None))
        return tuple(counts)
    if event["type"] == "DisclosureOverdue":
        return ((f"timeliness/{authority}/overdue", 1, "overdue"),)
    return ()


# A partition is folded on its own (a subject's events all lie in its partition), so `rebuild` folds
# partitions side by side in child processes, one a core. A child costs ~1 s to start and its states
# are sent back whole, so a ledger smaller than this is folded in this process.
REBUILD_PARALLEL_MIN_RECORDS = 50_000
REBUILD_PROCESSES_MAX = 16


def rebuild_from_log(bootstrap: KafkaAccess | str, until: dict[int, int] | None = None,
                     policy: Policy | PolicyBook = DEFAULT_POLICY,
                     parallel_min_records: int = REBUILD_PARALLEL_MIN_RECORDS) -> tuple[MemoryStore, int]:
    """Re-fold credit.events from offset 0 into fresh state, with no Faust in the loop.

    `until` ({partition: last offset}) stops where a live store stood, to compare like with like.
    Returns the store and the number of records read."""
    ranges = {partition: (low, high if until is None else min(high, until.get(partition, -1) + 1))
              for partition, (low, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items()}
    processes = min(os.cpu_count() or 1, len(ranges), REBUILD_PROCESSES_MAX)
    if processes < 2 or sum(max(0, end - low) for low, end in ranges.values()) < parallel_min_records:
        store, records_read = MemoryStore(), 0
        for partition, (low, end) in ranges.items():
            records_read += _rebuild_partition(bootstrap, partition, low, end, policy, store)[1]
        return store, records_read
    # spawned, not forked: this process may hold librdkafka's threads, which a fork does not survive
    # and they collect garbage as this process was told to (ops.config.tune_gc)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                             initializer=gc.set_threshold, initargs=gc.get_threshold()) as pool:
        parts = [pool.submit(_rebuild_partition, bootstrap, partition, low, end, policy)
                 for partition, (low, end) in ranges.items()]
        store, records_read = MemoryStore(), 0
        for part in parts:
            partition_store, records = part.result()
            store.merge(partition_store)
            records_read += records
    return store, records_read


def _rebuild_partition(bootstrap: KafkaAccess | str, partition: int, low: int, end: int, policy: Policy | PolicyBook,
                       store: MemoryStore | None = None) -> tuple[MemoryStore, int]:
    """Fold one partition's records low <= offset < end into `store` (a new one by default)."""
    store = MemoryStore() if store is None else store
    processor = LedgerProcessor(store, policy=policy)
    records_read, chunk = 0, []
    for offset, key, value, _ in ledger_reader.read_range(bootstrap, topics.EVENTS, partition, low, end):
        chunk.append((partition, offset, key, value))
        if len(chunk) >= REBUILD_CHUNK:
            processor.commit(processor.process(chunk))
            records_read, chunk = records_read + len(chunk), []
    processor.commit(processor.process(chunk))
    return store, records_read + len(chunk)
