"""Known answers for the partitions' Merkle trees (projections/merkle.py, RFC 6962).

Every expected value is computed here with hashlib over literal bytes (a leaf: SHA-256(0x00 || data),
a node: SHA-256(0x01 || left || right)), never with the module's own functions, or is the
Certificate Transparency project's published test vector (the eight reference leaves, the roots of
the trees of 1..8 of them and two audit paths, as RFC 6962 implementations pin them).
"""
from __future__ import annotations

import hashlib

import pytest

from projections import merkle


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
CT_PATHS = {  # (leaf index, tree size) -> the audit path
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}


class Tree:
    """The nodes `merkle.appended` makes, in a dict: what the worker's store keeps."""

    def __init__(self, leaves: list[bytes]):
        self.nodes: dict[tuple[int, int], bytes] = {}
        for index, data in enumerate(leaves):
            for level, position, value in merkle.appended(index, merkle.leaf_hash(data), self.node):
                self.nodes[level, position] = value

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[level, index]


def test_the_empty_tree_and_the_ct_reference_roots():
    assert merkle.tree_root(0, Tree([]).node) == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    tree = Tree(CT_LEAVES)
    assert [merkle.tree_root(n, tree.node) for n in range(1, 9)] == CT_ROOTS


def test_roots_of_three_and_five_leaves_by_hand():
    d = [b"a", b"bc", b"", b"\x00\x01", b"e"]
    leaf = [_h(b"\x00" + x) for x in d]
    n01, n23 = _h(b"\x01" + leaf[0] + leaf[1]), _h(b"\x01" + leaf[2] + leaf[3])
    three = _h(b"\x01" + n01 + leaf[2])  # RFC 6962 splits 3 as 2 + 1
    five = _h(b"\x01" + _h(b"\x01" + n01 + n23) + leaf[4])  # and 5 as 4 + 1
    tree = Tree(d)
    assert merkle.tree_root(3, tree.node) == three
    assert merkle.tree_root(5, tree.node) == five
    # a leaf's proof, by hand, climbs to the root
    assert merkle.inclusion_proof(2, 3, tree.node) == [n01]
    assert merkle.inclusion_proof(1, 5, tree.node) == [leaf[0], n23, leaf[4]]
    assert merkle.inclusion_proof(4, 5, tree.node) == [_h(b"\x01" + n01 + n23)]


def test_the_ct_reference_audit_paths_are_made_and_hold():
    tree = Tree(CT_LEAVES)
    for (index, size), path in CT_PATHS.items():
        proof = merkle.inclusion_proof(index, size, tree.node)
        assert [p.hex() for p in proof] == path
        assert merkle.root_from_proof(_h(b"\x00" + CT_LEAVES[index]), index, size, proof) == CT_ROOTS[size - 1]


def test_every_proof_of_every_tree_size_holds_and_a_changed_one_does_not():
    leaves = [bytes([i, i * 7 % 256]) for i in range(37)]
    tree = Tree(leaves)
    for size in range(1, len(leaves) + 1):
        root = merkle.tree_root(size, tree.node)
        for index in range(size):
            leaf = _h(b"\x00" + leaves[index])
            proof = merkle.inclusion_proof(index, size, tree.node)
            assert merkle.proof_holds(leaf, index, size, proof, root)
            assert not merkle.proof_holds(_h(b"\x00" + leaves[index] + b"x"), index, size, proof, root)
            if size > 1:
                assert not merkle.proof_holds(leaf, (index + 1) % size, size, proof, root)
                bent = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not merkle.proof_holds(leaf, index, size, bent, root)
                assert not merkle.proof_holds(leaf, index, size, proof[:-1], root)
            assert not merkle.proof_holds(leaf, index, size, proof + [leaf], root)


def test_a_record_leaf_is_its_offset_key_and_value_framed():
    data = (bytes.fromhex("0000000000000007") + b"\x00\x00\x00\x02" + b"k1" + b"\x00\x00\x00\x03" + b"abc")
    assert merkle.leaf_bytes(7, b"k1", b"abc") == data
    assert merkle.record_leaf_hash(7, b"k1", b"abc") == _h(b"\x00" + data)
    assert merkle.leaf_bytes(0, None, None) == bytes(8) + bytes(4) + bytes(4)
    assert merkle.record_leaf_hash(8, b"k1", b"abc") != merkle.record_leaf_hash(7, b"k1", b"abc")


def test_bounds_are_checked():
    tree = Tree([b"x", b"y"])
    for index, size in ((2, 2), (-1, 2), (0, 0), (0, merkle.TREE_SIZE_MAX + 1)):
        with pytest.raises(merkle.ProofError):
            merkle.inclusion_proof(index, size, tree.node)
        with pytest.raises(merkle.ProofError):
            merkle.root_from_proof(b"\x00" * 32, index, size, [])
    with pytest.raises(merkle.ProofError):
        merkle.root_from_proof(b"\x00" * 32, 0, 2, [b"short"])
    with pytest.raises(merkle.ProofError):
        merkle.root_from_proof(b"\x00" * 32, 0, 2, [b"\x00" * 32] * (merkle.PROOF_HASHES_MAX + 1))
    with pytest.raises(merkle.ProofError):
        merkle.leaf_bytes(-1, b"", b"")


def test_many_proofs_of_one_tree_are_checked_together_as_one_by_one():
    leaves = [bytes([i]) for i in range(100)]
    tree = Tree(leaves)
    for size in (1, 2, 7, 64, 65, 100):
        root = merkle.tree_root(size, tree.node)
        memo: dict = {}
        items = [(_h(b"\x00" + leaves[i]), i, merkle.inclusion_proof(i, size, tree.node, memo))
                 for i in range(0, size, 3)]
        assert [len(p) for _, i, p in items] == [merkle.proof_length(i, size) for _, i, _ in items]
        assert merkle.first_failing(items, size, root) is None
        assert merkle.first_failing(items, size, _h(b"another root")) == 0
        if len(items) > 2:  # one bad leaf among good ones is found, where the one-by-one check finds it
            for bad in range(len(items)):
                leaf, index, proof = items[bad]
                changed = list(items)
                changed[bad] = (_h(b"\x00" + leaves[index] + b"!"), index, proof)
                assert merkle.first_failing(changed, size, root) == bad
                changed[bad] = (leaf, index, proof + [leaf])
                assert merkle.first_failing(changed, size, root) == bad
                if proof:
                    changed[bad] = (leaf, index, [_h(b"x")] + proof[1:])
                    assert merkle.first_failing(changed, size, root) == bad
                    changed[bad] = (leaf, index, proof[:-1] + [_h(b"x")])  # the top of the path, shared
                    assert merkle.first_failing(changed, size, root) == bad


def test_a_root_builder_gives_every_root_of_a_growing_tree():
    leaves = [_h(b"\x00" + data) for data in CT_LEAVES]
    builder = merkle.RootBuilder(at_sizes=(3, 8, 99))
    assert builder.root() == hashlib.sha256(b"").digest()
    for n, leaf in enumerate(leaves, start=1):
        builder.add(leaf)
        assert builder.size == n and builder.root() == CT_ROOTS[n - 1]
    assert builder.roots == {3: CT_ROOTS[2], 8: CT_ROOTS[7]}
    many = [bytes([i]) for i in range(70)]
    tree, builder = Tree(many), merkle.RootBuilder()
    for n, data in enumerate(many, start=1):
        builder.add(_h(b"\x00" + data))
        assert builder.root() == merkle.tree_root(n, tree.node)


def test_the_common_root_of_many_proofs_is_the_root_only_when_every_proof_reaches_it():
    """common_root climbs before the root is known (an auditor still reading credit.digests): it must give
    the published root only when first_failing would find no proof failing, and nothing otherwise."""
    leaves = [bytes([i, 3]) for i in range(90)]
    tree = Tree(leaves)
    assert merkle.common_root([], 5) is None
    for size in (1, 2, 5, 64, 90):
        root = merkle.tree_root(size, tree.node)  # CT's test vectors pin tree_root; this is its own check
        items = [(_h(b"\x00" + leaves[i]), i, merkle.inclusion_proof(i, size, tree.node)) for i in range(0, size, 2)]
        assert merkle.common_root(items, size) == root
        assert merkle.common_root(items[-1:], size) == root
        assert len(items) < 2 or merkle.common_root(items[1:], size) == root
        for bad in range(len(items)):  # one changed leaf, path hash, or length anywhere: not the root
            leaf, index, proof = items[bad]
            changes = [(_h(b"\x00" + leaves[index] + b"?"), index, proof), (leaf, index, proof + [leaf])]
            if proof:
                changes += [(leaf, index, [_h(b"y")] + proof[1:]), (leaf, index, proof[:-1] + [_h(b"y")]),
                            (leaf, index, proof[:-1])]
            if len(proof) >= 2:  # hashes of the wrong size, whose bytes add up to a whole path
                changes.append((leaf, index, [proof[0] + proof[1][:1], proof[1][1:], *proof[2:]]))
            for change in changes:
                changed = items[:bad] + [change] + items[bad + 1:]
                assert merkle.common_root(changed, size) != root
                assert merkle.first_failing(changed, size, root) is not None
                if isinstance(change[2], list) and len(set(map(len, change[2]))) < 2:  # a path as one bytes too
                    joined = [(lf, ix, b"".join(path)) for lf, ix, path in changed]
                    assert merkle.common_root(joined, size) != root
                    assert merkle.first_failing(joined, size, root) == bad
        joined = [(lf, ix, b"".join(path)) for lf, ix, path in items]
        assert merkle.common_root(joined, size) == root and merkle.first_failing(joined, size, root) is None
    # a forger's tree whose every proof agrees gives its own root: that root is not the published one
    forged = Tree([b"forged"] + leaves[1:10])
    items = [(_h(b"\x00" + b"forged"), 0, merkle.inclusion_proof(0, 10, forged.node)),
             (_h(b"\x00" + leaves[1]), 1, merkle.inclusion_proof(1, 10, forged.node))]
    assert merkle.common_root(items, 10) == merkle.tree_root(10, forged.node) != merkle.tree_root(10, tree.node)


def test_audit_paths_of_many_leaves_are_their_inclusion_proofs():
    """The worker's walk (audit_paths) gives, for every leaf of trees of every shape, the RFC's audit path:
    the CT reference paths, and inclusion_proof's (whose roots the CT vectors pin) for the rest."""
    tree = Tree(CT_LEAVES)
    for (index, size), path in CT_PATHS.items():
        assert [p.hex() for p in merkle.audit_paths([index], size, tree.node)[0]] == path
    leaves = [bytes([i % 251, i // 251]) for i in range(600)]
    tree = Tree(leaves)
    for size in [*range(1, 70), 127, 128, 129, 255, 256, 257, 511, 512, 513, 600]:
        wanted = list(range(size)) if size < 70 else list(range(0, size, 7)) + [size - 1]
        paths = merkle.audit_paths(wanted, size, tree.node)
        assert paths == [merkle.inclusion_proof(m, size, tree.node) for m in wanted], size
        root = merkle.tree_root(size, tree.node)
        assert all(merkle.root_from_proof(_h(b"\x00" + leaves[m]), m, size, p) == root for m, p in zip(wanted, paths))
    with pytest.raises(merkle.ProofError, match="^leaf 5 is not in a tree of 5 leaves$"):
        merkle.audit_paths([3, 5], 5, tree.node)


def test_each_refusal_says_what_is_wrong():
    tree = Tree([b"x", b"y"])
    cases = [
        (lambda: merkle.inclusion_proof(2, 2, tree.node), "leaf 2 is not in a tree of 2 leaves"),
        (lambda: merkle.root_from_proof(b"\x00" * 32, 2, 2, []), "leaf 2 is not in a tree of 2 leaves"),
        (lambda: merkle.proof_length(2, 2), "leaf 2 is not in a tree of 2 leaves"),
        (lambda: merkle.root_from_proof(b"\x00" * 32, 0, 2, [b"short"]), "a proof is at most 48 hashes of 32 bytes"),
        (lambda: merkle.root_from_proof(b"\x00" * 32, 0, 2, [b"\x00" * 32] * 2),
         "a proof of 2 hashes is too long for leaf 0 of 2"),
        (lambda: merkle.root_from_proof(b"\x00" * 32, 0, 2, []), "a proof of 0 hashes is too short for leaf 0 of 2"),
        (lambda: merkle.tree_root(-1, tree.node), "tree size -1 is not 0..281474976710656"),
        (lambda: merkle.leaf_bytes(-1, b"", b""), "offset -1 is not a Kafka offset"),
        (lambda: merkle.leaf_bytes(2 ** 63, b"", b""), "offset 9223372036854775808 is not a Kafka offset"),
    ]
    for call, message in cases:
        with pytest.raises(merkle.ProofError) as raised:
            call()
        assert str(raised.value) == message
    # the largest offset Kafka has (a signed 64-bit integer) is a leaf's, big-endian
    assert merkle.leaf_bytes(2 ** 63 - 1, b"k", None) == b"\x7f" + b"\xff" * 7 + b"\x00\x00\x00\x01k" + b"\x00" * 4


def test_a_tree_size_is_a_whole_number_not_a_truth_value_and_the_last_leaf_completes_every_level():
    for size in (True, False, 2.0, "2"):
        with pytest.raises(merkle.ProofError, match=f"^tree size {size!r} is not 0..281474976710656$"):
            merkle.tree_root(size, lambda level, index: b"\x00" * 32)
    last = merkle.TREE_SIZE_MAX - 1  # 2**48 leaves: the last one completes all 48 levels above it
    nodes = merkle.appended(last, b"\x01" * 32, lambda level, index: bytes([level]) * 32)
    assert [(level, index) for level, index, _ in nodes] == [(level, last >> level) for level in range(49)]
    with pytest.raises(merkle.ProofError, match="^tree size 281474976710657 is not 0..281474976710656$"):
        merkle.appended(last + 1, b"\x01" * 32, lambda level, index: b"\x00" * 32)


def test_a_subtree_of_no_leaves_is_refused():
    tree = Tree([b"x", b"y"])
    for start, end in ((3, 3), (1, 0), (0, 0)):
        with pytest.raises(merkle.ProofError, match=f"^an empty range {start}..{end}$"):
            merkle.subtree_hash(start, end, tree.node)


def test_a_proof_of_the_longest_path_is_taken_and_climbed():
    # leaf 0 of a tree of 2**48 leaves: 48 siblings, each on its right (computed here with hashlib)
    leaf, siblings = _h(b"\x00" + b"leaf"), [_h(bytes([i])) for i in range(48)]
    expected = leaf
    for sibling in siblings:
        expected = _h(b"\x01" + expected + sibling)
    assert merkle.proof_length(0, 2 ** 48) == 48
    assert merkle.root_from_proof(leaf, 0, 2 ** 48, siblings) == expected


def test_every_proof_of_every_size_checked_together_holds_and_each_changed_one_is_found():
    leaves = [bytes([i]) for i in range(40)]
    tree = Tree(leaves)
    for size in range(1, len(leaves) + 1):
        root = merkle.tree_root(size, tree.node)
        items = [(_h(b"\x00" + leaves[i]), i, merkle.inclusion_proof(i, size, tree.node)) for i in range(size)]
        assert merkle.first_failing(items, size, root) is None
        assert merkle.first_failing(items[::-1], size, root) is None
        for bad in range(size):
            leaf, index, proof = items[bad]
            for changed_proof in ([*proof, proof[-1]] if proof else [leaf], proof[:-1],
                                  [p[:31] for p in proof]):
                if changed_proof != proof:
                    changed = [*items[:bad], (leaf, index, changed_proof), *items[bad + 1:]]
                    assert merkle.first_failing(changed, size, root) == bad, (size, bad)
