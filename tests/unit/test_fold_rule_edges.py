"""The fold's rules on the paths the rule-by-rule tests (test_fold_rules.py) did not reach: a
commitment's breach repaired or ended, an objection two authorities hold under one id, a rating that
is not on file, an acceptance already overdue, a repair approved once its penalty was retracted.

Each pins the field, the rule and the words a department reads, as test_fold_rules.py's do.
"""
from __future__ import annotations

from projections.fold import credit_file, id_conflict
from projections.records import legal_representative
from tests.unit import events as ev
from tests.unit.test_fold_rules import applied, fulfilled_penalty, given, rejected_by, when
from tests.unit.test_ownership import CREDIT_OFFICE, OTHER, by

BREACHED = (ev.commitment_made("C-1", "2025-01-06"), ev.commitment_breached("C-1", "2025-02-03"))


def test_a_repaired_breach_is_not_repaired_again():
    state = given(*BREACHED, ev.repair_requested("R-1", "C-1", on="2025-05-03"),
                  ev.repair_decided("R-1", "C-1", on="2025-05-09"))
    rejected_by(state, ev.repair_requested("R-2", "C-1", on="2025-05-10"), "payload.record_id",
                rule="already_repaired", message="repaired on 2025-05-09")


def test_a_breach_whose_period_of_effect_ended_has_nothing_left_to_repair():
    ended = given(*BREACHED, ev.publicity_ended("C-1", on="2026-02-03"))
    rejected_by(ended, ev.repair_requested("R-1", "C-1", on="2026-02-04"), "payload.record_id",
                rule="not_on_display", message="its period of effect has ended: there is nothing left to repair")


def test_publicity_ends_only_for_a_breached_commitment():
    rejected_by(given(ev.commitment_made("C-1", "2025-01-06")), ev.publicity_ended("C-1"), "payload.record_id",
                rule="not_on_display", message="the commitment is OPEN")
    fulfilled = given(ev.commitment_made("C-1", "2025-01-06"), ev.commitment_fulfilled("C-1", "2025-01-31"))
    rejected_by(fulfilled, ev.publicity_ended("C-1"), "payload.record_id",
                rule="not_on_display", message="the commitment is FULFILLED")
    applied(given(*BREACHED), ev.publicity_ended("C-1", on="2026-02-03"))


def test_an_objection_two_other_authorities_hold_under_one_id_is_ambiguous():
    state = given(ev.penalty_imposed("P-1"), by(OTHER, ev.penalty_imposed("P-1", decision_no="A-1")),
                  ev.objection_filed("O-1", "P-1"), by(OTHER, ev.objection_filed("O-1", "P-1")))
    words = "O-1 names no record of this authority, and records of 1141010074945707X4, 1141010087525218XA"
    for act in (ev.objection_resolved, ev.objection_accepted):
        rejected_by(state, by(CREDIT_OFFICE, act("O-1", "P-1")), "payload.objection_id", rule="ambiguous_record",
                    message=words)
    applied(state, ev.objection_resolved("O-1", "P-1"))  # each authority still reaches its own


def test_a_rating_not_on_file_does_not_expire():
    rejected_by(given(), ev.rating_expired("G-404"), "payload.rating_id", rule="unknown_record",
                message="no rating 'G-404' in this credit file")


def test_an_acceptance_is_overdue_once():
    filed = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"))
    overdue = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-1", "P-1"),
                    ev.processing_overdue("OBJECTION_ACCEPTANCE", "O-1", on="2025-01-07"))
    assert overdue["objections"] != filed["objections"]
    rejected_by(overdue, ev.processing_overdue("OBJECTION_ACCEPTANCE", "O-1", on="2025-01-08"), "payload.ref_id",
                rule="already_overdue", message="the objection's acceptance is overdue since 2025-01-06")


def test_a_repair_is_not_approved_once_its_penalty_was_retracted():
    requested = (*fulfilled_penalty(), ev.repair_requested("R-1", "P-1", "2025-01-06"),
                 ev.repair_accepted("R-1", "P-1", "2025-01-06"))
    retracted = given(*requested, ev.objection_filed("O-1", "P-1", "2025-01-07"),
                      ev.objection_resolved("O-1", "P-1", outcome="UPHELD_WITHDRAWN"))
    rejected_by(retracted, ev.repair_decided("R-1", "P-1", on="2025-01-09"), "payload.record_id",
                rule="record_retracted", message="penalty P-1 was retracted")
    # a rejection only closes the application, whatever became of the penalty
    file = applied(retracted, ev.repair_decided("R-1", "P-1", outcome="REJECTED", on="2025-01-09"))
    assert [(r["repair_id"], r["status"]) for r in file["pending"]["repairs"]] == []


# --- what the fold keeps, whole -----------------------------------------------------------------------
def test_a_measure_case_is_kept_whole_on_the_entry_and_under_its_own_id():
    feedback = ev.measure_feedback()
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN", "PUBLIC_NOTICE"]),
                  feedback)
    case = {"case_id": "K-1", "measure": "BIDDING_BAN", "outcome": "APPLIED", "matter": "郑建招〔2025〕7号标段",
            "result": "不予通过投标资格审查", "authority_code": ev.HOUSING, "occurred_on": "2025-02-03",
            "event_id": feedback["event_id"], "offset": 2}
    assert state["measure_cases"] == {ev.key_of("K-1", ev.HOUSING): {"entry_key": ev.key_of("L-1"), **case}}
    entry = state["records"]["lists"][ev.key_of("L-1")]
    assert entry["feedback"] == [case]
    assert entry["history"][-1] == {"event": "MeasureApplied", "occurred_on": "2025-02-03",
                                    "event_id": feedback["event_id"], "offset": 2, "measure": "BIDDING_BAN",
                                    "outcome": "APPLIED"}


def test_a_state_stored_before_the_first_measure_case_takes_one():
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN"]))
    older = {key: value for key, value in state.items() if key != "measure_cases"}
    after = when(older, ev.measure_feedback())[0]
    assert list(after["measure_cases"]) == [ev.key_of("K-1", ev.HOUSING)]


def test_an_expired_rating_keeps_the_valid_to_it_expired_at():
    expiry = ev.rating_expired("G-1", "2024-12-31", on="2025-01-01")
    state = given(ev.rating_assigned("G-1", "2024-01-02", valid_to="2024-12-31"), expiry)
    rating = state["records"]["ratings"][ev.key_of("G-1")]
    assert (rating["status"], rating["expired_on"], rating["valid_to"]) == ("EXPIRED", "2025-01-01", "2024-12-31")
    assert rating["history"] == [{"event": "RatingExpired", "occurred_on": "2025-01-01",
                                  "event_id": expiry["event_id"], "offset": 2, "valid_to": "2024-12-31"}]


def test_a_revoked_record_keeps_its_reason_day_and_history():
    revoke = ev.penalty_revoked("P-1", "2025-01-08")
    state = given(ev.penalty_imposed("P-1"), revoke)
    penalty = state["records"]["penalties"][ev.key_of("P-1")]
    reason = revoke["payload"]["reason"]
    assert (penalty["status"], penalty["revoked_on"], penalty["revocation_reason"]) == ("REVOKED", "2025-01-08", reason)
    assert penalty["history"] == [{"event": "PenaltyRevoked", "occurred_on": "2025-01-08",
                                   "event_id": revoke["event_id"], "offset": 2, "reason": reason}]
    permit = given(ev.permit_granted("X-1"), ev.permit_revoked("X-1", "2025-01-08"))["records"]["permits"]
    assert permit[ev.key_of("X-1")]["status"] == "REVOKED"
    rejected_by(state, ev.penalty_revoked("P-1", "2025-01-09"), "payload.record_id", rule="already_revoked",
                message="revoked on 2025-01-08")


def test_the_legal_representative_is_the_latest_registration_that_names_one():
    def registered(name):
        payload = {"legal_representative": name} if name else {}
        return {"offset": 0, "event": {"type": "SubjectRegistered", "payload": payload}}
    other = {"offset": 1, "event": {"type": "PenaltyImposed", "payload": {"legal_representative": "王五"}}}
    assert legal_representative([registered("张三"), registered("李四")]) == "李四"
    assert legal_representative([registered("张三"), registered(None), other, {"offset": 2}]) == "张三"
    assert legal_representative([other, {"offset": 3, "event": None}]) is None


def test_an_event_id_conflict_needs_a_known_id_with_other_content():
    first = ev.penalty_imposed("P-1")
    state = given(first)
    assert id_conflict(state, ev.penalty_imposed("P-2")) is None  # an id not seen
    assert id_conflict(state, first) is None  # the same event again
    changed = {**first, "payload": {**first["payload"], "fine_fen": 1}}
    assert id_conflict(state, changed).as_dict() == {
        "field": "event_id", "rule": "event_id_conflict",
        "message": f"{first['event_id']} is the id of another event, applied at offset 1"}
    # a state stored when only the offset was kept (-1: no content digest to compare) conflicts with nothing
    older = {**state, "seen_event_ids": {key: -1 for key in state["seen_event_ids"]}}
    assert id_conflict(older, changed) is None
    assert id_conflict(None, changed) is None


def test_a_new_state_is_empty_and_as_of_no_offset():
    from projections.fold import GENESIS_HEAD, new_state
    subject = ev.subject_registered()["subject"]
    assert new_state(subject) == {
        "subject": {"id": subject["id"], "kind": subject["kind"]}, "counts": {},
        "chain": {"length": 0, "head": GENESIS_HEAD}, "as_of": {"offset": -1, "recorded_at": None},
        "public_as_of": None, "seen_event_ids": {}, "rejected": [], "rejected_total": 0,
        "records": {"permits": {}, "penalties": {}, "commitments": {}, "lists": {}, "ratings": {}},
        "objections": {}, "repairs": {}, "decisions": {}, "grants": {}, "scoped_ids": True, "state_version": 2}


def test_an_events_content_digest_covers_what_makes_it_the_same_event():
    import hashlib

    from projections.canonical import canonical_bytes
    from projections.fold import content_digest
    event = ev.penalty_imposed("P-1")
    content = {"type": "PenaltyImposed", "subject": [event["subject"]["id"], event["subject"]["kind"]],
               "authority_code": ev.AUTHORITY, "occurred_on": event["occurred_on"],
               "classification": event["classification"], "payload": event["payload"]}
    assert content_digest(event) == hashlib.sha256(canonical_bytes(content)).hexdigest()[:16]


def _provenance(event: dict, offset: int) -> dict:
    return {"occurred_on": event["occurred_on"], "classification": event["classification"], "source": event["source"],
            "event_id": event["event_id"], "offset": offset, "recorded_at": event["recorded_at"]}


def test_an_objection_and_a_repair_are_kept_whole():
    filed = ev.objection_filed("O-1", "P-1")
    objection = given(ev.penalty_imposed("P-1"), filed)["objections"][ev.key_of("O-1")]
    assert objection == {**filed["payload"], **_provenance(filed, 2), "record_kind": "penalties",
                         "filed_on": filed["occurred_on"], "status": "PENDING", "overdue": False,
                         "overdue_due_on": None, "resolved_on": None, "outcome": None, "correction": None,
                         "accepted_on": None, "acceptance_overdue": False}
    requested = ev.repair_requested("R-1", "P-1", "2025-01-06")
    pending = {**requested["payload"], **_provenance(requested, 3), "requested_on": "2025-01-06",
               "status": "PENDING", "overdue": False, "overdue_due_on": None, "decided_on": None, "outcome": None,
               "reason": None, "record_kind": "penalties", "accepted_on": None, "acceptance_overdue": False}
    assert given(*fulfilled_penalty(), requested)["repairs"][ev.key_of("R-1")] == pending
    decided = ev.repair_decided("R-1", "P-1", outcome="REJECTED", on="2025-01-08")
    repair = given(*fulfilled_penalty(), requested, decided)["repairs"][ev.key_of("R-1")]
    assert repair == {**pending, "status": "REJECTED", "outcome": "REJECTED", "decided_on": "2025-01-08",
                      "reason": decided["payload"]["reason"], "decided_event_id": decided["event_id"]}


def test_a_record_arriving_in_time_withdraws_no_overdue_notice():
    number = ev.decision_no("P-1")
    registered = ev.decision_registered(number, on="2025-01-02")
    decision = given(registered, ev.penalty_imposed("P-1", "2025-01-02"))["decisions"][ev.key_of(number)]
    assert "overdue_withdrawn_by" not in decision
    assert (decision["arrived"], decision["late"], decision["overdue"]) == (True, False, False)


def test_a_decision_names_the_repair_about_its_record_among_other_authorities_ones():
    state = given(*fulfilled_penalty(), by(OTHER, ev.penalty_imposed("P-2", "2024-06-03", decision_no="A-2")),
                  by(OTHER, ev.penalty_fulfilled("P-2", "2024-06-03")), ev.repair_requested("R-1", "P-1", "2025-01-06"),
                  by(OTHER, ev.repair_requested("R-1", "P-2", "2025-01-06")))
    file = applied(state, by(CREDIT_OFFICE, ev.repair_decided("R-1", "P-1", outcome="REJECTED")))
    assert [(r["source"]["authority_code"], r["record_id"]) for r in file["pending"]["repairs"]] == [(OTHER, "P-2")]


def test_publicity_ended_keeps_its_day_and_reason():
    ended = ev.publicity_ended("P-1", on="2025-01-08")
    penalty = given(ev.penalty_imposed("P-1", "2024-06-03"), ended)["records"]["penalties"][ev.key_of("P-1")]
    reason = ended["payload"]["reason"]
    assert (penalty["status"], penalty["publicity_ended_on"], penalty["publicity_end_reason"]) == (
        "PUBLICITY_ENDED", "2025-01-08", reason)
    assert penalty["history"] == [{"event": "PublicityEnded", "occurred_on": "2025-01-08",
                                   "event_id": ended["event_id"], "offset": 2, "reason": reason}]


def test_a_rating_that_expired_before_it_reached_the_ledger_is_expired_on_its_arrival():
    late = {**ev.rating_assigned("G-9", "2020-01-02", valid_to="2021-12-31"), "recorded_at": "2025-01-07T09:00:00+08:00"}
    rating = given(late)["records"]["ratings"][ev.key_of("G-9")]
    assert (rating["status"], rating["expired_on"]) == ("EXPIRED", "2025-01-07")


def test_a_decision_kept_whole_from_registration_to_its_overdue_notice():
    number = ev.decision_no("P-1")
    registered = ev.decision_registered(number, on="2025-01-02")
    overdue = ev.disclosure_overdue(number, due_on="2025-01-13", on="2025-01-14")
    decision = given(registered, overdue)["decisions"][ev.key_of(number)]
    assert decision == {"decision_no": number, "decision_kind": "PENALTY", "registered": True,
                        "decided_on": "2025-01-02", "authority_code": ev.AUTHORITY, "source": registered["source"],
                        "registered_event_id": registered["event_id"], "offset": 1, "arrived": False,
                        "record_id": None, "record_decided_on": None, "arrived_on": None, "due_on": "2025-01-13",
                        "due_provisional": False, "late": None, "overdue": True,
                        "overdue_event_id": overdue["event_id"]}


def test_a_record_under_objection_notes_the_objection_at_its_offset():
    filed = ev.objection_filed("O-1", "P-1")
    penalty = given(ev.penalty_imposed("P-1"), filed)["records"]["penalties"][ev.key_of("P-1")]
    assert penalty["history"] == [{"event": "ObjectionFiled", "occurred_on": filed["occurred_on"],
                                   "event_id": filed["event_id"], "offset": 2, "objection_id": "O-1"}]


def test_an_overdue_commitment_keeps_its_due_day_and_history():
    overdue = ev.commitment_overdue("C-1", due_on="2025-01-31", on="2025-02-01")
    state = given(ev.commitment_made("C-1", "2025-01-06", due_on="2025-01-31"), overdue)
    commitment = state["records"]["commitments"][ev.key_of("C-1")]
    assert (commitment["status"], commitment["ended_on"], commitment["due_on"]) == ("OVERDUE", "2025-02-01", "2025-01-31")
    assert commitment["history"] == [{"event": "CommitmentOverdue", "occurred_on": "2025-02-01",
                                      "event_id": overdue["event_id"], "offset": 2, "due_on": "2025-01-31"}]


def test_the_credit_file_shows_list_entries_in_the_order_they_arrived():
    file = credit_file(given(ev.list_entered("L-2"), ev.list_entered("L-1")))
    assert [entry["entry_id"] for entry in file["records"]["lists"]] == ["L-2", "L-1"]
    assert [entry["measure_details"][0]["code"] for entry in file["records"]["lists"]] == ["PUBLIC_NOTICE"] * 2


def test_the_subject_keeps_its_name_when_a_later_event_names_none_and_takes_a_new_one():
    state = given(ev.penalty_imposed("P-1"))
    assert state["subject"]["name"] == "郑州金水宏达机械制造有限公司"
    nameless = ev.permit_granted("X-1")
    nameless["subject"] = {key: value for key, value in nameless["subject"].items() if key != "name"}
    state, _ = when(state, nameless)
    assert state["subject"]["name"] == "郑州金水宏达机械制造有限公司"
    renamed = ev.permit_granted("X-2")
    renamed["subject"] = {**renamed["subject"], "name": "郑州金水宏达重工有限公司"}
    state, _ = when(state, renamed)
    assert state["subject"]["name"] == "郑州金水宏达重工有限公司"
