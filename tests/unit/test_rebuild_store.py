"""A side-by-side `rebuild` (streams/rebuild.py: each partition folded into a table file, the files
ingested) stores exactly what the live worker's fold loop stores in its RocksDB store, byte for byte."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from projections.deadlines import pending_deadlines, system_event
from projections.fold import APPLIED, QUARANTINED, REJECTED
from projections.policy import DEFAULT_POLICY
from projections.validate import EdgeContext, require_valid
from streams import ledger
from streams.codec import decode_event, encode_event
from streams.proofs import PartitionTree
from streams.rebuild import RebuiltStore, add_runs, all_states, fold_to_table
from streams.store import TREE, MemoryStore, SubjectStore
from tests.driver import drive
from tests.unit.test_driver import POISON, demo_log, replayed

TIMER_EVENTS = 12  # system events of the timers appended to the demo's log
FAULTS = 3  # applied events made to raise (quarantined) by the fault hook


def mixed_log() -> tuple[list[tuple[int, int, bytes, bytes]], frozenset[str]]:
    """The driver's demo log (poison, duplicates, rejections) with timer events after it on each
    partition, and the ids of events the fault hook quarantines."""
    records = list(demo_log())
    states = replayed(records)[0]
    ends = {p: max(o for q, o, _, _ in records if q == p) for p, *_ in records}
    partition_of = {key.decode(): p for p, _, key, value in records if value != POISON}
    due = sorted((d for s in states.values() for d in pending_deadlines(s, DEFAULT_POLICY)), key=lambda d: d.fires_at)
    for deadline in due[:TIMER_EVENTS]:
        raw = system_event(states[deadline.subject_id], deadline, deadline.fires_at, DEFAULT_POLICY)
        event = require_valid(raw, EdgeContext(now=datetime.fromisoformat(deadline.fires_at), pseudonym_key=b"",
                                               stamp_recorded_at=False, allow_system=True))
        partition = partition_of[deadline.subject_id]
        ends[partition] += 1
        records.append((partition, ends[partition], deadline.subject_id.encode(), encode_event(event)))
    ids = [decode_event(v)["event_id"] for _, o, _, v in records if v != POISON and o % 41 == 5]
    return records, frozenset(ids[:FAULTS])


def live_store(records, path: Path) -> SubjectStore:
    """The worker's fold loop (tests/driver.py) over `records`, into a RocksDB store as the worker's."""
    store = SubjectStore(path)
    driven = drive(records, policy=DEFAULT_POLICY, take_max=37, store=store)
    assert driven.error is None
    return store


def rebuilt_store(records, directory: Path) -> RebuiltStore:
    store = RebuiltStore(directory)
    add_runs(store, [fold_to_table([r for r in records if r[0] == p], DEFAULT_POLICY, directory / f"{p}.sst")
                     for p in sorted({r[0] for r in records})])
    return store


def stored(store: SubjectStore) -> dict[bytes, bytes]:
    # A counter back at zero is kept as "0" by a store that wrote it in two batches, and is absent from
    # one that folded both changes in one: the same count. The partitions' Merkle trees (k/) are the live
    # worker's own (its fold grows them, streams/proofs.py): a rebuild makes none.
    return {key: value for key, value in store.items()
            if not (key.startswith(b"c/") and value == b"0") and not key.startswith(TREE)}


def test_a_side_by_side_rebuild_stores_what_the_live_worker_stores(tmp_path, monkeypatch):
    records, faults = mixed_log()
    monkeypatch.setattr(ledger, "FAULT_EVENT_IDS", faults)
    outcomes = outcomes_of(records)
    assert outcomes[QUARANTINED] == FAULTS and outcomes[REJECTED] > 0 and outcomes["timer"] >= TIMER_EVENTS // 2
    live, rebuilt = live_store(records, tmp_path / "live"), rebuilt_store(records, tmp_path / "rebuilt")
    try:
        want, got = stored(live), stored(rebuilt)
        assert len(want) > 300
        assert sorted({k[:2] for k in want}) == [b"c/", b"g/", b"h/", b"l/", b"o/", b"r/", b"s/", b"t/"]
        assert got.keys() == want.keys()
        assert [k for k in want if got[k] != want[k]] == []
        assert rebuilt.state_digest() == live.state_digest()
        for partition in sorted({r[0] for r in records}):  # the live fold grew each partition's tree whole
            tree = PartitionTree(live, partition)
            assert (tree.size, tree.last_offset) == (sum(1 for r in records if r[0] == partition),
                                                     max(r[1] for r in records if r[0] == partition))
        assert list(all_states(rebuilt)) == list(all_states(live))
    finally:
        live.close()
        rebuilt.close()
    assert not (tmp_path / "rebuilt").exists()  # a rebuild's directory goes with its store


def outcomes_of(records) -> dict[str, int]:
    """How the log's records fare, by the fold's verdict (the fault hook's quarantines apart)."""
    counted = {APPLIED: 0, REJECTED: 0, QUARANTINED: 0, "timer": 0}
    for p in sorted({r[0] for r in records}):
        batch = ledger.LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICY).process([r for r in records if r[0] == p])
        counted[APPLIED] += batch.applied
        for rejection in batch.rejections:
            rule = rejection.reasons[0].rule
            counted[QUARANTINED if rule == "internal_error" else REJECTED] += 1
        counted["timer"] += sum(1 for _, _, entry in batch.history if entry["event"]["source"].get("system"))
    return counted


@pytest.mark.parametrize("empty_partition", [True, False])
def test_a_partition_with_nothing_to_store_writes_no_file(tmp_path, empty_partition):
    records = [] if empty_partition else [(0, 0, b"poison", POISON)]
    run = fold_to_table(records, DEFAULT_POLICY, tmp_path / "0.sst")
    assert run.records == len(records)
    assert (run.table is None) == empty_partition and (tmp_path / "0.sst").exists() != empty_partition
