"""projections/effects.py: everything one event causes, as data (issue 30).

The 双公示 answers are worked out by hand from the rule (a decision's record is due within 7 working days
of the decision, counted from the next day on the official calendar; it arrives on the day, Asia/Shanghai,
the ledger recorded it) and the State Council's 2025 holiday notice; the properties hold for random logs."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.canonical import canonical_bytes
from projections.deadlines import DISCLOSURE, PUBLICITY, pending_deadlines, system_event
from projections.effects import (LATE, ON_TIME, OVERDUE, TIMELINESS_OUTCOMES, DeadlineDelta, GradeDelta, ListEntry,
                                 TimelinessDelta, effects_of, regrade_of)
from projections.fold import APPLIED, QUARANTINED, fold
from projections.grading import grade
from projections.lists import active_entries
from projections.policy import DEFAULT_POLICY, PolicyBook, policy_for
from projections.records import key, recorded_day
from projections.replay import step
from tests.unit import events as ev
from tests.unit.test_fold import mixed_log
from tests.unit.test_grading import stricter_from

NO = ev.decision_no("P-1")


def applied(*events: dict) -> list:
    """The effects of each event, folded in order from nothing; each must apply."""
    state, found = None, []
    for offset, event in enumerate(events):
        effects = effects_of(state, event, offset, DEFAULT_POLICY)
        assert effects.outcome == APPLIED, effects.problems
        state = effects.state
        found.append(effects)
    return found


def timer(effects) -> dict:
    """The DisclosureOverdue the timers write when the decision's deadline fires."""
    (deadline,) = [d for d in effects.deadlines_added if d.kind == DISCLOSURE]
    return system_event(effects.state, deadline, deadline.fires_at, DEFAULT_POLICY)


# --- 迟报 and 漏报, by hand -----------------------------------------------------------------------------
# 2025-01-02 (Thu): Jan 3 (Fri) 1, Jan 6-10 (Mon-Fri) 2-6, Jan 13 (Mon) 7: due 2025-01-13.
# 2025-01-24 (Fri), 春节: Jan 26 (Sun, 调休 workday) 1, Jan 27 2, Jan 28-Feb 4 rest, Feb 5-7 3-5,
#   Feb 8 (Sat, 调休 workday) 6, Feb 10 (Mon) 7: due 2025-02-10.
# 2025-09-26 (Fri), 国庆/中秋: Sep 28 (Sun, 调休 workday) 1, Sep 29-30 2-3, Oct 1-8 rest, Oct 9-10 4-5,
#   Oct 11 (Sat, 调休 workday) 6, Oct 13 (Mon) 7: due 2025-10-13.
@pytest.mark.parametrize("decided_on, due_on, next_day", [
    ("2025-01-02", "2025-01-13", "2025-01-14"),
    ("2025-01-24", "2025-02-10", "2025-02-11"),
    ("2025-09-26", "2025-10-13", "2025-10-14"),
])
def test_a_record_is_on_time_on_its_seventh_working_day_and_late_the_day_after(decided_on, due_on, next_day):
    registered = ev.decision_registered(NO, on=decided_on)
    (deadline,) = applied(ev.subject_registered(), registered)[1].deadlines_added
    assert (deadline.kind, deadline.due_on, deadline.fires_at) == (DISCLOSURE, due_on, f"{next_day}T00:00:00+08:00")
    for recorded_at, outcome in ((f"{due_on}T23:59:59+08:00", ON_TIME), (f"{next_day}T00:00:00+08:00", LATE)):
        record = ev.penalty_imposed("P-1", decided_on, recorded_at=recorded_at)
        effects = applied(ev.subject_registered(), registered, record)[2]
        assert effects.timeliness == (TimelinessDelta(ev.AUTHORITY, outcome, 1),)
        assert effects.deadlines_removed == {deadline}  # the disclosure deadline is met, late or not
        assert {d.kind for d in effects.deadlines_added} == {PUBLICITY}


def test_the_day_of_arrival_is_shanghai_s():
    registered = ev.decision_registered(NO, on="2025-01-02")
    in_time = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-13T15:59:59+00:00")  # 23:59:59 +08:00
    too_late = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-13T16:00:00+00:00")  # Jan 14 +08:00
    assert applied(ev.subject_registered(), registered, in_time)[2].timeliness[0].outcome == ON_TIME
    assert applied(ev.subject_registered(), registered, too_late)[2].timeliness[0].outcome == LATE


def test_a_record_without_a_registered_decision_is_judged_from_its_own_decision_date():
    record = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-14T09:00:00+08:00")
    assert applied(ev.subject_registered(), record)[1].timeliness == (TimelinessDelta(ev.AUTHORITY, LATE, 1),)


def test_a_decision_found_missing_counts_overdue_and_its_late_record_moves_it_to_late():
    registered = applied(ev.subject_registered(), ev.decision_registered(NO, on="2025-01-02"))
    fired = timer(registered[1])
    assert fired["type"] == "DisclosureOverdue" and fired["recorded_at"] == "2025-01-14T00:00:00+08:00"
    late = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-02-20T10:00:00+08:00")
    _, _, overdue, arrived = applied(ev.subject_registered(), ev.decision_registered(NO, on="2025-01-02"), fired, late)
    assert overdue.timeliness == (TimelinessDelta(ev.AUTHORITY, OVERDUE, 1),)
    assert overdue.deadlines_removed == registered[1].deadlines_added and not overdue.deadlines_added
    assert arrived.timeliness == (TimelinessDelta(ev.AUTHORITY, LATE, 1), TimelinessDelta(ev.AUTHORITY, OVERDUE, -1))


def test_a_record_recorded_in_time_but_folded_after_the_timer_is_on_time_not_overdue():
    registered = applied(ev.subject_registered(), ev.decision_registered(NO, on="2025-01-02"))
    in_flight = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-13T23:00:00+08:00")
    arrived = applied(ev.subject_registered(), ev.decision_registered(NO, on="2025-01-02"), timer(registered[1]),
                      in_flight)[3]
    assert arrived.timeliness == (TimelinessDelta(ev.AUTHORITY, ON_TIME, 1), TimelinessDelta(ev.AUTHORITY, OVERDUE, -1))


def test_an_event_outside_the_double_publicity_moves_no_timeliness_count():
    for effects in applied(ev.subject_registered(), ev.commitment_made(), ev.list_entered()):
        assert effects.timeliness == ()


# --- the other effects, by hand ---------------------------------------------------------------------
def test_a_list_entry_is_indexed_when_entered_and_unindexed_when_it_exits():
    entered, exited = applied(ev.subject_registered(), ev.list_entered("L-1"), ev.list_exited("L-1"))[1:]
    entry = ListEntry("ABNORMAL_OPERATION", ev.COMPANY, key(ev.AUTHORITY, "L-1"))  # events.list_entered's kind
    assert (entered.lists_added, entered.lists_removed) == ((entry,), ())
    assert (exited.lists_added, exited.lists_removed) == ((), (entry,))


def test_a_permit_leaves_the_grade_alone_and_a_penalty_moves_it():
    registered, permit, penalty = applied(ev.subject_registered(), ev.permit_granted(), ev.penalty_imposed())
    assert registered.regrade is not None and registered.regrade.ungraded_before
    first = registered.regrade.change(None)
    assert first.deltas == (GradeDelta("A", 1),) and first.record["to_letter"] == "A"
    memo = registered.graded_memo  # the worker stored the first grade: the permit needs none
    again = effects_of(registered.state, ev.permit_granted("X-2"), 1, DEFAULT_POLICY, graded_memo=memo)
    assert again.regrade is None
    assert effects_of(registered.state, ev.permit_granted("X-2"), 1, DEFAULT_POLICY).regrade is not None  # no memo
    moved = penalty.regrade.change(registered.regrade.grade)
    assert moved.record["cause"] == "PenaltyImposed" and moved.record["from_letter"] == "A"
    assert moved.deltas == (GradeDelta("A", -1), GradeDelta(moved.record["to_letter"], 1))
    assert penalty.regrade.change(penalty.regrade.grade) is None  # the same grade stored: no change


def test_the_statistics_deltas_are_typed_and_net():
    _, registered, record = applied(ev.subject_registered(), ev.decision_registered(NO, on="2025-01-02"),
                                    ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-03T10:00:00+08:00"))
    assert registered.deltas == (DeadlineDelta(DISCLOSURE, 1),)
    assert Counter({(type(d).__name__, getattr(d, "kind", getattr(d, "outcome", None))): d.delta
                    for d in record.deltas}) == Counter({("TimelinessDelta", ON_TIME): 1,
                                                         ("DeadlineDelta", DISCLOSURE): -1,
                                                         ("DeadlineDelta", PUBLICITY): 1})


def test_a_consequence_that_raises_sets_the_event_aside_with_nothing_of_it(monkeypatch):
    import projections.effects as effects_module
    (registered,) = applied(ev.subject_registered())

    def broken(*_):
        raise KeyError("a bug")
    monkeypatch.setattr(effects_module, "grade", broken)
    penalty = ev.penalty_imposed()
    effects = effects_of(registered.state, penalty, 1, DEFAULT_POLICY)
    assert effects.outcome == QUARANTINED and effects.state is registered.state and not effects.writes_state
    assert (effects.subject_id, effects.event["event_id"]) == (ev.COMPANY, penalty["event_id"])
    assert effects.problems[0].rule == "internal_error" and "KeyError" in effects.problems[0].message
    assert (effects.history_entry, effects.regrade, effects.deltas, effects.deadlines_added) == (None, None, (), set())


def test_a_rejected_or_invalid_event_causes_nothing_but_its_state():
    (registered,) = applied(ev.subject_registered())
    unknown = ev.penalty_fulfilled("P-404")
    rejected = effects_of(registered.state, unknown, 1, DEFAULT_POLICY)
    assert rejected.outcome == "rejected" and rejected.writes_state and rejected.state["rejected_total"] == 1
    assert (rejected.subject_id, rejected.event["event_id"]) == (ev.COMPANY, unknown["event_id"])
    assert (rejected.history_entry, rejected.regrade, rejected.deltas) == (None, None, ())
    invalid = effects_of(registered.state, {"type": "PenaltyImposed"}, 2, DEFAULT_POLICY)
    assert invalid.outcome == "invalid" and invalid.state is None and invalid.problems


def test_a_policy_sweep_regrades_whatever_graded_before():
    state = applied(ev.subject_registered(), ev.penalty_imposed())[1].state
    stricter = stricter_from("2025-01-01")
    swept = regrade_of(ev.COMPANY, state, stricter, {"cause": "policy 2025.1", "cause_event_id": None, "offset": -1})
    assert swept.grade == grade(state, stricter) and swept.basis == (state["as_of"]["offset"], "2025.1")
    # the sweep's regrade: the subject named, graded under the new policy, its cause, a stored grade to read first
    assert (swept.subject_id, swept.policy, swept.ungraded_before) == (ev.COMPANY, stricter, False)
    change = swept.change({**swept.grade, "letter": "A", "score": 100, "reasons": []})
    assert change.record["subject_id"] == ev.COMPANY and change.record["from_letter"] == "A"
    assert {k: change.record[k] for k in ("cause", "cause_event_id", "offset")} == {
        "cause": "policy 2025.1", "cause_event_id": None, "offset": -1}
    assert change.deltas == (GradeDelta("A", -1), GradeDelta(swept.grade["letter"], 1))


# --- properties over random logs --------------------------------------------------------------------
# The second policy also moves deadlines (shorter periods of disclosure, processing and display), so that a
# subject's indexed deadlines are replaced across the change (what the index holds, not what the new policy
# would have derived, is what an event's effects remove).
BOOK = PolicyBook((DEFAULT_POLICY, replace(
    stricter_from("2025-03-01"), disclosure_working_days=5, objection_decision_working_days=3,
    objection_acceptance_working_days=1, repair_acceptance_working_days=1, repair_decision_working_days=3,
    max_publicity_months=24, term_months_by_kind={"SERIOUS_DISHONESTY": 24}, commitment_breach_months=(3, 6))))


def timeliness_recount(state: dict) -> Counter:
    """Each decision once, in its final outcome, read off the final state (not from the deltas)."""
    counts = Counter()
    for decision in state["decisions"].values():
        if decision["arrived"]:
            table = "permits" if decision["decision_kind"] == "PERMIT" else "penalties"
            record = state["records"][table][key(decision["authority_code"], decision["record_id"])]
            outcome = ("historical" if record.get("historical") else "exempt" if record.get("exemption")
                       else LATE if decision["late"] else ON_TIME)
            counts[decision["authority_code"], outcome] += 1
        elif decision["overdue"]:
            counts[decision["authority_code"], OVERDUE] += 1
    return counts


def fold_with_effects(log, grading=None, memos: bool = True):
    """Fold a log as the worker does, keeping what it would have stored; returns every effect and the store."""
    state, stored, pending, graded = None, None, None, None
    index: set = set()
    lists: set = set()
    counts: Counter = Counter()
    all_effects = []
    for offset, event in log:
        before = state
        effects = effects_of(before, event, offset, BOOK, grading, pending_memo=pending if memos else None,
                             graded_memo=graded if memos else None)
        all_effects.append(effects)
        if effects.writes_state:
            state = effects.state
        if effects.outcome != APPLIED:
            continue
        index = (index - effects.deadlines_removed) | effects.deadlines_added
        lists = (lists - set(effects.lists_removed)) | set(effects.lists_added)
        for delta in effects.deltas:
            counts[delta.counter] += delta.delta
        pending, graded = effects.pending_memo, effects.graded_memo
        if effects.regrade is not None:
            change = effects.regrade.change(stored)
            if change is not None:
                stored = effects.regrade.grade
                for delta in change.deltas:
                    counts[delta.counter] += delta.delta
    return all_effects, state, stored, index, lists, +counts


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_the_effects_keep_every_index_and_count_equal_to_the_folded_state(data):
    log = mixed_log(data)
    effects, state, stored, index, lists, counts = fold_with_effects(log)
    last = [e for e in effects if e.outcome == APPLIED][-1]
    policy = policy_for(BOOK, recorded_day(last.event))
    assert index == set(pending_deadlines(state, policy))
    assert lists == {ListEntry(kind, ev.COMPANY, entry_id) for entry_id, kind in active_entries(state).items()}
    # graded under each event's own day's policy; a grade whose letter and score stay is not stored again
    assert (stored["letter"], stored["score"]) == (grade(state, policy)["letter"], grade(state, policy)["score"])
    assert {c.kind: n for c, n in counts.items() if type(c).__name__ == "DeadlineCounter"} == \
        dict(Counter(d.kind for d in index))
    assert {c.letter: n for c, n in counts.items() if type(c).__name__ == "GradeCounter"} == {stored["letter"]: 1}
    assert {(c.authority_code, c.outcome): n for c, n in counts.items() if type(c).__name__ == "TimelinessCounter"} \
        == dict(timeliness_recount(state))
    assert all(d.outcome in TIMELINESS_OUTCOMES for e in effects for d in e.timeliness)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_the_memos_change_no_effect_and_the_function_is_pure(data):
    log = mixed_log(data)
    grading = data.draw(st.sampled_from([None, DEFAULT_POLICY, stricter_from("2025-03-01")]), label="grading")
    with_memos = fold_with_effects(log, grading, memos=True)
    without = fold_with_effects(log, grading, memos=False)
    assert with_memos[1:] == without[1:]
    for a, b in zip(with_memos[0], without[0]):
        # a memo spares work only: the same effects, but where it spared a regrade of an unchanged grade
        assert (a.outcome, a.state, a.deadlines_added, a.deadlines_removed, a.lists_added, a.lists_removed,
                a.timeliness, a.deltas) == (b.outcome, b.state, b.deadlines_added, b.deadlines_removed,
                                            b.lists_added, b.lists_removed, b.timeliness, b.deltas)
        if a.regrade is not None:
            assert a.regrade.grade == b.regrade.grade
    state = None
    for offset, event in log:  # the state handed in is never written, and the fold agrees with a step
        before = canonical_bytes(state) if state is not None else None
        effects = effects_of(state, event, offset, BOOK)
        assert (canonical_bytes(state) if state is not None else None) == before
        done = step(lambda _: state, event, offset, policy=BOOK)
        assert (effects.outcome, effects.state) == (done.outcome, done.state)
        assert effects_of(state, event, offset, BOOK) == effects
        if effects.writes_state:
            state = effects.state


def test_a_stale_memo_is_ignored():
    registered, decision = applied(ev.subject_registered(), ev.decision_registered(NO, on="2025-01-02"))
    record = ev.penalty_imposed("P-1", "2025-01-02", recorded_at="2025-01-03T10:00:00+08:00")
    fresh = effects_of(decision.state, record, 2, DEFAULT_POLICY)
    stale = (registered.state["as_of"]["offset"], frozenset())  # an older state's
    assert effects_of(decision.state, record, 2, DEFAULT_POLICY, pending_memo=stale,
                      graded_memo=registered.graded_memo) == fresh
    state, _ = fold(decision.state, record, 2)
    assert fresh.state == state


def test_a_decision_registered_after_its_record_judges_it_again_and_moves_its_count():
    # the record came on 2025-01-10, judged from its own decision date 2025-01-09 (due 2025-01-20): on time;
    # the decision, registered later as of 2024-12-20 (7 working days on: 2024-12-31), makes it late (迟报)
    record = ev.penalty_imposed("P-1", "2025-01-09", recorded_at="2025-01-10T10:00:00+08:00")
    registered = ev.valid("DecisionRegistered", {"decision_no": NO, "decision_kind": "PENALTY"}, "2024-12-20",
                          recorded_at="2025-01-15T10:00:00+08:00")
    arrived, judged = applied(ev.subject_registered(), record, registered)[1:]
    assert arrived.timeliness == (TimelinessDelta(ev.AUTHORITY, ON_TIME, 1),)
    assert judged.state["decisions"][key(ev.AUTHORITY, NO)]["due_on"] == "2024-12-31"
    assert judged.timeliness == (TimelinessDelta(ev.AUTHORITY, LATE, 1), TimelinessDelta(ev.AUTHORITY, ON_TIME, -1))


def test_an_applied_event_s_effects_name_its_offset_and_the_grading_policy_given():
    (registered,) = applied(ev.subject_registered())
    stricter = stricter_from("2025-01-01")
    penalty = ev.penalty_imposed()
    effects = effects_of(registered.state, penalty, 7, DEFAULT_POLICY, stricter)
    assert effects.regrade.cause == {"cause": "PenaltyImposed", "cause_event_id": penalty["event_id"], "offset": 7}
    assert effects.regrade.policy is stricter and effects.regrade.grade == grade(effects.state, stricter)
    assert effects.state["as_of"]["offset"] == 7 and effects.graded_memo == (7, "2025.1")
    assert (effects.subject_id, effects.regrade.subject_id, effects.regrade.basis) == (ev.COMPANY, ev.COMPANY, (7, "2025.1"))
    assert effects.pending_memo == (7, frozenset(pending_deadlines(effects.state, DEFAULT_POLICY)))
    assert effects.pending_memo[1] and effects.pending_memo[1] == effects.deadlines_added
    assert effects.history_entry["offset"] == 7 and effects.history_entry["event"]["event_id"] == penalty["event_id"]
    # the problems of an applied event: the fold's reasons, none; a tuple like every outcome's (consumers
    # iterate it whatever the outcome)
    assert effects.problems == () and effects.outcome == APPLIED
