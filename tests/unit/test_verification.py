"""projections/verification.py on synthetic records: roots, the digest file, and the first offending record."""
from __future__ import annotations

import io
import json
import re

import pytest

from projections import verification as v
from projections.canonical import GENESIS_HEAD, chain_link, log_link
from projections.ids import make_uscc
from tests.unit import events as ev

OTHER = {"id": make_uscc("410105", 2), "kind": "LEGAL_PERSON", "name": "郑州金水顺达商贸有限公司"}


def decode(value):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def ledger() -> list[dict]:
    """Two subjects' valid events, interleaved as they would stand in one partition."""
    return [
        ev.subject_registered(),
        ev.valid("SubjectRegistered", {"region_code": "410105", "registered_on": "2020-01-02"}, "2020-01-02",
                 subject=OTHER),
        ev.penalty_imposed("P-1"),
        ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-9", decision_no=ev.decision_no("P-9")), ev.DAY,
                 subject=OTHER),
        ev.penalty_imposed("P-2", fine_fen=1_000_000),
        ev.penalty_imposed("P-3", fine_fen=2_000_000),
        ev.penalty_fulfilled("P-1"),
        ev.penalty_imposed("P-4", fine_fen=3_000_000),
    ]


def as_records(events: list[dict]) -> list[tuple[int, bytes, bytes]]:
    return [(offset, e["subject"]["id"].encode(), json.dumps(e, ensure_ascii=False).encode())
            for offset, e in enumerate(events)]


def renumbered(records) -> list[tuple[int, bytes, bytes]]:
    return [(offset, key, value) for offset, (_, key, value) in enumerate(records)]


def export(records, partition: int = 0, topic: str = "t") -> v.SavedDigest:
    stream = io.StringIO()
    v.write_digest(stream, [(partition, records)], topic=topic, exported_at="2026-01-05T10:00:00+08:00",
                   decode=decode)
    return v.load_digest(json.loads(stream.getvalue()))


def check(records, saved: v.SavedDigest, **kw) -> v.Verification:
    return v.verify([(0, records)], topic="t", decode=decode, saved=saved, **kw)


ORIGINAL = as_records(ledger())
EVENT_IDS = [json.loads(value)["event_id"] for _, _, value in ORIGINAL]


# -- roots -------------------------------------------------------------------------------------

def test_partition_roots_chain_log_link_from_offset_0_as_the_worker_does():
    from streams.ledger import LedgerProcessor
    from streams.store import MemoryStore

    records = [(p, o, k, val) for p in (0, 1) for o, k, val in ORIGINAL]
    expected = GENESIS_HEAD
    for offset, key, value in ORIGINAL:
        expected = log_link(expected, offset, key, value)
    roots = v.partition_roots(records)
    assert roots == {0: (7, expected), 1: (7, expected)}
    batch = LedgerProcessor(MemoryStore()).process(records)
    assert batch.roots == {p: root for p, (_, root) in roots.items()}


def test_a_fingerprint_is_over_key_and_value_only_and_frames_them():
    assert v.record_fingerprint(b"ab", b"c") != v.record_fingerprint(b"a", b"bc")
    assert v.record_fingerprint(None, None) == v.record_fingerprint(b"", b"")
    assert len(v.record_fingerprint(b"k", b"v")) == 64


# -- the digest file ---------------------------------------------------------------------------

def test_the_exported_file_carries_roots_records_and_chains_and_verifies_clean():
    stream = io.StringIO()
    summary = v.write_digest(stream, [(0, ORIGINAL), (1, [])], topic="t", exported_at="2026-01-05T10:00:00+08:00",
                             decode=decode)
    document = json.loads(stream.getvalue())
    assert document["format"] == 1 and document["topic"] == "t"
    assert document["partitions"]["1"] == {"records": [], "offset": -1, "root": GENESIS_HEAD}
    part = document["partitions"]["0"]
    assert part["offset"] == 7 and part["root"] == v.partition_roots((0, *r) for r in ORIGINAL)[0][1]
    assert part["records"][2] == [2, v.record_fingerprint(*ORIGINAL[2][1:]), EVENT_IDS[2]]
    company, other = ev.COMPANY, OTHER["id"]
    assert document["subjects"][other]["length"] == 2
    head = GENESIS_HEAD
    for e in (json.loads(value) for _, _, value in ORIGINAL):
        if e["subject"]["id"] == company:
            head = chain_link(head, e)
    assert document["subjects"][company] == {"length": 6, "head": head}
    assert summary == {"records": 8, "subjects": 2, "partitions": {0: {"offset": 7, "root": part["root"],
                                                                       "records": 8},
                                                                   1: {"offset": -1, "root": GENESIS_HEAD,
                                                                       "records": 0}}}
    saved = v.load_digest(document)
    result = v.verify([(0, ORIGINAL), (1, [])], topic="t", decode=decode, saved=saved)
    assert result.ok, result.discrepancies
    assert result.partitions[0].checked == [(7, True)]


def test_records_appended_after_the_export_do_not_matter():
    saved = export(ORIGINAL[:5])
    assert check(ORIGINAL, saved).ok


@pytest.mark.parametrize("document, where", [
    ([], "$"),
    ({"format": 2, "topic": "t", "partitions": {}}, "format"),
    ({"format": 1, "topic": "t", "partitions": {"x": {}}}, "partitions.x"),
    ({"format": 1, "topic": "t", "partitions": {"0": {"offset": 0, "root": "ab"}}}, "partitions.0.root"),
    ({"format": 1, "topic": "t", "partitions": {"0": {"offset": 1, "root": "0" * 64,
                                                      "records": [[0, "0" * 64, None]]}}}, "partitions.0.records"),
    ({"format": 1, "topic": "t", "partitions": {"0": {"offset": 1, "root": "0" * 64,
                                                      "records": [[1, "0" * 64, None], [1, "1" * 64, None]]}}},
     "partitions.0.records[1]"),
    ({"format": 1, "topic": "t", "partitions": {}, "subjects": {"s": {"length": 0, "head": "0" * 64}}}, "subjects.s"),
])
def test_a_malformed_digest_file_is_refused_with_the_place(document, where):
    with pytest.raises(v.DigestFileError, match=f"^{re.escape(where)}:"):
        v.load_digest(document)


def test_a_file_over_the_record_limit_is_neither_written_nor_read(monkeypatch):
    monkeypatch.setattr(v, "RECORDS_PER_FILE_MAX", 3)
    with pytest.raises(ValueError, match="more than 3 records"):
        v.write_digest(io.StringIO(), [(0, ORIGINAL)], topic="t", exported_at="x", decode=decode)
    document = {"format": 1, "topic": "t", "partitions": {"0": {"offset": 3, "root": "0" * 64, "records": [
        [o, "0" * 64, None] for o in range(4)]}}}
    with pytest.raises(v.DigestFileError, match="more than 3 records"):
        v.load_digest(document)


# -- the first offending record ------------------------------------------------------------------

def test_an_altered_record_is_named_with_its_offset_and_event_id():
    saved = export(ORIGINAL)
    forged = list(ORIGINAL)
    event = json.loads(forged[4][2])
    event["payload"]["fine_fen"] = 1
    forged[4] = (4, forged[4][1], json.dumps(event, ensure_ascii=False).encode())
    result = check(forged, saved)
    first = result.first
    assert (first.kind, first.partition, first.offset, first.event_id) == (v.ALTERED, 0, 4, EVENT_IDS[4])
    assert "differs from the saved bytes: same event id, altered content" in first.detail
    # the altered penalty changes its subject's chain too; the other subject's is intact
    assert [(d.kind, d.subject_id) for d in result.discrepancies[1:]] == [(v.CHAIN_DIFFERS, ev.COMPANY)]


def test_a_removed_record_is_named_and_the_shift_recognised():
    saved = export(ORIGINAL)
    result = check(renumbered(ORIGINAL[:3] + ORIGINAL[4:]), saved)
    first = result.first
    assert (first.kind, first.offset, first.event_id) == (v.REMOVED, 3, EVENT_IDS[3])
    assert f"holds event {EVENT_IDS[4]}, saved at offset 4" in first.detail
    assert (v.CHAIN_DIFFERS, OTHER["id"]) in [(d.kind, d.subject_id) for d in result.discrepancies]


def test_a_log_shorter_than_the_saved_one_is_a_removal_of_its_first_missing_record():
    first = check(ORIGINAL[:6], export(ORIGINAL)).first
    assert (first.kind, first.offset, first.event_id) == (v.REMOVED, 6, EVENT_IDS[6])
    assert "the log ends at offset 5" in first.detail


def test_swapped_records_are_reordered():
    saved = export(ORIGINAL)
    first = check(renumbered(ORIGINAL[:2] + [ORIGINAL[3], ORIGINAL[2]] + ORIGINAL[4:]), saved).first
    assert (first.kind, first.offset, first.event_id, first.found_at) == (v.REORDERED, 2, EVENT_IDS[2], 3)


def test_a_record_moved_far_is_reordered_and_found_where_it_went():
    saved = export(ORIGINAL)
    moved = ORIGINAL[:1] + ORIGINAL[2:6] + [ORIGINAL[1]] + ORIGINAL[6:]
    first = check(renumbered(moved), saved).first
    assert (first.kind, first.offset, first.found_at) == (v.REORDERED, 1, 5)


def test_a_record_slipped_in_is_inserted():
    saved = export(ORIGINAL)
    stranger = (0, b"x", b"never saved")
    first = check(renumbered(ORIGINAL[:5] + [stranger] + ORIGINAL[5:]), saved).first
    assert (first.kind, first.offset, first.event_id, first.found_at) == (v.INSERTED, 5, EVENT_IDS[5], 6)


def test_only_the_first_offending_record_of_each_partition_is_named():
    saved = v.load_digest(_two_partition_document())
    tampered_1 = list(ORIGINAL)
    tampered_1[1] = (1, b"k", b"forged")
    tampered_1[6] = (6, b"k", b"forged too")
    result = v.verify([(0, ORIGINAL), (1, tampered_1)], topic="t", decode=decode, saved=saved)
    assert [(d.kind, d.partition, d.offset) for d in result.discrepancies if d.kind != v.CHAIN_DIFFERS] == [
        (v.ALTERED, 1, 1)]


def _two_partition_document() -> dict:
    stream = io.StringIO()
    v.write_digest(stream, [(0, ORIGINAL), (1, ORIGINAL)], topic="t", exported_at="x", decode=decode)
    return json.loads(stream.getvalue())


def test_a_partition_gone_from_the_topic_is_a_removal():
    saved = v.load_digest(_two_partition_document())
    result = v.verify([(0, ORIGINAL)], topic="t", decode=decode, saved=saved)
    first = result.first
    assert (first.kind, first.partition, first.offset) == (v.REMOVED, 1, 0)
    assert "partition 1 is not in t" in result.notes


def test_without_records_in_the_file_the_root_still_catches_a_change():
    document = _two_partition_document()
    del document["partitions"]["0"]["records"]
    del document["subjects"]
    forged = list(ORIGINAL)
    forged[3] = (3, b"k", b"forged")
    first = v.verify([(0, forged), (1, ORIGINAL)], topic="t", decode=decode, saved=v.load_digest(document)).first
    assert (first.kind, first.partition, first.between) == (v.ROOT_DIFFERS, 0, (0, 7))


# -- published digests (roots only) --------------------------------------------------------------

def published_digests(records, offsets, topic: str = "t", partition: int = 0) -> list[dict]:
    root, digests = GENESIS_HEAD, []
    for offset, key, value in records:
        root = log_link(root, offset, key, value)
        if offset in offsets:
            digests.append({"topic": topic, "partition": partition, "offset": offset, "root": root,
                            "at": "2026-01-05T10:00:00+08:00"})
    return digests


def test_published_roots_hold_on_the_untouched_log():
    digests = published_digests(ORIGINAL, {2, 5, 7}) + published_digests(ORIGINAL, {3}, topic="other")
    result = v.verify([(0, ORIGINAL)], topic="t", decode=decode, published=digests)
    assert result.ok and result.partitions[0].checked == [(2, True), (5, True), (7, True)]
    assert result.reference == "3 published digest(s) of t"


def test_published_roots_narrow_the_first_difference_to_between_two_digests():
    forged = list(ORIGINAL)
    forged[4] = (4, b"k", b"forged")
    result = v.verify([(0, forged)], topic="t", decode=decode, published=published_digests(ORIGINAL, {2, 5, 7}))
    first = result.first
    assert (first.kind, first.partition, first.offset, first.between) == (v.ROOT_DIFFERS, 0, None, (3, 5))
    assert result.partitions[0].checked == [(2, True), (5, False), (7, False)]


def test_a_log_shorter_than_a_published_digest_lost_records():
    result = v.verify([(0, ORIGINAL[:4])], topic="t", decode=decode, published=published_digests(ORIGINAL, {7}))
    first = result.first
    assert (first.kind, first.offset) == (v.REMOVED, 4)
    assert "records 4..7 are gone" in first.detail


def test_a_log_that_no_longer_starts_at_offset_0_lost_records():
    result = v.verify([(0, ORIGINAL[2:])], topic="t", decode=decode, published=published_digests(ORIGINAL, {7}))
    assert (result.first.kind, result.first.offset) == (v.REMOVED, 0)
    assert "starts at offset 2" in result.first.detail


def test_no_published_digest_of_the_topic_is_said():
    result = v.verify([(0, ORIGINAL)], topic="t", decode=decode, published=published_digests(ORIGINAL, {7}, "u"))
    assert result.ok and result.partitions[0].checked == []
    assert result.notes == ["no published digest of t: nothing to compare the log with"]


# -- one subject's chain ---------------------------------------------------------------------------

def test_one_subjects_chain_against_the_file():
    saved = export(ORIGINAL)
    forged = list(ORIGINAL)
    event = json.loads(forged[5][2])
    event["payload"]["fine_fen"] = 7
    forged[5] = (5, forged[5][1], json.dumps(event, ensure_ascii=False).encode())
    # the other subject's chain is intact, whatever else changed in the partition
    intact = check(forged, saved, subject=OTHER["id"])
    assert intact.ok and intact.chain[0] == 2 and intact.subject_partitions == [0]
    assert any("differ elsewhere" in note for note in intact.notes)
    broken = check(forged, saved, subject=ev.COMPANY)
    (only,) = broken.discrepancies
    assert (only.kind, only.subject_id, only.offset, only.event_id) == (v.CHAIN_DIFFERS, ev.COMPANY, 5, EVENT_IDS[5])
    assert "ALTERED at offset 5" in only.detail and f"offset 5 (event {EVENT_IDS[5]})" in only.detail


def test_one_subjects_chain_without_saved_chains_goes_by_its_partitions():
    others = [(0, b"x", b"a record of nobody"), (1, b"x", b"another")]
    forged_others = [(0, b"x", b"a record of nobody"), (1, b"x", b"forged")]
    digests = published_digests(ORIGINAL, {7}) + published_digests(others, {1}, partition=1)
    result = v.verify([(0, ORIGINAL), (1, forged_others)], topic="t", decode=decode, subject=ev.COMPANY,
                      published=digests)
    assert result.ok and result.subject_partitions == [0] and result.chain[0] == 6
    assert any("through the partitions holding its records" in note for note in result.notes)
    forged = list(ORIGINAL)
    forged[6] = (6, b"k", b"forged")
    result = v.verify([(0, forged), (1, others)], topic="t", decode=decode, subject=ev.COMPANY, published=digests)
    (only,) = result.discrepancies
    assert (only.kind, only.partition, only.between) == (v.ROOT_DIFFERS, 0, (0, 7))


def test_a_digest_of_an_empty_partition_holds_on_an_empty_partition():
    digest = {"topic": "t", "partition": 1, "offset": -1, "root": GENESIS_HEAD}
    result = v.verify([(0, ORIGINAL), (1, [])], topic="t", decode=decode,
                      published=[digest, *published_digests(ORIGINAL, {7})])
    assert result.ok and result.partitions[1].checked == [(-1, True)]


def test_a_chain_held_on_one_side_only_is_named_with_both_lengths_and_heads():
    import re

    from projections.verification import Discrepancy, SubjectChains, compare_chains
    from tests.unit import events as ev
    saved_only = compare_chains({"S1": (2, "ab" * 32)}, SubjectChains())
    assert saved_only == [Discrepancy("CHAIN_DIFFERS", None, None, None,
                                      "subject S1: saved chain length 2 head abababababababab…, "
                                      "recomputed length 0 head 0000000000000000…", subject_id="S1")]
    chains = SubjectChains()
    chains.add(3, 7, ev.subject_registered())
    (found,) = compare_chains({}, chains)
    assert (found.kind, found.partition, found.offset, found.subject_id) == ("CHAIN_DIFFERS", 3, None, ev.COMPANY)
    assert re.fullmatch(f"subject {ev.COMPANY}: saved chain length 0 head 0{{16}}…, recomputed length 1 head "
                        "[0-9a-f]{16}…", found.detail), found.detail


def test_a_partition_the_digest_file_does_not_name_is_not_folded():
    from projections.verification import SubjectChains
    from tests.unit import events as ev
    chains = SubjectChains(until={0: 5})
    chains.add(1, 0, ev.subject_registered())
    chains.add(0, 6, ev.subject_registered())  # beyond the saved offset of its partition
    assert chains.chains == {} and chains.as_dict() == {}
    chains.add(0, 5, ev.subject_registered())
    assert chains.as_dict()[ev.COMPANY]["length"] == 1
