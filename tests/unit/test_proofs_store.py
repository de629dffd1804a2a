"""The partitions' Merkle trees as the worker keeps them (streams/proofs.py): appended in pieces, kept in
the store's tiles, they give the root and proofs of a tree built at once from the same records."""
from __future__ import annotations

import hashlib

import pytest

from projections import merkle
from streams.proofs import TILE_WIDTH, PartitionTree, TreeError, append_folded, catch_up, history_proofs
from streams.store import MemoryStore, SubjectStore


def _leaf(offset: int, key: bytes | None, value: bytes | None) -> bytes:
    key, value = key or b"", value or b""
    return hashlib.sha256(b"\x00" + offset.to_bytes(8, "big") + len(key).to_bytes(4, "big") + key
                          + len(value).to_bytes(4, "big") + value).digest()


def _root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH, recursively, by hand."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _root(leaves[:k]) + _root(leaves[k:])).digest()


def _records(offsets):
    return [(o, b"k%d" % (o % 3) if o % 4 else None, b"value %d" % o) for o in offsets]


@pytest.mark.parametrize("make_store", [lambda tmp: MemoryStore(), lambda tmp: SubjectStore(tmp / "s")])
def test_a_tree_appended_in_pieces_and_reopened_is_the_tree_of_all_its_records(tmp_path, make_store):
    store = make_store(tmp_path)
    # offsets with jumps (a log whose start was deleted, a transaction's marker), over several tiles and tile levels
    offsets = list(range(5, 400)) + list(range(402, 2 * TILE_WIDTH + 450))
    records = _records(offsets)
    tree = PartitionTree(store, 2)
    assert tree.size == 0 and tree.root() == hashlib.sha256(b"").digest()
    for start in range(0, len(records), 97):
        assert tree.append(records[start:start + 97]) == len(records[start:start + 97])
    assert tree.append(records[:10]) == 0  # already in: skipped
    leaves = [_leaf(*r) for r in records]
    reopened = PartitionTree(store, 2)
    assert (reopened.size, reopened.last_offset) == (len(records), offsets[-1])
    for size in (1, 2, 3, 255, 256, 257, 394, 395, len(records)):
        assert reopened.root(size) == _root(leaves[:size])
    assert [reopened.leaf_index(o) for o in (5, 399, 402, offsets[-1])] == [0, 394, 395, len(records) - 1]
    assert [reopened.leaf_index(o) for o in (0, 4, 400, 401, offsets[-1] + 1)] == [None] * 5
    assert PartitionTree(store, 3).size == 0  # another partition's tree is its own


def test_history_proofs_prove_against_the_tree_last_published_and_no_further():
    store = MemoryStore()
    tree = PartitionTree(store, 0)
    records = _records(range(0, 1_000))
    tree.append(records[:600])
    assert history_proofs(tree, [3, 700]) == {"tree": None, "proofs": [None, None]}
    root = tree.root()
    tree.set_published(tree.size, root.hex(), tree.last_offset)
    tree.append(records[600:])  # folded since: not in the published tree
    answer = history_proofs(PartitionTree(store, 0), [3, 599, 600, 700, 5_000])
    assert answer["tree"] == {"partition": 0, "size": 600, "root": root.hex(), "offset": 599}
    assert answer["proofs"][2:] == [None, None, None]
    for offset, proof in zip((3, 599), answer["proofs"]):
        assert proof["leaf_index"] == offset
        hashes = bytes.fromhex(proof["proof"])
        path = [hashes[at:at + 32] for at in range(0, len(hashes), 32)]
        assert merkle.root_from_proof(_leaf(*records[offset]), offset, 600, path) == _root(
            [_leaf(*r) for r in records[:600]])


def test_catch_up_reads_what_the_tree_lacks_in_bounded_steps():
    records = _records(range(0, 250))
    asked = []

    def read_range(start, end):
        asked.append((start, end))
        return ((o, k, v, 0) for o, k, v in records[start:end])
    tree = PartitionTree(MemoryStore(), 1)
    assert catch_up(tree, read_range, 199, records_max=120) == 120
    assert catch_up(tree, read_range, 199, records_max=120) == 80
    assert catch_up(tree, read_range, 199, records_max=120) == 0
    assert asked == [(0, 120), (120, 200)] and tree.root() == _root([_leaf(*r) for r in records[:200]])


def test_a_tree_key_outside_the_trees_is_refused_and_a_missing_node_named(tmp_path):
    store = SubjectStore(tmp_path / "s")
    with pytest.raises(ValueError):
        store.tree_write({b"s/somebody": b"{}"})
    with pytest.raises(ValueError):
        MemoryStore().tree_write({b"o/0": b"1"})
    tree = PartitionTree(store, 0)
    with pytest.raises(TreeError, match=r"no node \(0, 0\)"):
        tree.nodes()(0, 0)


def test_every_node_has_a_slot_of_its_own_in_one_tile():
    from streams.proofs import TILE_SLOTS, _tile_of
    seen = {}
    for level in range(0, 17):
        for index in range(0, (1 << 17) >> level):
            where, slot = _tile_of(level, index)
            assert 0 <= slot < TILE_SLOTS and (where, slot) not in seen, (level, index, seen.get((where, slot)))
            seen[where, slot] = (level, index)
    assert _tile_of(0, 0) == ((0, 0), 0) and _tile_of(1, 0) == ((0, 0), 256) and _tile_of(7, 1) == ((0, 0), 509)
    assert _tile_of(8, 0) == ((1, 0), 0) and _tile_of(0, 256) == ((0, 1), 0) and _tile_of(9, 3) == ((1, 0), 259)


# --- the fold grows a tree as it writes (append_folded) -------------------------------------------
def _folded(partition: int, offsets) -> list[tuple]:
    """Records as the fold hands them over: (partition, offset, key, value)."""
    return [(partition, *record) for record in _records(offsets)]


def test_the_folds_batches_grow_a_tree_into_the_tree_of_all_their_records():
    store = MemoryStore()
    tree = PartitionTree(store, 1)
    # batches as the fold takes them: a few records each, beside another partition's, one redelivered
    batches = [_folded(1, range(0, 3)) + _folded(0, range(0, 5)), _folded(1, range(3, 300)),
               _folded(1, range(298, 301)) + _folded(1, range(301, 302))]
    assert [append_folded(tree, batch) for batch in batches] == [3, 297, 2]
    assert (tree.size, tree.last_offset) == (302, 301)
    assert tree.root() == _root([_leaf(*record) for record in _records(range(0, 302))])
    assert PartitionTree(store, 1).root() == tree.root() and PartitionTree(store, 0).size == 0


def test_records_past_where_the_tree_ends_are_left_to_the_catch_up():
    store = MemoryStore()
    tree = PartitionTree(store, 0)
    assert append_folded(tree, _folded(0, range(1, 4))) == 0  # the log holds a record 0 the tree lacks
    assert append_folded(tree, _folded(0, range(0, 4))) == 4
    assert append_folded(tree, _folded(0, range(6, 9))) == 0  # a jump at the batch's start: read from the log
    assert append_folded(tree, _folded(0, range(0, 4))) == 0  # redelivered: nothing new
    assert append_folded(tree, []) == 0 and (tree.size, tree.last_offset) == (4, 3)
    log = {offset: record for offset, *record in _records([*range(0, 4), *range(6, 9)])}
    assert catch_up(tree, lambda start, end: ((o, *log[o], 0) for o in range(start, end) if o in log), 8) == 3
    assert tree.root() == _root([_leaf(o, *log[o]) for o in sorted(log)])
    assert append_folded(tree, _folded(0, range(9, 11))) == 2  # and the fold goes on from there
