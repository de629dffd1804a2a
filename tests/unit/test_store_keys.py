"""The timer index (streams/store.py): its keys and values against the Deadline they stand for, and its
scans in RocksDB against the same index in memory; and the store's table options after a restart."""
from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.deadlines import Deadline
from projections.fold import new_state
from streams.store import BLOCK_CACHE_BYTES, MemoryStore, SubjectStore, list_key, timer_key, timer_value

DEADLINE = Deadline("2026-12-09T00:00:00+08:00", "91420200MA4KXXXX0X", "OBJECTION", "HS-O-1", "2026-12-08", True)


def test_a_timer_value_holds_every_field_of_its_deadline_and_the_partition():
    value = orjson.loads(timer_value(DEADLINE, 3))
    assert value == {**asdict(DEADLINE), "partition": 3}
    assert set(value) == {f.name for f in fields(Deadline)} | {"partition"}  # a new field is not left out


def test_timer_keys_sort_in_firing_order():
    later = Deadline("2026-12-10T00:00:00+08:00", "0", "REPAIR", "R", "2026-12-09", False)
    assert timer_key(DEADLINE) < timer_key(later)
    assert timer_key(DEADLINE).decode().endswith("/91420200MA4KXXXX0X/OBJECTION/HS-O-1")


# --- the timer index's scans in RocksDB, against the same writes in memory -------------------------
KINDS = ("OBJECTION", "REPAIR", "COMMITMENT")
deadlines = st.builds(
    lambda day, hour, subject, kind: Deadline(f"2026-12-{day:02d}T{hour:02d}:00:00+08:00", f"S{subject}", kind,
                                              f"R{subject}", f"2026-12-{day:02d}", False),
    st.integers(1, 28), st.integers(0, 23), st.integers(0, 30), st.sampled_from(KINDS))
# the partitions a worker folds, in the order a test asks about them: None (all), fewer, fewer, more, fewer, more
PARTITION_SETS = (None, frozenset({0, 2}), frozenset({0}), frozenset({0, 1}), frozenset({1}))
# a batch: deadlines to add, and how many of those pending to remove (the earliest first, as firing does)
batches = st.lists(st.tuples(st.lists(deadlines, max_size=6), st.integers(0, 8), st.booleans()), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=batches)
def test_timer_scans_answer_as_the_index_in_memory_however_deadlines_come_and_go(tmp_path_factory, steps):
    disk, memory = SubjectStore(tmp_path_factory.mktemp("store")), MemoryStore()
    try:
        pending: dict[bytes, tuple[Deadline, int]] = {}  # key -> (deadline, its partition)
        for step, (added, removed, earliest_first) in enumerate(steps):
            index: dict[bytes, bytes | None] = {}
            gone = sorted(pending) if earliest_first else sorted(pending, reverse=True)
            for key in gone[:removed]:
                index[key] = None
                del pending[key]
            for deadline in added:
                partition = int(deadline.subject_id[1:]) % 3
                index[timer_key(deadline)] = timer_value(deadline, partition)
                pending[timer_key(deadline)] = deadline, partition
            for store in (disk, memory):
                store.write({}, {}, index=index)
            # time goes on; the partitions asked about change, as a rebalance changes them, with nothing written
            # in between: fewer (where the last scan stopped still holds) or more (it does not)
            now = datetime.fromisoformat("2026-12-01T12:00:00+08:00") + timedelta(days=step)
            for partitions in (PARTITION_SETS[step % 5], PARTITION_SETS[(step + 1) % 5]):
                expected = [{**asdict(deadline), "partition": partition} for key, (deadline, partition) in sorted(
                    pending.items()) if datetime.fromisoformat(deadline.fires_at) <= now
                    and (partitions is None or partition in partitions)]
                assert disk.timers_due(now, 2, partitions) == memory.timers_due(now, 2, partitions) == expected[:2]
            assert disk.timers_due(now) == memory.timers_due(now)
            assert disk.timers_next({"REPAIR"}, 3) == memory.timers_next({"REPAIR"}, 3)
            # where the scans start lies at or before every live deadline, so none is passed over
            assert all(disk._timers_from <= key for key in pending)
    finally:
        disk.close()


# --- the store's table options survive a restart -------------------------------------------------------
def _keys_and_filtered_keys(store: SubjectStore) -> tuple[int, int]:
    """(keys in the store's table files, those of them in a bloom filter), as RocksDB counts them."""
    properties = store._db.property_value("rocksdb.aggregated-table-properties")
    count = lambda name: int(properties.split(f"# {name}=")[1].split(";")[0])  # noqa: E731
    return count("entries"), count("entries for filter")


def _state(subject_id: str, n: int) -> dict:
    """A state the store's checks read (streams.store.check_write: subject.id, as_of, the version), marked
    with `n` in a counter the checks do not read."""
    state = new_state({"id": subject_id, "kind": "LEGAL_PERSON"})
    return {**state, "as_of": {"offset": 0, "recorded_at": None}, "rejected_total": n}


def test_the_store_checks_what_it_writes_and_reads(tmp_path):
    for store in (SubjectStore(tmp_path / "store"), MemoryStore()):
        store.write({"S1": _state("S1", 1)}, {0: 3})
        with pytest.raises(AssertionError, match="subject.id"):
            store.write({"S2": _state("S1", 1)}, {0: 4})
        with pytest.raises(AssertionError, match="as_of.offset"):
            store.write({"S1": {**_state("S1", 1), "as_of": {"offset": 9}}}, {0: 4})
        with pytest.raises(AssertionError, match="does not move forward"):
            store.write({}, {0: 3})
        store.write({"S1": _state("S1", 2)}, {0: 4, 1: 0})  # nothing of the refused writes was applied
        assert store.get("S1")["rejected_total"] == 2 and store.applied_offsets() == {0: 4, 1: 0}
        if isinstance(store, SubjectStore):  # a state under another subject's key, as a bug could leave it
            store._db.put(b"s/S3", orjson.dumps(_state("S1", 3)))
        else:
            store.states["S3"] = _state("S1", 3)
        with pytest.raises(AssertionError, match="read for"):
            store.get("S3")
        store.close()


def test_a_reopened_store_keeps_its_bloom_filter_and_its_block_cache(tmp_path):
    """rocksdict opens an existing store's column families with its own defaults unless told otherwise:
    every worker restart would fold with an 8 MiB cache and files written without a bloom filter."""
    store = SubjectStore(tmp_path / "store")
    store.write({"S1": _state("S1", 1)}, {0: 0})
    store.close()
    store = SubjectStore(tmp_path / "store")  # as a restarted worker opens it
    try:
        assert int(store._db.property_value("rocksdb.block-cache-capacity")) == BLOCK_CACHE_BYTES
        store.write({"S2": _state("S2", 2)}, {0: 1})
        store._db.flush()  # a table file written after the restart: its keys go into a filter
        keys, filtered = _keys_and_filtered_keys(store)
        assert keys >= 2 and filtered == keys
        assert store.get("S1")["rejected_total"] == 1 and store.get("S2")["rejected_total"] == 2
    finally:
        store.close()


def test_each_list_kind_is_listed_in_memory_as_on_disk(tmp_path):
    """MemoryStore answered only the first kind in key order (it stopped at the first key of another)."""
    index = {list_key(kind, subject, entry): b"" for kind, subject, entry in (
        ("ABNORMAL_OPERATION", "S2", "E1"), ("RED_LIST", "S1", "E2"), ("RED_LIST", "S3", "E3"),
        ("SERIOUS_DISHONESTY", "S1", "E4"))}
    memory, disk = MemoryStore(), SubjectStore(tmp_path / "store")
    try:
        for store in (memory, disk):
            store.write({}, {0: 0}, index=index)
        for kind, after, limit in (("RED_LIST", "", 10), ("RED_LIST", "S1/E2", 10), ("SERIOUS_DISHONESTY", "", 1),
                                   ("ABNORMAL_OPERATION", "", 10), ("OTHER_BLACKLIST", "", 10)):
            assert memory.list_members(kind, after, limit) == disk.list_members(kind, after, limit)
        assert memory.list_members("RED_LIST") == [("S1", "E2"), ("S3", "E3")]
        assert memory.list_members("RED_LIST", "S1/E2") == [("S3", "E3")]
    finally:
        disk.close()
