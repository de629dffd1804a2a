"""An append-only Merkle tree over a partition's records, as RFC 6962 (Certificate Transparency) builds one.

Pure: hashes in, hashes out; where the nodes are kept is the caller's (the worker keeps them in its
store, streams/store.py), passed in as a `node(level, index)` lookup.

    leaf hash   SHA-256(0x00 || leaf bytes)
    node hash   SHA-256(0x01 || left || right)
    the root of n leaves: MTH(D[0:n]), RFC 6962 section 2.1 (the empty tree: SHA-256 of nothing)

A leaf's bytes are the record as stored, framed as `log_link` frames it (projections/canonical.py)
without the previous root: its offset as 8 bytes big-endian, then its key and its value, each
preceded by its length as 4 bytes big-endian (an absent key or value counts as empty). A leaf
thus names its offset: a proof for one offset cannot be passed off for another.

The leaves of a partition are its records in offset order, leaf i the i-th record folded. The
tree keeps the hash of every complete subtree: node(level, index) covers the leaves
index * 2**level .. (index + 1) * 2**level - 1; `appended` gives the nodes a new leaf completes.
Every subtree the RFC's recursion needs for a root or a proof of any size up to the leaves kept is
made of those (`subtree_hash`), so a proof of a leaf in a tree of n leaves reads O(log n) nodes.

An inclusion proof (RFC 6962 section 2.1.1, "audit path") of leaf m in the tree of n leaves is the
list of sibling hashes from the leaf up; `root_from_proof` climbs it as RFC 9162 section 2.1.3.2
does, and a proof holds when the root it reaches is the published one.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

HASH_BYTES = 32
TREE_SIZE_MAX = 2 ** 48  # leaves; a partition of Kafka holds far fewer records
PROOF_HASHES_MAX = 48  # a proof in a tree of at most TREE_SIZE_MAX leaves has at most this many hashes
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = Callable[[int, int], bytes]  # (level, index) -> the hash of that complete subtree


class ProofError(ValueError):
    """A proof, a leaf or a tree size that cannot be checked (malformed, out of range)."""


def leaf_bytes(offset: int, key: bytes | None, value: bytes | None) -> bytes:
    """A record's leaf: offset (8 bytes), then key and value, each after its length (4 bytes), big-endian."""
    if not 0 <= offset < 2 ** 63:
        raise ProofError(f"offset {offset} is not a Kafka offset")
    key, value = key or b"", value or b""
    return b"".join((offset.to_bytes(8, "big"), len(key).to_bytes(4, "big"), key,
                     len(value).to_bytes(4, "big"), value))


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def record_leaf_hash(offset: int, key: bytes | None, value: bytes | None) -> bytes:
    return leaf_hash(leaf_bytes(offset, key, value))


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2): where RFC 6962 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def _check_size(tree_size: int) -> None:
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or not 0 <= tree_size <= TREE_SIZE_MAX:
        raise ProofError(f"tree size {tree_size!r} is not 0..{TREE_SIZE_MAX}")


def appended(leaf_index: int, leaf: bytes, node: Node) -> list[tuple[int, int, bytes]]:
    """The (level, index, hash) nodes that leaf `leaf_index` (hash `leaf`) completes, its own first:
    a left sibling it pairs with is looked up with `node` (nodes the same batch added included)."""
    _check_size(leaf_index + 1)
    found = [(0, leaf_index, leaf)]
    level, index, current = 0, leaf_index, leaf
    while index & 1:
        current = node_hash(node(level, index - 1), current)
        level, index = level + 1, index >> 1
        found.append((level, index, current))
    return found


def subtree_hash(start: int, end: int, node: Node, memo: dict | None = None) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion names (start a multiple of the largest power of
    two below end - start, or of end - start itself when that is one): complete subtrees are looked up,
    the others (a tree's right edge) computed, and kept in `memo` when given: the proofs of many leaves
    of one tree share them."""
    size = end - start
    if size <= 0:
        raise ProofError(f"an empty range {start}..{end}")
    if size & (size - 1) == 0 and start % size == 0:
        return node(size.bit_length() - 1, start // size)
    if memo is not None and (start, end) in memo:
        return memo[start, end]
    k = _split(size)
    found = node_hash(subtree_hash(start, start + k, node, memo), subtree_hash(start + k, end, node, memo))
    if memo is not None:
        memo[start, end] = found
    return found


def tree_root(tree_size: int, node: Node, memo: dict | None = None) -> bytes:
    """The root of the first `tree_size` leaves (RFC 6962 MTH)."""
    _check_size(tree_size)
    return EMPTY_ROOT if tree_size == 0 else subtree_hash(0, tree_size, node, memo)


def inclusion_proof(leaf_index: int, tree_size: int, node: Node, memo: dict | None = None) -> list[bytes]:
    """The audit path of leaf `leaf_index` in the tree of the first `tree_size` leaves, leaf side first
    (`memo`: as subtree_hash's, for many proofs in one tree)."""
    _check_size(tree_size)
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    path: list[bytes] = []
    start, end, m = 0, tree_size, leaf_index
    while end - start > 1:  # RFC 6962 PATH(m, D[start:end]), top down; collected, then reversed
        k = _split(end - start)
        if m < start + k:
            path.append(subtree_hash(start + k, end, node, memo))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, node, memo))
            start += k
    path.reverse()
    return path


def audit_paths(leaf_indices, tree_size: int, node: Node) -> list[list[bytes]]:
    """inclusion_proof(m, tree_size, node) for each m of `leaf_indices`, with less work for many leaves of one
    tree: the path is walked as root_from_proof climbs it (a left sibling is a complete subtree; a right one
    is one too, or the tree's last node of its level, made once), and a sibling that several paths share
    (the upper levels) is looked up once."""
    _check_size(tree_size)
    last = _last_nodes(tree_size, node)
    shared: dict[int, bytes] = {}
    paths = []
    for m in leaf_indices:
        if not isinstance(m, int) or not 0 <= m < tree_size:
            raise ProofError(f"leaf {m} is not in a tree of {tree_size} leaves")
        fn, sn, level, path = m, tree_size - 1, 0, []
        while sn:
            sibling = fn - 1 if fn & 1 else fn + 1 if fn < sn else -1
            if sibling >= 0:  # else the level's last node, alone: it is its parent (RFC 6962's uneven split)
                key = sibling << 6 | level  # a level is < 64
                found = shared.get(key)
                if found is None:
                    found = shared[key] = last[level] if sibling == sn else node(level, sibling)
                path.append(found)
            fn, sn, level = fn >> 1, sn >> 1, level + 1
        paths.append(path)
    return paths


def _last_nodes(tree_size: int, node: Node) -> list[bytes]:
    """The hash of the last node of each level of the tree of `tree_size` leaves (level 0 up to its root):
    stored when complete, else made of its children (the left complete, the right the level below's last,
    or that last alone when it has no sibling)."""
    last: list[bytes] = []
    level = 0
    while tree_size and (level == 0 or (tree_size - 1) >> (level - 1)):
        sn = (tree_size - 1) >> level
        if (sn + 1) << level <= tree_size:
            last.append(node(level, sn))
        elif 2 * sn == (tree_size - 1) >> (level - 1):
            last.append(last[level - 1])
        else:
            last.append(node_hash(node(level - 1, 2 * sn), last[level - 1]))
        level += 1
    return last


def root_from_proof(leaf: bytes, leaf_index: int, tree_size: int, proof: list[bytes]) -> bytes:
    """The root an inclusion proof of leaf hash `leaf` at `leaf_index` reaches (RFC 9162 2.1.3.2);
    ProofError when the proof cannot belong to that leaf in a tree of that size (wrong length, bad hash)."""
    _check_size(tree_size)
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    if len(proof) > PROOF_HASHES_MAX or any(not isinstance(p, bytes) or len(p) != HASH_BYTES for p in proof):
        raise ProofError(f"a proof is at most {PROOF_HASHES_MAX} hashes of {HASH_BYTES} bytes")
    fn, sn, current = leaf_index, tree_size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError(f"a proof of {len(proof)} hashes is too long for leaf {leaf_index} of {tree_size}")
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            current = node_hash(current, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"a proof of {len(proof)} hashes is too short for leaf {leaf_index} of {tree_size}")
    return current


def proof_holds(leaf: bytes, leaf_index: int, tree_size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        return root_from_proof(leaf, leaf_index, tree_size, proof) == root
    except ProofError:
        return False


def proof_length(leaf_index: int, tree_size: int) -> int:
    """How many hashes the audit path of `leaf_index` in a tree of `tree_size` leaves has."""
    _check_size(tree_size)
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    # Climbing, a level adds a hash unless the leaf's node is its level's last and a left one. Below the
    # level where the leaf's and the last leaf's nodes meet, every level adds one; from there on the two
    # are one node, which adds one where it is a right child: where the leaf index has a 1 bit.
    apart = (leaf_index ^ (tree_size - 1)).bit_length()
    return apart + (leaf_index >> apart).bit_count()


def first_failing(proofs, tree_size: int, root: bytes) -> int | None:
    """The position of the first (leaf hash, leaf index, audit path) of `proofs` that does not reach
    `root` in a tree of `tree_size` leaves, None when every one does (a path: its hashes, leaf side first,
    as a list or concatenated in one bytes).

    The same as root_from_proof(...) == root for each, with less hashing for many leaves of one tree:
    a climb that reaches a node an earlier proof reached and proved (a node is named by its level and
    position) stops there, holding when its hash there is the same and the rest of its path is the
    earlier proof's rest. So a path is accepted only whole and exactly as the one-by-one check would."""
    return _climbed(proofs, tree_size, root)[0]


def common_root(proofs, tree_size: int) -> bytes | None:
    """The root that every (leaf hash, leaf index, audit path) of `proofs` reaches in a tree of `tree_size`
    leaves, None when one is malformed or they do not all reach the same one (or there are none).

    What the first proof reaches, and every later one reaches it as first_failing checks: so when it is
    the published root, first_failing(proofs, tree_size, root) is None, and the climb needed no root
    to start (an auditor climbs while it still reads the root)."""
    failing, root = _climbed(proofs, tree_size, None)
    return root if failing is None else None


def _climbed(proofs, tree_size: int, root: bytes | None) -> tuple[int | None, bytes | None]:
    """(first_failing's answer, the root): `root` None takes the first proof's top as the root. A path is
    a list of hashes or their concatenation (bytes), read in place."""
    sha256 = hashlib.sha256
    known: dict[int, tuple[bytes, bytes, int]] = {}  # node (index << 6 | level) -> (hash, its path, where the rest is)
    for position, (leaf, leaf_index, proof) in enumerate(proofs):
        path = _joined(proof)
        try:
            if path is None or len(path) != HASH_BYTES * proof_length(leaf_index, tree_size):
                return position, root
        except ProofError:
            return position, root
        fn, sn, level, current, reached, held = leaf_index, tree_size - 1, 0, leaf, [], None
        for at in range(0, len(path), HASH_BYTES):
            rest = at + HASH_BYTES
            if fn & 1 or fn == sn:
                current = sha256(b"\x01" + path[at:rest] + current).digest()
                while not fn & 1 and fn != 0:
                    fn, sn, level = fn >> 1, sn >> 1, level + 1
            else:
                current = sha256(b"\x01" + current + path[at:rest]).digest()
            fn, sn, level = fn >> 1, sn >> 1, level + 1
            node = fn << 6 | level  # a level is < 64
            seen = known.get(node)
            if seen is not None:
                seen_hash, seen_path, seen_rest = seen
                held = seen_hash == current and path[rest:] == seen_path[seen_rest:]
                break
            reached.append((node, (current, path, rest)))
        if held is None:
            if root is None:
                root = current
            held = current == root
        if not held:
            return position, root
        known.update(reached)
    return None, root


def _joined(proof) -> bytes | None:
    """A path as the concatenation of its hashes; None when a hash of a list is not HASH_BYTES of bytes."""
    if isinstance(proof, bytes):
        return proof
    try:
        return None if any(map(HASH_BYTES.__ne__, map(len, proof))) else b"".join(proof)
    except TypeError:
        return None


class RootBuilder:
    """The roots of a growing tree from its leaves alone, in O(log n) memory: what a scan of a whole
    partition checks the published roots with. `roots` keeps the root at each size in `at_sizes`."""

    def __init__(self, at_sizes=()):
        self.size = 0
        self._peaks: list[tuple[int, bytes]] = []  # (level, hash) of the complete subtrees, left to right
        self._wanted = set(at_sizes)
        self.roots: dict[int, bytes] = {}

    def add(self, leaf: bytes) -> None:
        level, current = 0, leaf
        while self._peaks and self._peaks[-1][0] == level:
            current = node_hash(self._peaks.pop()[1], current)
            level += 1
        self._peaks.append((level, current))
        self.size += 1
        if self.size in self._wanted:
            self.roots[self.size] = self.root()

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        current = self._peaks[-1][1]
        for _, peak in reversed(self._peaks[:-1]):
            current = node_hash(peak, current)
        return current
