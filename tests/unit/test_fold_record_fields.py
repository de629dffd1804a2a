"""What the fold writes into a record when it is made, ended, escalated, superseded, objected to or repaired,
compared whole: a commitment, a penalty, a list entry and a late rating as they are first kept, the history
entry each later event leaves on them (its day, event id, offset and details), a decision known first by
its record, an objection's resolution, the record an objection or a repair reaches from another authority;
the boundaries a commitment's due day and an escalation's basis draw; the small-fine limit at zero; and the
words of the refusals a department reads (an unknown measure, a subject not admitted, a duplicate decision
or grant, a record not public, a commitment no longer open, a record not on file or retracted). Each
expected value is written out in full, so that a field dropped, renamed or left empty shows.
"""
from __future__ import annotations

from dataclasses import replace

from projections import records
from projections.fold import APPLIED
from projections.policy import DEFAULT_POLICY, is_small_penalty, max_publicity_months
from tests.unit import events as ev
from tests.unit.test_fold_records_whole import SOURCE, _entry
from tests.unit.test_fold_rules import (SUBJECTS, applied, fulfilled_penalty, given, given_subject, of_subject,
                                        rejected_by, when)
from tests.unit.test_ownership import CREDIT_OFFICE, OTHER, by

WITHDRAWN = (ev.objection_filed("O-1", "P-1", "2025-01-07"),
             ev.objection_resolved("O-1", "P-1", outcome="UPHELD_WITHDRAWN", on="2025-01-08"))


# --- the small-fine limit (R11) -----------------------------------------------------------------------
def test_a_fine_of_no_fen_is_small_under_a_limit_of_zero():
    # a policy may set the small-fine limit to 0 fen (policy_problems admits it): a fine naming no amount is within it
    policy = replace(DEFAULT_POLICY, small_fine_max_fen={"NATURAL_PERSON": 0, "ORGANISATION": 0})
    for fine in ({"fine_fen": 0}, {}):
        penalty = {"penalty_kinds": ["FINE"], "severity": "GENERAL", "subject_kind": "LEGAL_PERSON", **fine}
        assert is_small_penalty(penalty, policy) is True
        assert max_publicity_months(penalty, policy) == 3
    assert is_small_penalty({"penalty_kinds": ["FINE"], "severity": "GENERAL", "fine_fen": 1}, policy) is False


# --- commitments --------------------------------------------------------------------------------------
def test_a_commitment_made_is_kept_whole():
    made = ev.commitment_made("C-1", "2025-01-06", due_on="2025-01-31")
    assert given(made)["records"]["commitments"] == {ev.key_of("C-1"): {
        "commitment_id": "C-1", "commitment_kind": "NOTIFICATION_PROMISE", "content": "承诺符合许可条件",
        "due_on": "2025-01-31", "occurred_on": "2025-01-06", "classification": "PUBLIC", "source": SOURCE,
        "event_id": made["event_id"], "offset": 1, "recorded_at": "2025-01-06T10:00:00+08:00", "status": "OPEN",
        "history": [], "pending_repair": None, "due_working_days": None, "ended_on": None, "false_commitment": False,
        "breach": None, "pending_objection": None, "status_before_objection": None}}


def test_each_end_of_a_commitment_is_logged_at_its_offset_with_its_details():
    fulfil = ev.commitment_fulfilled("C-1", "2025-01-20")
    breach = ev.commitment_breached("C-2", "2025-02-03", false_commitment=True)
    overdue = ev.commitment_overdue("C-3", due_on="2025-01-31", on="2025-02-01")
    state = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_made("C-2", "2025-01-06"),
                  ev.commitment_made("C-3", "2025-01-06", due_on="2025-01-31"), fulfil, breach, overdue)
    assert {k: (c["status"], c["ended_on"], c["history"]) for k, c in state["records"]["commitments"].items()} == {
        ev.key_of("C-1"): ("FULFILLED", "2025-01-20", [{"event": "CommitmentFulfilled", "occurred_on": "2025-01-20",
                                                        "event_id": fulfil["event_id"], "offset": 4}]),
        ev.key_of("C-2"): ("BREACHED", "2025-02-03", [{"event": "CommitmentBreached", "occurred_on": "2025-02-03",
                                                       "event_id": breach["event_id"], "offset": 5,
                                                       "false_commitment": True}]),
        ev.key_of("C-3"): ("OVERDUE", "2025-02-01", [{"event": "CommitmentOverdue", "occurred_on": "2025-02-01",
                                                      "event_id": overdue["event_id"], "offset": 6,
                                                      "due_on": "2025-01-31"}])}


def test_a_commitment_fulfilled_on_its_due_day_is_kept_in_time_after_its_overdue_notice():
    overdue = ev.commitment_overdue("C-1", due_on="2025-01-31", on="2025-02-01")
    state = given(ev.commitment_made("C-1", "2025-01-06", due_on="2025-01-31"), overdue)
    fulfil = ev.commitment_fulfilled("C-1", "2025-01-31")
    commitment = applied(state, fulfil)["records"]["commitments"][0]
    assert (commitment["status"], commitment["ended_on"], commitment["overdue_withdrawn_by"]) == (
        "FULFILLED", "2025-01-31", fulfil["event_id"])
    rejected_by(state, ev.commitment_fulfilled("C-1", "2025-02-01"), "occurred_on", rule="fulfilled_after_due",
                message="due on 2025-01-31, fulfilled on 2025-02-01")


def test_a_commitment_no_longer_open_names_its_status_and_the_day_it_ended():
    state = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_fulfilled("C-1", "2025-01-20"))
    rejected_by(state, ev.commitment_breached("C-1", "2025-02-03"), "payload.commitment_id",
                rule="commitment_not_open", message="the commitment is FULFILLED since 2025-01-20")


def test_a_commitment_may_relate_to_a_retracted_penalty():
    # related_record_id is a reference, not an act: the penalty it names need not stand
    state = given(ev.penalty_imposed("P-1"), *WITHDRAWN)
    assert state["records"]["penalties"][ev.key_of("P-1")]["status"] == "RETRACTED"
    made = ev.commitment_made("C-1", "2025-01-09", related_record_id="P-1")
    commitment = applied(state, made)["records"]["commitments"][0]
    assert (commitment["commitment_id"], commitment["related_record_id"], commitment["status"]) == (
        "C-1", "P-1", "OPEN")


# --- decisions, permits and penalties -----------------------------------------------------------------
def test_a_record_arriving_before_its_registration_makes_its_decision_known_by_its_number():
    number = ev.decision_no("P-1")
    imposed = ev.penalty_imposed("P-1", "2025-01-06")
    decision = given(imposed)["decisions"][ev.key_of(number)]
    assert decision == {"decision_no": "郑市监罚〔2025〕P-1号", "decision_kind": "PENALTY", "registered": False,
                        "decided_on": None, "authority_code": ev.AUTHORITY, "source": SOURCE,
                        "registered_event_id": None, "offset": 1, "arrived": True, "record_id": "P-1",
                        "record_decided_on": "2025-01-06", "arrived_on": "2025-01-06", "due_on": "2025-01-15",
                        "due_provisional": False, "late": False, "overdue": False, "historical": False}


def test_a_registration_after_its_record_keeps_the_registrations_source_and_day():
    number = ev.decision_no("P-1")
    renamed = {"authority_code": ev.AUTHORITY, "authority_name": "郑州市市场监督管理局（行政审批）"}
    registered = ev.valid("DecisionRegistered", {"decision_no": number, "decision_kind": "PENALTY"}, "2025-01-07",
                          source=renamed)
    decision = given(ev.penalty_imposed("P-1", "2025-01-06"), registered)["decisions"][ev.key_of(number)]
    assert (decision["registered"], decision["decided_on"], decision["authority_code"], decision["source"],
            decision["registered_event_id"], decision["offset"]) == (
        True, "2025-01-07", ev.AUTHORITY, renamed, registered["event_id"], 1)


def test_a_decision_registered_twice_is_refused_by_its_number():
    number = ev.decision_no("P-1")
    rejected_by(given(ev.decision_registered(number)), ev.decision_registered(number), "payload.decision_no",
                rule="duplicate_id", message="decision 郑市监罚〔2025〕P-1号 is already registered")


def test_a_penalty_is_kept_whole_with_the_kind_of_its_subject():
    imposed = ev.penalty_imposed("P-1", "2025-01-06")
    assert given(imposed)["records"]["penalties"] == {ev.key_of("P-1"): {
        "record_id": "P-1", "decision_no": "郑市监罚〔2025〕P-1号", "violation_type": "虚假宣传",
        "facts": "在经营场所发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条", "penalty_kinds": ["FINE"],
        "fine_fen": 5_000_000, "severity": "GENERAL", "occurred_on": "2025-01-06", "classification": "PUBLIC",
        "source": SOURCE, "event_id": imposed["event_id"], "offset": 1, "recorded_at": "2025-01-06T10:00:00+08:00",
        "status": "ACTIVE", "history": [], "fulfilled": False, "fulfilled_on": None, "pending_repair": None,
        "subject_kind": "LEGAL_PERSON", "pending_objection": None, "status_before_objection": None,
        "disclosure_due_on": "2025-01-15", "late": False}}


def test_a_penalty_not_public_without_an_exemption_is_refused_in_words():
    internal = ev.valid("PenaltyImposed", ev.penalty_payload(), classification="INTERNAL")
    rejected_by(given(), internal, "classification", rule="not_public",
                message="a PenaltyImposed is PUBLIC unless it names its legal exemption (exemption, exemption_basis)")


def test_a_record_not_on_file_is_named_by_every_kind_the_event_may_name():
    rejected_by(given(ev.penalty_imposed("P-1")), ev.publicity_ended("P-404"), "payload.record_id",
                rule="unknown_record", message="no penalty or commitment 'P-404' in this credit file")


def test_a_retracted_penalty_is_not_fulfilled():
    state = given(ev.penalty_imposed("P-1"), *WITHDRAWN)
    rejected_by(state, ev.penalty_fulfilled("P-1", "2025-01-09"), "payload.record_id", rule="record_retracted",
                message="penalty P-1 was retracted")


# --- lists --------------------------------------------------------------------------------------------
def test_a_list_entry_is_kept_whole_with_its_sector():
    entered = ev.list_entered("L-1", sector="FOOD_SAFETY")
    assert given(entered)["records"]["lists"] == {ev.key_of("L-1"): {
        "entry_id": "L-1", "list_kind": "ABNORMAL_OPERATION", "reason": "未按照规定期限公示年度报告",
        "measures": ["PUBLIC_NOTICE"], "sector": "FOOD_SAFETY", "occurred_on": "2025-01-06",
        "classification": "PUBLIC", "source": SOURCE, "event_id": entered["event_id"], "offset": 1,
        "recorded_at": "2025-01-06T10:00:00+08:00", "status": "ACTIVE", "history": [], "ended_on": None,
        "exit_reason": None, "term_until": None, "pending_objection": None, "status_before_objection": None}}


def test_an_entry_of_a_kind_with_no_default_measures_naming_none_carries_none(monkeypatch):
    monkeypatch.setattr(records, "DEFAULT_MEASURES", {"RED_LIST": ["GREEN_CHANNEL"]})
    entered = ev.valid("ListEntered", {"entry_id": "L-1", "list_kind": "ABNORMAL_OPERATION",
                                       "reason": "未按照规定期限公示年度报告"})
    entry = given(entered)["records"]["lists"][ev.key_of("L-1")]
    assert (entry["measures"], entry["status"], entry["sector"]) == ([], "ACTIVE", None)


def test_an_escalated_abnormal_operation_entry_logs_its_escalation_at_its_offset():
    escalation = ev.list_entered("L-2", "2025-03-03", list_kind="SERIOUS_DISHONESTY", basis_record_id="L-1")
    entered = ev.list_entered("L-1", "2025-01-06")
    old = given(entered, escalation)["records"]["lists"][ev.key_of("L-1")]
    reason = "转入严重违法失信名单（L-2）"
    assert old == {"entry_id": "L-1", "list_kind": "ABNORMAL_OPERATION", "reason": "未按照规定期限公示年度报告",
                   "measures": ["PUBLIC_NOTICE"], "sector": None, "occurred_on": "2025-01-06",
                   "classification": "PUBLIC", "source": SOURCE, "event_id": entered["event_id"], "offset": 1,
                   "recorded_at": "2025-01-06T10:00:00+08:00", "status": "EXITED", "ended_on": "2025-03-03",
                   "exit_reason": reason, "escalated_to": "L-2", "term_until": None, "pending_objection": None,
                   "status_before_objection": None,
                   "history": [{"event": "ListEntered", "occurred_on": "2025-03-03",
                                "event_id": escalation["event_id"], "offset": 2, "reason": reason}]}


def test_an_escalation_ends_only_an_active_abnormal_operation_entry():
    exited = ev.list_exited("L-1", "2025-02-03")
    state = given(ev.list_entered("L-1", "2025-01-06"), exited, ev.list_entered("L-3", "2025-01-06",
                                                                                 list_kind="OTHER_BLACKLIST"))
    for basis, entry_id in (("L-1", "L-2"), ("L-3", "L-4")):
        escalation = ev.list_entered(entry_id, "2025-03-03", list_kind="SERIOUS_DISHONESTY", basis_record_id=basis)
        after = when(state, escalation)[0]["records"]["lists"]
        assert {k: (e["status"], e["ended_on"], e["exit_reason"], len(e["history"])) for k, e in after.items()} == {
            ev.key_of("L-1"): ("EXITED", "2025-02-03", "已补报并公示年度报告", 1),
            ev.key_of("L-3"): ("ACTIVE", None, None, 0),
            ev.key_of(entry_id): ("ACTIVE", None, None, 0)}


def test_an_unknown_measure_is_refused_naming_every_unknown_code():
    rejected_by(given(), ev.list_entered("L-1", measures=["FOO", "PUBLIC_NOTICE", "BAR"]), "payload.measures",
                rule="unknown_measure", message="not in the catalogue of joint measures: FOO, BAR")


def test_a_subject_not_admitted_on_a_list_is_told_every_register_it_admits():
    subject = SUBJECTS["PUBLIC_INSTITUTION"]
    (entry,) = of_subject(subject, ev.list_entered("L-1", "2022-01-10"))
    rejected_by(given_subject(subject), entry, "payload.list_kind", rule="subject_not_admitted",
                message="a 事业单位 is not admitted on ABNORMAL_OPERATION "
                        "(2024.1 policy: ENTERPRISE, FARMER_COOPERATIVE, INDIVIDUAL_BUSINESS)")


# --- objections ---------------------------------------------------------------------------------------
def test_a_corrected_objection_is_kept_whole_and_its_record_keeps_the_correction():
    imposed = ev.penalty_imposed("P-1")
    filed = ev.objection_filed("O-1", "P-1", "2025-01-07")
    correction = "罚款金额更正为三万元"
    resolved = ev.objection_resolved("O-1", "P-1", outcome="UPHELD_CORRECTED", on="2025-01-09", correction=correction)
    state = given(imposed, filed, resolved)
    assert state["objections"] == {ev.key_of("O-1"): {
        "objection_id": "O-1", "record_id": "P-1", "grounds": "违法事实认定不清", "occurred_on": "2025-01-07",
        "classification": "INTERNAL", "source": SOURCE, "event_id": filed["event_id"], "offset": 2,
        "recorded_at": "2025-01-07T10:00:00+08:00", "record_kind": "penalties", "filed_on": "2025-01-07",
        "status": "UPHELD_CORRECTED", "overdue": False, "overdue_due_on": None, "resolved_on": "2025-01-09",
        "outcome": "UPHELD_CORRECTED", "correction": correction, "accepted_on": None, "acceptance_overdue": False,
        "resolved_event_id": resolved["event_id"], "resolution_classification": "INTERNAL"}}
    assert state["records"]["penalties"] == {ev.key_of("P-1"): {
        "record_id": "P-1", "decision_no": "郑市监罚〔2025〕P-1号", "violation_type": "虚假宣传",
        "facts": "在经营场所发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条", "penalty_kinds": ["FINE"],
        "fine_fen": 5_000_000, "severity": "GENERAL", "occurred_on": "2025-01-06", "classification": "PUBLIC",
        "source": SOURCE, "event_id": imposed["event_id"], "offset": 1, "recorded_at": "2025-01-06T10:00:00+08:00",
        "status": "ACTIVE", "fulfilled": False, "fulfilled_on": None, "pending_repair": None,
        "subject_kind": "LEGAL_PERSON", "pending_objection": None, "status_before_objection": None,
        "disclosure_due_on": "2025-01-15", "late": False, "correction": correction, "corrected_on": "2025-01-09",
        "history": [_entry(filed, 2, objection_id="O-1"),
                    _entry(resolved, 3, objection_id="O-1", outcome="UPHELD_CORRECTED", correction=correction)]}}


def test_the_credit_office_resolves_the_objection_about_the_record_it_names_among_two_under_one_id():
    # this authority's O-1 is about its P-1, another's O-1 about that one's P-2: naming P-2 reaches the other's
    state = given(ev.penalty_imposed("P-1"), by(OTHER, ev.penalty_imposed("P-2", decision_no="A-2")),
                  ev.objection_filed("O-1", "P-1"), by(OTHER, ev.objection_filed("O-1", "P-2")))
    after, outcome = when(state, by(CREDIT_OFFICE, ev.objection_resolved("O-1", "P-2", on="2025-01-09")))
    assert outcome.kind == APPLIED, outcome.reasons
    assert {k: (o["record_id"], o["status"]) for k, o in after["objections"].items()} == {
        ev.key_of("O-1"): ("P-1", "PENDING"), ev.key_of("O-1", OTHER): ("P-2", "DISMISSED")}


def test_the_credit_office_reaches_a_record_whose_id_holds_a_slash():
    state = given(ev.penalty_imposed("P/1", decision_no="A/1"))
    filed = by(CREDIT_OFFICE, ev.objection_filed("O-1", "P/1", "2025-01-07"))
    after, outcome = when(state, filed)
    assert outcome.kind == APPLIED, outcome.reasons
    penalty = after["records"]["penalties"][ev.key_of("P/1")]
    assert (penalty["status"], penalty["pending_objection"]) == ("UNDER_OBJECTION", "O-1")
    assert after["objections"][ev.key_of("O-1")]["record_id"] == "P/1"


def test_an_authority_acts_on_its_own_record_whose_id_holds_a_slash():
    # the record's authority is what comes before the first slash of its key: the local id may hold more
    state = given(ev.penalty_imposed("P/1/a", decision_no="A/1"))
    file = applied(state, ev.penalty_fulfilled("P/1/a", on="2025-01-07"))
    assert [(p["record_id"], p["fulfilled"]) for p in file["records"]["penalties"]] == [("P/1/a", True)]


# --- ratings ------------------------------------------------------------------------------------------
def test_a_rating_published_after_a_newer_one_is_superseded_on_arrival_and_kept_whole():
    newer = ev.rating_assigned("G-2", "2025-03-03")
    older = ev.rating_assigned("G-1", "2025-01-06")
    ratings = given(newer, older)["records"]["ratings"]
    assert ratings[ev.key_of("G-1")] == {
        "rating_id": "G-1", "rating_kind": "TAX", "level": "A", "valid_from": "2025-01-06", "occurred_on": "2025-01-06",
        "classification": "PUBLIC", "source": SOURCE, "event_id": older["event_id"], "offset": 2,
        "recorded_at": "2025-01-06T10:00:00+08:00", "status": "SUPERSEDED", "history": [], "superseded_by": "G-2",
        "pending_objection": None, "status_before_objection": None}
    assert (ratings[ev.key_of("G-2")]["status"], ratings[ev.key_of("G-2")]["history"]) == ("ACTIVE", [])


# --- repairs and grants -------------------------------------------------------------------------------
def test_an_older_repair_without_its_record_kind_is_approved_on_its_penalty():
    # until a commitment's breach could be repaired, every repair was of a penalty and kept no record_kind
    requested = ev.repair_requested("R-1", "P-1", "2025-01-06")
    state = given(*fulfilled_penalty(), requested)
    older = {**state, "repairs": {k: {f: v for f, v in r.items() if f != "record_kind"}
                                  for k, r in state["repairs"].items()}}
    decided = ev.repair_decided("R-1", "P-1", on="2025-01-09")
    after, outcome = when(older, decided)
    assert outcome.kind == APPLIED, outcome.reasons
    penalty = after["records"]["penalties"][ev.key_of("P-1")]
    assert (penalty["status"], penalty["repaired_on"], penalty["pending_repair"]) == ("REPAIRED", "2025-01-09", None)
    assert penalty["history"][-1] == {"event": "RepairDecided", "occurred_on": "2025-01-09",
                                      "event_id": decided["event_id"], "offset": 4, "repair_id": "R-1",
                                      "outcome": "APPROVED"}


def test_a_repair_request_may_name_a_retracted_commitment_beside_it():
    # commitment_id is a reference to the CREDIT_REPAIR commitment that goes with the request, not an act on it
    state = given(*fulfilled_penalty(), ev.commitment_made("C-1", "2025-01-02"),
                  ev.objection_filed("O-1", "C-1", "2025-01-03"),
                  ev.objection_resolved("O-1", "C-1", outcome="UPHELD_WITHDRAWN", on="2025-01-04"))
    assert state["records"]["commitments"][ev.key_of("C-1")]["status"] == "RETRACTED"
    requested = ev.repair_requested("R-1", "P-1", "2025-01-06", commitment_id="C-1")
    after, outcome = when(state, requested)
    assert outcome.kind == APPLIED, outcome.reasons
    repair = after["repairs"][ev.key_of("R-1")]
    assert (repair["record_id"], repair["commitment_id"], repair["status"]) == ("P-1", "C-1", "PENDING")


def test_a_second_grant_under_one_id_is_refused_in_words():
    rejected_by(given(ev.query_authorized("Q-1")), ev.query_authorized("Q-1", "2025-01-07"), "payload.grant_id",
                rule="duplicate_id", message="grant Q-1 already exists")
