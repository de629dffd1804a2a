"""Each problem the edge's validation names, whole: the field, the rule and the words a publisher's
department reads, and the bounds of what it admits (at the bound and one past it). The rules and
texts are those of projections/validate.py's EDGE_RULES and docs/publishing.md; each expected value
here is written from them, not read back from a run."""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from projections import catalogue as cat
from projections.canonical import SHANGHAI
from projections.ids import make_resident_id, make_uscc
from projections.validate import (EVENT_ID_NAMESPACE, InvalidEvent, Problem, TIMER_SYSTEM, require_valid,
                                  validate_event)
from tests.unit.events import AUTHORITY, COMPANY, CTX, event, person

SUBJECT_NP = "np-" + "0123456789abcdef" * 2
OTHER_NP = "np-" + "fedcba9876543210" * 2
LOG_CTX = replace(CTX, accept_sealed_pii=True, stamp_recorded_at=False)  # reading the log back
NONCE = base64.b64encode(bytes(12)).decode()  # 16 characters
CIPHERTEXT = base64.b64encode(bytes(17)).decode()  # the least: GCM's 16-byte tag and a byte
KINDS = "LEGAL_PERSON, OTHER_ORGANIZATION, INDIVIDUAL_BUSINESS, NATURAL_PERSON"
PENALTY_KINDS = ("WARNING, NOTICE_OF_CRITICISM, FINE, CONFISCATION, CERTIFICATE_DOWNGRADE, CERTIFICATE_REVOCATION, "
                 "PRODUCTION_RESTRICTION, SUSPENSION, EMPLOYMENT_RESTRICTION, DETENTION, OTHER")


def problems_of(raw, ctx=CTX) -> list[tuple[str, str, str]]:
    accepted, problems = validate_event(raw, ctx)
    assert (accepted is None) == bool(problems)
    return [(p.field, p.rule, p.message) for p in problems]


def logged(subject: dict, **envelope) -> dict:
    """An event as the log holds it: recorded_at kept, a natural person by its pseudonym."""
    return event(subject=subject, recorded_at="2025-06-01T08:00:00+08:00", **envelope)


def sealed_person(**pii) -> dict:
    return {"id": SUBJECT_NP, "kind": "NATURAL_PERSON",
            "pii": {"key_id": "k1", "nonce": NONCE, "ciphertext": CIPHERTEXT, **pii}}


# --- the envelope -------------------------------------------------------------------------------
def test_an_event_that_is_not_an_object():
    assert problems_of([1, 2]) == [("$", "object", "an event must be a JSON object")]
    assert problems_of(None) == [("$", "object", "an event must be a JSON object")]


def test_an_event_that_is_not_json_names_orjson_s_reason_quoted():
    assert problems_of({1: "x"}) == [("$", "json", "not JSON-serialisable: 'Dict key must be str'")]


def compact_size(raw: dict) -> int:
    """The event's size in its JSON form, keys sorted, no spaces: written here with the json module."""
    return len(json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode())


def test_the_size_limit_at_the_bound_and_one_byte_past_it():
    raw = event()
    raw["payload"]["facts"] = "x"
    pad = cat.EVENT_BYTES_MAX - compact_size(raw)
    raw["payload"]["facts"] = "x" * (1 + pad)
    assert compact_size(raw) == cat.EVENT_BYTES_MAX
    assert ("$", "size_limit") not in {p[:2] for p in problems_of(raw)}
    raw["payload"]["facts"] += "x"
    assert problems_of(raw) == [("$", "size_limit", f"event is {cat.EVENT_BYTES_MAX + 1} bytes, the limit is 65536")]


@pytest.mark.parametrize(("key", "field"), [
    ("", 'payload.""'),  # empty: quoted
    ("a.b", 'payload."a.b"'),  # a dot: quoted, else the path would read as two fields
    ("a\nb", 'payload."a\\nb"'),  # not printable: quoted and escaped
    ("\u200b", 'payload."\\u200b"'),  # not printable, and escaped as ASCII
    ("颜色", "payload.颜色"),  # printable: as it is
    ("a12345b", "payload.a…b"),  # runs of 4 or more digits masked
    ("k" * 64, "payload." + "k" * 64),  # at the limit of 64 characters
    ("k" * 65, "payload." + "k" * 64 + "…"),  # one past it: cut
])
def test_an_unknown_key_as_its_field_path_shows_it(key, field):
    raw = event()
    raw["payload"][key] = 1
    assert problems_of(raw) == [(field, "unknown_field", "not a field of PenaltyImposed")]


def test_twenty_unknown_keys_are_named_and_the_rest_counted():
    raw = event()
    raw.update({f"x{letter}": 1 for letter in "abcdefghijklmnopqrst"})  # 20
    assert problems_of(raw) == [(f"x{letter}", "unknown_field", "not a field of the CreditEvent envelope")
                                for letter in "abcdefghijklmnopqrst"]
    raw["xu"] = raw["xv"] = 1
    found = problems_of(raw)
    assert len(found) == 21 and found[19][0] == "xt"
    assert found[20] == ("$", "unknown_field", "and 2 more keys that are not fields of the CreditEvent envelope")
    payload = event()
    payload["payload"].update({f"y{n:02}": 1 for n in range(21)})
    assert problems_of(payload)[20] == ("payload", "unknown_field",
                                        "and 1 more keys that are not fields of PenaltyImposed")


@pytest.mark.parametrize(("type_", "expected"), [
    ("PenaltyImposd", ("type", "unknown_type", "'PenaltyImposd' is not an event type of the catalogue")),
    (5, ("type", "unknown_type", "5 is not an event type of the catalogue")),
    ("T" * 38, ("type", "unknown_type", "'" + "T" * 38 + "' is not an event type of the catalogue")),  # 40: whole
    ("T" * 39, ("type", "unknown_type", "'" + "T" * 39 + "…" + " is not an event type of the catalogue")),  # 41: cut
    ("T" * 64, ("type", "unknown_type", "'" + "T" * 39 + "…" + " is not an event type of the catalogue")),
    ("T" * 65, ("type", "max_length", "65 characters, the limit is 64")),
    ("DisclosureOverdue", ("type", "system_type", "DisclosureOverdue is written only by the ledger's timers")),
])
def test_each_problem_of_the_type(type_, expected):
    assert problems_of(event(type=type_))[0] == expected


def test_a_missing_type():
    raw = event()
    raw.pop("type")
    assert problems_of(raw) == [("type", "required", "missing")]


def test_a_system_type_from_the_timers_themselves_is_accepted():
    payload = {"decision_no": "郑市监罚〔2025〕12号", "decision_kind": "PENALTY", "due_on": "2025-05-15"}
    raw = event("DisclosureOverdue", payload,
                source={"authority_code": AUTHORITY, "authority_name": "郑州市市场监督管理局", "system": TIMER_SYSTEM})
    ctx = replace(CTX, allow_system=True)
    accepted, problems = validate_event(raw, ctx)
    assert problems == [] and accepted["source"]["system"] == TIMER_SYSTEM


def test_an_event_id_in_another_form_of_a_uuid_is_made_canonical():
    upper = "7D0C5C1E-4B0E-4A8E-9B9E-2F3D1A0C9E11"
    assert require_valid(event(event_id=upper), CTX)["event_id"] == upper.lower()
    braces = "{7d0c5c1e4b0e4a8e9b9e2f3d1a0c9e11}"
    assert require_valid(event(event_id=braces), CTX)["event_id"] == "7d0c5c1e-4b0e-4a8e-9b9e-2f3d1a0c9e11"


@pytest.mark.parametrize("event_id", ["not-a-uuid", 5, ["7d0c5c1e-4b0e-4a8e-9b9e-2f3d1a0c9e11"]])
def test_an_event_id_that_is_no_uuid(event_id):
    assert problems_of(event(event_id=event_id)) == [
        ("event_id", "uuid", "must be a UUID, e.g. 7d0c5c1e-4b0e-4a8e-9b9e-2f3d1a0c9e11")]


def test_a_derived_event_id_is_uuid5_of_the_event_without_its_id_and_recorded_at():
    raw = event()
    raw.pop("event_id")
    accepted = require_valid(raw, CTX)
    content = {key: value for key, value in accepted.items() if key != "event_id"}
    content["recorded_at"] = None
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert accepted["event_id"] == str(uuid.uuid5(EVENT_ID_NAMESPACE, text))


def test_classification_defaults_by_type_and_is_checked():
    assert problems_of(event(classification="SECRET")) == [
        ("classification", "enum", "must be one of PUBLIC, AUTHORIZED, INTERNAL")]
    assert require_valid(event(classification="INTERNAL"), CTX)["classification"] == "INTERNAL"


def test_a_missing_or_malformed_payload():
    raw = event()
    raw.pop("payload")
    assert problems_of(raw) == [("payload", "object", "missing")]
    assert problems_of(event(payload=[1])) == [("payload", "object", "must be a JSON object")]


def test_each_required_payload_field_left_out_is_named_missing():
    assert problems_of(event("PenaltyRevoked", {"record_id": "P-1", "reason": "经行政复议撤销"})) == []
    assert problems_of(event("PenaltyRevoked", {})) == [
        ("payload.record_id", "required", "missing"), ("payload.reason", "required", "missing")]


def test_invalid_event_says_every_problem_in_one_line():
    raw = event(type="Nope", classification="SECRET")
    with pytest.raises(InvalidEvent) as caught:
        require_valid(raw, CTX)
    assert str(caught.value) == ("type: 'Nope' is not an event type of the catalogue [unknown_type]; "
                                 "classification: must be one of PUBLIC, AUTHORIZED, INTERNAL [enum]")
    assert caught.value.problems == [
        Problem("type", "unknown_type", "'Nope' is not an event type of the catalogue"),
        Problem("classification", "enum", "must be one of PUBLIC, AUTHORIZED, INTERNAL")]
    assert caught.value.problems[0].as_dict() == {
        "field": "type", "rule": "unknown_type", "message": "'Nope' is not an event type of the catalogue"}


# --- dates and instants -------------------------------------------------------------------------
@pytest.mark.parametrize(("occurred_on", "expected"), [
    ("2025-02-30", ("occurred_on", "date", "2025-02-30 does not exist in the calendar")),
    ("2025/05/06", ("occurred_on", "date", "'…/05/06' is not an ISO-8601 date like 2024-05-06")),
    (20250506, ("occurred_on", "date", "… is not an ISO-8601 date like 2024-05-06")),
    ("1949-09-30", ("occurred_on", "range", "1949-09-30 is outside 1949-10-01..2100-12-31")),
    ("2025-07-01", ("occurred_on", "not_in_future", "2025-07-01 is after today (2025-06-30, Asia/Shanghai)")),
])
def test_each_problem_of_a_date(occurred_on, expected):
    assert problems_of(event(occurred_on=occurred_on)) == [expected]


def test_the_first_day_of_the_bounds_and_today_are_dates_of_an_event():
    assert problems_of(event(occurred_on="1949-10-01")) == []
    assert problems_of(event(occurred_on="2025-06-30")) == []


def test_today_is_the_day_in_shanghai_not_in_utc():
    late_utc = replace(CTX, now=datetime(2025, 6, 30, 17, 0, tzinfo=timezone.utc))  # 07-01 01:00 in Shanghai
    assert problems_of(event(occurred_on="2025-07-01"), late_utc) == []


def test_a_missing_occurred_on():
    raw = event()
    raw.pop("occurred_on")
    assert problems_of(raw) == [("occurred_on", "required", "missing")]


@pytest.mark.parametrize(("recorded_at", "expected"), [
    ("2025-02-30T10:00:00+08:00",
     ("recorded_at", "instant", "2025-02-30T10:00:00+08:00 does not exist in the calendar")),
    ("2025-06-30 10:00", ("recorded_at", "instant",
                          "'…-06-30 10:00' is not an ISO-8601 instant with a zone like 2024-05-07T09:30:00+08:00")),
    ("1949-09-30T23:00:00+08:00", ("recorded_at", "range",
                                   "1949-09-30T23:00:00+08:00 is outside 1949-10-01..2100-12-31 (Asia/Shanghai)")),
    # its own text's day is within the bounds, its day in Shanghai is not
    ("1949-10-01T00:30:00+09:00", ("recorded_at", "range",
                                   "1949-10-01T00:30:00+09:00 is outside 1949-10-01..2100-12-31 (Asia/Shanghai)")),
    ("2025-06-30T10:00:01+08:00", ("recorded_at", "not_in_future",
                                   "2025-06-30T10:00:01+08:00 is after now (2025-06-30T10:00:00+08:00)")),
    (None, ("recorded_at", "required", "missing")),  # a record read back from the log keeps its instant
])
def test_each_problem_of_an_instant(recorded_at, expected):
    assert problems_of(event(recorded_at=recorded_at), replace(CTX, stamp_recorded_at=False)) == [expected]


def test_an_instant_at_the_edge_s_clock_and_at_the_first_moment_is_taken():
    ctx = replace(CTX, stamp_recorded_at=False)
    assert problems_of(event(recorded_at="2025-06-30T10:00:00+08:00"), ctx) == []
    assert problems_of(event(recorded_at="1949-10-01T00:00:00+08:00", occurred_on="1949-10-01"), ctx) == []


# --- the subject --------------------------------------------------------------------------------
@pytest.mark.parametrize(("subject", "expected"), [
    (None, ("subject", "object", "missing")),
    ("x", ("subject", "object", "must be an object with id, kind and name")),
    ({"id": "x", "kind": "COMPANY"}, ("subject.kind", "enum", f"must be one of {KINDS}")),
])
def test_each_problem_of_the_subject_itself(subject, expected):
    raw = event()
    if subject is None:
        raw.pop("subject")
    else:
        raw["subject"] = subject
    assert problems_of(raw) == [expected]


def test_an_organisation_s_name_and_id_are_short_text():
    raw = event()
    raw["subject"]["name"] = ""
    assert problems_of(raw) == [("subject.name", "text", "must be text of 1 to 200 characters")]
    raw["subject"]["name"] = "名" * 200
    assert problems_of(raw) == []
    raw["subject"]["name"] = "名" * 201
    assert problems_of(raw) == [("subject.name", "max_length", "201 characters, the limit is 200")]
    raw["subject"]["name"] = "名"
    raw["subject"]["id"] = 5
    assert problems_of(raw) == [("subject.id", "text", "must be text of 1 to 200 characters")]


def test_an_organisation_needs_its_code_and_carries_no_personal_information():
    raw = event()
    raw["subject"].pop("id")
    assert problems_of(raw) == [
        ("subject.id", "required", "missing: the unified social credit code (统一社会信用代码)")]
    raw = event()
    raw["subject"]["id_number"] = person()["id_number"]
    assert ("subject.id_number", "natural_person_only", "only a NATURAL_PERSON carries id_number") in problems_of(raw)
    raw = logged(event()["subject"])
    raw["subject"]["pii"] = {"key_id": "k1", "nonce": NONCE, "ciphertext": CIPHERTEXT}
    assert problems_of(raw, LOG_CTX) == [
        ("subject.pii", "natural_person_only", "only a NATURAL_PERSON carries sealed personal information")]


def test_a_resident_id_number_sent_as_a_code_is_not_quoted():
    number = person()["id_number"]
    raw = event()
    raw["subject"]["id"] = number
    found = problems_of(raw)
    assert ("subject.id", "uscc", "not a unified social credit code (GB 32100-2015): it is a resident ID number") \
        in found
    assert not any(number in message for _, _, message in found)


def test_a_natural_person_s_id_number_must_be_text():
    subject = person()
    subject["id_number"] = 110105194912310021
    assert problems_of(event(subject=subject)) == [
        ("subject.id_number", "resident_id", "must be the 18-character resident ID number as text")]


def test_without_a_pseudonym_key_a_natural_person_is_refused():
    short = replace(CTX, pseudonym_key=b"k" * 15)
    assert problems_of(event(subject=person()), short) == [
        ("subject.id_number", "pseudonym_key", "no pseudonym key to replace the ID number with")]
    assert problems_of(event(subject=person()), replace(CTX, pseudonym_key=b"k" * 16)) == []


def test_a_natural_person_without_a_number_or_a_pseudonym():
    subject = person()
    subject.pop("id_number")
    assert problems_of(event(subject=subject)) == [
        ("subject.id_number", "required", "a natural person needs id_number (居民身份证号)")]
    # a pseudonym with a name beside it is no record of the log: the number is asked for
    assert problems_of(event(subject={"id": SUBJECT_NP, "kind": "NATURAL_PERSON", "name": "张三"})) == [
        ("subject.id_number", "required", "a natural person needs id_number (居民身份证号)")]


def test_a_pseudonymised_person_of_the_log_reads_back_as_it_is():
    accepted = require_valid(logged({"id": SUBJECT_NP, "kind": "NATURAL_PERSON"}), LOG_CTX)
    assert accepted["subject"] == {"id": SUBJECT_NP, "kind": "NATURAL_PERSON"}
    accepted = require_valid(logged(sealed_person()), LOG_CTX)
    assert accepted["subject"] == sealed_person()


def test_a_publisher_never_sends_sealed_personal_information():
    assert problems_of(logged(sealed_person()), replace(LOG_CTX, accept_sealed_pii=False)) == [
        ("subject.pii", "sealed_pii",
         "personal information is sealed only by the ledger's edge; send name and id_number instead")]


# --- sealed personal information, as the log carries it -----------------------------------------
def test_sealed_personal_information_that_is_not_an_object():
    subject = sealed_person()
    subject["pii"] = "sealed"
    assert problems_of(logged(subject), LOG_CTX) == [
        ("subject.pii", "sealed_pii", "must be an object with key_id, nonce and ciphertext")]


def test_sealed_personal_information_with_a_key_of_its_own():
    subject = sealed_person(colour="red")
    assert problems_of(logged(subject), LOG_CTX) == [
        ("subject.pii.colour", "unknown_field", "not a field of sealed personal information")]


@pytest.mark.parametrize(("change", "expected"), [
    ({"key_id": ""}, ("subject.pii.key_id", "text", "must be text of 1 to 64 characters")),
    ({"key_id": "k" * 65}, ("subject.pii.key_id", "max_length", "65 characters, the limit is 64")),
    ({"nonce": 12}, ("subject.pii.nonce", "sealed_pii", "must be base64 text of 12 to 12 bytes")),
    ({"nonce": "A" * 25}, ("subject.pii.nonce", "sealed_pii", "must be base64 text of 12 to 12 bytes")),
    ({"nonce": "A" * 24}, ("subject.pii.nonce", "sealed_pii", "must be canonical base64 of 12 to 12 bytes")),
    ({"nonce": base64.b64encode(bytes(11)).decode()},
     ("subject.pii.nonce", "sealed_pii", "must be canonical base64 of 12 to 12 bytes")),
    ({"ciphertext": CIPHERTEXT[:-2] + "B="},  # a bit set beyond the 17 bytes: not the canonical text
     ("subject.pii.ciphertext", "sealed_pii", "must be canonical base64 of 17 to 4096 bytes")),
    ({"nonce": NONCE + "\n"}, ("subject.pii.nonce", "sealed_pii", "must be canonical base64 of 12 to 12 bytes")),
    ({"nonce": "!" + NONCE[1:]}, ("subject.pii.nonce", "sealed_pii", "must be canonical base64 of 12 to 12 bytes")),
    ({"ciphertext": base64.b64encode(bytes(16)).decode()},
     ("subject.pii.ciphertext", "sealed_pii", "must be canonical base64 of 17 to 4096 bytes")),
    ({"ciphertext": base64.b64encode(bytes(4097)).decode()},
     ("subject.pii.ciphertext", "sealed_pii", "must be canonical base64 of 17 to 4096 bytes")),
    ({"ciphertext": "A" * 8193}, ("subject.pii.ciphertext", "sealed_pii", "must be base64 text of 17 to 4096 bytes")),
])
def test_each_problem_of_sealed_personal_information(change, expected):
    assert problems_of(logged(sealed_person(**change)), LOG_CTX) == [expected]


def test_sealed_personal_information_at_its_bounds_is_taken():
    for change in ({"key_id": "k" * 64}, {"ciphertext": base64.b64encode(bytes(4096)).decode()}):
        assert problems_of(logged(sealed_person(**change)), LOG_CTX) == []


def test_every_malformed_part_of_sealed_information_is_named():
    subject = sealed_person(nonce=12, ciphertext=None)
    assert problems_of(logged(subject), LOG_CTX) == [
        ("subject.pii.nonce", "sealed_pii", "must be base64 text of 12 to 12 bytes"),
        ("subject.pii.ciphertext", "sealed_pii", "must be base64 text of 17 to 4096 bytes")]


@pytest.mark.parametrize("change", [{"key_id": ""}, {"nonce": 12}, {"nonce": "A" * 24}, {"colour": "red"}])
def test_malformed_sealed_information_leaves_no_subject_to_compare_a_self_filing_with(change):
    """A subject refused for its sealed information is no subject: a self-filing naming another
    person's pseudonym is not compared with it (only the malformed information is named)."""
    raw = logged(sealed_person(**change), type="ObjectionFiled",
                 payload={"objection_id": "O-1", "record_id": "P-1", "grounds": "记录有误"},
                 source={"authority_code": OTHER_NP, "authority_name": "本人"})
    assert {field for field, _, _ in problems_of(raw, LOG_CTX)} <= {
        "subject.pii", "subject.pii.key_id", "subject.pii.nonce", "subject.pii.colour"}


# --- the source ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "expected"), [
    (None, [("source", "object", "missing")]),
    ("x", [("source", "object", "must be an object with authority_code and authority_name")]),
    ({"authority_name": "局"}, [("source.authority_code", "required",
                                "missing: the authority's unified social credit code")]),
    ({"authority_code": "9" * 201, "authority_name": "局"},
     [("source.authority_code", "max_length", "201 characters, the limit is 200")]),
    ({"authority_code": "9" * 200, "authority_name": "局"},  # at the limit: read, and not a credit code
     [("source.authority_code", "uscc", "length 200: a unified social credit code has 18 characters (GB 32100-2015)")]),
    ({"authority_code": AUTHORITY}, [("source.authority_name", "required", "missing")]),
    ({"authority_code": AUTHORITY, "authority_name": ""}, [("source.authority_name", "text",
                                                           "must be text of 1 to 200 characters")]),
    ({"authority_code": AUTHORITY, "authority_name": "局", "system": "s" * 201},
     [("source.system", "max_length", "201 characters, the limit is 200")]),
    ({"authority_code": AUTHORITY, "authority_name": "局", "region": "x"},
     [("source.region", "unknown_field", "not a field of source")]),
    ({"authority_code": AUTHORITY, "authority_name": "局", "system": TIMER_SYSTEM},
     [("source.system", "system_source",
       "'credit-ledger timers' is the ledger's timers; a publisher names a system of its own")]),
])
def test_each_problem_of_the_source(source, expected):
    raw = event()
    if source is None:
        raw.pop("source")
    else:
        raw["source"] = source
    assert problems_of(raw) == expected


def test_a_source_keeps_its_system_and_name():
    source = {"authority_code": AUTHORITY, "authority_name": "局", "system": "s" * 200}
    assert require_valid(event(source=source), CTX)["source"] == source


SELF = {"authority_code": SUBJECT_NP, "authority_name": "本人"}
OBJECTION = {"objection_id": "O-1", "record_id": "P-1", "grounds": "记录有误"}


@pytest.mark.parametrize(("type_", "source", "expected"), [
    ("ObjectionFiled", SELF, []),
    ("ObjectionFiled", {**SELF, "authority_code": "np-XYZ"},
     [("source.authority_code", "self_source", "a natural person is named by np- and 32 lower-case hex digits")]),
    ("ObjectionFiled", {**SELF, "authority_code": OTHER_NP},
     [("source.authority_code", "self_source",
       "a natural person files only on its own file: source.authority_code must be subject.id")]),
    ("PenaltyImposed", SELF,
     [("type", "self_source", "a natural person files only ObjectionFiled, RepairRequested, QueryAuthorized itself")]),
    ("ObjectionFiled", {**SELF, "authority_name": "张三"},
     [("source.authority_name", "self_source",
       "a natural person's own filing is named 本人, never by the person's name")]),
    ("ObjectionFiled", {**SELF, "system": "app"},
     [("source.system", "self_source", "a natural person's own filing names no system")]),
])
def test_each_rule_of_a_person_s_own_filing(type_, source, expected):
    payload = OBJECTION if type_ == "ObjectionFiled" else event()["payload"]
    raw = logged({"id": SUBJECT_NP, "kind": "NATURAL_PERSON"}, type=type_, payload=payload, source=source)
    assert problems_of(raw, LOG_CTX) == expected


def test_a_problem_never_repeats_a_natural_person_s_name():
    raw = event(subject=person())
    raw["payload"].update({"张三": 1, "severity": "张三"})
    found = problems_of(raw)
    assert ("payload.…", "unknown_field", "not a field of PenaltyImposed") in found
    assert ("payload.severity", "enum", "'…' is not one of GENERAL, SERIOUS, SEVERE") in found
    assert not any("张三" in field or "张三" in message for field, _, message in found)
    company = event(type="宏达")
    company["subject"]["name"] = "宏达"  # an organisation's name is no person's: quoted as sent
    assert problems_of(company) == [("type", "unknown_type", "'宏达' is not an event type of the catalogue")]
    lower = event(subject={**person(), "kind": "natural_person"}, type="张三")
    assert problems_of(lower)[0] == ("type", "unknown_type", "'…' is not an event type of the catalogue")


# --- the payload --------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "expected"), [
    ({"facts": "  "}, ("payload.facts", "text", "must be non-empty text")),
    ({"facts": 5}, ("payload.facts", "text", "must be non-empty text")),
    ({"decision_no": "号" * 201}, ("payload.decision_no", "max_length", "201 characters, the limit is 200")),
    ({"fine_fen": 12.5}, ("payload.fine_fen", "integer", "must be an integer (money is in fen, 1 yuan = 100 fen)")),
    ({"fine_fen": True}, ("payload.fine_fen", "integer", "must be an integer (money is in fen, 1 yuan = 100 fen)")),
    ({"fine_fen": -1}, ("payload.fine_fen", "range", "-1 is outside 0..1000000000000000")),
    ({"fine_fen": 10**15 + 1}, ("payload.fine_fen", "range", "… is outside 0..1000000000000000")),
    ({"historical": "yes"}, ("payload.historical", "boolean", "must be true or false")),
    ({"severity": "MILD"}, ("payload.severity", "enum", "'MILD' is not one of GENERAL, SERIOUS, SEVERE")),
    ({"penalty_kinds": []}, ("payload.penalty_kinds", "list", "must be a non-empty list")),
    ({"penalty_kinds": "FINE"}, ("payload.penalty_kinds", "list", "must be a non-empty list")),
    ({"penalty_kinds": ["FINE"] * 33}, ("payload.penalty_kinds", "max_items", "33 items, the limit is 32")),
    ({"penalty_kinds": ["FINE", "FLOGGING", "X"]},
     ("payload.penalty_kinds", "item", f"'FLOGGING' is not one of {PENALTY_KINDS}")),
    ({"publicity_until": "2100-01-01"},
     ("payload.publicity_until", "range", "2100-01-01 is outside 1949-10-01..2099-12-31")),
])
def test_each_problem_of_a_payload_value(change, expected):
    raw = event()
    raw["payload"].update(change)
    assert problems_of(raw) == [expected]


def test_payload_values_at_their_bounds_are_taken():
    raw = event()
    raw["payload"].update(fine_fen=10**15, decision_no="号" * 200, penalty_kinds=["FINE"] * 32, historical=False,
                          publicity_until="2099-12-31")
    accepted = require_valid(raw, CTX)["payload"]
    assert accepted["fine_fen"] == 10**15 and accepted["historical"] is False
    assert accepted["penalty_kinds"] == ["FINE"] * 32 and accepted["publicity_until"] == "2099-12-31"
    raw["payload"]["fine_fen"] = 0
    assert require_valid(raw, CTX)["payload"]["fine_fen"] == 0


def grant(scope) -> dict:
    return event("QueryAuthorized", {"grant_id": "G-1", "grantee": AUTHORITY, "scope": scope,
                                     "valid_until": "2025-12-31"})


def test_each_problem_of_a_list_of_text():
    assert problems_of(grant(["a", ""])) == [("payload.scope", "item", "'' is not non-empty text")]
    assert problems_of(grant(["a", 5, "b"])) == [("payload.scope", "item", "5 is not non-empty text")]
    assert problems_of(grant(["a", "s" * 201, "t" * 202])) == [
        ("payload.scope[1]", "max_length", "201 characters, the limit is 200")]
    assert problems_of(grant(["s" * 201, ""])) == [
        ("payload.scope[0]", "max_length", "201 characters, the limit is 200"),
        ("payload.scope", "item", "'' is not non-empty text")]
    assert require_valid(grant(["a", "s" * 200]), CTX)["payload"]["scope"] == ["a", "s" * 200]


def test_a_code_field_names_its_standard_and_an_example():
    raw = event("SubjectRegistered", {"region_code": "990101", "registered_on": "2020-01-02", "industry_code": "U1"})
    assert problems_of(raw) == [("payload.region_code", "code_format", "not a GB/T 2260 code (e.g. 410105)"),
                                ("payload.industry_code", "code_format", "not a GB/T 4754 code (e.g. C1761)")]


def test_a_commitment_gives_a_due_day_or_working_days_not_both():
    payload = {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "补齐材料",
               "due_on": "2025-07-31", "due_working_days": 10}
    assert problems_of(event("CommitmentMade", payload)) == [
        ("payload.due_working_days", "one_of", "give due_on or due_working_days, not both")]


def test_a_measure_outside_the_catalogue_of_joint_measures():
    payload = {"case_id": "M-1", "entry_id": "L-1", "measure": "NO_SUCH_MEASURE", "matter": "招标",
               "result": "限制"}
    assert problems_of(event("MeasureApplied", payload)) == [
        ("payload.measure", "measure_code", "'NO_SUCH_MEASURE' is not a code of the catalogue of joint measures")]


def test_a_birth_date_after_the_edge_s_day_is_judged_by_the_edge_s_clock():
    born = make_resident_id("410105", date(2025, 8, 1), 7)  # after the edge's 2025-06-30, before the machine's day
    assert problems_of(event(subject=person(born))) == [
        ("subject.id_number", "resident_id", "characters 7-14: the birth date is after today (GB 11643-1999)")]
    later = replace(CTX, now=datetime(2025, 8, 1, 10, 0, tzinfo=timezone.utc))
    assert problems_of(event(subject=person(born), occurred_on="2025-08-01"), later) == []


def test_an_authority_s_code_is_checked_as_a_uscc_in_words():
    raw = event()
    raw["source"]["authority_code"] = "123"
    assert problems_of(raw) == [
        ("source.authority_code", "uscc", "length 3: a unified social credit code has 18 characters (GB 32100-2015)")]


def test_a_kind_the_code_s_registration_category_contradicts():
    institution = make_uscc("410105", 3, "1", "2")  # 12: a 事业单位, a 非营利法人
    raw = event()
    raw["subject"].update(id=institution, kind="OTHER_ORGANIZATION")
    assert problems_of(raw) == [
        ("subject.kind", "kind_contradicts_code",
         "the code's registration category 12 (事业单位) is 非营利法人 under the Civil Code: subject.kind LEGAL_PERSON, "
         "not OTHER_ORGANIZATION (GB 32100-2015)")]
    raw["subject"]["kind"] = "LEGAL_PERSON"
    assert problems_of(raw) == []
    # the records already in the log still read: judged of a publisher's new event only
    logged_raw = event(recorded_at="2025-06-01T08:00:00+08:00")
    logged_raw["subject"].update(id=institution, kind="OTHER_ORGANIZATION")
    assert problems_of(logged_raw, replace(CTX, stamp_recorded_at=False)) == []


def test_an_organisation_s_id_over_the_limit_is_only_too_long():
    raw = event()
    raw["subject"]["id"] = "9" * 201
    assert problems_of(raw) == [("subject.id", "max_length", "201 characters, the limit is 200")]


def test_what_orjson_cannot_write_is_quoted_up_to_120_characters():
    unwritable = type("C" * 120, (), {})()  # an SDK caller's object: orjson names its type
    quoted = "'Type is not JSON serializable: " + "C" * 88  # 120 characters
    assert problems_of(event(payload={"x": unwritable})) == [("$", "json", f"not JSON-serialisable: {quoted}…")]


def test_an_id_number_in_a_free_text_is_refused_as_of_the_edge_s_day():
    raw = event()
    raw["payload"]["facts"] = "当事人 " + make_resident_id("410105", date(1985, 8, 1), 7)
    assert problems_of(raw) == [
        ("payload.facts", "personal_identifier",
         "the value holds a resident ID number (GB 11643-1999); a natural person's ID number goes in "
         "subject.id_number of a NATURAL_PERSON only, which the ledger pseudonymises")]
    # born after the edge's day (2025-06-30): no resident ID number yet, whatever the machine's clock says
    raw["payload"]["facts"] = "编号 " + make_resident_id("410105", date(2025, 8, 1), 7)
    assert problems_of(raw) == []


def test_a_subject_with_a_key_of_its_own():
    raw = event()
    raw["subject"]["colour"] = "red"
    assert problems_of(raw) == [("subject.colour", "unknown_field", "not a field of subject")]


def test_a_source_without_its_name_still_has_its_system_checked():
    raw = event(source={"authority_code": AUTHORITY, "system": ""})
    assert problems_of(raw) == [("source.authority_name", "required", "missing"),
                                ("source.system", "text", "must be text of 1 to 200 characters")]


def test_a_commitment_gives_either_a_due_day_or_working_days():
    payload = {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "补齐材料"}
    for due in ({"due_on": "2025-07-31"}, {"due_working_days": 10}):
        assert require_valid(event("CommitmentMade", {**payload, **due}), CTX)["payload"] == {**payload, **due}


def test_an_instant_on_the_last_day_of_the_bounds_is_taken_and_the_next_day_is_not():
    ctx = replace(CTX, stamp_recorded_at=False, now=datetime(2101, 1, 1, 12, 0, tzinfo=SHANGHAI))
    assert problems_of(event(recorded_at="2100-12-31T23:59:59+08:00"), ctx) == []
    assert problems_of(event(recorded_at="2101-01-01T00:00:00+08:00"), ctx) == [
        ("recorded_at", "range", "2101-01-01T00:00:00+08:00 is outside 1949-10-01..2100-12-31 (Asia/Shanghai)")]


def test_an_organisation_keeps_its_name_and_gets_none_when_it_sent_none():
    raw = event()
    assert require_valid(raw, CTX)["subject"] == {"id": COMPANY, "kind": "LEGAL_PERSON", "name": "郑州金水宏达机械制造有限公司"}
    raw["subject"].pop("name")
    assert require_valid(raw, CTX)["subject"] == {"id": COMPANY, "kind": "LEGAL_PERSON"}


def test_a_person_born_today_in_china_is_accepted_while_it_is_still_yesterday_in_utc():
    # 2025-06-30 16:30 UTC is 2025-07-01 00:30 in Asia/Shanghai: a birth on 07-01 is today, not the future
    ctx = replace(CTX, now=datetime(2025, 6, 30, 16, 30, tzinfo=timezone.utc))
    born_today = make_resident_id("410105", date(2025, 7, 1), 7)
    assert problems_of(event(subject=person(born_today), occurred_on="2025-07-01"), ctx) == []
    born_tomorrow = make_resident_id("410105", date(2025, 7, 2), 7)
    assert problems_of(event(subject=person(born_tomorrow), occurred_on="2025-07-01"), ctx) == [
        ("subject.id_number", "resident_id", "characters 7-14: the birth date is after today (GB 11643-1999)")]
