"""What the fold writes into a credit file, compared whole: the history entry an event leaves on its record
(its day, event id, offset and details), the fields an event sets on a decision, a grant, an objection, a
repair, a rating, an inspection or a measure case, the tables a state stored before them takes on, the
boundaries of a rating's validity and of the ratings it supersedes, and the words a refusal of a measure's
feedback or of an acceptance reads. Each expected value is written out in full, so that a field dropped,
renamed or left empty shows.
"""
from __future__ import annotations

from projections import records
from tests.unit import events as ev
from tests.unit.test_fold_rules import fulfilled_penalty, given, rejected_by, when

SOURCE = {"authority_code": ev.AUTHORITY, "authority_name": "郑州市市场监督管理局"}
CREDIT_OFFICE_SOURCE = {"authority_code": ev.CREDIT_OFFICE, "authority_name": "郑州市发展和改革委员会"}


def _entry(event: dict, offset: int, **details) -> dict:
    """A history entry: the event's type and day as written in the test, its id, the offset it was applied at."""
    return {"event": event["type"], "occurred_on": event["occurred_on"], "event_id": event["event_id"],
            "offset": offset, **details}


# --- commitments --------------------------------------------------------------------------------------
def test_a_breached_commitment_keeps_its_breach_in_its_history():
    breach = ev.commitment_breached("C-1", "2025-02-03", false_commitment=True)
    commitment = given(ev.commitment_made("C-1", "2025-01-06"), breach)["records"]["commitments"][ev.key_of("C-1")]
    assert (commitment["status"], commitment["ended_on"], commitment["breach"], commitment["false_commitment"]) == (
        "BREACHED", "2025-02-03", "未在承诺期限内履行承诺事项", True)
    assert commitment["history"] == [{"event": "CommitmentBreached", "occurred_on": "2025-02-03",
                                      "event_id": breach["event_id"], "offset": 2, "false_commitment": True}]


def test_an_overdue_commitment_counted_in_working_days_takes_the_timers_due_day():
    overdue = ev.commitment_overdue("C-1", due_on="2025-01-20", on="2025-01-21")
    state = given(ev.commitment_made("C-1", "2025-01-06", due_working_days=10), overdue)
    commitment = state["records"]["commitments"][ev.key_of("C-1")]
    assert (commitment["status"], commitment["ended_on"], commitment["due_on"], commitment["due_working_days"]) == (
        "OVERDUE", "2025-01-21", "2025-01-20", 10)
    assert commitment["history"] == [{"event": "CommitmentOverdue", "occurred_on": "2025-01-21",
                                      "event_id": overdue["event_id"], "offset": 2, "due_on": "2025-01-20"}]


# --- decisions ----------------------------------------------------------------------------------------
def test_a_disclosure_overdue_notice_sets_the_due_day_the_timer_counted():
    # the timer counted on a calendar the operator amended after the registration: its due day is the one kept
    number = ev.decision_no("P-1")
    overdue = ev.disclosure_overdue(number, due_on="2025-01-15", on="2025-01-16")
    decision = given(ev.decision_registered(number, on="2025-01-02"), overdue)["decisions"][ev.key_of(number)]
    assert (decision["due_on"], decision["overdue"], decision["overdue_event_id"]) == (
        "2025-01-15", True, overdue["event_id"])


# --- inspections --------------------------------------------------------------------------------------
def test_every_inspection_is_kept_whole_beside_the_earlier_ones():
    first = ev.inspection_recorded("CC-1")
    second = ev.inspection_recorded("CC-2", "PROBLEM_FOUND", on="2025-02-03", findings="消防通道堵塞")
    state = given(first, second)
    assert state["inspections"] == {
        ev.key_of("CC-1"): {"inspection_id": "CC-1", "outcome": "NO_PROBLEM", "inspectors": ["ZF001", "ZF002"],
                            "occurred_on": "2025-01-06", "classification": "PUBLIC", "source": SOURCE,
                            "event_id": first["event_id"], "offset": 1, "recorded_at": "2025-01-06T10:00:00+08:00"},
        ev.key_of("CC-2"): {"inspection_id": "CC-2", "outcome": "PROBLEM_FOUND", "inspectors": ["ZF001", "ZF002"],
                            "findings": "消防通道堵塞", "occurred_on": "2025-02-03", "classification": "PUBLIC",
                            "source": SOURCE, "event_id": second["event_id"], "offset": 2,
                            "recorded_at": "2025-02-03T10:00:00+08:00"}}


def test_a_state_stored_before_the_first_inspection_takes_one():
    state = given(ev.penalty_imposed("P-1"))
    assert "inspections" not in state
    after = when(state, ev.inspection_recorded("CC-1"))[0]
    after = when(after, ev.inspection_recorded("CC-2"))[0]
    assert list(after["inspections"]) == [ev.key_of("CC-1"), ev.key_of("CC-2")]


# --- lists and joint measures -------------------------------------------------------------------------
def test_an_exited_list_entry_keeps_its_exit_reason_in_its_history():
    exit_ = ev.list_exited("L-1", "2025-03-03")
    entry = given(ev.list_entered("L-1"), exit_)["records"]["lists"][ev.key_of("L-1")]
    assert (entry["status"], entry["ended_on"], entry["exit_reason"]) == ("EXITED", "2025-03-03", "已补报并公示年度报告")
    assert entry["history"] == [{"event": "ListExited", "occurred_on": "2025-03-03", "event_id": exit_["event_id"],
                                 "offset": 2, "reason": "已补报并公示年度报告"}]


def test_a_list_entry_whose_term_ended_logs_it_at_its_offset():
    ended = ev.list_term_ended("L-1", on="2025-07-01")
    entry = given(ev.list_entered("L-1", term_until="2025-06-30"), ended)["records"]["lists"][ev.key_of("L-1")]
    assert (entry["status"], entry["ended_on"]) == ("TERM_ENDED", "2025-07-01")
    assert entry["history"] == [{"event": "ListTermEnded", "occurred_on": "2025-07-01",
                                 "event_id": ended["event_id"], "offset": 2}]


def test_each_measure_case_is_kept_beside_the_earlier_ones_even_in_a_state_stored_before_them():
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN"]))
    older = {key: value for key, value in state.items() if key != "measure_cases"}
    after = when(older, ev.measure_feedback(case_id="K-1"))[0]
    after = when(after, ev.measure_feedback("MeasureDeclined", case_id="K-2", on="2025-02-04"))[0]
    assert {key: (case["case_id"], case["outcome"], case["offset"]) for key, case in after["measure_cases"].items()} \
        == {ev.key_of("K-1", ev.HOUSING): ("K-1", "APPLIED", 2), ev.key_of("K-2", ev.HOUSING): ("K-2", "DECLINED", 3)}


def test_feedback_on_a_measure_the_entry_lacks_names_every_measure_it_carries():
    state = given(ev.list_entered("L-1", measures=["PUBLIC_NOTICE", "ENHANCED_INSPECTION"]))
    rejected_by(state, ev.measure_feedback(), "payload.measure", rule="measure_not_on_entry",
                message="entry L-1 carries PUBLIC_NOTICE, ENHANCED_INSPECTION")


def test_feedback_on_an_entry_that_carries_no_measure_says_so(monkeypatch):
    # a catalogue of joint measures may name no defaults for a list kind: an entry of it naming none carries none
    monkeypatch.setattr(records, "DEFAULT_MEASURES", {})
    entered = ev.valid("ListEntered", {"entry_id": "L-1", "list_kind": "ABNORMAL_OPERATION",
                                       "reason": "未按照规定期限公示年度报告"})
    state = given(entered)
    assert state["records"]["lists"][ev.key_of("L-1")]["measures"] == []
    rejected_by(state, ev.measure_feedback(), "payload.measure", rule="measure_not_on_entry",
                message="entry L-1 carries no measure")


# --- query authorisations -----------------------------------------------------------------------------
def test_a_query_grant_is_kept_whole_and_its_revocation_names_its_event():
    granted = ev.query_authorized("Q-1", "2025-01-06")
    grant = {"grant_id": "Q-1", "grantee": ev.BANK, "scope": ["penalties"], "valid_until": "2025-12-31",
             "authorisation_ref": "授权书-Q-1", "occurred_on": "2025-01-06", "classification": "INTERNAL",
             "source": CREDIT_OFFICE_SOURCE, "event_id": granted["event_id"], "offset": 1,
             "recorded_at": "2025-01-06T10:00:00+08:00", "granted_on": "2025-01-06", "revoked": False,
             "revoked_on": None}
    assert given(granted)["grants"] == {ev.key_of("Q-1", ev.CREDIT_OFFICE): grant}
    revoked = ev.query_authorization_revoked("Q-1", "2025-03-03")
    assert given(granted, revoked)["grants"] == {ev.key_of("Q-1", ev.CREDIT_OFFICE): {
        **grant, "revoked": True, "revoked_on": "2025-03-03", "revoked_event_id": revoked["event_id"]}}


# --- ratings ------------------------------------------------------------------------------------------
def test_a_rating_valid_to_the_day_it_arrives_is_current_and_kept_whole():
    assigned = ev.rating_assigned("G-1", "2025-01-06", valid_to="2025-01-06")
    assert given(assigned)["records"]["ratings"] == {ev.key_of("G-1"): {
        "rating_id": "G-1", "rating_kind": "TAX", "level": "A", "valid_from": "2025-01-06", "valid_to": "2025-01-06",
        "occurred_on": "2025-01-06", "classification": "PUBLIC", "source": SOURCE, "event_id": assigned["event_id"],
        "offset": 1, "recorded_at": "2025-01-06T10:00:00+08:00", "status": "ACTIVE", "history": [],
        "superseded_by": None, "pending_objection": None, "status_before_objection": None}}


def test_a_newer_rating_supersedes_the_current_one_of_its_kind_past_ratings_of_other_kinds():
    newer = ev.rating_assigned("G-2", "2025-03-03")
    state = given(ev.rating_assigned("G-0", "2025-01-06", rating_kind="ENVIRONMENT"),
                  ev.rating_assigned("G-1", "2025-01-06"), newer)
    ratings = state["records"]["ratings"]
    assert {key: (r["status"], r["superseded_by"]) for key, r in ratings.items()} == {
        ev.key_of("G-0"): ("ACTIVE", None), ev.key_of("G-1"): ("SUPERSEDED", "G-2"), ev.key_of("G-2"): ("ACTIVE", None)}
    assert ratings[ev.key_of("G-1")]["history"] == [{"event": "RatingAssigned", "occurred_on": "2025-03-03",
                                                     "event_id": newer["event_id"], "offset": 3,
                                                     "superseded_by": "G-2"}]
    assert ratings[ev.key_of("G-0")]["history"] == []


def test_a_rating_valid_from_the_same_day_supersedes_the_current_one():
    state = given(ev.rating_assigned("G-1", "2025-01-06"), ev.rating_assigned("G-2", "2025-01-06"))
    assert {key: (r["status"], r["superseded_by"]) for key, r in state["records"]["ratings"].items()} == {
        ev.key_of("G-1"): ("SUPERSEDED", "G-2"), ev.key_of("G-2"): ("ACTIVE", None)}


# --- repairs and acceptances --------------------------------------------------------------------------
def test_a_repair_request_and_its_decision_are_noted_in_the_penalty_history():
    requested = ev.repair_requested("R-1", "P-1", "2025-01-06")
    decided = ev.repair_decided("R-1", "P-1", on="2025-01-09")
    state = given(*fulfilled_penalty(), requested)
    penalty = state["records"]["penalties"][ev.key_of("P-1")]
    assert penalty["pending_repair"] == "R-1"
    assert penalty["history"][1:] == [{"event": "RepairRequested", "occurred_on": "2025-01-06",
                                       "event_id": requested["event_id"], "offset": 3, "repair_id": "R-1"}]
    penalty = when(state, decided)[0]["records"]["penalties"][ev.key_of("P-1")]
    assert (penalty["status"], penalty["repaired_on"], penalty["pending_repair"]) == ("REPAIRED", "2025-01-09", None)
    assert penalty["history"][1:] == [
        {"event": "RepairRequested", "occurred_on": "2025-01-06", "event_id": requested["event_id"], "offset": 3,
         "repair_id": "R-1"},
        {"event": "RepairDecided", "occurred_on": "2025-01-09", "event_id": decided["event_id"], "offset": 4,
         "repair_id": "R-1", "outcome": "APPROVED"}]


def test_an_acceptance_keeps_the_day_and_the_event_that_accepted():
    requested = ev.repair_requested("R-1", "P-1", "2025-01-06")
    accepted = ev.repair_accepted("R-1", "P-1", "2025-01-07")
    repair = given(*fulfilled_penalty(), requested, accepted)["repairs"][ev.key_of("R-1")]
    assert repair == {"repair_id": "R-1", "record_id": "P-1", "corrective_actions": "已缴清罚款并完成整改",
                      "occurred_on": "2025-01-06", "classification": "INTERNAL", "source": SOURCE,
                      "event_id": requested["event_id"], "offset": 3, "recorded_at": "2025-01-06T10:00:00+08:00",
                      "requested_on": "2025-01-06", "status": "PENDING", "overdue": False, "overdue_due_on": None,
                      "decided_on": None, "outcome": None, "reason": None, "record_kind": "penalties",
                      "accepted_on": "2025-01-07", "acceptance_overdue": False,
                      "accepted_event_id": accepted["event_id"]}
    filed = ev.objection_filed("O-1", "P-1", "2025-01-06")
    taken = ev.objection_accepted("O-1", "P-1", "2025-01-08")
    objection = given(ev.penalty_imposed("P-1"), filed, taken)["objections"][ev.key_of("O-1")]
    assert objection == {"objection_id": "O-1", "record_id": "P-1", "grounds": "违法事实认定不清",
                         "occurred_on": "2025-01-06", "classification": "INTERNAL", "source": SOURCE,
                         "event_id": filed["event_id"], "offset": 2, "recorded_at": "2025-01-06T10:00:00+08:00",
                         "record_kind": "penalties", "filed_on": "2025-01-06", "status": "PENDING", "overdue": False,
                         "overdue_due_on": None, "resolved_on": None, "outcome": None, "correction": None,
                         "accepted_on": "2025-01-08", "acceptance_overdue": False,
                         "accepted_event_id": taken["event_id"]}


def test_an_acceptance_of_a_repair_not_on_file_is_refused():
    state = given(*fulfilled_penalty())
    rejected_by(state, ev.repair_accepted("R-404", "P-1"), "payload.repair_id", rule="unknown_repair",
                message="no repair application R-404")
