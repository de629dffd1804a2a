"""The fold spread over processes (streams/fold_pool.py) stores and publishes what the worker's own process
does, byte for byte: poison records, duplicates, rejections, quarantines and timer events included."""
from __future__ import annotations

import asyncio
from collections import Counter as Multiset

import pytest

from projections.policy import DEFAULT_POLICY
from streams import fold_pool, ledger, metrics
from streams import topics
from streams.codec import decode_event, decode_grade_changed, decode_rejection, encode_event
from streams.fold_pool import FOLD_PROCESSES_MAX, FoldPool, PooledProcessor
from streams.store import MemoryStore, SubjectStore
from tests.driver import drive
from tests.unit.test_rebuild_store import mixed_log, stored

FAULT_ENV = "CREDIT_LEDGER_TEST_FAULT_EVENT_IDS"


@pytest.fixture(scope="module")
def faulted_log():
    records, faults = mixed_log()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FAULT_ENV, ",".join(sorted(faults)))  # the children read it as they start
        pool = FoldPool(2, DEFAULT_POLICY)
    yield records, faults, pool
    pool.close()


def folded(records, faults, path, pool=None, take_max: int = 37):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "FAULT_EVENT_IDS", faults)
        store = SubjectStore(path)
        driven = drive(records, policy=DEFAULT_POLICY, take_max=take_max, store=store, pool=pool)
    assert driven.error is None
    return store, driven


def published(driven) -> Multiset:
    """What the fold published, each record decoded, without the instants it was published at."""
    return Multiset((topic, key, repr(sorted((k, v) for k, v in _decoded(topic, value).items()
                                             if k not in ("rejected_at", "at"))))
                    for topic, key, value in driven.producer.produced)


def _decoded(topic: str, value: bytes) -> dict:
    return decode_rejection(value) if topic == topics.REJECTED else decode_grade_changed(value)


@pytest.mark.parametrize("take_max, pipelined_from", [(37, fold_pool.PIPELINE_FROM_RECORDS), (37, 1), (500, 200)])
def test_the_fold_processes_store_and_publish_what_the_worker_does(tmp_path, faulted_log, take_max, pipelined_from,
                                                                   monkeypatch):
    """Batches merged at once, and batches merged one later (each handed out while the one before is merged,
    a subject's newer state kept by its child)."""
    monkeypatch.setattr(fold_pool, "PIPELINE_FROM_RECORDS", pipelined_from)
    records, faults, pool = faulted_log
    alone, alone_driven = folded(records, faults, tmp_path / "alone", take_max=take_max)
    pooled, pooled_driven = folded(records, faults, tmp_path / "pooled", pool, take_max=take_max)
    try:
        want, got = stored(alone), stored(pooled)
        assert len(want) > 300 and got.keys() == want.keys()
        assert [k for k in want if got[k] != want[k]] == []
        assert published(pooled_driven) == published(alone_driven)
        quarantined = [v for _, v in pooled_driven.producer.on(topics.REJECTED)
                       if decode_rejection(v)["reasons"][0]["rule"] == "internal_error"]
        assert len(quarantined) == len(faults)  # the children saw the fault hook
        shown = [Multiset(repr(sorted((k, v) for k, v in change.items() if k != "at"))
                          for change in driven.dashboard.feed.grade_changes) for driven in (alone_driven, pooled_driven)]
        assert shown[0] and shown[1] == shown[0]  # with the subjects' names: the children handed them back
    finally:
        alone.close()
        pooled.close()


def test_a_record_keyed_other_than_its_subject_is_folded_in_the_worker_s_process(tmp_path, faulted_log, caplog):
    records, faults, pool = faulted_log
    rekeyed = rekeyed_at(records, pool, 0.0)  # the first valid record of some subject
    alone, _ = folded(rekeyed, faults, tmp_path / "alone", take_max=500)
    pooled, _ = folded(rekeyed, faults, tmp_path / "pooled", pool, take_max=500)
    try:
        assert stored(pooled) == stored(alone)
        assert "folded in the worker's own process" in caplog.text
    finally:
        alone.close()
        pooled.close()


@pytest.mark.parametrize("share_of_log", [0.2, 0.4, 0.6, 0.8])
def test_a_misrouted_record_mid_stream_leaves_no_stale_memo_in_the_children(tmp_path, faulted_log, monkeypatch,
                                                                         share_of_log):
    """Batches handed out one ahead: the child that meets the misrouted record folded the next batch on states
    the worker's own process then replaced; what it remembered of them (the deadlines it indexed, the grade's
    basis) must not be trusted later, or a deadline stays in the index for ever and a count drifts."""
    monkeypatch.setattr(fold_pool, "PIPELINE_FROM_RECORDS", 1)
    records, faults, pool = faulted_log
    rekeyed = rekeyed_at(records, pool, share_of_log)
    alone, _ = folded(rekeyed, faults, tmp_path / "alone", take_max=20)
    pooled, _ = folded(rekeyed, faults, tmp_path / "pooled", pool, take_max=20)
    try:
        want, got = stored(alone), stored(pooled)
        assert [k for k in want.keys() | got.keys() if got.get(k) != want.get(k)] == []
    finally:
        alone.close()
        pooled.close()


def rekeyed_at(records: list, pool: FoldPool, share_of_log: float) -> list:
    """`records` with one valid record, that far into the log, keyed by another subject's id (a producer that
    keys wrongly), one that another fold process folds."""
    valid = [i for i, (_, _, key, value) in enumerate(records) if key and value and _subject(value)]
    index = valid[int(len(valid) * share_of_log)]
    other = next(key for _, _, key, value in records if key and key != records[index][2] and value
                 and pool.child_of(key) != pool.child_of(records[index][2]))
    partition, offset, _, value = records[index]
    return records[:index] + [(partition, offset, other, value)] + records[index + 1:]


def _subject(value: bytes):
    try:
        return decode_event(value)["subject"]["id"]
    except Exception:  # noqa: BLE001 - the poison record
        return None


def test_a_fold_process_that_dies_stops_the_fold():
    pool = FoldPool(2, DEFAULT_POLICY)
    try:
        pool._children[1].kill()
        pool._children[1].join()
        records = [(0, 0, b"s1", encode_event(_event()))]
        driven = drive(records, policy=DEFAULT_POLICY, store=MemoryStore(), pool=pool)
        assert isinstance(driven.error, (EOFError, BrokenPipeError, ConnectionResetError))
        assert driven.store.applied_offset(0) == -1
    finally:
        pool.close()


def _event() -> dict:
    records, _ = mixed_log()
    return decode_event(next(v for _, _, k, v in records if k and _subject(v)))


@pytest.mark.parametrize("processes", [0, 1, FOLD_PROCESSES_MAX + 1])
def test_the_number_of_fold_processes_is_bounded(processes):
    with pytest.raises(ValueError, match="fold processes"):
        FoldPool(processes, DEFAULT_POLICY)


def test_a_child_s_tallies_reach_the_worker_s_metrics(tmp_path, faulted_log):
    records, faults, pool = faulted_log
    moved = []
    for name, with_pool in (("alone", None), ("pooled", pool)):
        before = _fold_series()
        store, _ = folded(records, faults, tmp_path / name, with_pool)
        store.close()
        after = _fold_series()
        moved.append({series: count - before.get(series, 0) for series, count in after.items()
                      if count != before.get(series, 0)})
    assert moved[1] == moved[0]
    assert moved[0][("credit_events_quarantined_total", ())] == len(faults)
    assert sum(n for (name, _), n in moved[0].items() if name == "credit_events_total") > 100


def _fold_series() -> dict[tuple[str, tuple], float]:
    """Every series of the counters the fold tallies, by name and labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for counter in metrics.FOLD_TALLIED.values() for family in counter.collect()
            for sample in family.samples if sample.name.endswith("_total")}


def test_after_forget_the_children_fold_from_the_store_again(faulted_log, monkeypatch):
    """Batches handed out and dropped (an error of the worker: forget), or folded for another processor,
    leave nothing behind in the children: the same records folded again give what the worker's own process
    gives."""
    records, faults, pool = faulted_log
    monkeypatch.setattr(ledger, "FAULT_EVENT_IDS", faults)  # as the children have it
    monkeypatch.setattr(fold_pool, "PIPELINE_FROM_RECORDS", 1)  # every batch merged one later
    partition = [r for r in records if r[0] == 0]
    half = len(partition) // 2

    async def fold_all(processor, chunks):
        for chunk in [*chunks, []]:
            batch = await processor.fold(chunk, _nothing)
            if batch is not None:
                processor.commit(batch)

    pooled, alone = MemoryStore(), MemoryStore()
    processor = PooledProcessor(pooled, pool)
    asyncio.run(processor.fold(partition[:half], _nothing))  # handed out, not merged
    asyncio.run(processor.fold(partition[half:], _nothing))  # the first merged, the second handed out
    processor.forget()  # both dropped, the children's states with them
    asyncio.run(fold_all(processor, [partition[:20], partition[20:]]))
    serial = ledger.LedgerProcessor(alone, policy=DEFAULT_POLICY)
    serial.commit(serial.process(partition))
    assert pooled.states == alone.states and pooled.index == alone.index and pooled.grades == alone.grades
    assert pooled.offsets == alone.offsets and pooled.roots == alone.roots
    again = MemoryStore()  # a processor after this one, on the same children: theirs is forgotten too
    asyncio.run(fold_all(PooledProcessor(again, pool), [partition[:20], partition[20:]]))
    assert again.states == alone.states and again.grades == alone.grades


async def _nothing() -> None:
    pass
