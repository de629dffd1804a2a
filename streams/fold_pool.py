"""The fold spread over processes: each folds the events of a share of the subjects.

The worker is bound to one core by the interpreter's lock; validating and folding are most of its work
(measured: `LedgerProcessor.process` ~60% of its main thread). With `fold_processes` > 1 the main process
keeps the log's order, the offsets, the roots, the store and the outputs, and hands each batch's records to
child processes, a record to the child of its key (zlib's CRC-32 of the key, modulo their number) with the
newest state and grade of its subject, encoded as stored. Each child folds its share through the same
`LedgerProcessor` as the main process would, in log order, and hands back what the batch writes: the states
encoded, the history entries, index changes, counter deltas, grades, GradeChanged records and rejections.

The batches are handed out one ahead: the children fold batch N while the main process merges N-1, publishes
its outputs and writes N-2. A subject's state folded in N-1 is not yet known to the main process when it
hands out N; the child that folded it keeps it (`ShippedStore`) until the main process has merged that batch.
Each child's shares go out and its answers come back through two threads of its own, so that no child waits
for another's pipe. Measured on the bench (150,000 events, two children on two cores): 5,500 -> 8,900 events/s.

Every event the edge and the timers write is keyed by its subject's id, so a subject's events all go to one
child, and that child holds the memos of its subjects (projections/effects.py). A record whose subject is not
its key would be folded without its subject's newest state: the child says so (`Misrouted`) and the batch is
folded in the main process instead, with the same result. A child that dies or raises stops the worker, as any
error of the fold does; a batch is written only once merged, so nothing is written that the log cannot give
again, and a restart folds on from the store.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import multiprocessing
import queue
import threading
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler

from projections.canonical import log_link
from projections.effects import Counter
from projections.policy import Policy, PolicyBook
from streams import metrics
from streams.ledger import Batch, GapReader, LedgerProcessor, Record, Rejection
from streams.store import check_write, decoded_state, encoded_state

log = logging.getLogger(__name__)

FOLD_PROCESSES_MAX = 16  # children a worker starts at most
RECEIVE_TIMEOUT_S = 120.0  # a child that answers no batch within this is taken for hung: the worker stops
# A batch of this many records or more (a backlog's) is merged one batch later, while the children fold the
# next; a smaller one (a worker keeping up) at once: the next take may be the consumer's wait of 50 ms away.
PIPELINE_FROM_RECORDS = 200
# An empty take (0 records) must merge what is handed out, or the last batch would wait for the next record.
assert PIPELINE_FROM_RECORDS >= 1


class Misrouted(Exception):
    """A record's subject is not its key: its child was not handed the subject's state."""


@dataclass
class Share:
    """What one child folds of a batch (the `sequence`-th handed out): its records in log order, the states
    (encoded, None: no state yet) and grades of their subjects as of the batches merged so far (`merged`:
    the last one's sequence), and the grading policy's version (None: each event's own day's)."""
    sequence: int
    merged: int
    records: list[Record]
    states: dict[str, bytes | None]
    grades: dict[str, dict | None]
    grading_version: str | None
    reset: bool = False  # forget every state folded before, and the memos derived from them


@dataclass
class Folded:
    """What a child hands back of its share (or `misrouted`)."""
    misrouted: bool = False
    states: dict[str, bytes] = field(default_factory=dict)
    subjects: dict[str, dict] = field(default_factory=dict)  # the `subject` of those whose grade changed
    history: list[tuple[str, int, dict]] = field(default_factory=list)
    index: dict[bytes, bytes | None] = field(default_factory=dict)
    counters: dict[Counter, int] = field(default_factory=dict)
    grades: dict[str, dict] = field(default_factory=dict)
    grade_changes: list[dict] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    tallies: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (counter's name, label) -> count
    applied: int = 0


class ShippedStore:
    """The store as a child sees it: the states and grades of its share's subjects as the main process
    handed them, unless this child folded a newer one in a batch the main process has not merged yet
    (the batches are handed out one ahead: the main process merges one while the children fold the next).
    A subject it was not handed is `Misrouted`."""

    def __init__(self):
        self.share: Share | None = None
        # subject -> (sequence of the batch that folded it, its state or grade): this child's, newest
        self.newer_states: dict[str, tuple[int, dict]] = {}
        self.newer_grades: dict[str, tuple[int, dict]] = {}

    def take(self, share: Share) -> None:
        """The next share: what the main process has merged since is the main process's to hand."""
        self.share = share
        for newer in (self.newer_states, self.newer_grades):
            if share.reset:
                newer.clear()
            for subject_id in [s for s, (sequence, _) in newer.items() if sequence <= share.merged]:
                del newer[subject_id]
            # bounded: what is left is the one batch handed out before this one and not merged yet
            assert all(sequence == share.sequence - 1 for sequence, _ in newer.values()), "handed out two ahead"

    def keep(self, sequence: int, states: dict[str, dict], grades: dict[str, dict]) -> None:
        self.newer_states.update((s, (sequence, state)) for s, state in states.items())
        self.newer_grades.update((s, (sequence, grade)) for s, grade in grades.items())

    def get(self, subject_id: str) -> dict | None:
        if subject_id not in self.share.states:
            raise Misrouted(subject_id)
        if subject_id in self.newer_states:
            return self.newer_states[subject_id][1]
        raw = self.share.states[subject_id]
        return decoded_state(subject_id, raw) if raw is not None else None

    def grade(self, subject_id: str) -> dict | None:
        if subject_id not in self.share.grades:
            raise Misrouted(subject_id)
        if subject_id in self.newer_grades:
            return self.newer_grades[subject_id][1]
        return self.share.grades[subject_id]

    def applied_offset(self, partition: int) -> int:
        return -1  # the main process skipped what the store holds


def fold_share(processor: LedgerProcessor, shipped: ShippedStore, share: Share,
               policies: dict[str, Policy]) -> Folded:
    """A child's work: `share` folded by `processor` (over `shipped`), what it writes handed back."""
    shipped.take(share)
    if share.reset:  # what it remembers was derived from states the main process may have replaced since
        processor.forget()
    grading = policies[share.grading_version] if share.grading_version else None
    processor.grading_policy = (lambda: grading) if grading else None
    try:
        batch = processor.fold_records(share.records)
    except Misrouted:  # nothing of the share is kept; the main process folds it, and its next share prunes
        return Folded(misrouted=True)
    check_write(batch.states, batch.offsets, shipped.applied_offset)
    shipped.keep(share.sequence, batch.states, batch.grades)
    changed = {change["subject_id"] for change in batch.grade_changes}
    return Folded(states={s: encoded_state(state) for s, state in batch.states.items()},
                  subjects={s: batch.states[s]["subject"] for s in changed if s in batch.states},
                  history=batch.history, index=batch.index, counters=batch.counters, grades=batch.grades,
                  grade_changes=batch.grade_changes, rejections=batch.rejections, applied=batch.applied,
                  tallies={(counter._name, label): n for (counter, label), n in batch.tallies.items()})


def _serve(connection, policy: Policy | PolicyBook, log_level: int, gc_threshold: tuple[int, ...]) -> None:
    """A child's loop: a share in, what it folds out, until the main process closes the pipe."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gc.set_threshold(*gc_threshold)  # as the main process was told to (ops.config.tune_gc), and
    gc.freeze()  # what the start-up imported is not walked again
    shipped = ShippedStore()
    processor = LedgerProcessor(shipped, policy=policy, observing_lag=False, chaining=False)
    policies = {p.version: p for p in (policy.policies if isinstance(policy, PolicyBook) else (policy,))}
    # An answer is written by a thread of its own, so that the child folds its next share meanwhile: the
    # pipe holds a fraction of an answer, and the main process reads it when its receiver thread gets the
    # interpreter's lock (measured: a child spent ~10% of its time blocked in that write).
    answers: queue.SimpleQueue = queue.SimpleQueue()  # at most two: the main process hands out one ahead
    threading.Thread(target=_write_answers, args=(connection, answers), name="fold-answers", daemon=True).start()
    while True:
        try:
            share = connection.recv()
        except (EOFError, OSError):  # the worker stopped (or was killed): its end of the pipe is closed
            answers.put(None)
            return
        try:
            answer = fold_share(processor, shipped, share, policies)
        except Exception as error:  # noqa: BLE001 - handed to the main process, which stops the worker
            answer = error
        answers.put(ForkingPickler.dumps(answer))


def _write_answers(connection, answers: queue.SimpleQueue) -> None:
    while (answer := answers.get()) is not None:
        try:
            connection.send_bytes(answer)
        except OSError:  # the worker stopped (or was killed)
            return


class _Lane:
    """A daemon thread that runs the calls handed to it one after the other, in order: the pipes' sends
    (a child busy folding reads its next share only then) or their receives."""

    def __init__(self, name: str):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, call: Callable, *args) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((future, call, args))
        return future

    def stop(self) -> None:
        self._calls.put((None, None, ()))  # after the calls handed to it before

    def _run(self) -> None:
        while True:
            future, call, args = self._calls.get()
            if future is None:
                return
            try:
                future.set_result(call(*args))
            except BaseException as error:  # noqa: BLE001 - the caller awaits it
                future.set_exception(error)


class FoldPool:
    """`processes` children, each folding the share of a batch its keys give it; each child's shares are
    sent and its answers received by two threads of their own, in the order handed out."""

    def __init__(self, processes: int, policy: Policy | PolicyBook):
        if not 2 <= processes <= FOLD_PROCESSES_MAX:
            raise ValueError(f"fold processes: 2..{FOLD_PROCESSES_MAX}, not {processes}")
        self.policy = policy
        context = multiprocessing.get_context("spawn")  # never fork a process with Kafka clients' threads
        self._connections, self._children = [], []
        for number in range(processes):
            mine, theirs = context.Pipe()
            child = context.Process(target=_serve, args=(theirs, policy, logging.getLogger().level, gc.get_threshold()),
                                    name=f"credit-ledger-fold-{number}", daemon=True)
            child.start()
            theirs.close()
            self._connections.append(mine)
            self._children.append(child)
        # a sender and a receiver a child: a child still folding holds up no other child's share or answer
        self._senders = [_Lane(f"fold-pool-send-{n}") for n in range(processes)]
        self._receivers = [_Lane(f"fold-pool-receive-{n}") for n in range(processes)]

    @property
    def processes(self) -> int:
        return len(self._connections)

    def child_of(self, key: bytes | None) -> int:
        return zlib.crc32(key or b"") % len(self._connections)

    def fold(self, shares: list[Share]) -> list[concurrent.futures.Future]:
        """Hand each child its share; the futures of their answers, in the children's order."""
        assert len(shares) == len(self._connections), "one share a child"
        answers = []
        for number, share in enumerate(shares):
            sent = self._senders[number].submit(self._connections[number].send, share)
            answers.append(self._receivers[number].submit(self._receive, number, sent))
        return answers

    def _receive(self, number: int, sent: concurrent.futures.Future) -> Folded:
        sent.result()  # a share that could not be sent is answered by no child
        connection, child = self._connections[number], self._children[number]
        if not connection.poll(RECEIVE_TIMEOUT_S):
            raise RuntimeError(f"fold process {child.name} answered no batch in {RECEIVE_TIMEOUT_S:.0f} s")
        answer = connection.recv()  # EOFError: the child died
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        for lane in (*self._senders, *self._receivers):
            lane.stop()
        for connection in self._connections:
            connection.close()
        for child in self._children:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()


@dataclass
class _Handed:
    """A batch handed to the children and not merged yet: this process's part of it (records, offsets,
    roots), the records as taken, and the future of the children's answers."""
    sequence: int
    batch: Batch
    records: list[Record]
    answers: list[concurrent.futures.Future]  # a child's each


class PooledProcessor(LedgerProcessor):
    """A LedgerProcessor whose batches are folded by a FoldPool (module doc); everything else, the store's
    writes, the policy sweep and a batch whose keys are not its subjects, in this process as before.

    `fold` hands its records out and merges the batch handed out before it (None: none was), so that the
    children fold one batch while this process merges, publishes and writes the one before; a batch under
    PIPELINE_FROM_RECORDS is merged at once (after the one before, if any). `fold([])` merges the last one
    handed out."""

    writes_behind = True  # the children fold the next batch while this process writes one

    def __init__(self, store, pool: FoldPool, gap_reader: GapReader | None = None,
                 grading_policy: Callable[[], Policy] | None = None):
        super().__init__(store, gap_reader, pool.policy, grading_policy=grading_policy)  # the children's
        self.pool = pool
        self._handed: deque[_Handed] = deque()  # at most two: one merged while the next is folded
        self._sequence = 0  # of the last batch handed out
        self._merged = 0  # of the last batch merged (or folded here): the children's older states are ours
        # the first share tells the children to forget what they folded for a processor before this one
        self._reset = True

    @property
    def folding(self) -> bool:
        return bool(self._handed)

    def close(self) -> None:
        self.pool.close()

    def forget(self) -> None:
        super().forget()
        self._handed.clear()  # their answers are still received, in order, and dropped
        self._merged = self._sequence  # the children keep none of the states they folded so far
        self._reset = True  # nor their memos of them

    async def fold(self, records: list[Record], meanwhile: Callable[[], Awaitable[None]]) -> Batch | None:
        if records:
            self._hand_out(records)
        if len(self._handed) <= (1 if len(records) >= PIPELINE_FROM_RECORDS else 0):
            await meanwhile()
            return None
        handed = self._handed.popleft()
        await meanwhile()  # the children fold meanwhile
        answers = [await asyncio.wrap_future(answer) for answer in handed.answers]
        if any(answer.misrouted for answer in answers):
            return self._fold_here(handed)
        self._check_room()
        batch = handed.batch
        for answer in answers:
            _merge(batch, answer)
        batch.rejections.sort(key=lambda r: (r.partition, r.offset))
        for _, _, entry in batch.history:
            metrics.observe_lag(entry["event"]["recorded_at"])
        batch.publish_tallies()
        self._merged = handed.sequence
        self._unsettled.append(batch)
        return batch

    def _hand_out(self, records: list[Record]) -> None:
        self._sequence += 1
        batch, shares = self._shares(records)
        self._reset = False
        self._handed.append(_Handed(self._sequence, batch, records, self.pool.fold(shares)))

    def _fold_here(self, handed: _Handed) -> Batch:
        """A child found a record whose subject is not its key: this batch and the one handed out after it
        are folded in this process, as one, and the children forget what they folded of them."""
        log.warning("a record's key is not its subject's id: a batch is folded in the worker's own process")
        records = handed.records + [r for later in self._handed for r in later.records]
        self._handed.clear()  # their answers are still received, in order, and dropped
        self._merged = self._sequence  # the children keep none of the states they folded of them
        self._reset = True  # nor their memos of them: the next share says so
        return self.process(records)

    def applied_offset(self, batch: Batch, partition: int) -> int:
        for folded in (batch, *(handed.batch for handed in reversed(self._handed))):
            if partition in folded.offsets:
                return folded.offsets[partition]
        return super().applied_offset(_NO_BATCH, partition)

    def _log_root(self, batch: Batch, partition: int) -> str:
        for folded in (batch, *(handed.batch for handed in reversed(self._handed))):
            if partition in folded.roots:
                return folded.roots[partition]
        return super()._log_root(_NO_BATCH, partition)

    def _shares(self, records: list[Record]) -> tuple[Batch, list[Share]]:
        """The batch with its offsets and roots, and each child's share of the records to fold."""
        batch = Batch()
        grading = self.grading_policy() if self.grading_policy else None
        shares = [Share(self._sequence, self._merged, [], {}, {}, grading.version if grading else None, self._reset)
                  for _ in range(self.pool.processes)]
        for record in self._with_gaps_filled(records):
            partition, offset, key, value = record
            batch.records.append(record)
            if offset <= self.applied_offset(batch, partition):
                batch.tally(metrics.REDELIVERED)
                continue
            batch.roots[partition] = log_link(self._log_root(batch, partition), offset, key, value)
            batch.offsets[partition] = offset
            share = shares[self.pool.child_of(key)]
            share.records.append(record)
            subject_id = key.decode("utf-8", "replace") if key else ""
            if subject_id not in share.states:
                share.states[subject_id] = state = self._newest_encoded(subject_id)
                share.grades[subject_id] = self._grade(batch, subject_id) if state is not None else None
        return batch, shares

    def _newest_encoded(self, subject_id: str) -> bytes | None:
        """The subject's newest state as stored, of the batches merged: an unwritten batch's, a kept one's,
        else the store's (a child holds its own newer ones)."""
        for earlier in reversed(self._unsettled):
            if subject_id in earlier.states:
                return encoded_state(earlier.states[subject_id])
        if subject_id in self._hot_states:
            return encoded_state(self._hot_states[subject_id])
        return self.store.get_encoded(subject_id)


_NO_BATCH = Batch()  # never written to: "no batch of its own" for the lookups above


def _merge(batch: Batch, folded: Folded) -> None:
    batch.states.update(folded.states)
    batch.subjects.update(folded.subjects)
    batch.history.extend(folded.history)
    batch.index.update(folded.index)
    for counter, delta in folded.counters.items():
        batch.count(counter, delta)
    batch.grades.update(folded.grades)
    batch.grade_changes.extend(folded.grade_changes)
    batch.rejections.extend(folded.rejections)
    batch.applied += folded.applied
    for (name, label), count in folded.tallies.items():
        counter = metrics.FOLD_TALLIED[name]
        batch.tallies[counter, label] = batch.tallies.get((counter, label), 0) + count
