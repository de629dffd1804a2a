"""`credit-ledger export` folds only the subjects with an exported event in the batch (ops/export.py): the
batch is the one folding the whole log gives; an unrecorded batch on disk fixes where a rerun ends."""
from __future__ import annotations

import pytest

from ops.export import Refused, compute, histories, pending_end, subjects_in, write_batch
from projections import exports as x
from projections.ids import make_uscc
from projections.policy import DEFAULT_POLICIES
from streams.codec import encode_event
from tests.unit import events as ev
from tests.unit.test_exports import demo_log, entries


def by_partition(log, partitions: int = 3) -> dict[int, list[tuple[int, bytes, bytes]]]:
    """The log spread over partitions by subject, as the ledger keys it; a record that is no event in each."""
    spread: dict[int, list] = {p: [] for p in range(partitions)}
    for event in log:
        partition = int(event["subject"]["id"].encode().hex(), 16) % partitions
        spread[partition].append((event["subject"]["id"].encode(), encode_event(event)))
    spread[0].append((b"x", b"not avro PenaltyImposed"))
    return {p: [(offset, key, value) for offset, (key, value) in enumerate(records)] for p, records in spread.items()}


def reader(log_by_partition):
    def read_range(partition: int, start: int, end: int):
        for offset, key, value in log_by_partition[partition]:
            if start <= offset < end:
                yield offset, key, value, 0
    return read_range


def test_the_batch_is_the_one_of_folding_everything():
    log = list(demo_log())
    spread = by_partition(log)
    start = {p: len(records) // 2 for p, records in spread.items()}
    end = {p: len(records) for p, records in spread.items()}
    whole = x.collect(((p, offset, event) for p, records in spread.items() for offset, _, value in records
                       if (event := _decoded(value)) is not None), start, DEFAULT_POLICIES)
    got = compute(reader(spread), start, end, DEFAULT_POLICIES)
    assert x.batch_files(got) == x.batch_files(whole) and got.withheld == whole.withheld
    assert got.rows > 0


def _decoded(value: bytes):
    from streams.codec import CodecError, decode_event
    try:
        return decode_event(value)
    except CodecError:
        return None


def test_a_batch_written_but_not_recorded_fixes_where_the_rerun_ends(tmp_path):
    batch = x.collect(entries([ev.penalty_imposed("P-1")]), {})
    files = x.batch_files(batch)
    write_batch(tmp_path / "province-000002", files, x.manifest("province", 2, {0: 4}, {0: 9, 1: 3}, batch, files))
    assert sorted(p.name for p in (tmp_path / "province-000002").iterdir()) == sorted([*x.DATA_FILES, x.MANIFEST_FILE])
    assert pending_end(tmp_path / "province-000002", {0: 4}) == {0: 9, 1: 3}
    assert pending_end(tmp_path / "province-000003", {0: 4}) is None
    with pytest.raises(Refused, match="from '0:4', not from '0:5'"):
        pending_end(tmp_path / "province-000002", {0: 5})


def test_only_subjects_with_an_exported_event_in_the_range_are_folded():
    other = {"id": make_uscc("410105", 3), "kind": "LEGAL_PERSON", "name": "郑州其他有限公司"}
    log = [ev.penalty_imposed("P-1"),
           ev.valid("CommitmentMade", {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "承诺守法经营"},
                    subject=other),
           ev.permit_granted("X-1")]
    spread = {0: [(n, e["subject"]["id"].encode(), encode_event(e)) for n, e in enumerate(log)]}
    assert subjects_in(reader(spread), {}, {0: 3}) == {0: {ev.COMPANY.encode()}}
    assert subjects_in(reader(spread), {0: 1}, {0: 2}) == {}  # the commitment alone: nobody
    assert [offset for _, offset, _ in histories(reader(spread), {0: {ev.COMPANY.encode()}}, {0: 3})] == [0, 2]
