"""projections/verification.py, word for word: what `verify` tells an operator (each kind of first
offending record, each root that does not hold, the notes and the reference), the fields of a
partition's result, the digest file's text, and the policy and subject a chain is replayed with.

Every expected text is written out from the rule it states; roots and fingerprints are computed here
with hashlib from the framing the module's docstring gives, not by the module; chain heads come from
canonical.chain_link, whose known answers test_known_answers.py pins."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace

import pytest

from projections import verification as v
from projections.canonical import chain_link
from projections.policy import DEFAULT_POLICY
from tests.unit import events as ev
from tests.unit.test_verification import EVENT_IDS, ORIGINAL, OTHER, export, renumbered

GENESIS = "0" * 64
AB, CD = "ab" * 32, "cd" * 32
EXPORTED_AT = "2026-01-05T10:00:00+08:00"


def decode(value):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def fingerprint(key: bytes | None, value: bytes | None) -> str:
    """SHA-256 over key and value, each after its length in 4 bytes big-endian."""
    key, value = key or b"", value or b""
    return hashlib.sha256(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value).hexdigest()


def roots(records) -> dict[int, str]:
    """{offset: the partition's root there}: SHA-256 over the previous root, the offset in 8 bytes and
    the framed key and value, from 32 zero bytes."""
    root, found = bytes(32), {}
    for offset, key, value in records:
        key, value = key or b"", value or b""
        root = hashlib.sha256(root + offset.to_bytes(8, "big") + len(key).to_bytes(4, "big") + key
                              + len(value).to_bytes(4, "big") + value).digest()
        found[offset] = root.hex()
    return found


def record(offset: int, event_id: str | None) -> tuple[int, bytes, bytes]:
    return offset, b"k", (b"raw bytes" if event_id is None else json.dumps({"event_id": event_id}).encode())


LOG = [record(o, f"e{o}") for o in range(5)]
EVENTS = [json.loads(value) for _, _, value in ORIGINAL]  # two subjects' events, as in test_verification.py


def saved_file(records, partition: int = 0, topic: str = "t") -> v.SavedDigest:
    """A digest file of one partition, records and root, written by hand (no subjects)."""
    rows = [[o, fingerprint(k, val), decode(val).get("event_id") if decode(val) else None] for o, k, val in records]
    body = {"offset": records[-1][0], "root": roots(records)[records[-1][0]], "records": rows}
    return v.load_digest({"format": 1, "topic": topic, "exported_at": EXPORTED_AT,
                          "partitions": {str(partition): body}})


# -- the first offending record, each kind in full ----------------------------------------------

STRANGER = (0, b"k", b'{"event_id": "x"}')

FIRST_RECORD_CASES = {
    "the log ends early": (LOG[:3], v.REMOVED, 3, "e3", None,
                           "the saved record at offset 3 (event e3) is gone: the log ends at offset 2"),
    "the partition is empty": ([], v.REMOVED, 0, "e0", None,
                               "the saved record at offset 0 (event e0) is gone: the partition is empty"),
    "a record slipped in": (renumbered(LOG[:2] + [STRANGER] + LOG[2:]), v.INSERTED, 2, "e2", 3,
                            "a record that was never saved (event x) stands at offset 2; the saved record of "
                            "offset 2 (event e2) follows at offset 3"),
    "two swapped": (renumbered(LOG[:2] + [LOG[3], LOG[2], LOG[4]]), v.REORDERED, 2, "e2", 3,
                    "the saved record of offset 2 (event e2) is now at offset 3; offset 2 holds event e3, "
                    "saved at offset 3"),
    "moved two on, then again": (renumbered(LOG[:2] + [LOG[3], LOG[4], LOG[2], LOG[2]]), v.REORDERED, 2, "e2", 4,
                                 "the saved record of offset 2 (event e2) is now at offset 4; offset 2 holds event "
                                 "e3, saved at offset 3"),
    "the same bytes at a later offset": (LOG[:2] + [(5, b"k", LOG[2][2])], v.REORDERED, 2, "e2", 5,
                                         "the saved record of offset 2 (event e2) is now at offset 5; the same "
                                         "position (offset 5) holds event e2"),
    "one taken out": (renumbered(LOG[:2] + LOG[3:]), v.REMOVED, 2, "e2", None,
                      "the saved record of offset 2 (event e2) is gone; the records after it moved up (offset 2 "
                      "holds event e3, saved at offset 3)"),
    "one taken out, the next at its old offset": (LOG[:2] + LOG[3:], v.REMOVED, 2, "e2", None,
                                                  "the saved record of offset 2 (event e2) is gone; the records "
                                                  "after it moved up (the same position (offset 3) holds event e3, "
                                                  "saved at offset 3)"),
    "altered, the same event": (LOG[:2] + [(2, b"k", b'{"event_id": "e2", "n": 1}')] + LOG[3:], v.ALTERED, 2, "e2",
                                None, "the record at offset 2 (event e2) differs from the saved bytes: same event "
                                      "id, altered content"),
    "altered, undecodable": (LOG[:2] + [(2, b"k", b"not json")], v.ALTERED, 2, "e2", None,
                             "the record at offset 2 (event e2) differs from the saved bytes: it is no decodable "
                             "event any more"),
    "altered, another event": (LOG[:2] + [(2, b"k", b'{"event_id": "z"}')], v.ALTERED, 2, "e2", None,
                               "the record at offset 2 (event e2) differs from the saved bytes: it now reads as "
                               "event z"),
    "the key altered": (LOG[:2] + [(2, b"j", LOG[2][2])], v.ALTERED, 2, "e2", None,
                        "the record at offset 2 (event e2) differs from the saved bytes: same event id, altered "
                        "content"),
}


@pytest.mark.parametrize("case", FIRST_RECORD_CASES)
def test_each_kind_of_first_offending_record_is_told_in_full(case):
    log, kind, offset, event_id, found_at, detail = FIRST_RECORD_CASES[case]
    result = v.verify([(3, log)], topic="t", decode=decode, saved=saved_file(LOG, partition=3))
    assert result.discrepancies == [v.Discrepancy(kind, 3, offset, event_id, detail, found_at=found_at)]


def test_a_compacted_log_is_followed_by_its_saved_offsets_not_by_position():
    compacted = LOG[:2] + [record(o, f"e{o}") for o in (4, 5, 6)]  # offsets 2 and 3 gone before the export
    saved = saved_file(compacted)
    swapped = compacted[:2] + [(4, b"k", compacted[3][2]), (5, b"k", compacted[2][2]), compacted[4]]
    first = v.verify([(0, swapped)], topic="t", decode=decode, saved=saved).first
    assert first == v.Discrepancy(v.REORDERED, 0, 4, "e4", "the saved record of offset 4 (event e4) is now at "
                                                           "offset 5; offset 4 holds event e5, saved at offset 5",
                                  found_at=5)


def test_a_saved_record_that_was_no_event_is_told_as_such():
    saved = saved_file(LOG[:2] + [record(2, None)])
    for now, what in ((b"other raw bytes", "it is no decodable event any more"),
                      (b'{"event_id": "z"}', "it now reads as event z")):
        first = v.verify([(0, LOG[:2] + [(2, b"k", now)])], topic="t", decode=decode, saved=saved).first
        assert first == v.Discrepancy(v.ALTERED, 0, 2, None,
                                      f"the record at offset 2 (event None) differs from the saved bytes: {what}")


def test_a_file_without_chains_still_reads_the_events_of_the_records():
    saved = saved_file(LOG)
    assert saved.subjects is None
    altered = LOG[:4] + [(4, b"k", b'{"event_id": "e4", "n": 2}')]
    first = v.verify([(0, altered)], topic="t", decode=decode, saved=saved).first
    assert first.detail.endswith("differs from the saved bytes: same event id, altered content")


# -- roots that do not hold, each in full ---------------------------------------------------------

def digest(offset: int, root: str, partition: int = 3, topic: str = "t") -> dict:
    return {"topic": topic, "partition": partition, "offset": offset, "root": root}


AT = roots(LOG)
GAPPED = LOG[:2] + LOG[3:]  # offset 2 compacted away

ROOT_CASES = {
    "between two digests": (LOG, [digest(1, AT[1]), digest(3, AB)], [(1, True), (3, False)],
                            v.Discrepancy(v.ROOT_DIFFERS, 3, None, None,
                                          f"the root at offset 3 differs (digest {AB}, log {AT[3]}): the first "
                                          "difference lies somewhere in offsets 2..3", between=(2, 3))),
    "right after a digest that holds": (LOG, [digest(2, AT[2]), digest(3, AB), digest(4, AT[4])],
                                        [(2, True), (3, False), (4, True)],
                                        v.Discrepancy(v.ROOT_DIFFERS, 3, None, None,
                                                      f"the root at offset 3 differs (digest {AB}, log {AT[3]}): the "
                                                      "first difference lies at offset 3", between=(3, 3))),
    "two claims at one offset": (LOG, [digest(4, CD), digest(4, AB)], [(4, False)],
                                 v.Discrepancy(v.ROOT_DIFFERS, 3, None, None,
                                               f"the root at offset 4 differs (digest {AB}/{CD}, log {AT[4]}): the "
                                               "first difference lies somewhere in offsets 0..4", between=(0, 4))),
    # the root at 0 begins 847f...: it sorts before abab...
    "the true root and another at one offset": (LOG, [digest(0, AB), digest(0, AT[0])], [(0, False)],
                                                v.Discrepancy(v.ROOT_DIFFERS, 3, None, None,
                                                              f"the root at offset 0 differs (digest {AT[0]}/{AB}, "
                                                              f"log {AT[0]}): the "
                                                              "first difference lies at offset 0", between=(0, 0))),
    "an offset with no record": (GAPPED, [digest(2, AB)], [(2, False)],
                                 v.Discrepancy(v.ROOT_DIFFERS, 3, None, None,
                                               f"the root at offset 2 differs (digest {AB}, log no record at offset "
                                               "2): the first difference lies somewhere in offsets 0..2",
                                               between=(0, 2))),
    "a digest that holds after two that do not": (LOG, [digest(1, AB), digest(2, CD), digest(3, AT[3])],
                                                  [(1, False), (2, False), (3, True)],
                                                  v.Discrepancy(v.ROOT_DIFFERS, 3, None, None,
                                                                f"the root at offset 1 differs (digest {AB}, log "
                                                                f"{AT[1]}): the first difference lies somewhere in "
                                                                "offsets 0..1", between=(0, 1))),
    "a log that starts late": (LOG[2:], [digest(4, AT[4])], [(4, False)],
                               v.Discrepancy(v.REMOVED, 3, 0, None, "the log starts at offset 2: records 0..1 are "
                                                                    "gone (deleted or expired)")),
    "a log that ends early": (LOG[:3], [digest(1, AT[1]), digest(4, AT[4])], [(1, True), (4, False)],
                              v.Discrepancy(v.REMOVED, 3, 3, None, "a digest covers offsets up to 4, but the log "
                                                                   "ends at offset 2: records 3..4 are gone")),
    "an empty partition": ([], [digest(4, AT[4])], [(4, False)],
                           v.Discrepancy(v.REMOVED, 3, 0, None, "a digest covers offsets up to 4, but the partition "
                                                                "is empty: records 0..4 are gone")),
}


@pytest.mark.parametrize("case", ROOT_CASES)
def test_each_root_that_does_not_hold_is_told_in_full(case):
    log, published, checked, discrepancy = ROOT_CASES[case]
    result = v.verify([(3, log)], topic="t", decode=decode, published=published)
    assert result.partitions[0].checked == checked
    assert result.discrepancies == [discrepancy]


def test_a_digest_of_the_empty_partition_is_checked_before_any_record():
    result = v.verify([(3, LOG)], topic="t", decode=decode, published=[digest(-1, GENESIS), digest(0, AB)])
    assert result.partitions[0].checked == [(-1, True), (0, False)]
    assert result.first.between == (0, 0)


# -- a partition's result --------------------------------------------------------------------------

def test_a_scan_gives_its_partition_count_first_and_last_offsets_and_root():
    scan = v.PartitionScan(7, v.SavedPartition(0, AT[0]))
    for offset, key, value in LOG[:2]:
        assert scan.add(offset, key, value) == fingerprint(key, value)
    assert scan.finish() == v.PartitionResult(7, 2, 0, 1, AT[1], [(0, True)], None)
    late = v.PartitionScan(1, published=[(3, AT[3])])
    for offset, key, value in LOG[3:]:
        late.add(offset, key, value)
    assert late.finish() == v.PartitionResult(1, 2, 3, 4, roots(LOG[3:])[4], [(3, False)], v.Discrepancy(
        v.REMOVED, 1, 0, None, "the log starts at offset 3: records 0..2 are gone (deleted or expired)"))
    assert v.PartitionScan(2).finish() == v.PartitionResult(2, 0, None, -1, GENESIS, [], None)


def test_a_saved_partition_at_offset_0_is_checked_there():
    scan = v.PartitionScan(0, v.SavedPartition(0, AB))
    scan.add(*LOG[0])
    result = scan.finish()
    assert result.checked == [(0, False)]
    assert result.discrepancy == v.Discrepancy(v.ROOT_DIFFERS, 0, None, None,
                                               f"the root at offset 0 differs (digest {AB}, log {AT[0]}): the "
                                               "first difference lies at offset 0", between=(0, 0))


# -- the digest file's text ------------------------------------------------------------------------

def test_the_digest_file_is_written_one_record_a_line():
    registered = ev.subject_registered()
    event_bytes = json.dumps(registered, ensure_ascii=False).encode()
    part_0 = [(0, ev.COMPANY.encode(), event_bytes), (1, None, b"raw bytes")]
    stream = io.StringIO()
    summary = v.write_digest(stream, [(0, part_0), (4, [])], topic="t", exported_at=EXPORTED_AT, decode=decode)
    head = chain_link("0" * 64, registered)
    root = roots(part_0)[1]
    assert stream.getvalue() == (
        '{"format": 1, "topic": "t", "exported_at": "2026-01-05T10:00:00+08:00",\n"partitions": {\n'
        f'"0": {{"records": [\n[0, "{fingerprint(*part_0[0][1:])}", "{registered["event_id"]}"],\n'
        f'[1, "{fingerprint(None, b"raw bytes")}", null]],\n "offset": 1, "root": "{root}"}},\n'
        f'"4": {{"records": [],\n "offset": -1, "root": "{GENESIS}"}}}},\n'
        f'"subjects": {{\n"{ev.COMPANY}": {{"length": 1, "head": "{head}"}}}}}}\n')
    assert summary == {"records": 2, "subjects": 1, "partitions": {0: {"offset": 1, "root": root, "records": 2},
                                                                   4: {"offset": -1, "root": GENESIS, "records": 0}}}


def test_a_digest_file_holds_up_to_the_record_limit_and_not_one_more(monkeypatch):
    monkeypatch.setattr(v, "RECORDS_PER_FILE_MAX", 1000)
    records = [(o, None, b"") for o in range(1000)]
    summary = v.write_digest(io.StringIO(), [(0, records[:400]), (1, records[:600])], topic="t", exported_at="x",
                             decode=decode)
    assert summary["records"] == 1000
    with pytest.raises(ValueError) as raised:
        v.write_digest(io.StringIO(), [(0, records[:400]), (1, records[:601])], topic="t", exported_at="x",
                       decode=decode)
    assert str(raised.value) == "more than 1,000 records: too many for one digest file"


# -- the policy and the subject a chain is replayed with ------------------------------------------

THREE_AN_AUTHORITY = replace(DEFAULT_POLICY, events_per_authority_per_subject=3)


def test_chains_are_replayed_under_the_policy_given():
    # every event of the company is its one authority's: under a quota of 3 events an authority, 3 are
    # applied (its registration, P-1 and P-2) and the other 3 rejected; the other subject has 2
    chains = v.SubjectChains(THREE_AN_AUTHORITY)
    for offset, event in enumerate(EVENTS):
        chains.add(0, offset, event)
    assert {s: length for s, (length, _) in chains.chains.items()} == {ev.COMPANY: 3, OTHER["id"]: 2}
    stream = io.StringIO()
    v.write_digest(stream, [(0, ORIGINAL)], topic="t", exported_at="x", decode=decode, policy=THREE_AN_AUTHORITY)
    document = json.loads(stream.getvalue())
    assert {s: c["length"] for s, c in document["subjects"].items()} == {ev.COMPANY: 3, OTHER["id"]: 2}
    tight = v.load_digest(document)
    assert v.verify([(0, ORIGINAL)], topic="t", decode=decode, saved=tight, policy=THREE_AN_AUTHORITY).ok
    assert [d.subject_id for d in v.verify([(0, ORIGINAL)], topic="t", decode=decode, saved=tight).discrepancies] \
        == [ev.COMPANY]
    one = v.verify([(0, ORIGINAL)], topic="t", decode=decode, published=[], subject=ev.COMPANY,
                   policy=THREE_AN_AUTHORITY)
    assert one.chain[0] == 3


def test_one_subjects_chains_keep_only_its_events_and_where_they_are():
    chains = v.SubjectChains(only=OTHER["id"])
    for offset, event in enumerate(EVENTS):
        chains.add(2, offset, event)
    assert list(chains.chains) == [OTHER["id"]] and chains.chains[OTHER["id"]][0] == 2
    assert chains.partitions == {OTHER["id"]: {2}}
    assert chains.applied == [(2, 1, EVENT_IDS[1]), (2, 3, EVENT_IDS[3])]
    every = v.SubjectChains()
    for offset, event in enumerate(EVENTS):
        every.add(2, offset, event)
    assert every.applied == [] and every.partitions == {ev.COMPANY: {2}, OTHER["id"]: {2}}


def test_a_rejected_event_counts_where_its_subject_is_but_not_in_its_chain():
    chains = v.SubjectChains()
    chains.add(5, 0, ev.penalty_fulfilled("P-404"))  # nothing to fulfil: rejected
    assert chains.chains == {} and chains.partitions == {ev.COMPANY: {5}}
    chains.add(6, 0, {"event_id": "e"})  # no subject at all
    assert chains.partitions == {ev.COMPANY: {5}}


# -- the notes and the reference -------------------------------------------------------------------

def test_a_digest_file_of_another_topic_is_compared_and_said_so():
    result = v.verify([(0, ORIGINAL)], topic="t", decode=decode, saved=export(ORIGINAL, topic="u"))
    assert result.ok
    assert result.reference == "the digest file of u exported 2026-01-05T10:00:00+08:00"
    assert result.notes == ["the digest file was exported from u; comparing it with t"]


def test_a_digest_file_without_a_date_is_named_so():
    document = {"format": 1, "topic": "t", "partitions": {}}
    result = v.verify([], topic="t", decode=decode, saved=v.load_digest(document))
    assert result.reference == "the digest file of t exported (no date)" and result.notes == []


def test_partitions_the_digest_file_does_not_name_are_listed_unless_empty():
    result = v.verify([(0, LOG), (1, LOG), (2, []), (3, LOG[:1])], topic="t", decode=decode, saved=saved_file(LOG))
    assert result.ok and [r.partition for r in result.partitions] == [0, 1, 2, 3]
    assert result.notes == ["partition(s) 1, 3 are not in the digest file: not verified"]


def test_a_published_digest_of_a_partition_the_topic_has_not():
    published = [digest(1, AT[1], topic="u"), digest(4, AT[4], partition=0), digest(4, AT[4], partition=5)]
    result = v.verify([(0, LOG)], topic="t", decode=decode, published=published)
    assert result.reference == "2 published digest(s) of t"
    assert result.notes == ["partition 5 is not in t"]
    assert [(r.partition, r.records, r.checked) for r in result.partitions] == [(0, 5, [(4, True)]),
                                                                               (5, 0, [(4, False)])]
    assert result.discrepancies == [v.Discrepancy(v.REMOVED, 5, 0, None, "a digest covers offsets up to 4, but the "
                                                                         "partition is empty: records 0..4 are gone")]


def test_a_partition_the_topic_has_not_keeps_its_saved_records():
    saved = saved_file(LOG, partition=6)
    result = v.verify([], topic="t", decode=decode, saved=saved)
    assert result.notes == ["partition 6 is not in t"]
    assert result.discrepancies == [v.Discrepancy(v.REMOVED, 6, 0, "e0", "the saved record at offset 0 (event e0) "
                                                                         "is gone: the partition is empty")]


# -- one subject -----------------------------------------------------------------------------------

def _forged(*offsets: int) -> list:
    forged = list(ORIGINAL)
    for offset in offsets:
        event = json.loads(forged[offset][2])
        event["payload"]["fine_fen"] = 7
        forged[offset] = (offset, forged[offset][1], json.dumps(event, ensure_ascii=False).encode())
    return forged


def _heads(records) -> dict[str, tuple[int, str]]:
    """Each subject's (length, head) by chain_link over its events, every one applied in these logs."""
    chains: dict[str, tuple[int, str]] = {}
    for _, _, value in records:
        event = json.loads(value)
        length, head = chains.get(event["subject"]["id"], (0, GENESIS))
        chains[event["subject"]["id"]] = (length + 1, chain_link(head, event))
    return chains


def _chain_detail(before, now) -> str:
    return (f"subject {ev.COMPANY}: saved chain length {before[0]} head {before[1][:16]}…, recomputed length "
            f"{now[0]} head {now[1][:16]}…")


@pytest.mark.parametrize("forged_at, kind, first_offset, event_from", [
    ((5,), v.ALTERED, 5, 5),  # the company's own event: its first event from there is that one
    ((3, 7), v.ALTERED, 3, 4),  # the other subject's event first: the company's next one is named
])
def test_a_subjects_broken_chain_names_the_first_offending_record_and_its_next_event(forged_at, kind, first_offset,
                                                                                     event_from):
    saved = export(ORIGINAL, partition=2)
    forged = _forged(*forged_at)
    result = v.verify([(2, forged)], topic="t", decode=decode, saved=saved, subject=ev.COMPANY)
    assert result.reference == f"the digest file of t exported 2026-01-05T10:00:00+08:00 (its chain of {ev.COMPANY})"
    before, now = _heads(ORIGINAL)[ev.COMPANY], _heads(forged)[ev.COMPANY]
    assert result.chain == now and result.subject_partitions == [2] and result.notes == []
    assert (result.topic, result.subject) == ("t", ev.COMPANY)
    detail = (_chain_detail(before, now) + f"; the first offending record of its partition: {kind} at offset "
              f"{first_offset} (event {EVENT_IDS[first_offset]}); its first event from there: offset {event_from} "
              f"(event {EVENT_IDS[event_from]})")
    assert result.discrepancies == [v.Discrepancy(v.CHAIN_DIFFERS, 2, first_offset, EVENT_IDS[first_offset], detail,
                                                  subject_id=ev.COMPANY)]


def test_a_subjects_chain_that_differs_on_an_intact_log_is_told_alone():
    # exported under a quota of 3 events an authority, verified under the default policy: the company's
    # chain differs (3 events then, 6 now) while every record is as saved
    stream = io.StringIO()
    v.write_digest(stream, [(0, ORIGINAL)], topic="t", exported_at=EXPORTED_AT, decode=decode,
                   policy=THREE_AN_AUTHORITY)
    saved = v.load_digest(json.loads(stream.getvalue()))
    result = v.verify([(0, ORIGINAL)], topic="t", decode=decode, saved=saved, subject=ev.COMPANY)
    assert result.notes == [] and result.chain[0] == 6
    assert [(d.kind, d.partition, d.offset, d.subject_id) for d in result.discrepancies] == [
        (v.CHAIN_DIFFERS, 0, None, ev.COMPANY)]
    assert result.first.detail.startswith(f"subject {ev.COMPANY}: saved chain length 3 head ")
    assert result.first.detail.endswith("…") and "first offending record" not in result.first.detail
    clean = v.verify([(0, ORIGINAL)], topic="t", decode=decode, saved=export(ORIGINAL), subject=ev.COMPANY)
    assert clean.ok and clean.notes == [] and clean.chain[0] == 6


def test_a_subjects_chain_cut_short_names_the_removal_and_no_event_after_it():
    saved = export(ORIGINAL, partition=2)
    result = v.verify([(2, ORIGINAL[:6])], topic="t", decode=decode, saved=saved, subject=ev.COMPANY)
    before, now = _heads(ORIGINAL)[ev.COMPANY], _heads(ORIGINAL[:6])[ev.COMPANY]
    detail = _chain_detail(before, now) + f"; the first offending record of its partition: REMOVED at offset 6 " \
                                          f"(event {EVENT_IDS[6]})"
    assert result.discrepancies == [v.Discrepancy(v.CHAIN_DIFFERS, 2, 6, EVENT_IDS[6], detail, subject_id=ev.COMPANY)]


def test_a_subjects_broken_chain_in_a_partition_saved_by_its_root_only_names_the_offsets():
    stream = io.StringIO()
    v.write_digest(stream, [(0, ORIGINAL)], topic="t", exported_at=EXPORTED_AT, decode=decode)
    document = json.loads(stream.getvalue())
    del document["partitions"]["0"]["records"]  # its root and the chains kept
    forged = _forged(5)
    result = v.verify([(0, forged)], topic="t", decode=decode, saved=v.load_digest(document), subject=ev.COMPANY)
    before, now = _heads(ORIGINAL)[ev.COMPANY], _heads(forged)[ev.COMPANY]
    detail = _chain_detail(before, now) + "; the first offending record of its partition: ROOT_DIFFERS somewhere in " \
                                        "offsets 0..7"
    assert result.discrepancies == [v.Discrepancy(v.CHAIN_DIFFERS, 0, None, None, detail, subject_id=ev.COMPANY)]


def test_a_subjects_broken_chain_carries_where_a_moved_record_went():
    saved = export(ORIGINAL, partition=2)
    swapped = renumbered(ORIGINAL[:4] + [ORIGINAL[5], ORIGINAL[4]] + ORIGINAL[6:])
    (only,) = v.verify([(2, swapped)], topic="t", decode=decode, saved=saved, subject=ev.COMPANY).discrepancies
    assert (only.kind, only.partition, only.offset, only.event_id, only.found_at) == (
        v.CHAIN_DIFFERS, 2, 4, EVENT_IDS[4], 5)
    assert f"REORDERED at offset 4 (event {EVENT_IDS[4]}); its first event from there: offset 4 (event " \
           f"{EVENT_IDS[5]})" in only.detail


def test_a_subject_whose_chain_is_intact_is_told_which_partitions_differ_elsewhere():
    document = json.loads(_two_partitions_text())
    saved = v.load_digest(document)
    broken = [(0, _forged(3)), (1, _forged(3))]
    nobody = v.verify(broken, topic="t", decode=decode, saved=saved, subject="NOBODY")
    assert nobody.ok and nobody.chain == (0, GENESIS) and nobody.subject_partitions == []
    assert nobody.notes == ["partition(s) 0, 1 differ elsewhere; NOBODY's chain is intact (run verify without "
                            "--subject for the whole log)"]
    company = v.verify([(0, _forged(3)), (1, ORIGINAL)], topic="t", decode=decode, saved=saved, subject=ev.COMPANY)
    assert company.ok and company.subject_partitions == [0, 1]
    assert company.notes == [f"partition(s) 0 differ elsewhere; {ev.COMPANY}'s chain is intact (run verify without "
                             "--subject for the whole log)"]


def _two_partitions_text() -> str:
    # the company's events on partition 0 and on 1: its chain is its events of both, in the order read
    stream = io.StringIO()
    v.write_digest(stream, [(0, ORIGINAL), (1, ORIGINAL)], topic="t", exported_at=EXPORTED_AT, decode=decode)
    return stream.getvalue()


def test_a_subject_without_saved_chains_goes_by_the_partitions_holding_it():
    published = [digest(7, AB, partition=0), digest(7, CD, partition=1)]
    result = v.verify([(0, ORIGINAL), (1, [])], topic="t", decode=decode, published=published, subject=ev.COMPANY)
    assert result.reference == f"2 published digest(s) of t (the partitions holding {ev.COMPANY})"
    assert result.notes == ["no saved chain to compare with: the subject's chain is verified through the partitions "
                            "holding its records"]
    assert [(d.kind, d.partition) for d in result.discrepancies] == [(v.ROOT_DIFFERS, 0)]
    # a subject found nowhere: every partition that differs is named
    nobody = v.verify([(0, ORIGINAL), (1, [])], topic="t", decode=decode, published=published, subject="NOBODY")
    assert [(d.kind, d.partition) for d in nobody.discrepancies] == [(v.ROOT_DIFFERS, 0), (v.REMOVED, 1)]
    assert nobody.chain == (0, GENESIS) and nobody.subject_partitions == []


def test_a_subject_against_a_digest_file_without_chains_goes_by_its_partitions():
    result = v.verify([(0, LOG)], topic="t", decode=decode, saved=saved_file(LOG), subject=ev.COMPANY)
    assert result.ok
    assert result.reference == f"the digest file of t exported 2026-01-05T10:00:00+08:00 (the partitions holding " \
                               f"{ev.COMPANY})"
