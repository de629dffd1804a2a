"""`rebuild`: re-fold credit.events from offset 0 into fresh state, with no Faust in the loop.

Every partition is folded through the live worker's own LedgerProcessor (streams/ledger.py), so a rebuild
agrees with the worker, quarantines included. A partition is folded on its own (a subject's events all
lie in its partition), so a big ledger is folded side by side in child processes, one a core. Each child
folds into memory (streams.store.RunStore) and writes what it holds as one sorted RocksDB table file,
encoding each state, grade and index entry once, at the end; the parent ingests the files into a store
of its own (a file move each) and adds up the counters. Sending the children's states back as Python
objects instead cost the parent more than a child's whole fold (docs/performance.md).
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from projections.effects import Counter
from projections.policy import DEFAULT_POLICY, Policy, PolicyBook
from streams import ledger_reader, topics
from streams.kafka_access import KafkaAccess
from streams.ledger import LedgerProcessor, Record
from streams.store import MemoryStore, RunStore, SubjectStore, parse_counter, write_table_file

REBUILD_CHUNK = 5_000  # records folded per in-memory commit
# A child costs ~1 s to start, so a ledger smaller than this is folded in this process.
REBUILD_PARALLEL_MIN_RECORDS = 50_000
REBUILD_PROCESSES_MAX = 16


class RebuiltStore(SubjectStore):
    """A side-by-side rebuild's store: a SubjectStore in a directory of its own, which `close` (or the
    end of the process, whichever comes first) removes."""

    def __init__(self, directory: Path):
        super().__init__(directory / "store")
        self.directory = directory
        self._removal = weakref.finalize(self, shutil.rmtree, directory, True)

    def close(self) -> None:
        super().close()
        self._removal()


@dataclass
class PartitionRun:
    """What a child hands back: its table file (None when the partition held nothing to store), the
    counters' deltas by name, and the records it read."""
    table: Path | None
    counts: dict[str, int]
    records: int


def rebuild_processes(partitions: int, records: int, parallel_min_records: int = REBUILD_PARALLEL_MIN_RECORDS) -> int:
    """How many processes `rebuild_from_log` folds `records` of `partitions` partitions with: one a core."""
    processes = min(os.cpu_count() or 1, partitions, REBUILD_PROCESSES_MAX)
    return processes if processes >= 2 and records >= parallel_min_records else 1


def rebuild_from_log(bootstrap: KafkaAccess | str, until: dict[int, int] | None = None,
                     policy: Policy | PolicyBook = DEFAULT_POLICY,
                     parallel_min_records: int = REBUILD_PARALLEL_MIN_RECORDS) -> tuple[MemoryStore | RebuiltStore, int]:
    """Re-fold credit.events from offset 0 into fresh state.

    `until` ({partition: last offset}) stops where a live store stood, to compare like with like.
    Returns the store and the number of records read: a MemoryStore when folded in this process, else a
    RebuiltStore on disk (close it when done). Both answer the store's questions alike."""
    ranges = {partition: (low, high if until is None else min(high, until.get(partition, -1) + 1))
              for partition, (low, high) in ledger_reader.watermarks(bootstrap, topics.EVENTS).items()}
    processes = rebuild_processes(len(ranges), sum(max(0, end - low) for low, end in ranges.values()),
                                  parallel_min_records)
    if processes < 2:
        store, records_read = MemoryStore(), 0
        for partition, (low, end) in ranges.items():
            records_read += fold_records(store, _read(bootstrap, partition, low, end), policy)
        return store, records_read
    return _side_by_side(bootstrap, ranges, policy, processes)


def _side_by_side(bootstrap: KafkaAccess | str, ranges: dict[int, tuple[int, int]], policy: Policy | PolicyBook,
                  processes: int) -> tuple[RebuiltStore, int]:
    store = RebuiltStore(Path(tempfile.mkdtemp(prefix="credit-ledger-rebuild-")))
    try:
        # spawned, not forked: this process may hold librdkafka's threads, which a fork does not survive
        # and they collect garbage as this process was told to (ops.config.tune_gc)
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=gc.set_threshold, initargs=gc.get_threshold()) as pool:
            parts = [pool.submit(_fold_partition, bootstrap, partition, low, end, policy,
                                 store.directory / f"partition-{partition}.sst")
                     for partition, (low, end) in ranges.items()]
            runs = [part.result() for part in parts]
        add_runs(store, runs)
    except BaseException:
        store.close()
        raise
    return store, sum(run.records for run in runs)


def add_runs(store: SubjectStore, runs: Iterable[PartitionRun]) -> None:
    """Ingest the children's table files into `store` and write the sums of their counters."""
    runs = list(runs)
    store.ingest([run.table for run in runs if run.table is not None])
    counts: dict[Counter, int] = {}
    for run in runs:
        for name, delta in run.counts.items():
            counter = parse_counter(name)
            counts[counter] = counts.get(counter, 0) + delta
    store.write({}, {}, counters=counts)


def _fold_partition(bootstrap: KafkaAccess | str, partition: int, low: int, end: int, policy: Policy | PolicyBook,
                    table: Path) -> PartitionRun:
    """A child's work: fold one partition's records low <= offset < end, and write them as `table`."""
    return fold_to_table(_read(bootstrap, partition, low, end), policy, table)


def fold_to_table(records: Iterable[Record], policy: Policy | PolicyBook, table: Path) -> PartitionRun:
    """Fold `records` (of partitions no other run holds) from nothing into a table file for SubjectStore.ingest."""
    store = RunStore()
    count = fold_records(store, records, policy)
    written = write_table_file(table, store.table_items())
    return PartitionRun(table if written else None, dict(store.counts), count)


def fold_records(store: MemoryStore, records: Iterable[Record], policy: Policy | PolicyBook) -> int:
    """Fold `records` into `store` through the worker's LedgerProcessor, REBUILD_CHUNK at a time; the count."""
    processor = LedgerProcessor(store, policy=policy, publishing=False)
    records_read, chunk = 0, []
    for record in records:
        chunk.append(record)
        if len(chunk) >= REBUILD_CHUNK:
            processor.commit(processor.process(chunk))
            records_read, chunk = records_read + len(chunk), []
            # What the store holds now is kept to the end: the collector need not walk it again at each
            # full collection (~10% of a rebuild's CPU at 40,000 events). States hold no reference
            # cycles, so what the fold later replaces is still freed, by its reference count.
            gc.freeze()
    processor.commit(processor.process(chunk))
    return records_read + len(chunk)


def _read(bootstrap: KafkaAccess | str, partition: int, low: int, end: int) -> Iterable[Record]:
    for offset, key, value, _ in ledger_reader.read_range(bootstrap, topics.EVENTS, partition, low, end):
        yield partition, offset, key, value


def all_states(store: MemoryStore | SubjectStore, page: int = REBUILD_CHUNK) -> Iterable[dict]:
    """Every subject's state in `store`, in key order, read a page of ids at a time."""
    after = ""
    while ids := store.subject_ids_after(after, page):
        for subject_id in ids:
            yield store.get(subject_id)
        after = ids[-1]
