"""The fold's effects and rules, one given-when-then test each.

`test_<event type>_...` tests show each event type's effect on the credit file;
`test_rule_<rule id>_...` tests show each rule of records.RULES rejecting an event
(and, where it has one, the accepted path beside it). The last tests check that
the two lists are complete.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from dataclasses import replace
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from projections import catalogue as cat
from projections.canonical import canonical_bytes
from projections.fold import APPLIED, EVENTS_PER_SUBJECT_MAX, REJECTED, RULES, credit_file, fold
from projections.policy import DEFAULT_POLICY, Policy, max_publicity_months, min_publicity_months, repairable_from
from projections.records import HISTORY_PER_RECORD_MAX
from tests.unit import events as ev

ID_FIELD = {"permits": "record_id", "penalties": "record_id", "commitments": "commitment_id", "lists": "entry_id",
            "ratings": "rating_id"}
BOOKKEEPING = ("as_of", "rejected", "rejected_total")


# --- given, when, then --------------------------------------------------------------------------
def given(*events: dict, policy: Policy = DEFAULT_POLICY) -> dict:
    """The state after a registered subject's events, each of which must apply."""
    state = None
    for offset, event in enumerate([ev.subject_registered(), *events]):
        state, outcome = fold(state, event, offset, policy=policy)
        assert outcome.kind == APPLIED, (event["type"], outcome.reasons)
    return state


def when(state: dict, event: dict, policy: Policy = DEFAULT_POLICY):
    return fold(state, event, state["as_of"]["offset"] + 1, policy=policy)


def applied(state: dict, event: dict, policy: Policy = DEFAULT_POLICY) -> dict:
    """Then: the event applies; returns the credit file after it."""
    new, outcome = when(state, event, policy)
    assert outcome.kind == APPLIED, outcome.reasons
    return credit_file(new)


def rejected_by(state: dict, event: dict, field: str, *, rule: str, policy: Policy = DEFAULT_POLICY,
                message: str | None = None) -> None:
    """Then: the event is rejected for `rule` on `field` (with exactly `message`, the words a department
    reads, when given), and only the bookkeeping changed."""
    assert rule in RULES
    new, outcome = when(state, event, policy)
    assert outcome.kind == REJECTED, f"{event['type']} applied"
    assert (field, rule) in {(p.field, p.rule) for p in outcome.reasons}, outcome.reasons
    if message is not None:
        assert [p.message for p in outcome.reasons if (p.field, p.rule) == (field, rule)] == [message]
    assert _content(new) == _content(state)
    assert new["rejected_total"] == state["rejected_total"] + 1 and new["rejected"][-1]["event_id"] == event["event_id"]


def _content(state: dict) -> bytes:
    return canonical_bytes({k: v for k, v in state.items() if k not in BOOKKEEPING})


def record(file_or_state: dict, collection: str, record_id: str, authority: str = ev.AUTHORITY) -> dict:
    records = file_or_state["records"][collection]
    if isinstance(records, dict):  # a state: keyed per authority
        return records[ev.key_of(record_id, authority)]
    (found,) = [r for r in records if r[ID_FIELD[collection]] == record_id]
    return found


def penalty(file: dict, record_id: str = "P-1") -> dict:
    return record(file, "penalties", record_id)


def fulfilled_penalty(on: str = "2024-06-03", **fields) -> list[dict]:
    return [ev.penalty_imposed("P-1", on, **fields), ev.penalty_fulfilled("P-1", on)]


# --- the credit file -----------------------------------------------------------------------------
def test_credit_file_has_the_contract_shape():
    file = credit_file(given(ev.penalty_imposed()))
    assert {"subject", "grade", "records", "pending", "rejected", "chain", "as_of", "events_by_type",
            "events_total"} <= set(file)
    assert set(file["records"]) == {"permits", "penalties", "commitments", "lists", "ratings"}
    assert file["pending"]["objections"] == file["pending"]["repairs"] == []
    # on display until the day before decision + 36 months: PublicityEnded fires at 00:00 +08:00 the day after
    assert [(d["kind"], d["ref"], d["due_on"], d["provisional"], d["fires_at"]) for d in file["pending"]["deadlines"]] \
        == [("PUBLICITY", ev.key_of("P-1"), "2028-01-05", False, "2028-01-06T00:00:00+08:00")]
    assert (file["grade"]["letter"], file["grade"]["score"]) == ("A", 980) and file["events_total"] == 2 and file["chain"]["length"] == 2


def test_records_are_listed_in_log_order_even_when_the_state_comes_back_in_key_order():
    import orjson
    state = given(ev.penalty_imposed("P-9"), ev.penalty_imposed("P-1"))
    reloaded = orjson.loads(canonical_bytes(state))  # as the store reads it: keys sorted
    assert [p["record_id"] for p in credit_file(reloaded)["records"]["penalties"]] == ["P-9", "P-1"]
    assert credit_file(reloaded) == credit_file(state)


def test_record_history_tells_what_happened_when_and_by_which_event():
    fulfil = ev.penalty_fulfilled("P-1", "2025-01-08")
    state = given(ev.penalty_imposed("P-1", "2025-01-06"), fulfil)
    (entry,) = penalty(credit_file(state))["history"]
    assert entry == {"event": "PenaltyFulfilled", "occurred_on": "2025-01-08", "event_id": fulfil["event_id"],
                     "offset": 2}


def test_record_history_is_bounded_and_keeps_the_newest():
    rounds = HISTORY_PER_RECORD_MAX  # each round: an objection filed and dismissed, two entries
    events = [ev.penalty_imposed()]
    for i in range(rounds):
        events += [ev.objection_filed(f"O-{i}"), ev.objection_resolved(f"O-{i}")]
    history = penalty(credit_file(given(*events)))["history"]
    assert len(history) == HISTORY_PER_RECORD_MAX and history[-1]["objection_id"] == f"O-{rounds - 1}"


# --- effects, one event type at a time -----------------------------------------------------------
def test_subject_registered_fills_in_the_subject():
    file = credit_file(given())
    assert file["subject"]["region_code"] == "410105" and file["subject"]["registered_on"] == "2020-01-02"
    assert file["subject"]["name"] == "郑州金水宏达机械制造有限公司"


def test_subject_deregistered_records_the_date():
    assert applied(given(), ev.subject_deregistered("2025-02-03"))["subject"]["deregistered_on"] == "2025-02-03"


def test_decision_registered_awaits_its_record_and_the_record_marks_it_arrived():
    number = ev.decision_no("P-1")
    state = given(ev.decision_registered(number, on="2025-01-02"))
    (decision,) = credit_file(state)["decisions"]
    assert decision["decided_on"] == "2025-01-02" and decision["registered"] and not decision["arrived"]
    # 7 working days, the day of the decision not counted: Fri 3, Mon 6 ... Fri 10, Mon 13
    assert decision["due_on"] == "2025-01-13" and decision["late"] is None and not decision["due_provisional"]
    (decision,) = applied(state, ev.penalty_imposed("P-1", "2025-01-06"))["decisions"]
    assert decision["arrived"] and decision["record_id"] == "P-1" and decision["arrived_on"] == "2025-01-06"
    assert decision["late"] is False


@pytest.mark.parametrize("recorded_at, late", [
    ("2025-01-13T23:59:59+08:00", False),  # the last day, until 24:00 Asia/Shanghai
    ("2025-01-13T16:30:00+00:00", True),  # 00:30 on the 14th in Shanghai: one day late
    ("2025-01-14T09:00:00+08:00", True)])
def test_a_record_arriving_after_seven_working_days_is_marked_late(recorded_at, late):
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"))
    file = applied(state, ev.penalty_imposed("P-1", "2025-01-02", recorded_at=recorded_at))
    (decision,) = file["decisions"]
    assert decision["late"] is late and penalty(file)["late"] is late and penalty(file)["disclosure_due_on"] == "2025-01-13"


def test_a_record_with_no_registered_decision_is_judged_from_its_own_decision_date():
    # decided 2024-09-27 (Fri); 29 Sep (Sun) and 12 Oct (Sat) are 调休 workdays, 1-7 Oct the National Day holiday
    on_time = applied(given(), ev.penalty_imposed("P-1", "2024-09-27", recorded_at="2024-10-12T10:00:00+08:00"))
    assert penalty(on_time)["disclosure_due_on"] == "2024-10-12" and not penalty(on_time)["late"]
    late = applied(given(), ev.penalty_imposed("P-1", "2024-09-27", recorded_at="2024-10-13T10:00:00+08:00"))
    assert penalty(late)["late"]


def test_decision_registered_after_its_record_finds_it_arrived():
    (decision,) = applied(given(ev.penalty_imposed("P-1")), ev.decision_registered(ev.decision_no("P-1")))["decisions"]
    assert decision["registered"] and decision["arrived"] and decision["record_id"] == "P-1"


def test_permit_granted_adds_an_active_permit_with_validity_source_and_classification():
    grant = ev.permit_granted("X-1", "2025-01-06")
    permit = record(applied(given(), grant), "permits", "X-1")
    assert permit["status"] == "ACTIVE" and permit["valid_from"] == "2025-01-06" and permit["valid_to"] == "2029-12-31"
    assert permit["source"] == grant["source"] and permit["classification"] == "PUBLIC"
    assert permit["event_id"] == grant["event_id"] and permit["offset"] == 1 and permit["occurred_on"] == "2025-01-06"
    assert permit["pending_objection"] is None


def test_permit_revoked_revokes_the_permit():
    permit = record(applied(given(ev.permit_granted("X-1")), ev.permit_revoked("X-1", "2025-02-03")), "permits", "X-1")
    assert permit["status"] == "REVOKED" and permit["revoked_on"] == "2025-02-03"


def test_penalty_imposed_adds_an_active_unfulfilled_penalty_with_its_fields():
    imposed = ev.penalty_imposed("P-1", sector="WORK_SAFETY")
    p = penalty(applied(given(), imposed))
    assert p["status"] == "ACTIVE" and p["fulfilled"] is False and p["fulfilled_on"] is None
    assert p["fine_fen"] == 5_000_000 and p["severity"] == "GENERAL" and p["sector"] == "WORK_SAFETY"
    assert p["decision_no"] == imposed["payload"]["decision_no"] and p["source"]["authority_name"] == "郑州市市场监督管理局"


def test_penalty_fulfilled_marks_it_fulfilled_and_keeps_the_status():
    p = penalty(applied(given(ev.penalty_imposed()), ev.penalty_fulfilled("P-1", "2025-02-03")))
    assert p["fulfilled"] is True and p["fulfilled_on"] == "2025-02-03" and p["status"] == "ACTIVE"


def test_penalty_revoked_revokes_the_penalty_even_a_repaired_one():
    assert penalty(applied(given(ev.penalty_imposed()), ev.penalty_revoked()))["status"] == "REVOKED"
    repaired = given(*fulfilled_penalty(), ev.repair_requested(on="2025-01-06"), ev.repair_decided(on="2025-01-07"))
    assert penalty(applied(repaired, ev.penalty_revoked(on="2025-03-03")))["revocation_reason"] == "经行政复议撤销"


def test_commitment_made_is_open_with_its_due_date_or_working_days_as_given():
    file = applied(given(ev.commitment_made("C-1", due_on="2025-03-01")), ev.commitment_made("C-2", due_working_days=10))
    assert record(file, "commitments", "C-1")["status"] == "OPEN"
    assert record(file, "commitments", "C-1")["due_on"] == "2025-03-01"
    second = record(file, "commitments", "C-2")
    assert second["due_working_days"] == 10 and second["due_on"] is None  # the calendar module computes it


def test_commitment_fulfilled():
    c = record(applied(given(ev.commitment_made()), ev.commitment_fulfilled(on="2025-02-03")), "commitments", "C-1")
    assert c["status"] == "FULFILLED" and c["ended_on"] == "2025-02-03"


def test_commitment_breached_keeps_the_false_commitment_flag():
    c = record(applied(given(ev.commitment_made()), ev.commitment_breached(false_commitment=True)), "commitments", "C-1")
    assert c["status"] == "BREACHED" and c["false_commitment"] is True and c["breach"]


def test_commitment_overdue_counts_as_a_breach_and_brings_the_due_date():
    state = given(ev.commitment_made(due_working_days=10))
    c = record(applied(state, ev.commitment_overdue(due_on="2025-01-20", on="2025-01-21")), "commitments", "C-1")
    assert c["status"] == "OVERDUE" and c["due_on"] == "2025-01-20" and c["false_commitment"] is False


def test_repair_requested_is_pending_on_the_penalty():
    file = applied(given(*fulfilled_penalty(), ev.commitment_made("C-9", commitment_kind="CREDIT_REPAIR")),
                   ev.repair_requested("R-1", "P-1", "2025-01-06", commitment_id="C-9"))
    (repair,) = file["pending"]["repairs"]
    assert repair["repair_id"] == "R-1" and repair["record_id"] == "P-1" and repair["requested_on"] == "2025-01-06"
    assert repair["commitment_id"] == "C-9" and repair["overdue"] is False
    assert penalty(file)["pending_repair"] == "R-1" and penalty(file)["status"] == "ACTIVE"


def test_repair_decided_approved_repairs_the_penalty_and_closes_the_repair():
    file = applied(given(*fulfilled_penalty(), ev.repair_requested()), ev.repair_decided(outcome="APPROVED", on="2025-01-08"))
    p = penalty(file)
    assert p["status"] == "REPAIRED" and p["repaired_on"] == "2025-01-08" and p["pending_repair"] is None
    assert file["pending"]["repairs"] == [] and p["history"][-1]["outcome"] == "APPROVED"


def test_repair_decided_rejected_only_closes_the_repair():
    file = applied(given(*fulfilled_penalty(), ev.repair_requested()), ev.repair_decided(outcome="REJECTED"))
    assert penalty(file)["status"] == "ACTIVE" and file["pending"]["repairs"] == []
    assert penalty(file)["pending_repair"] is None


def test_objection_filed_marks_the_record_under_objection_and_pending():
    file = applied(given(ev.penalty_imposed()), ev.objection_filed("O-1", "P-1", "2025-01-08"))
    assert penalty(file)["status"] == "UNDER_OBJECTION" and penalty(file)["pending_objection"] == "O-1"
    (objection,) = file["pending"]["objections"]
    assert objection["objection_id"] == "O-1" and objection["record_id"] == "P-1" and objection["filed_on"] == "2025-01-08"
    assert objection["record_kind"] == "penalties"


def test_objection_resolved_dismissed_returns_the_record_to_its_status_before():
    repaired = [*fulfilled_penalty(), ev.repair_requested(), ev.repair_decided()]
    file = applied(given(*repaired, ev.objection_filed()), ev.objection_resolved(outcome="DISMISSED"))
    assert penalty(file)["status"] == "REPAIRED" and file["pending"]["objections"] == []
    assert penalty(file)["history"][-1]["outcome"] == "DISMISSED"  # the resolved objection lives on in the history


def test_objection_resolved_upheld_withdrawn_retracts_the_record():
    file = applied(given(ev.penalty_imposed(), ev.objection_filed()),
                   ev.objection_resolved(outcome="UPHELD_WITHDRAWN", on="2025-01-10"))
    assert penalty(file)["status"] == "RETRACTED" and penalty(file)["retracted_on"] == "2025-01-10"


def test_objection_resolved_upheld_corrected_amends_the_record_and_keeps_the_correction():
    # Decision: a correction amends (the record stands, with its correction); only a withdrawal retracts.
    file = applied(given(ev.penalty_imposed(), ev.objection_filed()),
                   ev.objection_resolved(outcome="UPHELD_CORRECTED", correction="罚款金额更正为3万元", on="2025-01-10"))
    p = penalty(file)
    assert p["status"] == "ACTIVE" and p["correction"] == "罚款金额更正为3万元" and p["corrected_on"] == "2025-01-10"


@pytest.mark.parametrize("create, collection, record_id", [
    (ev.permit_granted, "permits", "X-1"), (ev.list_entered, "lists", "L-1"), (ev.rating_assigned, "ratings", "G-1")])
def test_objection_resolved_on_permits_list_entries_and_ratings(create, collection, record_id):
    state = given(create(record_id), ev.objection_filed("O-1", record_id))
    assert record(state, collection, record_id)["status"] == "UNDER_OBJECTION"
    file = applied(state, ev.objection_resolved("O-1", record_id, "UPHELD_WITHDRAWN"))
    assert record(file, collection, record_id)["status"] == "RETRACTED"


def test_objection_resolved_after_a_change_beneath_keeps_the_change():
    state = given(ev.penalty_imposed(), ev.objection_filed(), ev.penalty_revoked())
    assert penalty(credit_file(state))["status"] == "UNDER_OBJECTION"  # still shown 异议中
    assert penalty(applied(state, ev.objection_resolved(outcome="DISMISSED")))["status"] == "REVOKED"


def test_list_entered_is_active():
    entry = record(applied(given(ev.penalty_imposed()), ev.list_entered("L-1", basis_record_id="P-1",
                                                                     term_until="2026-01-06")), "lists", "L-1")
    assert entry["status"] == "ACTIVE" and entry["list_kind"] == "ABNORMAL_OPERATION"
    assert entry["basis_record_id"] == "P-1" and entry["term_until"] == "2026-01-06" and entry["measures"] == ["PUBLIC_NOTICE"]


def test_list_exited_ends_the_entry():
    entry = record(applied(given(ev.list_entered()), ev.list_exited(on="2025-03-03")), "lists", "L-1")
    assert entry["status"] == "EXITED" and entry["ended_on"] == "2025-03-03" and entry["exit_reason"]


def test_list_term_ended_ends_the_entry():
    entry = record(applied(given(ev.list_entered(term_until="2025-03-01")), ev.list_term_ended(on="2025-03-02")),
                   "lists", "L-1")
    assert entry["status"] == "TERM_ENDED" and entry["ended_on"] == "2025-03-02"


def test_rating_assigned_supersedes_the_current_rating_of_the_same_kind_only():
    state = given(ev.rating_assigned("G-1", "2024-04-15"), ev.rating_assigned("E-1", "2024-05-15", rating_kind="ENVIRONMENT"))
    file = applied(state, ev.rating_assigned("G-2", "2025-04-15", level="B"))
    assert record(file, "ratings", "G-1")["status"] == "SUPERSEDED" and record(file, "ratings", "G-1")["superseded_by"] == "G-2"
    assert record(file, "ratings", "G-2")["status"] == "ACTIVE" and record(file, "ratings", "E-1")["status"] == "ACTIVE"


def test_rating_assigned_late_for_an_earlier_period_is_superseded_at_once():
    file = applied(given(ev.rating_assigned("G-2", "2025-04-15")), ev.rating_assigned("G-1", "2025-04-20",
                                                                                       valid_from="2024-04-15"))
    assert record(file, "ratings", "G-1")["status"] == "SUPERSEDED" and record(file, "ratings", "G-2")["status"] == "ACTIVE"


def test_rating_expired_ends_the_rating_and_keeps_it_on_file():
    state = given(ev.rating_assigned("G-1", "2024-01-02", level="D", valid_to="2024-12-31"))
    file = applied(state, ev.rating_expired("G-1", "2024-12-31", on="2025-01-01"))
    rating = record(file, "ratings", "G-1")
    assert rating["status"] == "EXPIRED" and rating["expired_on"] == "2025-01-01"


def test_rule_rating_not_current_a_rating_expires_once_and_only_after_its_valid_to():
    state = given(ev.rating_assigned("G-1", "2024-01-02", valid_to="2024-12-31"))
    rejected_by(state, ev.rating_expired("G-1", "2024-12-31", on="2024-12-31"), "payload.rating_id",
                rule="rating_not_current", message="the rating is valid until 2024-12-31")
    expired = given(ev.rating_assigned("G-1", "2024-01-02", valid_to="2024-12-31"),
                    ev.rating_expired("G-1", "2024-12-31", on="2025-01-01"))
    rejected_by(expired, ev.rating_expired("G-1", "2024-12-31", on="2025-01-02"), "payload.rating_id",
                rule="rating_not_current", message="the rating is EXPIRED")
    open_ended = given(ev.rating_assigned("G-1", "2024-01-02"))
    rejected_by(open_ended, ev.rating_expired("G-1", "2024-12-31", on="2025-01-01"), "payload.rating_id",
                rule="rating_not_current", message="the rating is valid until further notice")


def test_objection_accepted_starts_the_decision_s_period():
    state = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1", "2025-01-06"))
    file = applied(state, ev.objection_accepted("O-1", "P-1", "2025-01-07"))
    assert file["pending"]["objections"][0]["accepted_on"] == "2025-01-07"
    assert [d["kind"] for d in file["pending"]["deadlines"]] == ["OBJECTION", "PUBLICITY"]


def test_repair_accepted_starts_the_decision_s_period():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1", "P-1", "2025-01-06"))
    file = applied(state, ev.repair_accepted("R-1", "P-1", "2025-01-07"))
    assert file["pending"]["repairs"][0]["accepted_on"] == "2025-01-07"
    assert "REPAIR" in [d["kind"] for d in file["pending"]["deadlines"]]


def test_rule_already_accepted_an_objection_or_a_repair_is_accepted_once():
    objection = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"), ev.objection_accepted("O-1", "P-1"))
    rejected_by(objection, ev.objection_accepted("O-1", "P-1"), "payload.objection_id", rule="already_accepted",
                message="accepted on 2025-01-06")
    rejected_by(objection, ev.processing_overdue("OBJECTION_ACCEPTANCE", "O-1"), "payload.ref_id",
                rule="already_accepted", message="the objection was accepted on 2025-01-06")
    repair = given(*fulfilled_penalty(), ev.repair_requested("R-1", "P-1", "2025-01-06"),
                   ev.repair_accepted("R-1", "P-1", "2025-01-06"))
    rejected_by(repair, ev.repair_accepted("R-1", "P-1", "2025-01-07"), "payload.repair_id", rule="already_accepted",
                message="accepted on 2025-01-06")
    decided = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"), ev.objection_resolved("O-1", "P-1"))
    rejected_by(decided, ev.objection_accepted("O-1", "P-1"), "payload.objection_id", rule="objection_not_pending",
                message="the objection was decided DISMISSED")


def test_inspection_recorded_is_kept_with_its_inspectors_and_an_id_is_used_once():
    state = given(ev.inspection_recorded("CC-1", "PROBLEM_FOUND", findings="未按规定公示年度报告", sample_seed=2025))
    (inspection,) = credit_file(state)["inspections"]
    assert (inspection["outcome"], inspection["inspectors"], inspection["sample_seed"]) == (
        "PROBLEM_FOUND", ["ZF001", "ZF002"], 2025)
    rejected_by(state, ev.inspection_recorded("CC-1"), "payload.inspection_id", rule="duplicate_id",
                message="inspection CC-1 already exists")


def test_personal_info_erased_marks_a_persons_file_and_leaves_its_records_and_grade():
    from projections.grading import grade

    person = {"id": "np-" + "ab" * 16, "kind": "NATURAL_PERSON"}
    erased = ev.valid("PersonalInfoErased", {"reason": "本人申请删除", "requested_by": "dev-admin", "keys_erased": 1},
                      on="2025-02-03")
    penalty = ev.penalty_imposed("P-1")
    before, after = given_subject(person, penalty), given_subject(person, penalty, erased)
    assert credit_file(after)["subject"]["personal_info_erased_on"] == "2025-02-03"
    assert credit_file(after)["records"] == credit_file(before)["records"]
    assert grade(after, DEFAULT_POLICY) == grade(before, DEFAULT_POLICY)
    rejected_by(given(), erased, "subject.kind", rule="erasure_natural_person",
                message="91410105MADGK41F4E is a LEGAL_PERSON, not a natural person")  # an organisation has none sealed


def test_query_authorized_adds_a_live_grant():
    (grant,) = applied(given(), ev.query_authorized("Q-1", "2025-01-06"))["grants"]
    assert grant == {**grant, "grant_id": "Q-1", "grantee": ev.BANK, "scope": ["penalties"], "valid_until": "2025-12-31",
                     "revoked": False, "granted_on": "2025-01-06", "classification": "INTERNAL"}


def test_query_authorization_revoked_marks_the_grant_revoked():
    (grant,) = applied(given(ev.query_authorized()), ev.query_authorization_revoked(on="2025-02-03"))["grants"]
    assert grant["revoked"] is True and grant["revoked_on"] == "2025-02-03"


def test_disclosure_overdue_marks_the_decision_overdue_and_a_later_record_late():
    number = ev.decision_no("P-1")
    state = given(ev.decision_registered(number, on="2025-01-02"))
    state, _ = when(state, ev.disclosure_overdue(number, due_on="2025-01-13", on="2025-01-14"))
    (decision,) = credit_file(state)["decisions"]
    assert decision["overdue"] and decision["due_on"] == "2025-01-13"
    (decision,) = applied(state, ev.penalty_imposed("P-1", "2025-01-20"))["decisions"]
    assert decision["arrived"] and decision["late"] is True


def test_publicity_ended_takes_the_penalty_off_display():
    p = penalty(applied(given(ev.penalty_imposed()), ev.publicity_ended(on="2025-03-03")))
    assert p["status"] == "PUBLICITY_ENDED" and p["publicity_ended_on"] == "2025-03-03"


def test_processing_overdue_marks_an_objection_and_a_repair_overdue_but_still_pending():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"), ev.permit_granted("X-1"), ev.objection_filed("O-1", "X-1"))
    state, _ = when(state, ev.processing_overdue("REPAIR", "R-1", due_on="2025-01-13"))
    file = applied(state, ev.processing_overdue("OBJECTION", "O-1", due_on="2025-01-13"))
    (repair,), (objection,) = file["pending"]["repairs"], file["pending"]["objections"]
    assert repair["overdue"] and objection["overdue"] and objection["overdue_due_on"] == "2025-01-13"


# --- rules: envelope and subject -----------------------------------------------------------------
def test_rule_same_kind_an_event_for_another_kind_of_subject_is_rejected():
    other = ev.penalty_imposed()
    rejected_by(given(), {**other, "subject": {**other["subject"], "kind": "OTHER_ORGANIZATION"}}, "subject.kind",
                rule="same_kind", message="the subject is LEGAL_PERSON, not OTHER_ORGANIZATION")


def test_rule_same_subject_an_event_about_another_subject_is_rejected():
    other = ev.penalty_imposed()
    rejected_by(given(), {**other, "subject": {**other["subject"], "id": ev.BANK}}, "subject.id", rule="same_subject",
                message="this is the file of 91410105MADGK41F4E")


def test_rule_subject_full_a_full_subject_takes_no_more_events_but_the_timers():
    state = given(ev.penalty_imposed())
    full = {**state, "seen_event_ids": {f"id-{n}": n for n in range(EVENTS_PER_SUBJECT_MAX)}}
    rejected_by(full, ev.permit_granted(), "$", rule="subject_full", message="a subject holds at most 100000 events")
    assert when(full, ev.publicity_ended("P-1", on="2025-03-03"))[1].kind == APPLIED  # its deadlines still fire


def test_rule_authority_share_one_authority_cannot_fill_a_subject_to_lock_the_others_out():
    policy = replace(DEFAULT_POLICY, events_per_authority_per_subject=3)
    state = given(ev.penalty_imposed(), ev.permit_granted("X-1"), policy=policy)  # with the registration: 3
    assert state["events_by_authority"] == {ev.AUTHORITY: 3}
    rejected_by(state, ev.permit_granted("X-2"), "source.authority_code", rule="authority_share", policy=policy,
                message="1141010087525218XA holds 3 events on this subject, the most one authority may (policy 2024.1, quotas.events_per_authority_per_subject)")
    other = {**ev.permit_granted("Y-1"), "source": {"authority_code": ev.OTHER_AUTHORITY, "authority_name": "郑州市卫健委"}}
    state, outcome = when(state, other, policy)
    assert outcome.kind == APPLIED
    # the timers' events are not the authority's: they apply, and count for no one
    state, outcome = when(state, ev.publicity_ended("P-1", on="2025-03-03"), policy)
    assert outcome.kind == APPLIED and state["events_by_authority"] == {ev.AUTHORITY: 3, ev.OTHER_AUTHORITY: 1}
    # the bound is the policy's: under the default one the same event applies
    assert when(state, ev.permit_granted("X-2"))[1].kind == APPLIED


@hypothesis_given(st.lists(st.sampled_from([ev.AUTHORITY, ev.OTHER_AUTHORITY]), max_size=12), st.integers(1, 5))
@settings(max_examples=30, deadline=None)
def test_no_authority_holds_more_than_its_share_of_a_subject(authorities, bound):
    policy = replace(DEFAULT_POLICY, events_per_authority_per_subject=bound)
    state, _ = fold(None, ev.subject_registered(), 0, policy=policy)
    for n, code in enumerate(authorities, start=1):
        event = {**ev.permit_granted(f"H-{n}"), "source": {"authority_code": code, "authority_name": "某局"}}
        state, outcome = fold(state, event, n, policy=policy)
        held = state["events_by_authority"].get(code, 0)
        assert held <= bound and (outcome.kind == APPLIED) == (held == authorities[:n].count(code)
                                                               + (code == ev.AUTHORITY))


def test_rule_unknown_type_an_event_type_outside_the_catalogue_is_rejected():
    rejected_by(given(), {**ev.penalty_imposed(), "type": "PenaltyForgiven"}, "type", rule="unknown_type",
                message="'PenaltyForgiven' is not an event type of the catalogue")


@pytest.mark.parametrize("later", [
    lambda: ev.permit_granted("X-2", "2025-02-04"), lambda: ev.commitment_made("C-1", "2025-02-04"),
    lambda: ev.rating_assigned("G-1", "2025-02-04"), lambda: ev.query_authorized("Q-1", "2025-02-04"),
    lambda: ev.decision_registered(ev.decision_no("X-2", "PERMIT"), "PERMIT", "2025-02-04"),
    lambda: ev.subject_registered("2025-02-04")])
def test_rule_subject_deregistered_no_new_business_after_deregistration(later):
    event = later()
    rejected_by(given(ev.subject_deregistered("2025-02-03")), event, "occurred_on", rule="subject_deregistered",
                message=f"the subject was deregistered on 2025-02-03; no {event['type']} after that")


def test_rule_subject_deregistered_a_second_deregistration_is_rejected():
    rejected_by(given(ev.subject_deregistered("2025-02-03")), ev.subject_deregistered("2025-03-03"), "type",
                rule="subject_deregistered", message="the subject was already deregistered on 2025-02-03")


@pytest.mark.parametrize("later", [
    lambda: ev.permit_granted("X-2", "2025-02-03"),  # dated on the last day: a late report of a live subject's permit
    lambda: ev.penalty_imposed("P-2", "2025-03-03"), lambda: ev.list_entered("L-1", "2025-03-03"),
    lambda: ev.decision_registered(ev.decision_no("P-2"), "PENALTY", "2025-03-03"),
    lambda: ev.penalty_fulfilled("P-1", "2025-03-03"), lambda: ev.objection_filed("O-1", "P-1", "2025-03-03"),
    lambda: ev.publicity_ended("P-1", "2025-03-03"), lambda: ev.permit_revoked("X-1", "2025-03-03")])
def test_rule_subject_deregistered_sanctions_objections_revocations_and_system_events_go_on(later):
    state = given(ev.permit_granted("X-1"), ev.penalty_imposed("P-1"), ev.subject_deregistered("2025-02-03"))
    applied(state, later())


# --- rules: identity and references --------------------------------------------------------------
@pytest.mark.parametrize("first, second, field", [
    (ev.penalty_imposed("P-1"), ev.penalty_imposed("P-1", decision_no="郑市监罚〔2025〕99号"), "payload.record_id"),
    (ev.penalty_imposed("P-1"), ev.permit_granted("P-1"), "payload.record_id"),
    (ev.permit_granted("X-1"), ev.permit_granted("X-1", decision_no="郑市监许〔2025〕99号"), "payload.record_id"),
    (ev.commitment_made("C-1"), ev.commitment_made("C-1"), "payload.commitment_id"),
    (ev.list_entered("L-1"), ev.list_entered("L-1"), "payload.entry_id"),
    (ev.rating_assigned("G-1"), ev.rating_assigned("G-1"), "payload.rating_id"),
    (ev.query_authorized("Q-1"), ev.query_authorized("Q-1"), "payload.grant_id"),
    (ev.decision_registered("郑市监罚〔2025〕1号"), ev.decision_registered("郑市监罚〔2025〕1号"), "payload.decision_no"),
])
def test_rule_duplicate_id_a_second_record_with_an_existing_id_is_rejected(first, second, field):
    rejected_by(given(first), second, field, rule="duplicate_id")


def test_rule_duplicate_id_objection_and_repair_ids_are_used_once():
    state = given(*fulfilled_penalty(), ev.objection_filed("O-1"), ev.objection_resolved("O-1"),
                  ev.repair_requested("R-1"), ev.repair_decided("R-1", outcome="REJECTED"))
    rejected_by(state, ev.objection_filed("O-1"), "payload.objection_id", rule="duplicate_id",
                message="objection O-1 already exists")
    rejected_by(state, ev.repair_requested("R-1"), "payload.repair_id", rule="duplicate_id",
                message="repair R-1 already exists")


@pytest.mark.parametrize("event, field", [
    (ev.penalty_fulfilled("P-404"), "payload.record_id"), (ev.penalty_revoked("P-404"), "payload.record_id"),
    (ev.permit_revoked("X-404"), "payload.record_id"), (ev.objection_filed("O-1", "P-404"), "payload.record_id"),
    (ev.repair_requested("R-1", "P-404"), "payload.record_id"), (ev.publicity_ended("P-404"), "payload.record_id"),
    (ev.commitment_made("C-1", related_record_id="X-404"), "payload.related_record_id"),
    (ev.list_entered("L-1", basis_record_id="P-404"), "payload.basis_record_id"),
])
def test_rule_unknown_record_references_to_unknown_records_are_rejected(event, field):
    rejected_by(given(ev.penalty_imposed("P-1")), event, field, rule="unknown_record")


@pytest.mark.parametrize("event, field", [
    (ev.commitment_fulfilled("C-404"), "payload.commitment_id"), (ev.commitment_breached("C-404"), "payload.commitment_id"),
    (ev.commitment_overdue("C-404"), "payload.commitment_id"),
    (ev.repair_requested("R-1", "P-1", commitment_id="C-404"), "payload.commitment_id"),
])
def test_rule_unknown_commitment_references_to_unknown_commitments_are_rejected(event, field):
    rejected_by(given(*fulfilled_penalty(), ev.commitment_made("C-1")), event, field, rule="unknown_commitment",
                message="no commitment 'C-404' in this credit file")


@pytest.mark.parametrize("event", [ev.list_exited("L-404"), ev.list_term_ended("L-404")])
def test_rule_unknown_list_entry_references_to_unknown_entries_are_rejected(event):
    rejected_by(given(ev.list_entered("L-1")), event, "payload.entry_id", rule="unknown_list_entry",
                message="no list entry 'L-404' in this credit file")


def test_rule_unknown_objection_resolving_or_overdue_of_an_unknown_objection_is_rejected():
    state = given(ev.penalty_imposed(), ev.objection_filed("O-1"))
    rejected_by(state, ev.objection_resolved("O-404"), "payload.objection_id", rule="unknown_objection",
                message="no objection O-404")
    rejected_by(state, ev.processing_overdue("OBJECTION", "O-404"), "payload.ref_id", rule="unknown_objection",
                message="no objection O-404")


def test_rule_unknown_repair_deciding_or_overdue_of_an_unknown_repair_is_rejected():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"))
    rejected_by(state, ev.repair_decided("R-404"), "payload.repair_id", rule="unknown_repair",
                message="no repair application R-404")
    rejected_by(state, ev.processing_overdue("REPAIR", "R-404"), "payload.ref_id", rule="unknown_repair",
                message="no repair R-404")
    rejected_by(state, ev.processing_overdue("REPAIR", "O-1"), "payload.ref_id", rule="unknown_repair",
                message="no repair O-1")


def test_rule_unknown_grant_revoking_an_unknown_grant_is_rejected():
    rejected_by(given(ev.query_authorized("Q-1")), ev.query_authorization_revoked("Q-404"), "payload.grant_id",
                rule="unknown_grant", message="no query authorisation Q-404")


def test_rule_unknown_decision_disclosure_overdue_needs_a_registered_decision():
    rejected_by(given(), ev.disclosure_overdue("郑市监罚〔2025〕1号"), "payload.decision_no", rule="unknown_decision",
                message="no registered decision 郑市监罚〔2025〕1号")


@pytest.mark.parametrize("event, field", [
    (ev.repair_requested("R-1", "X-1"), "payload.record_id"),  # a repair is for penalties and breaches only
    (ev.penalty_fulfilled("X-1"), "payload.record_id"), (ev.penalty_revoked("X-1"), "payload.record_id"),
    (ev.permit_revoked("P-1"), "payload.record_id"), (ev.publicity_ended("X-1"), "payload.record_id"),
    (ev.repair_requested("R-1", "L-1"), "payload.record_id"),  # every record can be objected to; a list entry not repaired
    (ev.commitment_made("C-2", related_record_id="L-1"), "payload.related_record_id"),
    (ev.commitment_fulfilled("P-1"), "payload.commitment_id"), (ev.list_exited("P-1"), "payload.entry_id"),
])
def test_rule_wrong_record_kind_an_event_for_another_kind_of_record_is_rejected(event, field):
    state = given(*fulfilled_penalty(), ev.permit_granted("X-1"), ev.commitment_made("C-1"), ev.list_entered("L-1"))
    rejected_by(state, event, field, rule="wrong_record_kind")


def test_rule_record_mismatch_an_objection_or_repair_is_decided_for_its_own_record():
    state = given(*fulfilled_penalty(), ev.permit_granted("X-1"), ev.objection_filed("O-1", "X-1"), ev.repair_requested("R-1"))
    rejected_by(state, ev.objection_resolved("O-1", "P-1"), "payload.record_id", rule="record_mismatch",
                message="objection O-1 is about X-1")
    rejected_by(state, ev.repair_decided("R-1", "X-1"), "payload.record_id", rule="record_mismatch",
                message="repair R-1 is for P-1")
    # accepting one for processing (受理) names its record too: its decision's deadline starts then
    rejected_by(state, ev.objection_accepted("O-1", "P-1"), "payload.record_id", rule="record_mismatch",
                message="objection O-1 is about X-1")
    rejected_by(state, ev.repair_accepted("R-1", "X-1"), "payload.record_id", rule="record_mismatch",
                message="repair R-1 is for P-1")


@pytest.mark.parametrize("field, value", [("grantee", ev.AUTHORITY), ("scope", ["lists"]), ("valid_until", "2026-01-01")])
def test_rule_grant_mismatch_a_revocation_names_the_grant_it_revokes(field, value):
    granted = ev.query_authorized("Q-1")
    rejected_by(given(granted), ev.query_authorization_revoked("Q-1", **{field: value}),
                f"payload.{field}", rule="grant_mismatch",
                message=f"the grant has {field} {granted['payload'][field]!r}")


# --- rules: decisions (双公示) ---------------------------------------------------------------------
def test_rule_decision_kind_mismatch_a_record_must_match_its_decision_kind():
    number = ev.decision_no("X-1", "PERMIT")
    state = given(ev.decision_registered(number, "PENALTY"))
    rejected_by(state, ev.permit_granted("X-1"), "payload.decision_no", rule="decision_kind_mismatch",
                message="郑市监许〔2025〕X-1号 is a PENALTY decision")
    rejected_by(state, ev.disclosure_overdue(number, "PERMIT"), "payload.decision_kind", rule="decision_kind_mismatch",
                message="郑市监许〔2025〕X-1号 is a PENALTY decision")
    rejected_by(given(ev.permit_granted("X-1")), ev.decision_registered(number, "PENALTY"), "payload.decision_kind",
                rule="decision_kind_mismatch", message="郑市监许〔2025〕X-1号 arrived as a PERMIT record")


def test_rule_decision_arrived_one_record_per_decision_and_no_overdue_after_arrival():
    number = ev.decision_no("P-1")
    state = given(ev.decision_registered(number), ev.penalty_imposed("P-1"))
    rejected_by(state, ev.penalty_imposed("P-2", decision_no=number), "payload.decision_no", rule="decision_arrived",
                message="郑市监罚〔2025〕P-1号 already arrived as record P-1")
    rejected_by(state, ev.disclosure_overdue(number), "payload.decision_no", rule="decision_arrived",
                message="郑市监罚〔2025〕P-1号 arrived on 2025-01-06")


# --- rules: transitions --------------------------------------------------------------------------
@pytest.mark.parametrize("event, field", [
    (ev.penalty_fulfilled("P-1"), "payload.record_id"), (ev.penalty_revoked("P-1"), "payload.record_id"),
    (ev.objection_filed("O-2", "P-1"), "payload.record_id"), (ev.repair_requested("R-1", "P-1"), "payload.record_id"),
    (ev.publicity_ended("P-1"), "payload.record_id"), (ev.list_entered("L-9", basis_record_id="P-1"), "payload.basis_record_id"),
    (ev.permit_revoked("X-1"), "payload.record_id"), (ev.list_exited("L-1"), "payload.entry_id"),
])
def test_rule_record_retracted_nothing_acts_on_a_retracted_record(event, field):
    retract = lambda rid, oid: [ev.objection_filed(oid, rid), ev.objection_resolved(oid, rid, "UPHELD_WITHDRAWN")]  # noqa: E731
    state = given(ev.penalty_imposed("P-1"), ev.permit_granted("X-1"), ev.list_entered("L-1"),
                  *retract("P-1", "O-1"), *retract("X-1", "O-3"), *retract("L-1", "O-4"))
    rejected_by(state, event, field, rule="record_retracted")


@pytest.mark.parametrize("event, field, message", [
    (ev.penalty_fulfilled("P-1"), "payload.record_id", "a revoked penalty has nothing to fulfil"),
    (ev.repair_requested("R-1", "P-1", "2025-06-03"), "payload.record_id", "a revoked penalty has nothing to repair"),
    (ev.list_entered("L-1", basis_record_id="P-1"), "payload.basis_record_id", "a revoked record is no basis")])
def test_rule_record_revoked_a_revoked_penalty_is_not_fulfilled_repaired_or_a_listing_basis(event, field, message):
    rejected_by(given(ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_revoked("P-1")), event, field,
                rule="record_revoked", message=message)


def test_rule_record_revoked_repair_approval_after_revocation_is_rejected_but_a_rejection_closes_it():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"), ev.penalty_revoked("P-1"))
    rejected_by(state, ev.repair_decided("R-1", outcome="APPROVED"), "payload.record_id", rule="record_revoked",
                message="a revoked penalty has nothing to repair")
    assert applied(state, ev.repair_decided("R-1", outcome="REJECTED"))["pending"]["repairs"] == []


@pytest.mark.parametrize("given_events, event", [
    ([ev.penalty_imposed("P-1"), ev.penalty_revoked("P-1")], ev.penalty_revoked("P-1")),
    ([ev.permit_granted("X-1"), ev.permit_revoked("X-1")], ev.permit_revoked("X-1")),
])
def test_rule_already_revoked_revoking_a_revoked_record_is_rejected(given_events, event):
    rejected_by(given(*given_events), event, "payload.record_id", rule="already_revoked",
                message="revoked on 2025-01-06")


def test_rule_already_revoked_revoking_a_revoked_grant_is_rejected():
    rejected_by(given(ev.query_authorized("Q-1"), ev.query_authorization_revoked("Q-1")),
                ev.query_authorization_revoked("Q-1"), "payload.grant_id", rule="already_revoked",
                message="revoked on 2025-01-06")


def test_rule_already_fulfilled_a_penalty_is_fulfilled_once():
    rejected_by(given(*fulfilled_penalty()), ev.penalty_fulfilled("P-1"), "payload.record_id", rule="already_fulfilled",
                message="fulfilled on 2024-06-03")


def test_rule_already_repaired_a_repaired_penalty_is_not_repaired_again():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"), ev.repair_decided("R-1"))
    rejected_by(state, ev.repair_requested("R-2"), "payload.record_id", rule="already_repaired",
                message="repaired on 2025-01-06")


def test_rule_already_overdue_one_overdue_notice_per_decision_objection_and_repair():
    number = ev.decision_no("P-9")
    state = given(*fulfilled_penalty(), ev.decision_registered(number), ev.disclosure_overdue(number),
                  ev.repair_requested("R-1"), ev.processing_overdue("REPAIR", "R-1"),
                  ev.objection_filed("O-1"), ev.processing_overdue("OBJECTION", "O-1"))
    # A timer firing twice writes the same event id (a DUPLICATE); these are different notices.
    rejected_by(state, ev.disclosure_overdue(number, on="2025-01-07"), "payload.decision_no", rule="already_overdue",
                message="郑市监罚〔2025〕P-9号 is already overdue")
    rejected_by(state, ev.processing_overdue("REPAIR", "R-1", on="2025-01-07"), "payload.ref_id", rule="already_overdue",
                message="the repair is overdue since 2025-01-06")
    rejected_by(state, ev.processing_overdue("OBJECTION", "O-1", on="2025-01-07"), "payload.ref_id",
                rule="already_overdue", message="the objection is overdue since 2025-01-06")


@pytest.mark.parametrize("end", [ev.commitment_fulfilled, ev.commitment_breached, ev.commitment_overdue])
@pytest.mark.parametrize("then", [ev.commitment_fulfilled, ev.commitment_breached, ev.commitment_overdue])
def test_rule_commitment_not_open_a_commitment_ends_once(end, then):
    if (end, then) == (ev.commitment_overdue, ev.commitment_fulfilled):
        pytest.skip("a fulfilment by the due date, reported after the overdue notice, is accepted (R5)")
    rejected_by(given(ev.commitment_made("C-1"), end("C-1")), then("C-1"), "payload.commitment_id",
                rule="commitment_not_open")


# --- 双公示 is 应示尽示 (issue 29 R8) -------------------------------------------------------------------
SECRET = {"exemption": "TRADE_SECRET", "exemption_basis": "《政府信息公开条例》第十五条：涉及商业秘密，权利人不同意公开"}


@pytest.mark.parametrize("classification", ["INTERNAL", "AUTHORIZED"])
def test_rule_not_public_a_permit_or_penalty_not_public_names_its_legal_exemption(classification):
    state = given()
    for build in (lambda **f: ev.valid("PenaltyImposed", ev.penalty_payload(**f), classification=classification),
                  lambda **f: ev.valid("PermitGranted", {"record_id": "X-1", "decision_no": ev.decision_no("X-1", "PERMIT"),
                                                         "permit_kind": "普通", "content": "危险化学品经营",
                                                         "valid_from": ev.DAY, **f}, classification=classification)):
        rejected_by(state, build(), "classification", rule="not_public")
        file = applied(state, build(**SECRET))
        assert any(r.get("exemption") == "TRADE_SECRET" for c in ("permits", "penalties") for r in file["records"][c])
    # a deployment whose log holds older records sent otherwise turns the rule off in the policy of that time
    applied(state, ev.valid("PenaltyImposed", ev.penalty_payload(), classification=classification),
            policy=replace(DEFAULT_POLICY, public_unless_exempt=False))


def test_rule_exemption_basis_an_exemption_names_its_basis_and_is_never_public():
    state = given()
    no_basis = ev.valid("PenaltyImposed", ev.penalty_payload(exemption="STATE_SECRET"), classification="INTERNAL")
    rejected_by(state, no_basis, "payload.exemption_basis", rule="exemption_basis",
                message="STATE_SECRET needs its legal basis")
    rejected_by(state, ev.penalty_imposed("P-1", **SECRET), "payload.exemption", rule="exemption_basis",
                message="an exempt record is not PUBLIC")


# --- list entries: default measures, the catalogue's codes, a sector (issue 29, "Also") -----------------
@pytest.mark.parametrize("kind", cat.LIST_KINDS)
def test_a_list_entry_naming_no_measures_takes_its_kind_s_defaults(kind):
    from projections.measures import DEFAULT_MEASURES
    entry = ev.valid("ListEntered", {"entry_id": "L-9", "list_kind": kind, "reason": "依法认定"}, "2025-01-06")
    file = applied(given(), entry)
    assert record(file, "lists", "L-9")["measures"] == list(DEFAULT_MEASURES[kind])
    assert all(m["known"] for m in file["records"]["lists"][0]["measure_details"])


def test_rule_unknown_measure_a_code_the_catalogue_lacks_is_refused():
    rejected_by(given(), ev.list_entered("L-9", measures=["PUBLIC_NOTICE", "BANISHMENT"]), "payload.measures",
                rule="unknown_measure", message="not in the catalogue of joint measures: BANISHMENT")


def test_a_list_entry_carries_its_sector_to_the_public_view():
    from projections.lists import active_entries, public_entry
    state = given(ev.list_entered("L-9", list_kind="OTHER_BLACKLIST", sector="WORK_SAFETY",
                                  reason="安全生产领域失信生产经营单位"))
    (entry_key,) = active_entries(state)
    assert public_entry(state, entry_key)["sector"] == "WORK_SAFETY"


# --- historical imports (issue 29 R10) -----------------------------------------------------------------
def test_r10_a_historical_record_is_not_judged_for_timeliness():
    old = ev.penalty_imposed("P-1", "2019-03-04", recorded_at="2025-01-06T10:00:00+08:00", historical=True)
    state = given(old)
    assert record(state, "penalties", "P-1")["late"] is None
    (decision,) = state["decisions"].values()
    assert decision["historical"] and decision["late"] is None
    late = given(ev.penalty_imposed("P-1", "2019-03-04", recorded_at="2025-01-06T10:00:00+08:00"))
    assert record(late, "penalties", "P-1")["late"] is True  # the same record without the mark: 迟报


def test_rule_historical_registered_a_decision_the_ledger_registered_is_judged_like_any_other():
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"))
    rejected_by(state, ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-02-20T10:00:00+08:00", historical=True),
                "payload.historical", rule="historical_registered",
                message="郑市监罚〔2025〕P-1号 was registered on 2025-01-02: not a historical record")


# --- publicity periods per penalty kind (issue 29 R11) -------------------------------------------------
def publicity(*events: dict, policy: Policy = DEFAULT_POLICY) -> tuple[str, str]:
    from projections.deadlines import pending_deadlines, system_event
    state = given(*events, policy=policy)
    (deadline,) = [d for d in pending_deadlines(state, policy) if d.kind == "PUBLICITY"]
    return deadline.due_on, system_event(state, deadline, deadline.fires_at, policy)["payload"]["reason"]


@pytest.mark.parametrize("fields, last_day", [
    ({"penalty_kinds": ["NOTICE_OF_CRITICISM"]}, "2025-04-05"),  # 通报批评: 3 months
    ({"penalty_kinds": ["FINE"], "fine_fen": 300_000}, "2025-04-05"),  # 3,000 yuan: a small fine for an organisation
    ({"penalty_kinds": ["FINE", "NOTICE_OF_CRITICISM"], "fine_fen": 100_000}, "2025-04-05"),
    ({"penalty_kinds": ["FINE"], "fine_fen": 300_100}, "2028-01-05"),  # above it: 3 years
    ({"penalty_kinds": ["WARNING"]}, "2028-01-05"),  # 警告 is not among the 3-month kinds
    ({"penalty_kinds": ["FINE"], "fine_fen": 100_000, "severity": "SERIOUS"}, "2028-01-05"),
    ({"penalty_kinds": ["FINE", "CONFISCATION"], "fine_fen": 100_000, "confiscation_fen": 5_000}, "2028-01-05"),
])
def test_r11_a_criticism_or_a_small_fine_is_shown_three_months_others_three_years(fields, last_day):
    day, reason = publicity(ev.penalty_imposed("P-1", "2025-01-06", **fields))
    assert day == last_day and ("较低数额罚款" in reason) == (last_day == "2025-04-05")


def test_r11_a_restriction_longer_than_three_years_is_shown_as_long_as_it_lasts():
    revoked = {"penalty_kinds": ["CERTIFICATE_REVOCATION", "FINE"], "severity": "SEVERE"}
    assert publicity(ev.penalty_imposed("P-1", "2025-01-06", restriction_until="2030-01-05", **revoked)) == (
        "2030-01-05", "公示期届满：按照实际限制期限执行至 2030-01-05")
    assert publicity(ev.penalty_imposed("P-1", "2025-01-06", restriction_until="2026-01-05", **revoked))[0] == "2028-01-05"


def test_r11_per_kind_maximums_come_from_the_policy():
    policy = replace(DEFAULT_POLICY, max_publicity_months_by_penalty_kind={"WARNING": 12})
    assert publicity(ev.penalty_imposed("P-1", "2025-01-06", penalty_kinds=["WARNING"]), policy=policy)[0] == "2026-01-05"
    # several kinds: the longest
    assert publicity(ev.penalty_imposed("P-1", "2025-01-06", penalty_kinds=["WARNING", "SUSPENSION"]),
                     policy=policy)[0] == "2028-01-05"


def test_rule_restriction_without_kind_only_a_restricting_penalty_carries_a_restriction_period():
    rejected_by(given(), ev.penalty_imposed("P-1", restriction_until="2030-01-05"), "payload.restriction_until",
                rule="restriction_without_kind",
                message="none of FINE restricts anything (2024.1 policy: CERTIFICATE_DOWNGRADE, CERTIFICATE_REVOCATION, EMPLOYMENT_RESTRICTION, PRODUCTION_RESTRICTION)")
    rejected_by(given(), ev.penalty_imposed("P-1", restriction_until="2030-01-05", penalty_kinds=["WARNING", "FINE"]),
                "payload.restriction_until", rule="restriction_without_kind",
                message="none of WARNING, FINE restricts anything (2024.1 policy: CERTIFICATE_DOWNGRADE, "
                        "CERTIFICATE_REVOCATION, EMPLOYMENT_RESTRICTION, PRODUCTION_RESTRICTION)")


def test_rule_publicity_minimum_an_authority_ends_a_display_no_sooner_than_its_minimum():
    # decided 2025-01-06, GENERAL: 3 months at least, so shown until 2025-04-05 (repairable from 04-06)
    rejected_by(given(), ev.penalty_imposed("P-1", publicity_until="2025-04-04"), "payload.publicity_until",
                rule="publicity_minimum",
                message="2025-04-04 ends the display before its minimum publicity is over (2025-04-05, 2024.1 "
                        "policy); only a repair or a revocation ends it sooner")
    assert publicity(ev.penalty_imposed("P-1", publicity_until="2025-04-05")) == (
        "2025-04-05", "公示期届满：处罚决定确定的公示截止日期 2025-04-05")
    # SEVERE: a year at least
    rejected_by(given(), ev.penalty_imposed("P-1", severity="SEVERE", penalty_kinds=["CERTIFICATE_REVOCATION"],
                                            publicity_until="2025-01-06"), "payload.publicity_until",
                rule="publicity_minimum",
                message="2025-01-06 ends the display before its minimum publicity is over (2026-01-05, 2024.1 "
                        "policy); only a repair or a revocation ends it sooner")
    # never before the decision, a historical import included; such an import keeps its earlier end otherwise
    rejected_by(given(), ev.penalty_imposed("P-1", publicity_until="2019-01-01"), "payload.publicity_until",
                rule="publicity_minimum", message="2019-01-01 is before the decision (2025-01-06)")
    rejected_by(given(), ev.penalty_imposed("P-1", publicity_until="2025-01-05", historical=True),
                "payload.publicity_until", rule="publicity_minimum", message="2025-01-05 is before the decision "
                                                                             "(2025-01-06)")
    assert when(given(), ev.penalty_imposed("P-1", publicity_until="2025-02-01", historical=True))[1].kind == APPLIED


@settings(max_examples=150, deadline=None)
@hypothesis_given(st.lists(st.sampled_from(cat.PENALTY_KINDS), min_size=1, max_size=4, unique=True),
                  st.integers(0, 10**7), st.sampled_from(cat.SEVERITIES))
def test_r11_the_minimum_never_outlasts_the_maximum(kinds, fine_fen, severity):
    penalty = {"occurred_on": "2025-01-06", "severity": severity, "penalty_kinds": kinds, "fine_fen": fine_fen}
    assert 1 <= min_publicity_months(penalty, DEFAULT_POLICY) <= max_publicity_months(penalty, DEFAULT_POLICY) <= 36


@pytest.mark.parametrize("kinds, repairable", [
    (["WARNING"], True), (["NOTICE_OF_CRITICISM"], True), (["WARNING", "NOTICE_OF_CRITICISM"], True),
    (["WARNING", "FINE"], False), (["FINE"], False)])
def test_rule_not_fulfilled_a_warning_or_a_criticism_is_repairable_once_its_minimum_has_passed(kinds, repairable):
    state = given(ev.penalty_imposed("P-1", "2025-01-06", penalty_kinds=kinds, fine_fen=1_000_000))
    too_early = ev.repair_requested("R-1", "P-1", on="2025-04-05")  # GENERAL: 3 months, from 2025-04-06
    rejected_by(state, too_early, "occurred_on", rule="min_publicity_not_reached",
                message="the minimum publicity of the penalty of 2025-01-06 runs until 2025-04-06 (2024.1 policy); 2025-04-05 is too early")
    request = ev.repair_requested("R-1", "P-1", on="2025-04-07")
    if repairable:
        file = applied(given(ev.penalty_imposed("P-1", "2025-01-06", penalty_kinds=kinds, fine_fen=1_000_000), request),
                       ev.repair_decided("R-1", "P-1", on="2025-04-10"))
        assert penalty(file)["status"] == "REPAIRED" and not penalty(file)["fulfilled"]
    else:
        rejected_by(state, request, "payload.record_id", rule="not_fulfilled",
                    message="a penalty can be repaired only once it is fulfilled")


# --- commitments: the breach's period of effect, late reports, objections and repair (issue 29 R5) ----
def overdue_commitment(due_on: str = "2025-01-31") -> list[dict]:
    day_after = "2025-02-01" if due_on == "2025-01-31" else due_on
    return [ev.commitment_made("C-1", "2025-01-06", due_on=due_on),
            ev.commitment_overdue("C-1", due_on=due_on, on=day_after)]


def test_rule_fulfilled_after_due_an_in_time_fulfilment_reported_late_withdraws_the_overdue():
    from projections.grading import grade
    state = given(*overdue_commitment())
    assert grade(state, DEFAULT_POLICY)["score"] == 1000 + DEFAULT_POLICY.commitment_breached_points
    late_report = ev.valid("CommitmentFulfilled", {"commitment_id": "C-1"}, "2025-01-30",
                           recorded_at="2025-02-10T09:00:00+08:00")
    file = applied(state, late_report)
    commitment = record(file, "commitments", "C-1")
    assert commitment["status"] == "FULFILLED" and commitment["overdue_withdrawn_by"] == late_report["event_id"]
    assert file["grade"]["score"] == 1000
    rejected_by(state, ev.commitment_fulfilled("C-1", on="2025-02-03"), "occurred_on", rule="fulfilled_after_due",
                message="due on 2025-01-31, fulfilled on 2025-02-03")


def test_r5_a_breach_counts_for_its_period_of_effect_then_the_timers_end_it():
    from projections.deadlines import pending_deadlines, system_event
    from projections.grading import grade
    for breached, months, points in ((ev.commitment_breached("C-1", "2025-02-03"), 12, -50),
                                     (ev.commitment_breached("C-1", "2025-02-03", false_commitment=True), 36, -150)):
        state = given(ev.commitment_made("C-1", "2025-01-06"), breached)
        assert grade(state, DEFAULT_POLICY)["score"] == 1000 + points
        (deadline,) = pending_deadlines(state, DEFAULT_POLICY)
        last = {12: "2026-02-02", 36: "2028-02-02"}[months]
        assert (deadline.kind, deadline.due_on) == ("PUBLICITY", last)
        event = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
        assert event["type"] == "PublicityEnded" and event["payload"]["record_id"] == "C-1"
        file = applied(state, event)
        assert record(file, "commitments", "C-1")["status"] == "PUBLICITY_ENDED" and file["grade"]["score"] == 1000


def test_r5_a_breached_commitment_can_be_objected_to_and_retracted():
    state = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_breached("C-1", "2025-02-03"),
                  ev.objection_filed("O-1", "C-1", on="2025-02-05"))
    assert record(state, "commitments", "C-1")["status"] == "UNDER_OBJECTION"
    file = applied(state, ev.objection_resolved("O-1", "C-1", outcome="UPHELD_WITHDRAWN", on="2025-02-10"))
    assert record(file, "commitments", "C-1")["status"] == "RETRACTED" and file["grade"]["score"] == 1000
    dismissed = applied(state, ev.objection_resolved("O-1", "C-1", on="2025-02-10"))
    assert record(dismissed, "commitments", "C-1")["status"] == "BREACHED" and dismissed["grade"]["score"] == 950


def test_rule_nothing_to_repair_a_commitment_is_repaired_only_for_its_breach_after_the_minimum():
    open_ = given(ev.commitment_made("C-1", "2025-01-06"))
    rejected_by(open_, ev.repair_requested("R-1", "C-1", on="2025-06-03"), "payload.record_id", rule="nothing_to_repair",
                message="the commitment is OPEN, not breached")
    state = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_breached("C-1", "2025-02-03"))
    rejected_by(state, ev.repair_requested("R-1", "C-1", on="2025-05-02"), "occurred_on",
                rule="min_publicity_not_reached",
                message="the breach of 2025-02-03 is repairable from 2025-05-03 (2024.1 policy); 2025-05-02 is too early")  # 3 months: from 2025-05-03
    requested = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_breached("C-1", "2025-02-03"),
                      ev.repair_requested("R-1", "C-1", on="2025-05-03"))
    file = applied(requested, ev.repair_decided("R-1", "C-1", on="2025-05-09"))
    assert record(file, "commitments", "C-1")["status"] == "REPAIRED" and file["grade"]["score"] == 1000


@pytest.mark.parametrize("end", [ev.list_exited, ev.list_term_ended])
@pytest.mark.parametrize("then", [ev.list_exited, ev.list_term_ended])
def test_rule_entry_not_active_a_list_entry_ends_once(end, then):
    rejected_by(given(ev.list_entered("L-1", term_until="2025-01-06"), end("L-1")), then("L-1"), "payload.entry_id",
                rule="entry_not_active")


def test_rule_no_term_list_term_ended_needs_a_term():
    rejected_by(given(ev.list_entered("L-1")), ev.list_term_ended("L-1"), "payload.entry_id", rule="no_term",
                message="the entry has no term_until")


def test_rule_term_beyond_policy_a_serious_dishonesty_term_is_at_most_three_years():
    state = given()
    applied(state, ev.list_entered("L-9", "2025-01-06", list_kind="SERIOUS_DISHONESTY", term_until="2028-01-05"))
    rejected_by(state, ev.list_entered("L-9", "2025-01-06", list_kind="SERIOUS_DISHONESTY", term_until="2028-01-06"),
                "payload.term_until", rule="term_beyond_policy",
                message="a SERIOUS_DISHONESTY entry of 2025-01-06 ends by 2028-01-05 (2024.1 policy)")
    # kinds the policy sets no term for keep the term their authority gives
    applied(state, ev.list_entered("L-9", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2035-01-06"))


RED = {"list_kind": "RED_LIST", "measures": ["GREEN_CHANNEL"], "reason": "纳税信用A级，连续三年无失信记录"}


@pytest.mark.parametrize("blocker", [
    lambda: ev.list_entered("B-1", "2024-06-03", list_kind="OTHER_BLACKLIST"),
    lambda: ev.list_entered("B-1", "2024-06-03"),  # 经营异常名录
    lambda: ev.penalty_imposed("B-1", "2024-06-03", severity="SEVERE"),
])
def test_rule_red_list_blocked_no_red_list_beside_a_black_list_or_a_severe_penalty_on_display(blocker):
    state = given(blocker())
    rejected_by(state, ev.list_entered("L-9", "2025-01-06", **RED), "payload.list_kind", rule="red_list_blocked")
    applied(given(), ev.list_entered("L-9", "2025-01-06", **RED))
    # a GENERAL penalty does not block; an ended black entry does not either
    applied(given(ev.penalty_imposed("B-1", "2024-06-03")), ev.list_entered("L-9", "2025-01-06", **RED))
    applied(given(ev.list_entered("B-1", "2024-06-03", list_kind="OTHER_BLACKLIST"), ev.list_exited("B-1", "2024-09-02")),
            ev.list_entered("L-9", "2025-01-06", **RED))


def test_rule_red_list_blocked_the_severe_penalty_look_back_comes_from_the_policy():
    state = given(ev.penalty_imposed("B-1", "2023-06-05", severity="SEVERE"))
    red = ev.list_entered("L-9", "2025-01-06", **RED)
    rejected_by(state, red, "payload.list_kind", rule="red_list_blocked",
                message="no red list beside SEVERE 行政处罚 B-1（郑市监罚〔2025〕B-1号） (2024.1 policy)")
    applied(state, red, policy=replace(DEFAULT_POLICY, red_list_severe_penalty_months=12))


def test_rule_red_list_blocked_the_timers_end_only_a_red_entry_beside_a_blocker():
    from projections.validate import TIMER_SYSTEM
    timers = {"authority_code": ev.AUTHORITY, "authority_name": "郑州市市场监督管理局", "system": TIMER_SYSTEM}
    # a red entry with nothing beside it, and a black entry: neither is the timers' to end
    for state, entry_id in ((given(ev.list_entered("L-9", "2025-01-06", **RED)), "L-9"),
                            (given(ev.list_entered("L-1", "2025-01-06")), "L-1")):
        exit_ = ev.valid("ListExited", {"entry_id": entry_id, "exit_reason": "存在失信记录"}, "2025-02-03", source=timers)
        rejected_by(state, exit_, "payload.entry_id", rule="red_list_blocked",
                    message="the timers end only a red list entry, and only beside a record that blocks it")


def test_rule_entry_not_active_an_entry_under_objection_is_still_active_and_can_exit():
    state = given(ev.list_entered("L-1"), ev.objection_filed("O-1", "L-1"))
    state, _ = when(state, ev.list_exited("L-1"))
    assert record(state, "lists", "L-1")["status_before_objection"] == "EXITED"
    rejected_by(state, ev.list_exited("L-1"), "payload.entry_id", rule="entry_not_active",
                message="the entry is EXITED since 2025-01-06")


@pytest.mark.parametrize("given_events", [
    [ev.penalty_imposed("P-1"), ev.publicity_ended("P-1")],
    [*fulfilled_penalty(), ev.repair_requested("R-1"), ev.repair_decided("R-1")],
    [ev.penalty_imposed("P-1"), ev.penalty_revoked("P-1")],
])
def test_rule_not_on_display_publicity_ends_only_for_a_penalty_on_display(given_events):
    rejected_by(given(*given_events), ev.publicity_ended("P-1"), "payload.record_id", rule="not_on_display")


def test_rule_not_on_display_a_penalty_whose_publicity_ended_is_not_repaired():
    state = given(*fulfilled_penalty(), ev.publicity_ended("P-1"))
    rejected_by(state, ev.repair_requested("R-1"), "payload.record_id", rule="not_on_display",
                message="its publicity has ended: there is nothing left to repair")


def test_rule_not_on_display_publicity_ends_also_under_objection():
    state, _ = when(given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1")), ev.publicity_ended("P-1"))
    assert penalty(state)["status"] == "UNDER_OBJECTION" and penalty(state)["status_before_objection"] == "PUBLICITY_ENDED"
    rejected_by(state, ev.publicity_ended("P-1"), "payload.record_id", rule="not_on_display",
                message="the penalty is PUBLICITY_ENDED")


def test_rule_objection_pending_one_pending_objection_per_record():
    state = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1"))
    rejected_by(state, ev.objection_filed("O-2"), "payload.record_id", rule="objection_pending",
                message="objection O-1 is pending")
    applied(given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1"), ev.objection_resolved("O-1")),
            ev.objection_filed("O-2"))  # once resolved, a new objection may be filed


def test_rule_objection_pending_no_repair_approval_while_an_objection_is_pending():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"), ev.objection_filed("O-1"))
    rejected_by(state, ev.repair_decided("R-1", outcome="APPROVED"), "payload.record_id", rule="objection_pending",
                message="objection O-1 must be resolved first")


def test_rule_objection_not_pending_an_objection_is_resolved_once():
    state = given(ev.penalty_imposed(), ev.objection_filed("O-1"), ev.objection_resolved("O-1"))
    rejected_by(state, ev.objection_resolved("O-1"), "payload.objection_id", rule="objection_not_pending",
                message="resolved DISMISSED on 2025-01-06")
    rejected_by(state, ev.processing_overdue("OBJECTION", "O-1"), "payload.ref_id", rule="objection_not_pending",
                message="the objection was decided DISMISSED")


def test_rule_repair_pending_one_pending_repair_per_penalty():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"))
    rejected_by(state, ev.repair_requested("R-2"), "payload.record_id", rule="repair_pending",
                message="repair R-1 is pending")
    applied(given(*fulfilled_penalty(), ev.repair_requested("R-1"), ev.repair_decided("R-1", outcome="REJECTED")),
            ev.repair_requested("R-2"))  # after a rejection the subject may apply again


def test_rule_repair_not_pending_a_repair_is_decided_once():
    state = given(*fulfilled_penalty(), ev.repair_requested("R-1"), ev.repair_decided("R-1", outcome="REJECTED"))
    rejected_by(state, ev.repair_decided("R-1"), "payload.repair_id", rule="repair_not_pending",
                message="decided REJECTED on 2025-01-06")
    rejected_by(state, ev.processing_overdue("REPAIR", "R-1"), "payload.ref_id", rule="repair_not_pending",
                message="the repair was decided REJECTED")


# --- rules: credit repair ------------------------------------------------------------------------
def test_rule_not_fulfilled_a_penalty_is_repaired_only_once_fulfilled():
    rejected_by(given(ev.penalty_imposed("P-1", "2024-06-03")), ev.repair_requested("R-1"), "payload.record_id",
                rule="not_fulfilled", message="a penalty can be repaired only once it is fulfilled")


@pytest.mark.parametrize("imposed_on, fields, day_before, first_day", [
    ("2024-10-15", {"severity": "GENERAL"}, "2025-01-14", "2025-01-15"),  # 3 months
    ("2024-10-15", {"severity": "SERIOUS"}, "2025-01-14", "2025-01-15"),  # 3 months
    ("2024-11-30", {"severity": "GENERAL"}, "2025-02-27", "2025-02-28"),  # month-end clamp: Feb has no 30th
    ("2024-03-15", {"severity": "SEVERE"}, "2025-03-14", "2025-03-15"),  # 1 year
    ("2024-02-29", {"severity": "SEVERE"}, "2025-02-27", "2025-02-28"),  # 1 year from a leap day
    ("2024-03-15", {"sector": "SPECIAL_EQUIPMENT"}, "2025-03-14", "2025-03-15"),  # special sectors: 1 year
    ("2024-03-15", {"sector": "WORK_SAFETY"}, "2025-03-14", "2025-03-15"),
    ("2024-03-15", {"sector": "FIRE_SAFETY"}, "2025-03-14", "2025-03-15"),
])
def test_rule_min_publicity_not_reached_repair_at_the_exact_boundary(imposed_on, fields, day_before, first_day):
    state = given(ev.penalty_imposed("P-1", imposed_on, **fields), ev.penalty_fulfilled("P-1", imposed_on))
    rejected_by(state, ev.repair_requested("R-1", "P-1", day_before), "occurred_on", rule="min_publicity_not_reached")
    assert applied(state, ev.repair_requested("R-1", "P-1", first_day))["pending"]["repairs"][0]["repair_id"] == "R-1"


def test_rule_min_publicity_not_reached_also_checked_when_the_repair_is_approved():
    # A stricter policy in force at approval time than at request time: the approval is checked again.
    state = given(ev.penalty_imposed("P-1", "2024-10-15"), ev.penalty_fulfilled("P-1", "2024-10-15"),
                  ev.repair_requested("R-1", "P-1", "2025-01-15"))
    stricter = replace(DEFAULT_POLICY, version="stricter", min_publicity_months_by_severity={"GENERAL": 6, "SERIOUS": 6, "SEVERE": 12})
    rejected_by(state, ev.repair_decided("R-1", on="2025-01-20"), "occurred_on", rule="min_publicity_not_reached",
                policy=stricter,
                message="the minimum publicity of the penalty of 2024-10-15 runs until 2025-04-15 (stricter policy); 2025-01-20 is too early")
    applied(state, ev.repair_decided("R-1", on="2025-04-15"), policy=stricter)


def test_rule_min_publicity_not_reached_the_numbers_come_from_the_policy():
    state = given(ev.penalty_imposed("P-1", "2024-10-15", penalty_kinds=["FINE", "SUSPENSION"]),
                  ev.penalty_fulfilled("P-1", "2024-10-15"))
    by_kind = replace(DEFAULT_POLICY, min_publicity_months_by_penalty_kind={"SUSPENSION": 6})  # with several kinds the longest applies
    rejected_by(state, ev.repair_requested("R-1", "P-1", "2025-04-14"), "occurred_on", rule="min_publicity_not_reached",
                policy=by_kind,
                message="the minimum publicity of the penalty of 2024-10-15 runs until 2025-04-15 (2024.1 policy); 2025-04-14 is too early")
    applied(state, ev.repair_requested("R-1", "P-1", "2025-04-15"), policy=by_kind)
    applied(state, ev.repair_requested("R-1", "P-1", "2025-01-15"))  # the default: 3 months


# --- the policy ----------------------------------------------------------------------------------
@pytest.mark.parametrize("day, months, expected", [
    ("2024-11-30", 3, "2025-02-28"), ("2023-11-30", 3, "2024-02-29"), ("2024-01-31", 1, "2024-02-29"),
    ("2024-02-29", 12, "2025-02-28"), ("2024-10-15", 3, "2025-01-15"), ("2024-12-31", 36, "2027-12-31")])
def test_the_minimum_publicity_ends_on_the_same_day_months_later_clamped(day, months, expected):
    policy = replace(DEFAULT_POLICY, min_publicity_months_by_severity={"GENERAL": months, "SERIOUS": 3, "SEVERE": 12})
    assert repairable_from({"occurred_on": day, "severity": "GENERAL", "penalty_kinds": ["FINE"], "fine_fen": 10**6},
                           policy) == expected


def test_policy_defaults_are_designs_numbers():
    policy = DEFAULT_POLICY
    assert dict(policy.min_publicity_months_by_severity) == {"GENERAL": 3, "SERIOUS": 3, "SEVERE": 12}
    assert policy.special_sectors == {"SPECIAL_EQUIPMENT", "WORK_SAFETY", "FIRE_SAFETY"}
    assert policy.special_sector_min_publicity_months == 12 and policy.max_publicity_months == 36
    assert min_publicity_months({"severity": "SERIOUS", "sector": "FIRE_SAFETY", "penalty_kinds": ["FINE"]}, policy) == 12
    hash(policy)  # a frozen value: usable as a cache key
    with pytest.raises(ValueError, match="publicity.min_months_by_severity"):
        replace(DEFAULT_POLICY, min_publicity_months_by_severity={"GENERAL": 3})  # every severity needs a minimum


# --- the lists are complete ----------------------------------------------------------------------
def test_every_rule_id_has_a_rejection_test():
    # who may act on a record has its tests in test_ownership.py
    text = "".join(Path(__file__).with_name(name).read_text(encoding="utf-8")
                   for name in ("test_fold_rules.py", "test_ownership.py"))
    tested = set(re.findall(r'rule="([a-z_]+)"', text))
    assert set(RULES) - tested == set()


def test_every_event_type_has_an_effect_test():
    names = [name for name in globals() if name.startswith("test_")]
    snake = lambda t: re.sub(r"(?<!^)(?=[A-Z])", "_", t).lower()  # noqa: E731
    missing = [t for t in cat.EVENT_TYPES if not any(n.startswith(f"test_{snake(t)}") for n in names)]
    assert missing == []


# --- subjects of every register (issue 29 R2) ------------------------------------------------------
def of_subject(subject: dict, *events: dict) -> list[dict]:
    """The events (built for ev.COMPANY) re-validated about another subject."""
    from projections.validate import EdgeContext, require_valid
    out = []
    for event in events:
        raw = {**{k: v for k, v in event.items() if k not in ("recorded_at",)}, "subject": subject,
               "event_id": event["event_id"]}
        now = ev.datetime.fromisoformat(event["recorded_at"])
        out.append(require_valid(raw, EdgeContext(now=now, pseudonym_key=ev.KEY, allow_system=True)))
    return out


def given_subject(subject: dict, *events: dict) -> dict:
    state = None
    for offset, event in enumerate(of_subject(subject, ev.subject_registered(), *events)):
        state, outcome = fold(state, event, offset)
        assert outcome.kind == APPLIED, (event["type"], outcome.reasons)
    return state


SUBJECTS = {  # register -> a subject of it (name, kind as claimed)
    "ENTERPRISE": {"id": ev.COMPANY, "kind": "LEGAL_PERSON", "name": "郑州宏达机械有限公司"},
    "BRANCH": {"id": ev.make_uscc("410105", 2), "kind": "OTHER_ORGANIZATION", "name": "郑州宏达机械有限公司金水分公司"},
    "FARMER_COOPERATIVE": {"id": ev.make_uscc("410105", 3, "9", "3"), "kind": "LEGAL_PERSON", "name": "郑州绿源农民专业合作社"},
    "INDIVIDUAL_BUSINESS": {"id": ev.make_uscc("410105", 4, "9", "2"), "kind": "INDIVIDUAL_BUSINESS", "name": "金水区张记面馆"},
    "PUBLIC_INSTITUTION": {"id": ev.make_uscc("410105", 5, "1", "2"), "kind": "LEGAL_PERSON", "name": "郑州市第三人民医院"},
    "SOCIAL_ORGANIZATION": {"id": ev.make_uscc("410105", 6, "5", "1"), "kind": "LEGAL_PERSON", "name": "郑州市餐饮行业协会"},
    "NATURAL_PERSON": ev.person(),
}


@pytest.mark.parametrize("register, admitted", [
    ("ENTERPRISE", True), ("BRANCH", True), ("FARMER_COOPERATIVE", True), ("INDIVIDUAL_BUSINESS", True),
    ("PUBLIC_INSTITUTION", False), ("SOCIAL_ORGANIZATION", False), ("NATURAL_PERSON", False)])
def test_rule_subject_not_admitted_the_abnormal_operation_list_takes_enterprises_and_cooperatives(register, admitted):
    subject = SUBJECTS[register]
    state = given_subject(subject)
    (entry,) = of_subject(subject, ev.list_entered("L-1", "2022-01-10"))
    if admitted:
        new, outcome = when(state, entry)
        assert outcome.kind == APPLIED
    else:
        rejected_by(state, entry, "payload.list_kind", rule="subject_not_admitted")
    # other list kinds admit every subject under the default policy
    (other,) = of_subject(subject, ev.list_entered("L-2", "2022-01-10", list_kind="OTHER_BLACKLIST"))
    assert when(state, other)[1].kind == APPLIED


@pytest.mark.parametrize("register, escalates", [
    ("ENTERPRISE", True), ("BRANCH", True), ("FARMER_COOPERATIVE", True), ("INDIVIDUAL_BUSINESS", False)])
def test_r2_only_enterprises_and_cooperatives_escalate_an_individual_business_stays_marked(register, escalates):
    from projections.deadlines import pending_deadlines
    state = given_subject(SUBJECTS[register], *of_subject(SUBJECTS[register], ev.list_entered("L-1", "2022-01-10")))
    kinds = [d.kind for d in pending_deadlines(state, DEFAULT_POLICY)]
    assert kinds == (["ESCALATION"] if escalates else [])


def test_r2_the_admitted_subjects_come_from_the_policy():
    policy = replace(DEFAULT_POLICY, admitted_subjects={"RED_LIST": ("ENTERPRISE",)})
    subject = SUBJECTS["INDIVIDUAL_BUSINESS"]
    state = given_subject(subject)
    (red,) = of_subject(subject, ev.list_entered("L-1", list_kind="RED_LIST", measures=["GREEN_CHANNEL"]))
    rejected_by(state, red, "payload.list_kind", rule="subject_not_admitted", policy=policy,
                message="a 个体工商户 is not admitted on RED_LIST (2024.1 policy: ENTERPRISE)")
    with pytest.raises(ValueError, match="lists.admitted_subjects"):
        replace(DEFAULT_POLICY, admitted_subjects={"RED_LIST": ("COMPANY",)})


# --- joint measures' feedback (联合奖惩 反馈, issue 31 part 3) ---------------------------------------
def _blacklisted(*events: dict) -> dict:
    """A subject on the 严重失信 list with the bidding ban (housing implements it) and a public notice."""
    return given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN", "PUBLIC_NOTICE"]),
                 *events)


def test_measure_applied_is_kept_on_the_entry_with_its_count():
    entry = record(applied(_blacklisted(), ev.measure_feedback()), "lists", "L-1")
    assert entry["status"] == "ACTIVE"  # feedback changes no status
    (case,) = entry["feedback"]
    assert (case["case_id"], case["measure"], case["outcome"], case["authority_code"], case["occurred_on"]) == (
        "K-1", "BIDDING_BAN", "APPLIED", ev.HOUSING, "2025-02-03")
    assert case["matter"] == "郑建招〔2025〕7号标段" and case["result"] == "不予通过投标资格审查"
    assert entry["feedback_counts"] == {"BIDDING_BAN": {"APPLIED": 1, "DECLINED": 0}}
    assert entry["history"][-1]["event"] == "MeasureApplied"


def test_measure_declined_counts_apart_from_applied():
    state = _blacklisted(ev.measure_feedback())
    entry = record(applied(state, ev.measure_feedback("MeasureDeclined", "K-2", result="该项目不属于工程建设招标投标")),
                   "lists", "L-1")
    assert [c["outcome"] for c in entry["feedback"]] == ["APPLIED", "DECLINED"]
    assert entry["feedback_counts"] == {"BIDDING_BAN": {"APPLIED": 1, "DECLINED": 1}}


def test_measure_feedback_keeps_the_newest_cases_and_counts_every_one():
    from projections.records import FEEDBACK_PER_ENTRY_MAX
    cases = [ev.measure_feedback(case_id=f"K-{i}") for i in range(FEEDBACK_PER_ENTRY_MAX + 3)]
    entry = record(_blacklisted(*cases), "lists", "L-1")
    assert len(entry["feedback"]) == FEEDBACK_PER_ENTRY_MAX and entry["feedback"][-1]["case_id"] == cases[-1]["payload"]["case_id"]
    assert entry["feedback_counts"]["BIDDING_BAN"]["APPLIED"] == FEEDBACK_PER_ENTRY_MAX + 3


def test_rule_not_measure_implementer_only_the_implementing_department_reports():
    # the tax bureau (ev.AUTHORITY) implements INVOICE_RESTRICTION only; the bidding ban is housing's
    tax = {"authority_code": ev.AUTHORITY, "authority_name": "国家税务总局郑州市税务局"}
    rejected_by(_blacklisted(), ev.measure_feedback(source=tax), "payload.measure", rule="not_measure_implementer",
                message="1141010087525218XA does not implement BIDDING_BAN (2024.1 policy register)")


def test_rule_measure_not_on_entry_a_measure_the_entry_does_not_carry():
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["PUBLIC_NOTICE"]))
    rejected_by(state, ev.measure_feedback(), "payload.measure", rule="measure_not_on_entry",
                message="entry L-1 carries PUBLIC_NOTICE")


def test_rule_entry_not_in_force_an_exited_entry_binds_nobody():
    state = _blacklisted(ev.list_exited("L-1", on="2025-01-20"))
    rejected_by(state, ev.measure_feedback(), "payload.entry_id", rule="entry_not_in_force",
                message="the entry is EXITED, its term until 2028-01-05")


def test_rule_entry_not_in_force_after_the_term_even_before_the_timers_end_it():
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN"],
                                  term_until="2025-01-31"))
    rejected_by(state, ev.measure_feedback(on="2025-02-01"), "payload.entry_id", rule="entry_not_in_force",
                message="the entry is ACTIVE, its term until 2025-01-31")
    applied(state, ev.measure_feedback(on="2025-01-31"))  # its last day still binds


def test_rule_unknown_list_entry_feedback_names_an_entry_of_this_subject():
    rejected_by(_blacklisted(), ev.measure_feedback(entry_id="L-404"), "payload.entry_id", rule="unknown_list_entry",
                message="no list entry 'L-404' in this credit file")


def test_rule_wrong_record_kind_feedback_names_a_list_entry():
    state = _blacklisted(ev.penalty_imposed())
    rejected_by(state, ev.measure_feedback(entry_id="P-1"), "payload.entry_id", rule="wrong_record_kind",
                message="P-1 is a penalty, not a list entry")


def test_rule_duplicate_id_a_case_id_is_reported_once_per_department():
    state = _blacklisted(ev.measure_feedback())
    rejected_by(state, ev.measure_feedback("MeasureDeclined"), "payload.case_id", rule="duplicate_id",
                message="case K-1 already reported")


def test_measure_feedback_every_problem_at_once_and_never_a_raise():
    tax = {"authority_code": ev.AUTHORITY, "authority_name": "国家税务总局郑州市税务局"}
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["PUBLIC_NOTICE"]))
    new, outcome = when(state, ev.measure_feedback(source=tax))
    assert outcome.kind == REJECTED
    assert {p.rule for p in outcome.reasons} == {"not_measure_implementer", "measure_not_on_entry"}
    stored_before = {k: v for k, v in state.items() if k != "measure_cases"}  # a state from before the first case
    assert when(stored_before, ev.measure_feedback(source=tax))[1].kind == REJECTED
