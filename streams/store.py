"""Subject state in RocksDB (rocksdict), written in batches with each partition's offset.

The ledger topic is the changelog (as in Kafka Streams for source-topic tables):
no second topic receives every state change. A batch of folded events and the
partition offsets they reach are written in one atomic WriteBatch, so the store
is always a consistent prefix of the log; a lost store is rebuilt by re-folding.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import astuple, fields
from datetime import datetime
from pathlib import Path

import msgspec
import orjson
from rocksdict import BlockBasedOptions, Cache, IngestExternalFileOptions, Options, Rdict, SstFileWriter, WriteBatch

from projections.canonical import GENESIS_HEAD
from projections.effects import COUNTER_TYPES, Counter, DeadlineCounter, GradeCounter, TimelinessCounter
from projections.state_types import STATE_DECODER, State
from projections.state_versions import STATE_VERSION, VERSION_KEY, upcast

_STATE = b"s/"
_OFFSET = b"o/"
_ROOT = b"r/"  # r/<partition>: the partition's log root (projections.canonical.log_link) at its applied offset
_HISTORY = b"h/"  # h/<subject id>/<chain position, 10 digits>: the applied event and its chain hash
_LIST = b"l/"  # l/<list kind>/<subject id>/<entry id>: a public active list entry
_TIMER = b"t/"  # t/<fires_at, µs since epoch, 20 digits>/<subject id>/<kind>/<ref>: a pending deadline
_TIMERS_END = b"t0"  # the first key after every t/ key ("0" follows "/")
_GRADE = b"g/"  # g/<subject id>: the grade last published on credit.grades
_META = b"m/"  # m/<name>: the worker's own bookkeeping (e.g. which policy every grade was computed with)
_COUNTER = b"c/"  # c/<counter name> (counter_name): a running count kept with the states
TREE = b"k/"  # k/<partition>/...: the partition's Merkle tree and its published roots (streams/proofs.py)
HISTORY_LIMIT_MAX = 100_000
BLOOM_BITS_PER_KEY = 10  # ~1% false positives
BLOCK_CACHE_BYTES = 64 * 1024 * 1024
TIMERS_DUE_MAX = 1_000  # deadlines handed to the timers per scan (one a tick), of the partitions the worker folds
TIMER_SCAN_KEYS_MAX = 10_000  # index keys a timer scan reads at most, however many deadlines are pending


# The statistics the fold keeps (projections.effects counters) by name: the only place that writes or reads one.
#   timeliness/<authority code>/<outcome>  decisions of an authority in a 双公示 timeliness outcome
#   deadlines/<kind>                       pending deadlines of a kind
#   grades/<letter>                        subjects whose stored grade has the letter
_COUNTER_PREFIXES = {TimelinessCounter: "timeliness/", DeadlineCounter: "deadlines/", GradeCounter: "grades/"}
assert set(_COUNTER_PREFIXES) == set(COUNTER_TYPES), "every counter type needs its name"


def counter_name(counter: Counter) -> str:
    """The name a counter is kept under (its key is c/ and the name)."""
    return _COUNTER_PREFIXES[type(counter)] + "/".join(astuple(counter))


def parse_counter(name: str) -> Counter:
    """The counter a name (counter_name's) stands for; ValueError for any other name."""
    for counter_type, prefix in _COUNTER_PREFIXES.items():
        if name.startswith(prefix):
            parts = name[len(prefix):].split("/")
            if len(parts) == len(fields(counter_type)) and all(parts):
                return counter_type(*parts)
    raise ValueError(f"not a counter name: {name!r}")


def timer_key(deadline) -> bytes:
    """The index key of a projections.deadlines.Deadline: in firing order."""
    micros = int(datetime.fromisoformat(deadline.fires_at).timestamp() * 1_000_000)
    return _TIMER + b"%020d/" % micros + f"{deadline.subject_id}/{deadline.key}".encode()


def list_key(list_kind: str, subject_id: str, entry_id: str) -> bytes:
    return _LIST + f"{list_kind}/{subject_id}/{entry_id}".encode()


def _list_members(keys, list_kind: str, after: str, limit: int) -> list[tuple[str, str]]:
    prefix = _LIST + list_kind.encode() + b"/"
    members = []
    for key in keys:
        if not key.startswith(prefix) or len(members) >= limit:
            break
        subject_id, entry_id = key[len(prefix):].decode().split("/", 1)
        if f"{subject_id}/{entry_id}" > after:
            members.append((subject_id, entry_id))
    return members


def _timers_next(keys, get, kinds: frozenset[str], limit: int, scan_keys_max: int) -> list[dict]:
    # The key names the kind (t/<µs>/<subject>/<kind>/<ref>): values are read only for the matches.
    found = []
    for scanned, key in enumerate(keys):
        if not key.startswith(_TIMER) or scanned >= scan_keys_max or len(found) >= limit:
            break
        if key[len(_TIMER) + 21:].decode().split("/", 2)[1] in kinds:
            found.append(orjson.loads(get(key)))
    return found


def timer_value(deadline, partition: int) -> bytes:
    # the fields by name, not dataclasses.asdict: that deep-copies, and costs more than the rest of the write
    return orjson.dumps({"fires_at": deadline.fires_at, "subject_id": deadline.subject_id, "kind": deadline.kind,
                         "ref": deadline.ref, "due_on": deadline.due_on, "provisional": deadline.provisional,
                         "partition": partition})


def _timers_due(items, now: datetime, limit: int, partitions: frozenset[int] | None) -> tuple[list[dict], bytes]:
    """The due entries of `partitions` (None: all) among `items`, and the key the scan stopped at: every
    live key before it, from where the scan started, is of a partition not among them."""
    bound = _TIMER + b"%020d" % int(now.timestamp() * 1_000_000) + b"/\xff"
    due, passed_until = [], None
    for scanned, (key, value) in enumerate(items):
        if not key.startswith(_TIMER) or key > bound or len(due) >= limit or scanned >= TIMER_SCAN_KEYS_MAX:
            return due, passed_until or key
        entry = orjson.loads(value)
        if partitions is None or entry["partition"] in partitions:
            due.append(entry)
            passed_until = passed_until or key
    return due, passed_until or _TIMERS_END


class _DueScans:
    """Where the next scan for due deadlines starts: after the last one's run of deadlines of partitions it
    was not asked about. After a rebalance the store keeps the deadlines of the partitions it gave up, as
    they stood: they come due and are never this worker's. So a worker reads each of them once, however
    many there are (a tick reads at most TIMER_SCAN_KEYS_MAX keys), and they never hide its own. The point
    holds for fewer partitions too (a worker giving some up); a partition gained starts the scans from the
    index's first key again, and so does a timer key written before the point (an overdue deadline)."""

    def __init__(self):
        self._from: tuple[frozenset[int] | None, bytes] | None = None  # (partitions asked, key)

    def start(self, partitions: frozenset[int] | None) -> bytes | None:
        """The key the next scan of `partitions` starts at (None: the index's first): where the last scan
        stopped, if every partition asked about now was asked about then (None: all of them)."""
        if self._from is None:
            return None
        asked, key = self._from
        return key if asked is None or (partitions is not None and partitions <= asked) else None

    def stopped(self, partitions: frozenset[int] | None, key: bytes) -> None:
        self._from = (partitions, key)

    def written(self, key: bytes) -> None:
        if self._from is not None and key.startswith(_TIMER) and key < self._from[1]:
            self._from = None


def check_write(states: dict[str, dict], offsets: dict[int, int], applied_offset) -> None:
    """The store's paired assertions, on write (`checked_state` on read): every state is under its own
    subject's key, in the current version, and folded no further than the offsets written with it; each
    partition's offset only moves forward (`applied_offset(partition)`: where the store stands). A failure
    is a bug of the fold or of its caller, named without the subject's id."""
    newest = max(offsets.values(), default=None)
    for subject_id, state in states.items():
        if isinstance(state, bytes):
            continue  # encoded by a fold process, which checked it so first (streams/fold_pool.py)
        if state["subject"]["id"] != subject_id:
            raise AssertionError("store write: a state's subject.id is not the subject it is written for")
        if state.get(VERSION_KEY) != STATE_VERSION:
            raise AssertionError(f"store write: a state's {VERSION_KEY} is not {STATE_VERSION}")
        if newest is not None and state["as_of"]["offset"] > newest:
            raise AssertionError("store write: a state's as_of.offset is past every offset written with it")
    for partition, offset in offsets.items():
        if offset <= applied_offset(partition):
            raise AssertionError(f"store write: partition {partition}'s offset {offset} does not move forward "
                                 f"from {applied_offset(partition)}")


def decoded_state(subject_id: str, raw: bytes) -> State:
    """A stored state, its types checked (projections/state_types.py) and in the current version. A state
    of an older version fails the typed decode (its shape differs): it is upcast, then checked."""
    try:
        state = STATE_DECODER.decode(raw)
    except msgspec.ValidationError:
        try:
            state = msgspec.convert(upcast(orjson.loads(raw)), State)
        except msgspec.ValidationError as error:
            raise StoredStateError(f"the stored state of {subject_id} is not a state of this version: {error}; "
                                   "re-fold the store from the log (start the worker on an empty data dir)") from error
    return checked_state(subject_id, upcast(state))  # upcast refuses a state of a newer version


def checked_state(subject_id: str, state: dict) -> dict:
    """A state read (upcast) for `subject_id`: the paired assertion of check_write's first."""
    if state["subject"]["id"] != subject_id:
        raise AssertionError("store read: a state's subject.id is not the subject it was read for")
    return state


class StoreError(RuntimeError):
    """The store cannot be opened or written (a full disk, a failing device). The worker must stop:
    RocksDB refuses every later write after a failed one, and the files it serves would go stale.
    Nothing is lost: each batch is one atomic write, so the store stays a prefix of the log and a
    restart (once the cause is gone) folds the rest from the log."""


class StoredStateError(StoreError):
    """A stored state of the wrong shape (a field of the wrong type, a required one missing): the store
    was written by other code or damaged. The log is the truth: re-fold the store from it."""


def _options() -> Options:
    """The store's options, also for the table files written to be ingested (write_table_file)."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    # Most gets of a fold are for subjects the store does not hold yet: a bloom filter answers those
    # without reading a block of each table file (measured, 150,000 events over 100,000 subjects:
    # a miss ~38 -> ~19 us). The block cache is bounded: it counts in the worker's resident memory.
    tables = BlockBasedOptions()
    tables.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
    tables.set_block_cache(Cache(BLOCK_CACHE_BYTES))
    options.set_block_based_table_factory(tables)
    return options


class SubjectStore:
    def __init__(self, path: Path):
        self.path = path
        options = _options()
        # A key at or before every live key of the timer index, where its scans start. The deadlines
        # fired or met leave deletion markers at the index's start, and a scan from t/ steps over
        # each until a compaction drops them: a worker idle after folding the bench's ledger and firing
        # its due deadlines spent ~13% of a core so, two scans a tick, five ticks a second (measured; ~3% since).
        self._timers_from = _TIMER
        self._due_scans = _DueScans()
        try:
            path.mkdir(parents=True, exist_ok=True)
            # the options again for the default column family: without them rocksdict opens an existing
            # store's column families with its defaults (an 8 MiB block cache, no bloom filter), so every
            # restart lost both; only a store created by this process had them
            self._db = Rdict(str(path), options, column_families={"default": options})
        except Exception as error:  # rocksdict raises a bare Exception ("IO error: No space left on device: ...")
            raise StoreError(f"cannot open the worker's store {path}: {error}") from error

    def get(self, subject_id: str) -> dict | None:
        """The subject's state in the current version (projections/state_versions.py), None if none."""
        raw = self._db.get(_STATE + subject_id.encode())
        return decoded_state(subject_id, raw) if raw is not None else None

    def get_encoded(self, subject_id: str) -> bytes | None:
        """The subject's state as stored, not decoded (a fold process decodes it)."""
        return self._db.get(_STATE + subject_id.encode())

    def applied_offset(self, partition: int) -> int:
        """The last offset of `partition` folded into the store, -1 if none."""
        raw = self._db.get(_OFFSET + str(partition).encode())
        return int(raw) if raw is not None else -1

    def applied_offsets(self) -> dict[int, int]:
        offsets = {}
        for key, value in self._db.items(from_key=_OFFSET):
            if not key.startswith(_OFFSET):
                break  # past the offsets: the states and indexes after them are not read
            offsets[int(key[len(_OFFSET):])] = int(value)
        return offsets

    def log_root(self, partition: int) -> str:
        raw = self._db.get(_ROOT + str(partition).encode())
        return raw.decode() if raw is not None else GENESIS_HEAD

    def history(self, subject_id: str, limit: int = HISTORY_LIMIT_MAX) -> list[dict]:
        prefix = _HISTORY + subject_id.encode() + b"/"
        entries = []
        for key, value in self._db.items(from_key=prefix):
            if not key.startswith(prefix) or len(entries) >= limit:
                break
            entries.append(orjson.loads(value))
        return entries

    def timers_due(self, now: datetime, limit: int = TIMERS_DUE_MAX,
                   partitions: frozenset[int] | None = None) -> list[dict]:
        """Pending deadlines whose fires_at is at or before `now`, earliest first (read from disk), of
        `partitions` (None: every partition)."""
        start = self._due_scans.start(partitions)
        items = self._timer_index(self._db.items) if start is None else self._db.items(from_key=start)
        due, stopped_at = _timers_due(items, now, limit, partitions)
        self._due_scans.stopped(partitions, stopped_at)
        return due

    def timers_next(self, kinds, limit: int, scan_keys_max: int = TIMER_SCAN_KEYS_MAX) -> list[dict]:
        """The earliest pending deadlines of `kinds` (due or not), reading at most `scan_keys_max` keys
        of the timer index: bounded work however many deadlines are pending."""
        return _timers_next(self._timer_index(self._db.keys), self._db.get, frozenset(kinds), limit, scan_keys_max)

    def _timer_index(self, scan):
        """`scan` (items or keys) from the timer index's first live key on; that key is remembered."""
        first = True
        for item in scan(from_key=self._timers_from):
            if first:
                key = item[0] if isinstance(item, tuple) else item
                self._timers_from, first = key if key.startswith(_TIMER) else _TIMERS_END, False
            yield item
        if first:  # nothing at or after it: no live deadline
            self._timers_from = _TIMERS_END

    def list_members(self, list_kind: str, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        """(subject id, entry id) of public active entries of a list, in key order after `after`
        ("<subject id>/<entry id>", for paging)."""
        start = _LIST + f"{list_kind}/{after}".encode()
        return _list_members(self._db.keys(from_key=start), list_kind, after, limit)

    def meta(self, name: str) -> str | None:
        raw = self._db.get(_META + name.encode())
        return raw.decode() if raw is not None else None

    def grade(self, subject_id: str) -> dict | None:
        raw = self._db.get(_GRADE + subject_id.encode())
        return orjson.loads(raw) if raw is not None else None

    def subject_ids_after(self, after: str = "", limit: int = 1000) -> list[str]:
        """Up to `limit` subject ids in key order after `after`: for sweeps over every subject."""
        ids = []
        for key in self._db.keys(from_key=_STATE + after.encode() + b"\x00" if after else _STATE):
            if not key.startswith(_STATE) or len(ids) >= limit:
                break
            ids.append(key[len(_STATE):].decode())
        return ids

    def counters(self, counter_type: type) -> dict[Counter, int]:
        """The running counts of one type of counter (projections.effects: TimelinessCounter, ...)."""
        start = _COUNTER + _COUNTER_PREFIXES[counter_type].encode()
        found = {}
        for key, value in self._db.items(from_key=start):
            if not key.startswith(start):
                break
            found[parse_counter(key[len(_COUNTER):].decode())] = int(value)
        return found

    def write(self, states: dict[str, dict | bytes], offsets: dict[int, int],
              history: list[tuple[str, int, dict]] = (), roots: dict[int, str] | None = None,
              index: dict[bytes, bytes | None] | None = None, counters: dict[Counter, int] | None = None,
              grades: dict[str, dict] | None = None, meta: dict[str, str] | None = None) -> None:
        """Write states, history entries, timer and list index changes (None deletes), counter deltas,
        grades, bookkeeping and the partition offsets and roots they reach, atomically."""
        check_write(states, offsets, self.applied_offset)
        batch = WriteBatch(raw_mode=True)
        for name, value in (meta or {}).items():
            batch.put(_META + name.encode(), value.encode())
        for subject_id, grade in (grades or {}).items():
            batch.put(_GRADE + subject_id.encode(), _sorted_json(grade))
        for key, value in (index or {}).items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
                if key.startswith(_TIMER) and key < self._timers_from:
                    self._timers_from = key  # a deadline earlier than every one scanned so far
                self._due_scans.written(key)
        for counter, delta in (counters or {}).items():
            if delta:
                key = _COUNTER + counter_name(counter).encode()
                batch.put(key, str(int(self._db.get(key) or 0) + delta).encode())
        for partition, root in (roots or {}).items():
            batch.put(_ROOT + str(partition).encode(), root.encode())
        for subject_id, position, entry in history:
            batch.put(_history_key(subject_id, position), _sorted_json(entry))
        for subject_id, state in states.items():
            batch.put(_STATE + subject_id.encode(), encoded_state(state))
        for partition, offset in offsets.items():
            batch.put(_OFFSET + str(partition).encode(), str(offset).encode())
        try:
            self._db.write(batch)
        except Exception as error:  # as above; the batch is not applied, none of it
            raise StoreError(f"cannot write the worker's store {self.path}: {error}") from error

    def ingest(self, paths: list[Path]) -> None:
        """Take in table files (write_table_file) of keys this store does not hold, moved rather than
        copied: `rebuild`'s partitions, each folded in a process of its own."""
        options = IngestExternalFileOptions()
        options.set_move_files(True)
        for path in paths:  # one at a time: the files' key ranges overlap (their keys never do)
            try:
                self._db.ingest_external_file([str(path)], options)
            except Exception as error:  # as in write()
                raise StoreError(f"cannot ingest into the store {self.path}: {error}") from error

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every key and value, in key order: to compare two stores byte for byte."""
        return self._db.items()

    def tree_get(self, key: bytes) -> bytes | None:
        """A value of the Merkle trees' keys (under TREE; streams/proofs.py keeps them)."""
        return self._db.get(_tree_key(key))

    def tree_write(self, values: dict[bytes, bytes]) -> None:
        """Put values under TREE, atomically (a tree's nodes with its size)."""
        batch = WriteBatch(raw_mode=True)
        for key, value in values.items():
            batch.put(_tree_key(key), value)
        try:
            self._db.write(batch)
        except Exception as error:  # as in write()
            raise StoreError(f"cannot write the worker's store {self.path}: {error}") from error

    def state_digest(self) -> dict:
        """SHA-256 over every subject's state in key order, with the offsets they reach."""
        return _digest(((k, v) for k, v in self._db.items(from_key=_STATE) if k.startswith(_STATE)),
                       self.applied_offsets())

    def subject_ids(self, limit: int = 1000) -> list[str]:
        return self.subject_ids_after("", limit)

    def subject_count(self) -> int:
        return sum(1 for key in self._db.keys(from_key=_STATE) if key.startswith(_STATE))

    def close(self) -> None:
        self._db.close()


def encoded_state(state: dict | bytes) -> bytes:
    """A state as the store holds it (one a fold process encoded already, as it is)."""
    if isinstance(state, bytes):
        return state
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


def _sorted_json(value: dict) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def write_table_file(path: Path, items: list[tuple[bytes, bytes]]) -> bool:
    """Write `items` (keys strictly increasing) as one table file for SubjectStore.ingest; False, and no
    file, when there are none."""
    if not items:
        return False
    writer = SstFileWriter(_options())
    writer.open(str(path))
    for key, value in items:
        writer[key] = value
    writer.finish()
    return True


def _digest(items, applied_offsets: dict[int, int]) -> dict:
    digest, subjects = hashlib.sha256(), 0
    for key, value in items:
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(8, "big") + value)
        subjects += 1
    return {"subjects": subjects, "digest": digest.hexdigest(), "applied_offsets": applied_offsets}


def _tree_key(key: bytes) -> bytes:
    if not key.startswith(TREE):
        raise ValueError(f"a tree key starts with {TREE!r}")
    return key


def _history_key(subject_id: str, position: int) -> bytes:
    return _HISTORY + subject_id.encode() + b"/" + b"%010d" % position


class MemoryStore:
    """The same interface in memory: for `rebuild`, `replay` and the tests."""

    def __init__(self):
        self.states: dict[str, dict] = {}
        self.offsets: dict[int, int] = {}
        self.histories: dict[str, list[dict]] = {}
        self.roots: dict[int, str] = {}
        self.index: dict[bytes, bytes] = {}  # the timer and the list index, by key
        self.counts: dict[str, int] = {}
        self.grades: dict[str, dict] = {}
        self.metas: dict[str, str] = {}
        self.trees: dict[bytes, bytes] = {}
        self._due_scans = _DueScans()

    def tree_get(self, key: bytes) -> bytes | None:
        return self.trees.get(_tree_key(key))

    def tree_write(self, values: dict[bytes, bytes]) -> None:
        self.trees.update({_tree_key(k): v for k, v in values.items()})

    def meta(self, name: str) -> str | None:
        return self.metas.get(name)

    def list_members(self, list_kind: str, after: str = "", limit: int = 100) -> list[tuple[str, str]]:
        start = _LIST + f"{list_kind}/{after}".encode()  # as SubjectStore: from the kind's keys on
        return _list_members(sorted(k for k in self.index if k.startswith(_LIST) and k >= start), list_kind, after,
                             limit)

    def grade(self, subject_id: str) -> dict | None:
        return self.grades.get(subject_id)

    def subject_ids_after(self, after: str = "", limit: int = 1000) -> list[str]:
        return [s for s in sorted(self.states) if s > after][:limit]

    def timers_due(self, now: datetime, limit: int = TIMERS_DUE_MAX,
                   partitions: frozenset[int] | None = None) -> list[dict]:
        start = self._due_scans.start(partitions) or _TIMER
        due, stopped_at = _timers_due(sorted((k, v) for k, v in self.index.items() if k.startswith(_TIMER)
                                             and k >= start), now, limit, partitions)
        self._due_scans.stopped(partitions, stopped_at)
        return due

    def timers_next(self, kinds, limit: int, scan_keys_max: int = TIMER_SCAN_KEYS_MAX) -> list[dict]:
        keys = sorted(k for k in self.index if k.startswith(_TIMER))
        return _timers_next(keys, self.index.get, frozenset(kinds), limit, scan_keys_max)

    def counters(self, counter_type: type) -> dict[Counter, int]:
        prefix = _COUNTER_PREFIXES[counter_type]
        return {parse_counter(k): v for k, v in sorted(self.counts.items()) if k.startswith(prefix) and v}

    def get(self, subject_id: str) -> dict | None:
        state = self.states.get(subject_id)
        return checked_state(subject_id, upcast(state)) if state is not None else None

    def get_encoded(self, subject_id: str) -> bytes | None:
        state = self.states.get(subject_id)
        return encoded_state(state) if state is not None else None

    def applied_offset(self, partition: int) -> int:
        return self.offsets.get(partition, -1)

    def applied_offsets(self) -> dict[int, int]:
        return dict(self.offsets)

    def history(self, subject_id: str, limit: int = HISTORY_LIMIT_MAX) -> list[dict]:
        return self.histories.get(subject_id, [])[:limit]

    def log_root(self, partition: int) -> str:
        return self.roots.get(partition, GENESIS_HEAD)

    def write(self, states: dict[str, dict | bytes], offsets: dict[int, int],
              history: list[tuple[str, int, dict]] = (), roots: dict[int, str] | None = None,
              index: dict[bytes, bytes | None] | None = None, counters: dict[Counter, int] | None = None,
              grades: dict[str, dict] | None = None, meta: dict[str, str] | None = None) -> None:
        check_write(states, offsets, self.applied_offset)
        self.metas.update(meta or {})
        self.grades.update(grades or {})
        for key, value in (index or {}).items():
            if value is None:
                self.index.pop(key, None)
            else:
                self.index[key] = value
                self._due_scans.written(key)
        for counter, delta in (counters or {}).items():
            name = counter_name(counter)
            self.counts[name] = self.counts.get(name, 0) + delta
        self.roots.update(roots or {})
        self.states.update({subject_id: decoded_state(subject_id, state) if isinstance(state, bytes) else state
                            for subject_id, state in states.items()})
        self.offsets.update(offsets)
        for subject_id, _, entry in history:
            self.histories.setdefault(subject_id, []).append(entry)

    def merge(self, other: MemoryStore) -> None:
        """Take in another partition's rebuild: subjects, offsets, roots and index keys never overlap."""
        self.write(other.states, other.offsets, (), other.roots, dict(other.index), None, other.grades, other.metas)
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        self.histories.update(other.histories)

    def state_digest(self) -> dict:
        items = sorted((_STATE + sid.encode(), encoded_state(state)) for sid, state in self.states.items())
        return _digest(iter(items), self.applied_offsets())

    def subject_ids(self, limit: int = 1000) -> list[str]:
        return self.subject_ids_after("", limit)

    def subject_count(self) -> int:
        return len(self.states)

    def close(self) -> None:
        pass


class RunStore(MemoryStore):
    """A MemoryStore whose content becomes one table file for a SubjectStore to ingest (`table_items`): what
    a `rebuild` child folds one partition into. Its history entries are encoded once, as written (the
    fold never reads them back); its states, grades and index at the end, once a subject."""

    def __init__(self):
        super().__init__()
        self.history_items: list[tuple[bytes, bytes]] = []

    def write(self, states: dict[str, dict | bytes], offsets: dict[int, int],
              history: list[tuple[str, int, dict]] = (), roots: dict[int, str] | None = None,
              index: dict[bytes, bytes | None] | None = None, counters: dict[Counter, int] | None = None,
              grades: dict[str, dict] | None = None, meta: dict[str, str] | None = None) -> None:
        super().write(states, offsets, (), roots, index, counters, grades, meta)
        self.history_items.extend((_history_key(s, position), _sorted_json(e)) for s, position, e in history)

    def history(self, subject_id: str, limit: int = HISTORY_LIMIT_MAX) -> list[dict]:
        prefix = _HISTORY + subject_id.encode() + b"/"
        return [orjson.loads(v) for k, v in sorted(self.history_items) if k.startswith(prefix)][:limit]

    def table_items(self) -> list[tuple[bytes, bytes]]:
        """Every key and value SubjectStore.write would have stored, in key order, but the counters: their
        deltas are summed over the partitions (`counts`) and written apart."""
        items = list(self.history_items)
        items.extend((_STATE + subject_id.encode(), encoded_state(state)) for subject_id, state in self.states.items())
        items.extend((_GRADE + subject_id.encode(), _sorted_json(grade)) for subject_id, grade in self.grades.items())
        items.extend(self.index.items())
        items.extend((_OFFSET + str(partition).encode(), str(offset).encode())
                     for partition, offset in self.offsets.items())
        items.extend((_ROOT + str(partition).encode(), root.encode()) for partition, root in self.roots.items())
        items.extend((_META + name.encode(), value.encode()) for name, value in self.metas.items())
        items.extend(self.trees.items())
        items.sort()
        return items
