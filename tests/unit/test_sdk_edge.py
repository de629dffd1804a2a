"""The ledger's edge (streams/edge.py `judge`), what POST /events and POST /events:batch do with each
event's JSON text: a publisher principal is bound to its authority, refusals carry their credit.rejected
record with the reasons, natural persons are sealed and never in plaintext, recorded_at is the edge's
clock. Pure: no broker, no HTTP (the worker's use of it is tested against a real one)."""
from __future__ import annotations

import json

import pytest

from projections.access import ADMIN, AUDITOR, PUBLISHER, Principal
from projections.canonical import instant_text
from streams import codec
from streams.edge import LINE_BYTES_MAX, judge
from streams.pii import KeyStoreError, MemoryKeyStore, unseal
from tests.unit import events as ev
from tests.unit.test_pii import ID_NUMBER, NAME, assert_no_plaintext

BOUND = Principal("amr-cases", PUBLISHER, ev.AUTHORITY)
FOREIGN = {"authority_code": ev.BANK, "authority_name": "某银行"}


def text(raw) -> bytes:
    return json.dumps(raw, ensure_ascii=False).encode()


def verdict(raw, principal: Principal = BOUND, key_store=None):
    return judge(raw if isinstance(raw, bytes) else text(raw), ev.CTX, principal=principal, key_store=key_store)


def test_a_bound_publisher_publishes_as_its_authority_only():
    assert verdict(ev.event()).status == 202
    refused = verdict(ev.event(source=FOREIGN))
    (problem,) = refused.problems
    assert refused.status == 403 and refused.event is None
    assert (problem.field, problem.rule) == ("source.authority_code", "publisher_authority")
    assert codec.decode_rejection(refused.rejection)["reasons"] == [problem.as_dict()]


def test_an_admin_publishes_as_any_authority():
    assert verdict(ev.event(source=FOREIGN), Principal("ops", ADMIN)).status == 202


def test_roles_that_may_not_publish_are_refused_whatever_the_event():
    refused = verdict(ev.event(), Principal("audit", AUDITOR))
    assert refused.status == 403 and refused.problems[0].rule == "role_may_not_publish"
    assert verdict(b"not json", Principal("audit", AUDITOR)).problems[0].rule == "json"


def test_recorded_at_is_the_edges_clock_never_the_publishers():
    accepted = verdict(ev.event(recorded_at="2020-01-02T09:00:00+08:00"))  # a backdated report (迟报 hidden)
    assert accepted.status == 202 and accepted.event["recorded_at"] == instant_text(ev.CTX.now)
    later = verdict(ev.event(recorded_at="2099-01-02T09:00:00+08:00"))
    assert later.status == 422 and later.problems[0].rule == "not_in_future"


def test_system_events_are_refused_to_every_publisher():
    system = ev.event("DisclosureOverdue", {"decision_no": "D-1", "decision_kind": "PENALTY", "due_on": "2025-05-06"})
    for principal in (BOUND, Principal("ops", ADMIN)):
        refused = verdict(system, principal)
        assert refused.status == 422 and "system_type" in {p.rule for p in refused.problems}


def test_natural_persons_are_sealed_and_never_in_plaintext():
    key_store = MemoryKeyStore()
    bad_number = ev.person(ID_NUMBER[:-1] + ("1" if ID_NUMBER[-1] != "1" else "2"))
    accepted = verdict(ev.event(subject=ev.person(ID_NUMBER)), key_store=key_store)
    foreign = verdict(ev.event(subject=ev.person(ID_NUMBER), source=FOREIGN), key_store=key_store)
    invalid = verdict(ev.event(subject=bad_number), key_store=key_store)
    assert (accepted.status, foreign.status, invalid.status) == (202, 403, 422)
    with pytest.raises(AssertionError):
        assert_no_plaintext(b"..." + bad_number["id_number"].encode())  # the check sees a near-miss number too
    written = codec.encode_event(accepted.event)
    for blob in (written, accepted.event["subject"]["id"].encode(), foreign.rejection, invalid.rejection):
        assert_no_plaintext(blob)
    subject = codec.decode_event(written)["subject"]
    assert subject["id"].startswith("np-")
    assert unseal(key_store, subject["id"], subject["pii"]) == {"name": NAME, "id_number": ID_NUMBER}


def test_a_failing_key_store_is_a_503_to_send_again_not_a_rejection():
    class Broken(MemoryKeyStore):
        def sealing_key(self, subject_id):
            raise KeyStoreError("disk full")

    failed = verdict(ev.event(subject=ev.person(ID_NUMBER)), key_store=Broken())
    assert failed.status == 503 and failed.problems[0].rule == "key_store" and "disk full" in failed.problems[0].message
    assert failed.rejection is None and failed.event is None
    assert verdict(ev.event(), key_store=Broken()).status == 202  # an organisation needs no key


def test_each_line_is_read_on_its_own_with_field_and_rule():
    good = text(ev.event())
    lines = [good.replace("虚假宣传".encode(), b"\xff"), b"[" * 5000, good.replace(b"5000000", b"9" * 5000),
             good.replace(b"5000000", b"NaN"), good.replace(b"5000000", b"-Infinity"),
             good.replace("虚假宣传".encode(), b"\\ud800")]
    found = [verdict(line) for line in lines]
    assert [(v.status, [(p.field, p.rule) for p in v.problems]) for v in found] == [
        (400, [("payload.violation_type", "encoding")]), (400, [("$", "nesting")]),
        (400, [("payload.fine_fen", "number")]), (400, [("payload.fine_fen", "number")]),
        (400, [("payload.fine_fen", "number")]), (400, [("payload.violation_type", "encoding")])]
    for v in found:  # each with its credit.rejected record and the same reasons
        assert codec.decode_rejection(v.rejection)["reasons"] == [p.as_dict() for p in v.problems]
    assert verdict(good).status == 202


def test_a_line_over_the_limit_is_a_413_unread():
    too_large = b" " * (LINE_BYTES_MAX - 1) + b"{}"
    refused = verdict(too_large)
    assert refused.status == 413 and refused.problems[0].rule == "size_limit" and refused.rejection is None
    assert str(LINE_BYTES_MAX) in refused.problems[0].message
