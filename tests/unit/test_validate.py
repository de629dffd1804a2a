"""Every rule of the edge's validation, from the outside: the field and the rule are named."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from projections import catalogue as cat
from projections.validate import InvalidEvent, require_valid, validate_event
from tests.unit.events import CTX, KEY, NOW, event, penalty_payload, person


def rules_of(raw, ctx=CTX) -> set[tuple[str, str]]:
    accepted, problems = validate_event(raw, ctx)
    assert (accepted is None) == bool(problems)
    return {(p.field, p.rule) for p in problems}


def test_a_valid_penalty_is_accepted_and_stamped_by_the_edge():
    accepted, problems = validate_event(event(recorded_at="2020-01-01T00:00:00+08:00"), CTX)
    assert problems == []
    assert accepted["recorded_at"] == "2025-06-30T10:00:00+08:00"  # the edge's clock, never the publisher's
    assert accepted["classification"] == "PUBLIC"  # the type's default


def test_from_file_reads_keep_recorded_at_but_require_it():
    ctx = replace(CTX, stamp_recorded_at=False)
    accepted, _ = validate_event(event(recorded_at="2025-06-01T08:00:00Z"), ctx)
    assert accepted["recorded_at"] == "2025-06-01T16:00:00+08:00"
    assert ("recorded_at", "required") in rules_of(event(), ctx)


@pytest.mark.parametrize("mutate, expected", [
    (lambda e: e.update(type="PenaltyImposd"), ("type", "unknown_type")),
    (lambda e: e.pop("type"), ("type", "required")),
    (lambda e: e.update(type="DisclosureOverdue"), ("type", "system_type")),
    (lambda e: e.update(event_id="not-a-uuid"), ("event_id", "uuid")),
    (lambda e: e["subject"].update(id=e["subject"]["id"][:-1] + ("0" if e["subject"]["id"][-1] != "0" else "1")),
     ("subject.id", "uscc")),
    (lambda e: e["subject"].update(kind="COMPANY"), ("subject.kind", "enum")),
    (lambda e: e["source"].pop("authority_name"), ("source.authority_name", "required")),
    (lambda e: e["source"].update(authority_code="123"), ("source.authority_code", "uscc")),
    (lambda e: e.update(occurred_on="2025-02-30"), ("occurred_on", "date")),
    (lambda e: e.update(occurred_on="2025/05/06"), ("occurred_on", "date")),
    (lambda e: e.update(occurred_on="2025-07-01"), ("occurred_on", "not_in_future")),
    (lambda e: e.update(recorded_at="2025-06-30T10:00:01+08:00"), ("recorded_at", "not_in_future")),
    (lambda e: e.update(recorded_at="2025-06-30 10:00"), ("recorded_at", "instant")),
    (lambda e: e.update(classification="SECRET"), ("classification", "enum")),
    (lambda e: e.update(colour="red"), ("colour", "unknown_field")),
    (lambda e: e.pop("payload"), ("payload", "object")),
    (lambda e: e["payload"].pop("decision_no"), ("payload.decision_no", "required")),
    (lambda e: e["payload"].update(fine_fen=12.5), ("payload.fine_fen", "integer")),
    (lambda e: e["payload"].update(fine_fen=-1), ("payload.fine_fen", "range")),
    (lambda e: e["payload"].update(severity="MILD"), ("payload.severity", "enum")),
    (lambda e: e["payload"].update(penalty_kinds=[]), ("payload.penalty_kinds", "list")),
    (lambda e: e["payload"].update(penalty_kinds=["FINE", "FLOGGING"]), ("payload.penalty_kinds", "item")),
    (lambda e: e["payload"].update(publicity_until="2026-13-01"), ("payload.publicity_until", "date")),
    (lambda e: e["payload"].update(facts="事" * (cat.TEXT_CHARS_MAX + 1)), ("payload.facts", "max_length")),
    (lambda e: e["payload"].update(extra=1), ("payload.extra", "unknown_field")),
])
def test_each_rule_names_its_field(mutate, expected):
    raw = json.loads(json.dumps(event(), ensure_ascii=False))
    mutate(raw)
    assert expected in rules_of(raw)


def test_every_problem_is_reported_not_just_the_first():
    raw = event(occurred_on="2025-02-30", type="Nope")
    raw["subject"]["kind"] = "X"
    assert {"occurred_on", "type", "subject.kind"} <= {field for field, _ in rules_of(raw)}


def test_oversized_event_is_refused_before_anything_else():
    raw = event(payload=penalty_payload(facts="x" * (cat.EVENT_BYTES_MAX + 10)))
    assert rules_of(raw) == {("$", "size_limit")}


def test_not_an_object():
    assert rules_of([1, 2]) == {("$", "object")}


def test_natural_person_is_pseudonymised_and_loses_name_and_number():
    raw = event("SubjectRegistered", {"region_code": "410105", "registered_on": "2001-01-01"}, subject=person())
    accepted = require_valid(raw, CTX)
    assert accepted["subject"]["id"].startswith("np-")
    assert "name" not in accepted["subject"] and "id_number" not in accepted["subject"]
    text = json.dumps(accepted, ensure_ascii=False)
    assert raw["subject"]["id_number"] not in text and "张三" not in text
    again = require_valid(raw, CTX)
    assert again["subject"]["id"] == accepted["subject"]["id"]  # stable for the same key
    other = require_valid(raw, replace(CTX, pseudonym_key=KEY[::-1]))
    assert other["subject"]["id"] != accepted["subject"]["id"]  # and keyed


def test_natural_person_with_a_bad_id_number():
    bad = person()
    bad["id_number"] = bad["id_number"][:-1] + ("1" if bad["id_number"][-1] != "1" else "2")
    assert ("subject.id_number", "resident_id") in rules_of(event(subject=bad))
    missing = person()
    missing.pop("id_number")
    assert ("subject.id_number", "required") in rules_of(event(subject=missing))


def test_missing_event_id_is_derived_so_republishing_is_idempotent():
    raw = event()
    raw.pop("event_id")
    first = require_valid(raw, CTX)
    later = require_valid(raw, replace(CTX, now=NOW.replace(hour=11)))
    assert first["event_id"] == later["event_id"]


def test_require_valid_raises_with_every_problem():
    with pytest.raises(InvalidEvent) as caught:
        require_valid(event(type="Nope", occurred_on="x"), CTX)
    assert len(caught.value.problems) == 2 and "unknown_type" in str(caught.value)


@pytest.mark.parametrize(("field", "value", "ok"), [
    ("region_code", "410105", True), ("region_code", "110101", True), ("region_code", "820000", True),
    ("region_code", "650000", True), ("region_code", "000000", False), ("region_code", "990101", False),
    ("region_code", "41010", False), ("region_code", "4101050", False), ("region_code", "41O105", False),
    ("region_code", "４１０１０５", False),  # full-width digits are not the code's
    ("region_code", "=1+1", False),
    ("industry_code", "C1761", True), ("industry_code", "C", True), ("industry_code", "A01", True),
    ("industry_code", "T9700", True), ("industry_code", "U01", False), ("industry_code", "c1761", False),
    ("industry_code", "C17610", False), ("industry_code", "C1", False),
])
def test_a_national_code_field_has_its_standard_s_form(field, value, ok):
    payload = {"region_code": "410105", "registered_on": "2020-01-02", field: value}
    found = rules_of(event("SubjectRegistered", payload))
    assert (("payload." + field, "code_format") not in found) == ok, found
