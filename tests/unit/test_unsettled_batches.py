"""A batch folded on top of one not yet written (its outputs in flight) ends where one fold does."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.policy import DEFAULT_POLICY
from streams.ledger import LedgerProcessor
from streams.store import MemoryStore
from tests.unit.test_driver import demo_log

STORE_PARTS = ("states", "histories", "index", "counts", "grades", "offsets", "roots")


def folded(batches) -> tuple[MemoryStore, list[dict]]:
    """Each batch folded, then written only once the next one is folded (as streams/worker_fold.py does)."""
    processor = LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICY, grading_policy=lambda: DEFAULT_POLICY)
    changes, unsettled = [], None
    for records in batches:
        batch = processor.process(records)
        changes += batch.grade_changes
        if unsettled is not None:
            processor.commit(unsettled)
        unsettled = batch
    processor.commit(unsettled)
    return processor.store, changes


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 150), st.integers(0, 40))
def test_a_batch_folded_on_an_unwritten_one_ends_where_one_fold_does(size, again):
    records = demo_log()[:400]
    batches = [records[start:start + size] for start in range(0, len(records), size)]
    if len(batches) > 1:  # the last records of a batch delivered again with the next (a take ahead)
        batches[1] = batches[0][-again:] + batches[1] if again else batches[1]
    one, one_changes = folded([records])
    many, many_changes = folded(batches)
    for name in STORE_PARTS:
        assert getattr(many, name) == getattr(one, name), name
    assert many_changes == one_changes


def test_batches_are_written_once_each_in_the_order_they_were_folded():
    records = demo_log()[:60]
    processor = LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICY)
    first, second = processor.process(records[:30]), processor.process(records[30:])
    with pytest.raises(RuntimeError, match="folded and not committed"):
        processor.process(records[30:])
    with pytest.raises(RuntimeError, match="in the order"):
        processor.commit(second)
    processor.commit(first)
    with pytest.raises(RuntimeError, match="once each"):
        processor.commit(first)
    processor.commit(second)
    assert processor.store.applied_offsets() == {p: max(o for q, o, _, _ in records if q == p)
                                                 for p in {r[0] for r in records}}


def test_after_an_error_the_store_alone_says_where_the_fold_stands():
    records = demo_log()[:60]
    processor = LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICY)
    processor.commit(processor.process(records[:30]))
    processor.process(records[30:])  # never written: its outputs could not be delivered
    processor.forget()
    again = processor.process(records[30:])
    assert again.offsets and again.applied > 0  # folded anew from the store, not skipped as folded
    processor.commit(again)
    alone = LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICY)
    alone.commit(alone.process(records))
    assert processor.store.states == alone.store.states


def test_a_sweep_is_written_only_once_no_folded_batch_waits():
    records = demo_log()[:60]
    processor = LedgerProcessor(MemoryStore(), policy=DEFAULT_POLICY)
    processor.commit(processor.process(records[:30]))
    folded_batch = processor.process(records[30:])
    sweep, _ = next(processor.regrade_all(DEFAULT_POLICY))
    with pytest.raises(RuntimeError, match="in the order"):
        processor.commit(sweep)  # the folded batch waiting is written first
    processor.commit(folded_batch)
    processor.commit(sweep)
    with pytest.raises(RuntimeError, match="once each"):
        processor.commit(sweep)
