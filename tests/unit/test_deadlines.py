"""Deadlines: when each falls due on the official calendar, what fires, and replay with a clock."""
from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from projections.deadlines import (DISCLOSURE, ESCALATION, KINDS, TIMER_SYSTEM, due_by, pending_deadlines,
                                   system_event)
from projections.fold import APPLIED, DUPLICATE, credit_file
from projections.policy import DEFAULT_POLICY
from projections.replay import replay, step
from tests.unit import events as ev
from tests.unit.test_fold import mixed_log
from tests.unit.test_fold_rules import given


def at(text: str) -> datetime:
    return datetime.fromisoformat(text if "T" in text else f"{text}T00:00:00+08:00")


def local(ref: str) -> str:
    """A deadline's ref is the key of what fell due (records.key): this test's authority's, by its id."""
    authority, _, local_id = ref.partition("/")
    assert authority == ev.AUTHORITY, ref
    return local_id


def pending(state: dict) -> list[tuple[str, str, str, bool]]:
    return [(d.kind, local(d.ref), d.due_on, d.provisional) for d in pending_deadlines(state, DEFAULT_POLICY)]


def fire(state: dict, kind: str, ref: str) -> tuple[dict, dict]:
    """Fire one pending deadline at its instant, as a timer would; returns (new state, the event)."""
    (deadline,) = [d for d in pending_deadlines(state, DEFAULT_POLICY) if (d.kind, local(d.ref)) == (kind, ref)]
    event = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
    done = step(lambda _: state, event, state["as_of"]["offset"] + 1)
    assert done.outcome == APPLIED, done.problems
    again = step(lambda _: done.state, event, done.state["as_of"]["offset"] + 1)
    assert again.outcome == DUPLICATE  # a second firing (restart, rebalance) changes nothing
    assert (kind, ref) not in {(d.kind, local(d.ref)) for d in pending_deadlines(done.state, DEFAULT_POLICY)}
    return done.state, done.event


# --- when each deadline falls due ---------------------------------------------------------------
def test_a_registered_decision_is_due_seven_working_days_later_and_fires_disclosure_overdue():
    # 2024-09-27 (Fri): 29 Sep (Sun) is a 调休 workday, 1-7 Oct the National Day holiday, 12 Oct (Sat) a workday
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2024-09-27"))
    assert pending(state) == [(DISCLOSURE, ev.decision_no("P-1"), "2024-10-12", False)]
    state, event = fire(state, DISCLOSURE, ev.decision_no("P-1"))
    assert event["type"] == "DisclosureOverdue" and event["occurred_on"] == "2024-10-13"
    assert event["recorded_at"] == "2024-10-13T00:00:00+08:00" and event["source"]["system"] == TIMER_SYSTEM
    assert event["source"]["authority_code"] == ev.AUTHORITY  # counted against the deciding authority
    (decision,) = credit_file(state)["decisions"]
    assert decision["overdue"] and decision["due_on"] == "2024-10-12"


def test_a_record_arriving_stops_the_disclosure_deadline():
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"), ev.penalty_imposed("P-1", "2025-01-02"))
    assert DISCLOSURE not in {kind for kind, *_ in pending(state)}


def test_a_record_arriving_after_disclosure_overdue_is_still_taken_and_marked_late():
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"))
    state, _ = fire(state, DISCLOSURE, ev.decision_no("P-1"))
    late = step(lambda _: state, ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-20T10:00:00+08:00"), 99)
    assert late.outcome == APPLIED and late.state["records"]["penalties"][ev.key_of("P-1")]["late"] is True


@pytest.mark.parametrize("fields, due_on", [
    ({"due_on": "2025-03-31"}, "2025-03-31"),
    ({"due_working_days": 20}, "2025-02-08"),  # from Mon 2025-01-06 across 春节: 26 Jan (Sun) works, 28 Jan - 4 Feb rest, the 20th is Sat 8 Feb (调休)
])
def test_an_open_commitment_with_a_due_date_fires_commitment_overdue(fields, due_on):
    state = given(ev.commitment_made("C-1", "2025-01-06", **fields))
    assert ("COMMITMENT", "C-1", due_on, False) in pending(state)
    state, event = fire(state, "COMMITMENT", "C-1")
    assert event["payload"] == {"commitment_id": "C-1", "due_on": due_on}
    commitment = state["records"]["commitments"][ev.key_of("C-1")]
    assert commitment["status"] == "OVERDUE" and commitment["ended_on"] > due_on


def test_a_kept_commitment_or_one_with_no_due_date_has_no_deadline():
    assert pending(given(ev.commitment_made("C-1"))) == []
    assert pending(given(ev.commitment_made("C-1", due_on="2025-03-31"), ev.commitment_fulfilled("C-1"))) == []


@pytest.mark.parametrize("decided, fields, last_day, reason", [
    ("2024-05-06", {}, "2027-05-05", "最长公示期 36 个月"),
    ("2024-02-29", {}, "2027-02-27", "最长公示期 36 个月"),  # 2027-02-29 does not exist: clamped to the 28th
    ("2024-05-06", {"publicity_until": "2025-05-06"}, "2025-05-06", "公示截止日期 2025-05-06"),
    ("2024-05-06", {"publicity_until": "2030-01-01"}, "2027-05-05", "最长公示期 36 个月"),  # never past the maximum
])
def test_publicity_ends_after_the_maximum_or_the_decision_s_own_end(decided, fields, last_day, reason):
    state = given(ev.penalty_imposed("P-1", decided, **fields))
    assert ("PUBLICITY", "P-1", last_day, False) in pending(state)
    state, event = fire(state, "PUBLICITY", "P-1")
    assert reason in event["payload"]["reason"]
    assert state["records"]["penalties"][ev.key_of("P-1")]["status"] == "PUBLICITY_ENDED"


def test_a_repaired_or_revoked_penalty_leaves_display_with_no_timer():
    assert pending(given(ev.penalty_imposed(), ev.penalty_revoked())) == []


def test_a_penalty_under_objection_keeps_its_publicity_deadline_and_gains_the_objection_s():
    state = given(ev.penalty_imposed("P-1", "2025-01-06"), ev.objection_filed("O-1", "P-1", "2025-01-24"))
    # R13: accepted first, within 2 working days: Sun 26 Jan (调休) = 1, Mon 27 = 2
    assert pending(state) == [("OBJECTION_ACCEPTANCE", "O-1", "2025-01-27", False),
                              ("PUBLICITY", "P-1", "2028-01-05", False)]
    state = given(ev.penalty_imposed("P-1", "2025-01-06"), ev.objection_filed("O-1", "P-1", "2025-01-24"),
                  ev.objection_accepted("O-1", "P-1", "2025-01-24"))
    # then decided within 5 from acceptance, Fri 24 Jan 2025: 26, 27 Jan, 春节 28 Jan - 4 Feb rests, 5, 6, 7 Feb
    assert pending(state) == [("OBJECTION", "O-1", "2025-02-07", False), ("PUBLICITY", "P-1", "2028-01-05", False)]
    state, event = fire(state, "OBJECTION", "O-1")
    assert event["payload"] == {"kind": "OBJECTION", "ref_id": "O-1", "due_on": "2025-02-07"}
    objection = state["objections"][ev.key_of("O-1")]
    assert objection["overdue"] and objection["status"] == "PENDING"  # overdue, still to be decided


def test_a_pending_repair_is_due_in_five_working_days():
    state = given(*[ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_fulfilled("P-1", "2024-06-03")],
                  ev.repair_requested("R-1", "P-1", "2024-12-27"), ev.repair_accepted("R-1", "P-1", "2024-12-27"))
    # accepted Fri 27 Dec 2024: 30, 31 Dec, (1 Jan rests), 2, 3 Jan, 6 Jan
    assert ("REPAIR", "R-1", "2025-01-06", False) in pending(state)
    state, event = fire(state, "REPAIR", "R-1")
    assert state["repairs"][ev.key_of("R-1")]["overdue"] and event["classification"] == "INTERNAL"


def test_a_list_term_ends_the_day_after_term_until():
    state = given(ev.list_entered("L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05"))
    assert pending(state) == [("LIST_TERM", "L-1", "2025-07-05", False)]
    state, event = fire(state, "LIST_TERM", "L-1")
    assert event["occurred_on"] == "2025-07-06"
    assert state["records"]["lists"][ev.key_of("L-1")]["status"] == "TERM_ENDED"


def test_an_abnormal_operation_entry_active_for_three_years_escalates_to_serious_dishonesty():
    state = given(ev.list_entered("L-1", "2022-01-10"))
    assert pending(state) == [(ESCALATION, "L-1", "2025-01-09", False)]
    state, event = fire(state, ESCALATION, "L-1")
    assert event["type"] == "ListEntered" and event["occurred_on"] == "2025-01-10"
    entry = state["records"]["lists"][ev.key_of("L-1-SD")]
    assert entry["list_kind"] == "SERIOUS_DISHONESTY" and entry["basis_record_id"] == "L-1"
    assert entry["measures"] == list(DEFAULT_POLICY.escalation_measures)
    # R1: the new entry carries the policy's term (3 years on the list), and nothing escalates twice
    assert event["payload"]["term_until"] == entry["term_until"] == "2028-01-09"
    assert pending(state) == [("LIST_TERM", "L-1-SD", "2028-01-09", False)]
    exited = given(ev.list_entered("L-1", "2022-01-10"), ev.list_exited("L-1", "2023-01-10"))
    assert pending(exited) == []


def test_r1_the_escalation_ends_the_abnormal_entry_and_its_own_term_ends_the_hard_rule():
    from projections.grading import grade
    state = given(ev.list_entered("L-1", "2022-01-10"))
    state, _ = fire(state, ESCALATION, "L-1")
    abnormal = state["records"]["lists"][ev.key_of("L-1")]
    assert abnormal["status"] == "EXITED" and abnormal["ended_on"] == "2025-01-10"
    assert abnormal["escalated_to"] == "L-1-SD" and "严重违法失信名单" in abnormal["exit_reason"]
    graded = grade(state, DEFAULT_POLICY)  # -300 for the one listing, not -100 beside it; D by the hard rule
    assert graded["letter"] == "D" and graded["score"] == 700
    assert [r["rule"] for r in graded["reasons"]] == ["hard_rule", "list_entry"]
    state, event = fire(state, "LIST_TERM", "L-1-SD")
    assert event["type"] == "ListTermEnded" and event["occurred_on"] == "2028-01-10"
    graded = grade(state, DEFAULT_POLICY)  # the hard rule holds only while the entry is active
    assert (graded["letter"], graded["score"], graded["reasons"]) == ("A", 1000, [])
    assert pending(state) == []


@settings(max_examples=60, deadline=None)
@hypothesis_given(st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2060, 12, 31).date()))
def test_r1_a_serious_dishonesty_entry_without_a_term_ends_three_years_after_entry(day):
    from projections.policy import add_months
    on = day.isoformat()
    state = given(ev.list_entered("L-9", on, list_kind="SERIOUS_DISHONESTY"))
    (deadline,) = pending(state)
    last = add_months(day, DEFAULT_POLICY.term_months_by_kind["SERIOUS_DISHONESTY"]).toordinal() - 1
    assert deadline[:3] == ("LIST_TERM", "L-9", datetime.fromordinal(last).date().isoformat())


def test_r4_a_rating_expires_by_a_system_event_the_day_after_its_valid_to():
    from projections.grading import grade
    state = given(ev.rating_assigned("G-1", "2024-01-02", level="D", valid_to="2024-12-31"))
    assert pending(state) == [("RATING", "G-1", "2024-12-31", False)]
    state, event = fire(state, "RATING", "G-1")
    assert event["type"] == "RatingExpired" and event["occurred_on"] == "2025-01-01"
    assert event["payload"] == {"rating_id": "G-1", "valid_to": "2024-12-31"}
    assert grade(state, DEFAULT_POLICY)["score"] == DEFAULT_POLICY.start_score  # the change is in the log


def test_r4_replay_with_a_clock_fires_rating_expired():
    events = [ev.subject_registered(), ev.rating_assigned("G-1", "2024-01-02", level="D", valid_to="2024-12-31")]
    result = replay(enumerate(events), clock=at("2025-06-01"))
    (state,) = result.states.values()
    assert [h["event"]["type"] for h in result.history[state["subject"]["id"]]][-1] == "RatingExpired"
    assert state["records"]["ratings"][ev.key_of("G-1")]["status"] == "EXPIRED" and result.rejected == []


@pytest.mark.parametrize("blocker", [
    lambda: ev.penalty_imposed("P-1", "2025-03-03", severity="SEVERE", recorded_at="2025-03-04T09:00:00+08:00"),
    lambda: ev.valid("ListEntered", {"entry_id": "B-1", "list_kind": "MAJOR_TAX_VIOLATION", "reason": "偷税",
                                     "measures": ["INVOICE_RESTRICTION"]}, "2025-03-03",
                     recorded_at="2025-03-04T09:00:00+08:00"),
])
def test_r3_an_active_red_entry_is_ended_by_the_timers_when_a_blocking_record_arrives(blocker):
    from projections.grading import grade
    red = ev.list_entered("L-9", "2025-01-06", list_kind="RED_LIST", measures=["GREEN_CHANNEL"])
    state = given(red, blocker())
    assert ("RED_LIST_END", "L-9", "2025-03-03", False) in pending(state)  # fires at once: the day it arrived
    state, event = fire(state, "RED_LIST_END", "L-9")
    assert event["type"] == "ListExited" and event["occurred_on"] == "2025-03-04"
    assert "终止守信激励" in event["payload"]["exit_reason"]
    assert state["records"]["lists"][ev.key_of("L-9")]["status"] == "EXITED"
    assert "L-9" not in {r["record_id"] for r in grade(state, DEFAULT_POLICY)["reasons"]}  # no +50 beside it


def test_a_deadline_in_a_year_the_official_calendar_does_not_cover_is_provisional():
    state = given(ev.penalty_imposed("P-1", "2024-06-03"), ev.objection_filed("O-1", "P-1", "2099-12-28"),
                  ev.objection_accepted("O-1", "P-1", "2099-12-28"))
    assert ("OBJECTION", "O-1", "2100-01-05", True) in pending(state)
    assert [d["provisional"] for d in credit_file(state)["pending"]["deadlines"] if d["kind"] == "OBJECTION"] == [True]


@pytest.mark.parametrize("table, filed, accepted, accept_kind, decide_kind", [
    ("objections", lambda: ev.objection_filed("O-1", "P-1", "2025-03-03"),
     lambda on: ev.objection_accepted("O-1", "P-1", on), "OBJECTION_ACCEPTANCE", "OBJECTION"),
    ("repairs", lambda: ev.repair_requested("R-1", "P-1", "2025-03-03"),
     lambda on: ev.repair_accepted("R-1", "P-1", on), "REPAIR_ACCEPTANCE", "REPAIR"),
])
def test_r13_acceptance_then_decision_each_with_its_own_deadline(table, filed, accepted, accept_kind, decide_kind):
    base = [ev.penalty_imposed("P-1", "2024-06-03"), ev.penalty_fulfilled("P-1", "2024-06-03"), filed()]
    ref = "O-1" if table == "objections" else "R-1"
    state = given(*base)
    # filed Mon 3 Mar 2025: accepted by Wed 5 Mar (2 working days)
    assert (accept_kind, ref, "2025-03-05", False) in pending(state)
    assert decide_kind not in {kind for kind, *_ in pending(state)}  # the decision's period starts at acceptance
    late, event = fire(state, accept_kind, ref)
    assert event["payload"] == {"kind": accept_kind, "ref_id": ref, "due_on": "2025-03-05"}
    assert late[table][ev.key_of(ref)]["acceptance_overdue"] and accept_kind not in {k for k, *_ in pending(late)}
    # accepted on Thu 6 Mar (late, after the notice): the decision is due 5 working days later, Thu 13 Mar
    state = given(*base, accepted("2025-03-06"))
    assert [(k, r, d) for k, r, d, _ in pending(state) if k in (accept_kind, decide_kind)] == [
        (decide_kind, ref, "2025-03-13")]


def test_event_ids_are_deterministic_and_distinct_per_deadline():
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"), ev.penalty_imposed("P-2"),
                  ev.commitment_made("C-1", due_on="2025-03-31"))
    first = [d.event_id() for d in pending_deadlines(state, DEFAULT_POLICY)]
    assert first == [d.event_id() for d in pending_deadlines(state, DEFAULT_POLICY)] and len(set(first)) == 3


def test_due_by_is_inclusive_of_the_instant():
    state = given(ev.list_entered("L-1", "2025-01-06", list_kind="OTHER_BLACKLIST", term_until="2025-07-05"))
    deadlines = pending_deadlines(state, DEFAULT_POLICY)
    assert due_by(deadlines, at("2025-07-05T23:59:59+08:00")) == []
    assert due_by(deadlines, at("2025-07-06")) == deadlines


# --- replay with a clock --------------------------------------------------------------------------
def test_replay_with_a_clock_fires_between_the_events_in_time_order():
    number = ev.decision_no("P-1")
    events = [ev.subject_registered(), ev.decision_registered(number, on="2025-01-02"),
              ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-20T10:00:00+08:00")]
    result = replay(enumerate(events), clock=at("2025-02-01"))
    (history,) = result.history.values()
    assert [h["event"]["type"] for h in history] == ["SubjectRegistered", "DecisionRegistered", "DisclosureOverdue",
                                                      "PenaltyImposed"]
    assert [h["offset"] for h in history] == [0, 1, 2, 3] and result.fired == 1 and result.rejected == []
    (state,) = result.states.values()
    assert state["records"]["penalties"][ev.key_of("P-1")]["late"] is True
    without = replay(enumerate(events))
    assert list(without.states.values())[0]["decisions"][ev.key_of(number)]["overdue"] is False


def test_replay_with_a_clock_in_the_future_runs_every_chain_of_deadlines():
    events = [ev.subject_registered(), ev.list_entered("L-1", "2022-01-10"), ev.penalty_imposed("P-1", "2025-01-06")]
    result = replay(enumerate(events), clock=at("2030-01-01"))
    (state,) = result.states.values()
    # escalated in 2025, publicity over in 2027, the escalated entry's term (R1) over in 2028
    assert [h["event"]["type"] for h in result.history[state["subject"]["id"]]][-3:] == [
        "ListEntered", "PublicityEnded", "ListTermEnded"]
    assert pending_deadlines(state, DEFAULT_POLICY) == [] and result.rejected == []
    assert replay(enumerate(events), clock=at("2030-01-01")).states == result.states  # deterministic


@settings(max_examples=60, deadline=None)
@hypothesis_given(st.data())
def test_after_a_replay_with_a_clock_nothing_due_is_left_pending_and_no_firing_is_rejected(data):
    log = mixed_log(data)
    clock = at(data.draw(st.sampled_from(["2025-01-01", "2026-06-01", "2031-01-01"]), label="clock"))
    result = replay(log, clock=clock)
    logged = {event["event_id"] for _, event in log}  # the log's own system events come from timers too
    fired = [h["event"] for h in result.history.get(ev.COMPANY, [])
             if h["event"]["source"].get("system") == TIMER_SYSTEM and h["event"]["event_id"] not in logged]
    assert len(fired) == result.fired  # every firing applied
    for state in result.states.values():
        assert due_by(pending_deadlines(state, DEFAULT_POLICY), clock) == []
    assert {e["type"] for e in fired} <= {"DisclosureOverdue", "CommitmentOverdue", "PublicityEnded",
                                            "ListTermEnded", "ProcessingOverdue", "ListEntered"}


def test_every_kind_has_a_label_for_the_dashboard():
    from projections.deadlines import KIND_LABELS_ZH
    assert set(KIND_LABELS_ZH) == set(KINDS)


def test_a_record_recorded_in_time_but_folded_after_the_overdue_notice_withdraws_it():
    # stamped at 23:59 on the last day, still in flight when the timer fired at 24:00
    state = given(ev.decision_registered(ev.decision_no("P-1"), on="2025-01-02"))
    state, overdue = fire(state, DISCLOSURE, ev.decision_no("P-1"))
    in_time = step(lambda _: state, ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-13T23:59:00+08:00"), 99)
    decision = in_time.state["decisions"][ev.key_of(ev.decision_no("P-1"))]
    assert in_time.outcome == APPLIED and decision["late"] is False and decision["overdue"] is False
    assert decision["overdue_withdrawn_by"] == in_time.event["event_id"]


# --- the words and the days of what fires, worked out by hand from policies/2024.1.yaml -------------
@pytest.mark.parametrize("false_commitment, last_day, reason", [
    (False, "2026-01-05", "失信信息公示期届满：违背承诺最长 12 个月"),  # breached 2025-01-06, + 12 months - 1 day
    (True, "2028-01-05", "失信信息公示期届满：虚假承诺最长 36 个月"),
])
def test_a_breach_leaves_display_at_the_end_of_its_period_and_says_which(false_commitment, last_day, reason):
    state = given(ev.commitment_made("C-1"), ev.commitment_breached("C-1", false_commitment=false_commitment))
    assert ("PUBLICITY", "C-1", last_day, False) in pending(state)
    _, event = fire(state, "PUBLICITY", "C-1")
    assert event["payload"] == {"record_id": "C-1", "reason": reason}


@pytest.mark.parametrize("kinds, restriction_until, last_day, reason", [
    (["PRODUCTION_RESTRICTION"], "2028-01-31", "2028-01-31", "公示期届满：按照实际限制期限执行至 2028-01-31"),
    (["PRODUCTION_RESTRICTION"], "2027-05-05", "2027-05-05", "公示期届满：最长公示期 36 个月"),  # no longer than it
])
def test_a_restriction_longer_than_the_maximum_keeps_the_penalty_on_display(kinds, restriction_until, last_day,
                                                                          reason):
    state = given(ev.penalty_imposed("P-1", "2024-05-06", penalty_kinds=kinds, severity="SERIOUS",
                                     restriction_until=restriction_until))
    assert ("PUBLICITY", "P-1", last_day, False) in pending(state)  # decided 2024-05-06: 36 months end 2027-05-05
    _, event = fire(state, "PUBLICITY", "P-1")
    assert event["payload"]["reason"] == reason


def test_a_deadline_of_no_known_kind_is_refused_by_name():
    from projections.deadlines import Deadline
    state = given()
    with pytest.raises(ValueError) as error:
        system_event(state, Deadline("2025-01-07T00:00:00+08:00", ev.COMPANY, "NAP", "x", "2025-01-06", False),
                     "2025-01-07T00:00:00+08:00", DEFAULT_POLICY)
    assert str(error.value) == "unknown deadline kind NAP"


def test_a_restriction_counts_only_for_the_kinds_the_policy_in_force_names():
    from dataclasses import replace
    state = given(ev.penalty_imposed("P-1", "2024-05-06", penalty_kinds=["PRODUCTION_RESTRICTION"], severity="SERIOUS",
                                     restriction_until="2028-01-31"))
    later = replace(DEFAULT_POLICY, restriction_kinds=frozenset({"CERTIFICATE_REVOCATION"}))
    (deadline,) = [d for d in pending_deadlines(state, later) if d.kind == "PUBLICITY"]
    assert deadline.due_on == "2027-05-05"  # the maximum: this policy no longer lengthens it


def test_a_repair_the_credit_office_filed_on_a_commitment_falls_due_under_the_commitment_s_authority():
    state = given(ev.commitment_made("C-1"), ev.commitment_breached("C-1"),
                  ev.valid("RepairRequested", {"repair_id": "R-1", "record_id": "C-1", "corrective_actions": "已整改"},
                           "2025-05-06", source=ev.CREDIT_OFFICE_SOURCE))
    (deadline,) = [d for d in pending_deadlines(state, DEFAULT_POLICY) if d.kind == "REPAIR_ACCEPTANCE"]
    event = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
    assert event["type"] == "ProcessingOverdue" and event["payload"]["ref_id"] == "R-1"
    assert event["source"]["authority_code"] == ev.AUTHORITY  # the commitment's, not the filer's


def test_a_kept_commitment_or_a_decided_objection_before_an_open_one_leaves_the_open_one_s_deadline():
    state = given(ev.commitment_made("C-0"), ev.commitment_fulfilled("C-0"),
                  ev.commitment_made("C-1", due_on="2025-03-31"))
    assert ("COMMITMENT", "C-1", "2025-03-31", False) in pending(state)
    state = given(ev.penalty_imposed("P-1"), ev.objection_filed("O-0", "P-1"), ev.objection_resolved("O-0", "P-1"),
                  ev.objection_filed("O-1", "P-1", "2025-01-24"))
    assert ("OBJECTION_ACCEPTANCE", "O-1", "2025-01-27", False) in pending(state)  # Sun 26 (调休), Mon 27


def test_a_publicity_until_on_the_maximum_s_last_day_is_the_maximum():
    state = given(ev.penalty_imposed("P-1", "2024-05-06", publicity_until="2027-05-05"))
    _, event = fire(state, "PUBLICITY", "P-1")
    assert event["payload"]["reason"] == "公示期届满：最长公示期 36 个月"


OTHER_SOURCE = {"authority_code": ev.OTHER_AUTHORITY, "authority_name": "郑州市另一部门"}


def test_another_department_s_abnormal_entry_escalates_whatever_this_authority_s_entries_rest_on():
    """Ids are each authority's own: this authority's SERIOUS_DISHONESTY entry resting on its own penalty X-1
    says nothing of the other department's 经营异常名录 entry X-1, which escalates after its 36 months (a
    guard that matched a basis by its id alone held it back, and the entry stayed on the list for ever)."""
    abnormal = ev.valid("ListEntered", {"entry_id": "X-1", "list_kind": "ABNORMAL_OPERATION",
                                        "reason": "未按照规定期限公示年度报告", "measures": ["PUBLIC_NOTICE"]},
                        "2022-01-10", source=OTHER_SOURCE)
    state = given(ev.penalty_imposed("X-1", "2022-01-05"), abnormal,
                  ev.list_entered("S-1", "2022-02-10", list_kind="SERIOUS_DISHONESTY", basis_record_id="X-1"))
    escalations = [(d.ref, d.due_on) for d in pending_deadlines(state, DEFAULT_POLICY) if d.kind == ESCALATION]
    assert escalations == [(ev.key_of("X-1", ev.OTHER_AUTHORITY), "2025-01-09")]


def test_an_entry_of_another_list_resting_on_the_abnormal_entry_leaves_its_escalation():
    state = given(ev.list_entered("L-1", "2022-01-10"),
                  ev.list_entered("L-2", "2022-02-10", list_kind="OTHER_BLACKLIST", basis_record_id="L-1"))
    assert pending(state) == [(ESCALATION, "L-1", "2025-01-09", False)]


def test_a_publisher_s_own_serious_dishonesty_entry_on_the_abnormal_entry_ends_it_and_its_escalation():
    state = given(ev.list_entered("L-1", "2022-01-10"),
                  ev.list_entered("S-1", "2022-02-10", list_kind="SERIOUS_DISHONESTY", basis_record_id="L-1"))
    assert state["records"]["lists"][ev.key_of("L-1")]["status"] == "EXITED"
    assert [kind for kind, *_ in pending(state)] == ["LIST_TERM"]  # S-1's own term, no ESCALATION of L-1


def test_a_repair_stored_before_it_named_its_record_s_kind_is_about_a_penalty():
    """A repair stored before repairs named the kind of their record (`record_kind`) was about a penalty, as
    the fold reads it: its ProcessingOverdue goes under the penalty's authority, not the filer's."""
    state = given(ev.penalty_imposed("P-1"), ev.penalty_fulfilled("P-1"),
                  ev.valid("RepairRequested", {"repair_id": "R-1", "record_id": "P-1", "corrective_actions": "已整改"},
                           "2025-05-06", source=ev.CREDIT_OFFICE_SOURCE))
    del state["repairs"][ev.key_of("R-1")]["record_kind"]
    (deadline,) = [d for d in pending_deadlines(state, DEFAULT_POLICY) if d.kind == "REPAIR_ACCEPTANCE"]
    event = system_event(state, deadline, deadline.fires_at, DEFAULT_POLICY)
    assert (event["type"], event["payload"]["ref_id"]) == ("ProcessingOverdue", "R-1")
    assert event["source"]["authority_code"] == ev.AUTHORITY != ev.CREDIT_OFFICE


def test_a_timer_firing_the_fold_rejects_is_not_fired_again():
    """A deadline is pushed again after each event applied to its subject; a firing the fold rejects (here
    an escalation, under a policy that admits only 个体工商户 on the 严重违法失信名单) is rejected once, and
    its other pushes are stale: one firing, one rejection, at the offset after the log's."""
    from dataclasses import replace
    refusing = replace(DEFAULT_POLICY, admitted_subjects={**DEFAULT_POLICY.admitted_subjects,
                                                          "SERIOUS_DISHONESTY": ("INDIVIDUAL_BUSINESS",)})
    events = [ev.subject_registered(), ev.list_entered("L-1", "2022-01-10"), ev.permit_granted("X-1", "2022-02-01")]
    result = replay(enumerate(events), policy=refusing, clock=at("2025-06-01"))
    assert result.fired == 1 and len(result.history[ev.COMPANY]) == 3
    assert [(r["offset"], [reason["rule"] for reason in r["reasons"]]) for r in result.rejected] == [
        (3, ["subject_not_admitted"])]
