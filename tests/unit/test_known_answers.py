"""Known answers for the hashes the ledger's integrity rests on: chain links, partition roots, record
fingerprints, and the digests and digest files built from them.

Every expected value here is computed from the specification below with hashlib over bytes written out
in this file (the canonical JSON as literal text, the previous head as literal hex, the framing as
literal bytes), never with the code's own chain_link, log_link or record_fingerprint; the first vectors
are also pinned as literal hex digests, computed outside Python (coreutils sha256sum over the same
bytes). A change to the canonical form or to the framing fails here, however consistently it is made.

The specification
-----------------
* Canonical JSON (projections.canonical.canonical_bytes): UTF-8; no whitespace between tokens; the
  members of every object sorted by key, keys compared by code point (so "B" < "_" < "a" < "aa" <
  "é" < "中"); strings escape only `"` as \\", `\\` as \\\\ and the control characters U+0000-U+001F
  (\\n, \\t, ... else \\u00XX, lower-case hex); everything else, "/" and U+007F and U+2028 included,
  is written as itself; integers in decimal; true, false, null.
* A subject's chain: head_0 is 64 zeros (GENESIS_HEAD); head_n = hex(SHA-256(bytes(head_n-1) ||
  canonical(event_n))) over its applied events in log order, where bytes(h) is the 32 bytes that
  the 64 hex digits h stand for.
* A partition's root: root_-1 is 64 zeros; after the record at offset o with key k and value v,
  root = hex(SHA-256(bytes(previous root) || o as 8 bytes big-endian || len(k) as 4 bytes big-endian
  || k || len(v) as 4 bytes big-endian || v)); an absent key or value is the empty string.
* A record's fingerprint (digest files): hex(SHA-256(len(k) 4 bytes || k || len(v) 4 bytes || v)):
  the root's framing without the previous root and the offset.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json

import pytest

from projections import verification as v
from projections.canonical import GENESIS_HEAD, canonical_bytes, chain_link, log_link
from projections.ids import uscc_problems
from projections.replay import replay

ZERO_HEAD = "0000000000000000000000000000000000000000000000000000000000000000"  # 64 hex zeros


def sha256_hex(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


# --- canonical bytes ----------------------------------------------------------------------------
@pytest.mark.parametrize("value, text", [
    ({"b": 1, "a": [True, False, None], "c": {"z": "中文", "y": -12, "x": 0}},
     '{"a":[true,false,null],"b":1,"c":{"x":0,"y":-12,"z":"中文"}}'),
    ({"a": 1, "B": 2, "_": 3, "中": 4, "aa": 5, "Z": 6, "é": 7},
     '{"B":2,"Z":6,"_":3,"a":1,"aa":5,"é":7,"中":4}'),
    ({"s": '引号"反斜杠\\换行\n制表\t/斜杠\x01\x1f\x7f\u2028 é'},
     '{"s":"引号\\"反斜杠\\\\换行\\n制表\\t/斜杠\\u0001\\u001f\x7f\u2028 é"}'),
    ({"outer": {"list": [{"b": 2, "a": 1}, []], "empty": {}}, "n": 5000000},
     '{"n":5000000,"outer":{"empty":{},"list":[{"a":1,"b":2},[]]}}'),
    ([], "[]"),
])
def test_canonical_bytes_are_the_specified_text(value, text):
    assert canonical_bytes(value) == text.encode("utf-8")


def test_canonical_bytes_write_non_ascii_as_utf8_not_escapes():
    assert canonical_bytes({"名": "华为"}) == b'{"\xe5\x90\x8d":"\xe5\x8d\x8e\xe4\xb8\xba"}'


# --- chain links ----------------------------------------------------------------------------------
# A subject registered and then penalised, as published and as canonically stored. The codes are the
# repository's synthetic test codes (tests/unit/events.py: make_uscc("410105", 1) and the authority
# make_uscc("410100", 1, "1", "1")), written out here; the subject is fictional.
SUBJECT = "91410105MADGK41F4E"
AUTHORITY = "1141010087525218XA"
REGISTERED = {
    "event_id": "3f0e4c8a-5d2b-4e61-9a7c-0b1d2e3f4a5b", "type": "SubjectRegistered",
    "subject": {"id": SUBJECT, "kind": "LEGAL_PERSON", "name": "郑州金水宏达机械制造有限公司"},
    "source": {"authority_code": AUTHORITY, "authority_name": "郑州市市场监督管理局"},
    "occurred_on": "2020-01-02", "recorded_at": "2025-06-03T09:30:00+08:00", "classification": "PUBLIC",
    "payload": {"region_code": "410105", "registered_on": "2020-01-02"}}
PENALISED = {
    "event_id": "8c1d7e52-0f3a-4b9e-8d26-5e7f9a0b1c2d", "type": "PenaltyImposed",
    "subject": {"id": SUBJECT, "kind": "LEGAL_PERSON", "name": "郑州金水宏达机械制造有限公司"},
    "source": {"authority_code": AUTHORITY, "authority_name": "郑州市市场监督管理局"},
    "occurred_on": "2025-06-02", "recorded_at": "2025-06-03T10:00:00+08:00", "classification": "PUBLIC",
    "payload": {"record_id": "P-1", "decision_no": "郑市监罚〔2025〕1号", "violation_type": "虚假宣传",
                "facts": "在经营场所发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条",
                "penalty_kinds": ["FINE"], "fine_fen": 5000000, "severity": "GENERAL"}}
# their canonical text, written out by hand from the specification
REGISTERED_TEXT = (
    '{"classification":"PUBLIC","event_id":"3f0e4c8a-5d2b-4e61-9a7c-0b1d2e3f4a5b","occurred_on":"2020-01-02",'
    '"payload":{"region_code":"410105","registered_on":"2020-01-02"},"recorded_at":"2025-06-03T09:30:00+08:00",'
    '"source":{"authority_code":"1141010087525218XA","authority_name":"郑州市市场监督管理局"},'
    '"subject":{"id":"91410105MADGK41F4E","kind":"LEGAL_PERSON","name":"郑州金水宏达机械制造有限公司"},'
    '"type":"SubjectRegistered"}')
PENALISED_TEXT = (
    '{"classification":"PUBLIC","event_id":"8c1d7e52-0f3a-4b9e-8d26-5e7f9a0b1c2d","occurred_on":"2025-06-02",'
    '"payload":{"basis":"《中华人民共和国广告法》第五十五条","decision_no":"郑市监罚〔2025〕1号",'
    '"facts":"在经营场所发布虚假广告","fine_fen":5000000,"penalty_kinds":["FINE"],"record_id":"P-1",'
    '"severity":"GENERAL","violation_type":"虚假宣传"},"recorded_at":"2025-06-03T10:00:00+08:00",'
    '"source":{"authority_code":"1141010087525218XA","authority_name":"郑州市市场监督管理局"},'
    '"subject":{"id":"91410105MADGK41F4E","kind":"LEGAL_PERSON","name":"郑州金水宏达机械制造有限公司"},'
    '"type":"PenaltyImposed"}')
# hex(SHA-256(32 zero bytes || REGISTERED_TEXT)) and the next link, by coreutils sha256sum
HEAD_1 = "0eab03bf48f49053d8df2244eb3da2931ec1eeb2aa66612241d3fe3e1e4d1600"
HEAD_2 = "053fb53fe6afea49639148651548fca2c4bb6c51cdd9a030c0838315fe108f7d"


def test_the_events_are_valid_codes_and_their_text_is_canonical():
    assert uscc_problems(SUBJECT) == [] and uscc_problems(AUTHORITY) == []
    assert canonical_bytes(REGISTERED) == REGISTERED_TEXT.encode("utf-8")
    assert canonical_bytes(PENALISED) == PENALISED_TEXT.encode("utf-8")


def test_chain_links_are_sha256_over_the_previous_head_and_the_canonical_text():
    head_1 = sha256_hex(bytes.fromhex(ZERO_HEAD), REGISTERED_TEXT.encode("utf-8"))
    head_2 = sha256_hex(bytes.fromhex(head_1), PENALISED_TEXT.encode("utf-8"))
    assert (head_1, head_2) == (HEAD_1, HEAD_2)
    assert GENESIS_HEAD == ZERO_HEAD
    assert chain_link(ZERO_HEAD, REGISTERED) == HEAD_1
    assert chain_link(HEAD_1, PENALISED) == HEAD_2
    # the head enters as its 32 bytes, not as its 64 hex characters
    assert chain_link(HEAD_1, PENALISED) != sha256_hex(HEAD_1.encode("ascii"), PENALISED_TEXT.encode("utf-8"))


def test_the_fold_chains_each_applied_event_from_the_genesis_head():
    result = replay(enumerate([REGISTERED, PENALISED]))
    assert result.rejected == []
    history = result.history[SUBJECT]
    assert [entry["event"] for entry in history] == [REGISTERED, PENALISED]  # stored as published
    assert [entry["chain_hash"] for entry in history] == [HEAD_1, HEAD_2]
    assert result.states[SUBJECT]["chain"] == {"length": 2, "head": HEAD_2}


def test_a_rejected_event_leaves_the_chain_where_it_was():
    again = {**PENALISED, "event_id": "8c1d7e52-0f3a-4b9e-8d26-5e7f9a0b1c2e"}  # the same record id again
    result = replay(enumerate([REGISTERED, PENALISED, again]))
    assert len(result.rejected) == 1
    assert result.states[SUBJECT]["chain"] == {"length": 2, "head": HEAD_2}


# --- partition roots, fingerprints, digests -------------------------------------------------------
# (partition, offset, key, value): an absent key, an absent value, an empty key and value, a gap in the
# offsets (a compacted topic), and an offset past 2**32 (the 8 bytes are all needed).
RECORDS = [
    (0, 0, b"91440300708461136T", b'{"n":1}'),
    (1, 0, b"k", None),
    (0, 1, None, b"\x00\xff"),
    (0, 2, b"", b""),
    (1, 7, b"k", b"v"),
    (2, 4294967301, b"a", b"b"),
]
# each record's framing, written out: offset (8 bytes), len(key) (4 bytes), key, len(value) (4 bytes), value
FRAMED = {
    (0, 0): bytes.fromhex("0000000000000000" "00000012") + b"91440300708461136T" + bytes.fromhex("00000007") + b'{"n":1}',
    (1, 0): bytes.fromhex("0000000000000000" "00000001") + b"k" + bytes.fromhex("00000000"),
    (0, 1): bytes.fromhex("0000000000000001" "00000000" "00000002" "00ff"),
    (0, 2): bytes.fromhex("0000000000000002" "00000000" "00000000"),
    (1, 7): bytes.fromhex("0000000000000007" "00000001") + b"k" + bytes.fromhex("00000001") + b"v",
    (2, 4294967301): bytes.fromhex("0000000100000005" "00000001") + b"a" + bytes.fromhex("00000001") + b"b",
}
# roots after the first record of partition 0 and after its last, by coreutils sha256sum
ROOT_0_AT_0 = "0bd9bac4fff68d8d1ec16090c6be39837d7c0307dc5ab42f1ed2a9b7a827572e"
ROOT_0_AT_2 = "2be3d6aeb02aa9a50e3ade6d44c7e339d73e0905da9a7bd33c122d13cae682fa"


def expected_roots() -> dict[int, tuple[int, str]]:
    roots: dict[int, tuple[int, str]] = {}
    for partition, offset, _, _ in RECORDS:
        previous = roots.get(partition, (-1, ZERO_HEAD))[1]
        roots[partition] = (offset, sha256_hex(bytes.fromhex(previous), FRAMED[partition, offset]))
    return roots


def test_log_links_are_sha256_over_the_previous_root_the_offset_and_the_framed_record():
    root = sha256_hex(bytes.fromhex(ZERO_HEAD), FRAMED[0, 0])
    assert root == ROOT_0_AT_0
    assert log_link(ZERO_HEAD, 0, b"91440300708461136T", b'{"n":1}') == ROOT_0_AT_0
    for partition, offset, key, value in RECORDS:
        assert log_link(ROOT_0_AT_0, offset, key, value) == sha256_hex(bytes.fromhex(ROOT_0_AT_0),
                                                                        FRAMED[partition, offset])


def test_the_root_covers_the_offset_the_framing_and_absent_parts():
    at_0 = log_link(ZERO_HEAD, 0, b"k", b"v")
    assert log_link(ZERO_HEAD, 1, b"k", b"v") != at_0  # the same record at another offset
    assert log_link(ZERO_HEAD, 0, b"kv", b"") != log_link(ZERO_HEAD, 0, b"k", b"v")  # framed, not joined
    assert log_link(ZERO_HEAD, 0, None, None) == log_link(ZERO_HEAD, 0, b"", b"")
    assert log_link(ZERO_HEAD, 0, None, None) == sha256_hex(bytes(32), bytes(16))  # 8 + 4 + 4 zero bytes


def test_partition_roots_are_the_log_links_of_each_partition_from_offset_0():
    roots = expected_roots()
    assert roots[0] == (2, ROOT_0_AT_2)
    assert v.partition_roots(RECORDS) == roots


def test_record_fingerprints_are_sha256_over_the_framed_key_and_value():
    for partition, offset, key, value in RECORDS:
        framed = FRAMED[partition, offset][8:]  # without the offset
        assert v.record_fingerprint(key, value) == sha256_hex(framed)
    assert v.record_fingerprint(b"91440300708461136T", b'{"n":1}') == sha256_hex(
        bytes.fromhex("00000012"), b"91440300708461136T", bytes.fromhex("00000007"), b'{"n":1}')


def _by_partition(records):
    partitions: dict[int, list] = {}
    for partition, offset, key, value in records:
        partitions.setdefault(partition, []).append((offset, key, value))
    return sorted(partitions.items())


def _decode(value):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def test_a_published_digest_holds_at_its_offset_and_no_other():
    roots = expected_roots()
    published = [{"topic": "t", "partition": p, "offset": o, "root": r} for p, (o, r) in roots.items()]
    result = v.verify(_by_partition(RECORDS), topic="t", decode=_decode, published=published)
    assert result.ok, result.discrepancies
    assert [r.checked for r in result.partitions] == [[(2, True)], [(7, True)], [(4294967301, True)]]
    # partition 0's root claimed at offset 1: it covers offsets 0..2, so it holds nowhere
    moved = [{"topic": "t", "partition": 0, "offset": 1, "root": ROOT_0_AT_2}]
    result = v.verify(_by_partition(RECORDS), topic="t", decode=_decode, published=moved)
    assert not result.ok and result.first.kind == v.ROOT_DIFFERS and result.first.between == (0, 1)
    at_0 = [{"topic": "t", "partition": 0, "offset": 0, "root": ROOT_0_AT_0}]
    assert v.verify(_by_partition(RECORDS), topic="t", decode=_decode, published=at_0).ok


def test_the_digest_file_carries_the_known_roots_fingerprints_and_chain_heads():
    # partition 0 holds the subject's two events, as the worker stores them (key: the subject id)
    events = [(0, 0, SUBJECT.encode(), REGISTERED_TEXT.encode("utf-8")),
              (0, 1, SUBJECT.encode(), PENALISED_TEXT.encode("utf-8"))]
    stream = io.StringIO()
    v.write_digest(stream, _by_partition(events), topic="t", exported_at="2026-01-05T10:00:00+08:00",
                   decode=_decode)
    document = json.loads(stream.getvalue())
    key_frame = bytes.fromhex("00000012") + SUBJECT.encode()
    registered, penalised = REGISTERED_TEXT.encode("utf-8"), PENALISED_TEXT.encode("utf-8")
    root_0 = sha256_hex(bytes.fromhex(ZERO_HEAD), bytes(8), key_frame, len(registered).to_bytes(4, "big"), registered)
    root_1 = sha256_hex(bytes.fromhex(root_0), bytes.fromhex("0000000000000001"), key_frame,
                        len(penalised).to_bytes(4, "big"), penalised)
    assert document["partitions"]["0"] == {
        "records": [[0, sha256_hex(key_frame, len(registered).to_bytes(4, "big"), registered), REGISTERED["event_id"]],
                    [1, sha256_hex(key_frame, len(penalised).to_bytes(4, "big"), penalised), PENALISED["event_id"]]],
        "offset": 1, "root": root_1}
    assert document["subjects"] == {SUBJECT: {"length": 2, "head": HEAD_2}}
    saved = v.load_digest(document)
    assert v.verify(_by_partition(events), topic="t", decode=_decode, saved=saved).ok


# --- natural persons' pseudonyms ------------------------------------------------------------------------
# A natural person's subject id is "np-" + the first 32 hex digits of HMAC-SHA256(key, number), the number
# stripped of surrounding space and upper-cased, in ASCII; the key has at least 16 bytes. The two
# digests below were computed with `openssl dgst -sha256 -hmac KEY` over the same bytes.
def test_pseudonyms_are_the_first_128_bits_of_hmac_sha256_of_the_number():
    from projections.pseudonym import pseudonym

    key = b"unit-test-pseudonym-key-0123456789"
    digest = "e36aeba499ad7f0deab680b5fd425744c80086c8a0adae5b6990b04006a20732"
    assert hmac.new(key, b"11010519491231002X", hashlib.sha256).hexdigest() == digest
    assert pseudonym("11010519491231002X", key) == "np-" + digest[:32]
    assert pseudonym(" 11010519491231002x\n", key) == "np-" + digest[:32]  # stripped, upper-cased
    sixteen = b"0123456789abcdef"
    assert pseudonym("440524188001010014", sixteen) == "np-67aec30f5c38e5c45cc9213e8760548c"
    with pytest.raises(ValueError) as raised:
        pseudonym("440524188001010014", sixteen[:15])
    assert str(raised.value) == "the pseudonym key must have at least 16 bytes"
