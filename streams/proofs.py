"""The partitions' Merkle trees in the worker's store, and the inclusion proofs it serves (issue 30).

Each partition of credit.events has an append-only Merkle tree (projections/merkle.py, RFC 6962)
over its records as the broker stores them. The fold appends each batch's records once the batch is in
the store (`append_folded`, streams/worker_fold.py), when they go on where the tree ends. Where the tree
is behind (a restart, a jump in the offsets at a batch's start) the digests timer (streams/worker_loops.py)
reads the records it lacks from the log itself, up to the store's applied offset and at most
CATCH_UP_RECORDS_MAX a tick, with the ledger reader, and appends them; the fold leaves a tree alone while
that runs. The timer publishes the tree's size and root on credit.digests beside the partition's log root.
`GET /subjects/{id}/history?proofs=1` then serves each entry with its leaf index and audit path
against the tree the worker last published for the subject's partition (`history_proofs`), and
`credit-ledger history` checks them against the root it reads from credit.digests itself.

Kept under store.TREE, per partition p:

    k/<p>/m                                 {"size", "last_offset", "runs"}: the tree's extent (JSON)
    k/<p>/p                                 {"size", "root", "offset"}: the tree last published (JSON)
    k/<p>/t/<tile level, 2 digits>/<tile, 12 digits>   a tile: 8 levels of the tree under 256 nodes

The nodes are kept in tiles, as transparency logs keep them: tile k of tile level t holds the nodes
of levels 8t..8t+7 over the 256 nodes k*256.. of level 8t (510 hashes, 16,320 bytes; a node not yet
made is zeros). A proof's path through the lower levels then lies in one tile: a 1,000-entry history
of a 2,500,000-record partition reads ~1,100 tiles, where a value per level and 256 nodes took ~5,200
reads (measured: ~59 -> ~25 ms of the worker's CPU).

A leaf is the record at one offset; leaf i is the partition's i-th record from its first. "runs"
lists [first offset, first leaf] where the offsets start or jump (a log whose first records were
deleted, a transaction's marker): an offset's leaf is found from it. A tree is written with its
extent in one atomic write, so it always covers exactly the records its extent says.
"""
from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Iterator

from projections import merkle
from projections.merkle import HASH_BYTES, ProofError
from streams.store import TREE

TILE_LEVELS = 8  # levels of the tree one store value (a tile) holds
TILE_WIDTH = 1 << TILE_LEVELS  # nodes at a tile's lowest level
TILE_SLOTS = 2 * TILE_WIDTH - 2  # 256 + 128 + ... + 2: the tile's top level is the next tile's lowest
TILE_BYTES = TILE_SLOTS * HASH_BYTES
_NO_NODE = bytes(HASH_BYTES)
RUNS_MAX = 100_000  # offset jumps a tree records; a partition of the ledger has one run
CATCH_UP_RECORDS_MAX = 50_000  # records appended a digest tick (~0.4 s of hashing), while the fold goes on
PROOFS_MAX = 100_000  # entries one history request proves (the store's HISTORY_LIMIT_MAX)

Records = Iterable[tuple[int, bytes | None, bytes | None]]  # (offset, key, value), offsets ascending


class TreeError(RuntimeError):
    """A tree that cannot be extended as asked (records out of order, a node missing)."""


class PartitionTree:
    """One partition's tree in the store (SubjectStore or MemoryStore: tree_get, tree_write)."""

    def __init__(self, store, partition: int):
        self.store, self.partition = store, partition
        self.prefix = TREE + b"%d/" % partition
        raw = store.tree_get(self.prefix + b"m")
        extent = json.loads(raw) if raw is not None else {"size": 0, "last_offset": -1, "runs": []}
        self.size: int = extent["size"]
        self.last_offset: int = extent["last_offset"]
        self.runs: list[list[int]] = extent["runs"]

    def _tile_key(self, tile_level: int, tile: int) -> bytes:
        return self.prefix + b"t/%02d/%012d" % (tile_level, tile)

    def nodes(self) -> Callable[[int, int], bytes]:
        """A node(level, index) lookup over the stored tree, its tiles read once per lookup function."""
        tiles: dict[tuple[int, int], bytes] = {}
        # level -> (its tile level, how far its index shifts to its tile's, its first slot): _tile_of, unrolled
        shapes = [(level // TILE_LEVELS, TILE_LEVELS - level % TILE_LEVELS,
                   2 * TILE_WIDTH - (2 << (TILE_LEVELS - level % TILE_LEVELS)))
                  for level in range(merkle.PROOF_HASHES_MAX + 1)]

        def node(level: int, index: int) -> bytes:
            tile_level, shift, first_slot = shapes[level]
            where = (tile_level, index >> shift)
            tile = tiles.get(where)
            if tile is None:
                tile = tiles[where] = self.store.tree_get(self._tile_key(*where)) or b""
            at = (first_slot + index - (where[1] << shift)) * HASH_BYTES
            found = tile[at:at + HASH_BYTES]
            if len(found) != HASH_BYTES or found == _NO_NODE:
                raise TreeError(f"partition {self.partition}: no node ({level}, {index}) in the tree")
            return found
        return node

    def append(self, records: Records) -> int:
        """Append the records after the tree's last offset (earlier ones are skipped): their leaves and the
        nodes they complete, with the new extent, in one write. Returns how many were appended."""
        touched: dict[tuple[int, int], bytearray] = {}

        def tile_of(where: tuple[int, int]) -> bytearray:
            if where not in touched:
                touched[where] = bytearray(self.store.tree_get(self._tile_key(*where)) or bytes(TILE_BYTES))
            return touched[where]

        def node(level: int, index: int) -> bytes:
            where, slot = _tile_of(level, index)
            return bytes(tile_of(where)[slot * HASH_BYTES:(slot + 1) * HASH_BYTES])

        size, last_offset, runs = self.size, self.last_offset, [list(r) for r in self.runs]
        for offset, key, value in records:
            if offset <= last_offset:
                continue
            if not runs or offset != last_offset + 1:
                if len(runs) >= RUNS_MAX:
                    raise TreeError(f"partition {self.partition}: more than {RUNS_MAX} jumps in its offsets")
                runs.append([offset, size])
            for level, index, digest in merkle.appended(size, merkle.record_leaf_hash(offset, key, value), node):
                where, slot = _tile_of(level, index)
                tile = tile_of(where)
                if tile[slot * HASH_BYTES:(slot + 1) * HASH_BYTES] != _NO_NODE:
                    raise TreeError(f"partition {self.partition}: node ({level}, {index}) made twice")
                tile[slot * HASH_BYTES:(slot + 1) * HASH_BYTES] = digest
            size, last_offset = size + 1, offset
        appended = size - self.size
        if appended:
            values = {self._tile_key(*where): bytes(tile) for where, tile in touched.items()}
            values[self.prefix + b"m"] = json.dumps({"size": size, "last_offset": last_offset, "runs": runs}).encode()
            self.store.tree_write(values)
            self.size, self.last_offset, self.runs = size, last_offset, runs
        return appended

    def leaf_index(self, offset: int) -> int | None:
        """The leaf of the record at `offset`, None when the tree has no record there."""
        if not self.runs or offset > self.last_offset:
            return None
        at = bisect.bisect_right(self.runs, offset, key=lambda run: run[0]) - 1
        if at < 0:
            return None
        first_offset, first_leaf = self.runs[at]
        index = first_leaf + offset - first_offset
        end = self.runs[at + 1][1] if at + 1 < len(self.runs) else self.size
        return index if index < end else None

    def root(self, size: int | None = None) -> bytes:
        return merkle.tree_root(self.size if size is None else size, self.nodes())

    def published(self) -> dict | None:
        """{"size", "root" (hex), "offset"} of the tree last published on credit.digests, None before any."""
        raw = self.store.tree_get(self.prefix + b"p")
        return json.loads(raw) if raw is not None else None

    def set_published(self, size: int, root_hex: str, offset: int) -> None:
        self.store.tree_write({self.prefix + b"p": json.dumps({"size": size, "root": root_hex,
                                                                "offset": offset}).encode()})


def _tile_of(level: int, index: int) -> tuple[tuple[int, int], int]:
    """((tile level, tile), slot) of node (level, index): the tile's level r holds its nodes
    tile * 2**(8-r) .. from slot 512 - 2**(9-r) on (level 0 from slot 0, level 1 from 256, ...)."""
    tile_level, r = divmod(level, TILE_LEVELS)
    shift = TILE_LEVELS - r
    tile = index >> shift
    return (tile_level, tile), 2 * TILE_WIDTH - (2 << shift) + index - (tile << shift)


def catch_up(tree: PartitionTree, read_range: Callable[[int, int], Iterator], until_offset: int,
             records_max: int = CATCH_UP_RECORDS_MAX) -> int:
    """Extend `tree` with the partition's records up to `until_offset` (at most `records_max` of them),
    read with read_range(start, end) -> (offset, key, value, timestamp_ms). Blocking: run it in an executor."""
    start = tree.last_offset + 1
    end = min(until_offset + 1, start + records_max)
    if start >= end:
        return 0
    return tree.append((offset, key, value) for offset, key, value, _ in read_range(start, end))


def append_folded(tree: PartitionTree, records: Iterable[tuple[int, int, bytes | None, bytes | None]]) -> int:
    """Append the records the fold just wrote to the store ((partition, offset, key, value), of any partitions;
    those of the tree's) when they go on exactly where the tree ends; returns how many were appended. The
    fold reads each record once and the tree grows with it, in step, instead of reading the log a second
    time. When the tree is behind (a restart, a jump in the log's offsets at a batch's start) nothing is
    appended: the digests timer's `catch_up` reads what it lacks from the log."""
    newer: list[tuple[int, bytes | None, bytes | None]] = []
    for partition, offset, key, value in records:
        if partition == tree.partition and offset > (newer[-1][0] if newer else tree.last_offset):
            newer.append((offset, key, value))  # redelivered records (earlier offsets) left out
    if not newer or newer[0][0] != tree.last_offset + 1:
        return 0
    return tree.append(newer)


def history_proofs(tree: PartitionTree, offsets: list[int]) -> dict:
    """{"tree": {"partition", "size", "root", "offset"} or None, "proofs": [{"leaf_index", "proof"} or None,
    one per offset]}: each offset's audit path in the tree last published (None: after it), its hashes
    leaf side first as one hex string (32 bytes each; one string, not a list, parses ~3x faster)."""
    if len(offsets) > PROOFS_MAX:
        raise ValueError(f"at most {PROOFS_MAX} entries are proved at once")
    published = tree.published()
    if published is None:
        return {"tree": None, "proofs": [None] * len(offsets)}
    size = published["size"]
    indices = [tree.leaf_index(offset) for offset in offsets]
    proved = [index for index in indices if index is not None and index < size]
    try:
        paths = iter(merkle.audit_paths(proved, size, tree.nodes()))
    except ProofError as error:  # a published size the tree does not hold: never, but named if so
        raise TreeError(f"partition {tree.partition}: {error}") from error
    proofs = [None if index is None or index >= size else {"leaf_index": index, "proof": b"".join(next(paths)).hex()}
              for index in indices]
    return {"tree": {"partition": tree.partition, **published}, "proofs": proofs}
