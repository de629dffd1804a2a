"""Subject state in RocksDB (rocksdict), written in batches with each partition's offset.

The ledger topic is the changelog (as in Kafka Streams for source-topic tables):
no second topic receives every state change. A batch of folded events and the
partition offsets they reach are written in one atomic WriteBatch, so the store
is always a consistent prefix of the log; a lost store is rebuilt by re-folding.
"""
from __future__ import annotations

from pathlib import Path

import orjson
from rocksdict import Options, Rdict, WriteBatch

_STATE = b"s/"
_OFFSET = b"o/"


class SubjectStore:
    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)

    def get(self, subject_id: str) -> dict | None:
        raw = self._db.get(_STATE + subject_id.encode())
        return orjson.loads(raw) if raw is not None else None

    def applied_offset(self, partition: int) -> int:
        """The last offset of `partition` folded into the store, -1 if none."""
        raw = self._db.get(_OFFSET + str(partition).encode())
        return int(raw) if raw is not None else -1

    def applied_offsets(self) -> dict[int, int]:
        return {int(k[len(_OFFSET):]): int(v) for k, v in self._db.items(from_key=_OFFSET)
                if k.startswith(_OFFSET)}

    def write(self, states: dict[str, dict], offsets: dict[int, int]) -> None:
        """Write states and the partition offsets they reach, atomically."""
        batch = WriteBatch(raw_mode=True)
        for subject_id, state in states.items():
            batch.put(_STATE + subject_id.encode(), orjson.dumps(state, option=orjson.OPT_SORT_KEYS))
        for partition, offset in offsets.items():
            batch.put(_OFFSET + str(partition).encode(), str(offset).encode())
        self._db.write(batch)

    def subject_ids(self, limit: int = 1000) -> list[str]:
        ids = []
        for key in self._db.keys(from_key=_STATE):
            if not key.startswith(_STATE) or len(ids) >= limit:
                break
            ids.append(key[len(_STATE):].decode())
        return ids

    def close(self) -> None:
        self._db.close()


class MemoryStore:
    """The same interface in memory: for `rebuild`, `replay` and the tests."""

    def __init__(self):
        self.states: dict[str, dict] = {}
        self.offsets: dict[int, int] = {}

    def get(self, subject_id: str) -> dict | None:
        return self.states.get(subject_id)

    def applied_offset(self, partition: int) -> int:
        return self.offsets.get(partition, -1)

    def applied_offsets(self) -> dict[int, int]:
        return dict(self.offsets)

    def write(self, states: dict[str, dict], offsets: dict[int, int]) -> None:
        self.states.update(states)
        self.offsets.update(offsets)

    def subject_ids(self, limit: int = 1000) -> list[str]:
        return sorted(self.states)[:limit]

    def close(self) -> None:
        pass
