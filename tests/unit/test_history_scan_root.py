"""A scan of a whole partition (`history --scan`) is checked against the newest Merkle root on credit.digests:
the root of its first tree_size records must be the one published, or the command fails naming why."""
from __future__ import annotations

import pytest

from ops.history import HistoryMismatch, root_checked
from projections import merkle


def _builder(records: int, size: int) -> merkle.RootBuilder:
    builder = merkle.RootBuilder(at_sizes=(size,))
    for offset in range(records):
        builder.add(merkle.record_leaf_hash(offset, b"k", b"value %d" % offset))
    return builder


def _digest(size: int, root: bytes) -> dict:
    return {"topic": "credit.events", "partition": 1, "tree_size": size, "tree_root": root.hex(),
            "tree_offset": size - 1}


def test_the_records_give_the_published_root_or_the_scan_fails():
    published = _builder(10, 10).roots[10]
    assert root_checked(_builder(15, 10), _digest(10, published), 1, 0) == \
        "its first 10 records give the Merkle root on credit.digests"  # records folded since: fine
    changed = merkle.RootBuilder(at_sizes=(10,))
    for offset in range(15):
        changed.add(merkle.record_leaf_hash(offset, b"k", b"value %d" % (offset + (offset == 4))))
    with pytest.raises(HistoryMismatch, match=r"first 10 records of partition 1 \(to offset 9\) do not give"):
        root_checked(changed, _digest(10, published), 1, 0)
    with pytest.raises(HistoryMismatch, match="holds 8 records from offset 0; the Merkle root on credit.digests "
                                              "covers 10"):
        root_checked(_builder(8, 10), _digest(10, published), 1, 0)
    assert root_checked(_builder(3, 0), None, 1, 0) == "no Merkle root on credit.digests to check the partition with"
