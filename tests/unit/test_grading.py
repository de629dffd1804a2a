"""Grading scenarios in given-events → expect-grade form, the policy files, and the as-of grade."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from projections.fold import APPLIED
from projections.grading import GRADING_RULES, grade
from projections.policy import DEFAULT_POLICIES, DEFAULT_POLICY, PolicyBook, packaged_policies, parse_policy
from projections.replay import bitemporal_view, replay, state_as_of
from tests.unit import events as ev
from tests.unit.test_fold import mixed_log
from tests.unit.test_fold_rules import given

POLICY_FILE = Path(__file__).resolve().parents[2] / "projections" / "policies" / "2024.1.yaml"


def expect(state: dict, letter: str, score: int, rules: list[tuple[str, str, int]] | None = None, policy=DEFAULT_POLICY):
    result = grade(state, policy)
    assert (result["letter"], result["score"]) == (letter, score), result
    if rules is not None:
        assert sorted((r["record_id"], r["rule"], r["points"]) for r in result["reasons"]) == sorted(rules)
    return result


def severe(record_id: str = "P-1", on: str = "2025-01-06"):
    return ev.penalty_imposed(record_id, on, severity="SEVERE")


# --- scenarios ---------------------------------------------------------------------------------
def test_a_clean_file_is_a_with_the_start_score():
    expect(given(), "A", 1000, [])


def test_a_general_penalty_on_display_deducts_20():
    expect(given(ev.penalty_imposed()), "A", 980, [("P-1", "penalty_on_display", -20)])


def test_a_severe_penalty_deducts_150_and_drops_to_b():
    expect(given(severe()), "B", 850, [("P-1", "penalty_on_display", -150)])


def test_a_penalty_under_objection_still_counts_while_on_display():
    expect(given(severe(), ev.objection_filed("O-1", "P-1")), "B", 850)


def test_a_false_commitment_is_a_severe_mark_instead_of_a_breach():
    state = given(ev.commitment_made("C-1"), ev.commitment_breached("C-1", false_commitment=True))
    expect(state, "B", 850, [("C-1", "false_commitment", -150)])
    expect(given(ev.commitment_made("C-1"), ev.commitment_breached("C-1")), "A", 950, [("C-1", "commitment_breached", -50)])


def test_an_overdue_commitment_counts_as_a_breach():
    state = given(ev.commitment_made("C-1", due_on="2025-03-31"), ev.commitment_overdue("C-1", "2025-03-31", "2025-04-01"))
    expect(state, "A", 950, [("C-1", "commitment_overdue", -50)])
    expect(given(ev.commitment_made("C-1", due_on="2025-03-31"), ev.commitment_fulfilled("C-1")), "A", 1000, [])


def test_an_approved_repair_lifts_the_deduction_and_a_rejected_one_does_not():
    base = [ev.penalty_imposed("P-1", "2024-06-03", severity="SEVERE"), ev.penalty_fulfilled("P-1", "2024-06-03"),
            ev.repair_requested("R-1", "P-1", "2025-06-10")]
    expect(given(*base), "B", 850)
    expect(given(*base, ev.repair_decided("R-1", "P-1", "REJECTED", "2025-06-12")), "B", 850)
    expect(given(*base, ev.repair_decided("R-1", "P-1", "APPROVED", "2025-06-12")), "A", 1000, [])


def test_a_penalty_whose_publicity_ended_or_that_was_revoked_or_retracted_no_longer_counts():
    expect(given(severe(), ev.publicity_ended("P-1", "2028-01-06")), "A", 1000, [])
    expect(given(severe(), ev.penalty_revoked("P-1")), "A", 1000, [])
    withdrawn = given(severe(), ev.objection_filed("O-1", "P-1"), ev.objection_resolved("O-1", "P-1", "UPHELD_WITHDRAWN"))
    expect(withdrawn, "A", 1000, [])


def test_a_black_list_entry_deducts_until_it_exits():
    entered = ev.list_entered("L-1", "2025-01-06", list_kind="OTHER_BLACKLIST")
    expect(given(entered), "B", 900, [("L-1", "list_entry", -100)])
    expect(given(entered, ev.list_exited("L-1", "2025-03-03")), "A", 1000, [])


def test_serious_dishonesty_is_d_whatever_the_score_by_the_hard_rule():
    # the red entry came first (beside a black one it is refused, R3) and the timers have not ended it yet
    state = given(ev.list_entered("L-2", list_kind="RED_LIST"), ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY"),
                  ev.rating_assigned("G-1", rating_kind="TAX", level="A"))
    result = expect(state, "D", 1000 - 300 + 50 + 30)
    assert result["reasons"][0] == {"record_id": "L-1", "rule": "hard_rule", "points": 0,
                                    "detail": "SERIOUS_DISHONESTY 名单：直接评为 D"}
    expect(given(ev.list_entered("L-1", list_kind="MAJOR_TAX_VIOLATION")), "D", 700)


def test_red_list_plus_tax_rating_a_adds_points():
    # the red entry before the SEVERE penalty (after it, it is refused: R3), graded before the timers end it
    state = given(ev.list_entered("L-1", list_kind="RED_LIST"), severe(), ev.rating_assigned("G-1", level="A"))
    expect(state, "B", 1000 - 150 + 50 + 30, [("P-1", "penalty_on_display", -150), ("L-1", "list_entry", 50),
                                              ("G-1", "rating", 30)])


def test_only_the_current_rating_of_a_kind_counts():
    state = given(ev.rating_assigned("G-1", "2024-04-01", level="D"), ev.rating_assigned("G-2", "2025-04-01", level="B"))
    expect(state, "A", 1010, [("G-2", "rating", 10)])


def test_r4_a_rating_counts_until_its_valid_to_and_the_reason_cites_its_validity():
    from projections.deadlines import pending_deadlines
    state = given(ev.rating_assigned("G-1", "2024-01-02", level="D", valid_to="2024-12-31"))
    result = expect(state, "B", 900, [("G-1", "rating", -100)])
    assert "2024-01-02 至 2024-12-31" in result["reasons"][0]["detail"]
    (deadline,) = pending_deadlines(state, DEFAULT_POLICY)
    assert (deadline.kind, deadline.due_on) == ("RATING", "2024-12-31")
    expect(given(ev.rating_assigned("G-1", "2024-01-02", level="D", valid_to="2024-12-31"),
                 ev.rating_expired("G-1", "2024-12-31", on="2025-01-01")), "A", 1000, [])


def test_r4_a_rating_whose_validity_ended_before_it_arrived_never_counts_nor_replaces_the_current_one():
    from projections.deadlines import pending_deadlines
    current = ev.rating_assigned("G-2", "2025-01-02", level="A")
    old = ev.valid("RatingAssigned", {"rating_id": "G-1", "rating_kind": "TAX", "level": "D", "valid_from": "2020-01-01",
                                      "valid_to": "2020-12-31"}, "2020-01-01", recorded_at="2025-03-03T10:00:00+08:00")
    state = given(current, old)
    assert state["records"]["ratings"][ev.key_of("G-1")]["status"] == "EXPIRED"
    expect(state, "A", 1030, [("G-2", "rating", 30)])
    assert pending_deadlines(state, DEFAULT_POLICY) == []


def test_the_latest_inspection_result_counts_by_the_policy_s_points():
    found = ev.inspection_recorded("CC-1", "PROBLEM_FOUND", on="2025-01-06")
    expect(given(found), "A", 980, [("CC-1", "inspection", -20)])
    expect(given(found, ev.inspection_recorded("CC-2", "NO_PROBLEM", on="2025-06-03")), "A", 1000, [])
    expect(given(ev.inspection_recorded("CC-1", "UNREACHABLE")), "A", 950, [("CC-1", "inspection", -50)])
    expect(given(found), "A", 1000, [], policy=replace(DEFAULT_POLICY, inspection_points={}))


def test_the_thresholds_decide_a_b_c_d():
    # A >= 950, B >= 850, C >= 700, else D
    expect(given(ev.list_entered("L-1", list_kind="PROCUREMENT_BAN")), "B", 850)
    expect(given(ev.list_entered("L-1", list_kind="PROCUREMENT_BAN"), severe("P-1")), "C", 700)
    expect(given(ev.list_entered("L-1", list_kind="PROCUREMENT_BAN"), severe("P-1"), ev.penalty_imposed("P-2")), "D", 680)


# --- a policy change mid-history ------------------------------------------------------------------
def stricter_from(day: str):
    return replace(DEFAULT_POLICY, version="2025.1", effective_from=day,
                   penalty_points={"GENERAL": -60, "SERIOUS": -120, "SEVERE": -300},
                   grade_thresholds={"A": 980, "B": 900, "C": 750})


def test_the_grade_at_an_instant_uses_the_policy_in_force_then():
    book = PolicyBook((DEFAULT_POLICY, stricter_from("2025-07-01")))
    events = [ev.subject_registered(), severe("P-1", "2025-01-06")]
    history = replay(enumerate(events), policy=book).history[ev.COMPANY]
    before, after = datetime.fromisoformat("2025-06-30T12:00:00+08:00"), datetime.fromisoformat("2025-07-01T00:00:00+08:00")
    assert book.in_force("2025-06-30").version == "2024.1" and book.in_force("2025-07-01").version == "2025.1"
    old = grade(state_as_of(history, before, book), book.in_force("2025-06-30"))
    new = grade(state_as_of(history, after, book), book.in_force("2025-07-01"))
    assert (old["letter"], old["score"], old["policy_version"]) == ("B", 850, "2024.1")
    assert (new["letter"], new["score"], new["policy_version"]) == ("D", 700, "2025.1")
    known_then = state_as_of(history, datetime.fromisoformat("2025-01-01T00:00:00+08:00"), book)
    assert grade(known_then, book.in_force("2025-01-01"))["score"] == 1000  # the penalty was not recorded yet
    assert state_as_of(history, datetime.fromisoformat("2019-12-31T00:00:00+08:00"), book) is None  # nor the subject


def test_a_view_of_now_grades_under_the_policy_in_force_today_not_one_published_for_later():
    book = PolicyBook((DEFAULT_POLICY, stricter_from("2025-07-01")))
    history = replay(enumerate([ev.subject_registered(), severe("P-1", "2025-01-06")]), policy=book).history[ev.COMPANY]
    for today, expected in (("2025-06-30", ("B", 850, "2024.1")), ("2025-07-01", ("D", 700, "2025.1"))):
        graded = bitemporal_view(history, None, None, book, today=today)["file"]["grade"]
        assert (graded["letter"], graded["score"], graded["policy_version"]) == expected
    # as of an instant, or on a valid date, the day named decides, whatever today is
    then = bitemporal_view(history, "2025-06-30T12:00:00+08:00", None, book, today="2026-01-01")["file"]["grade"]
    on = bitemporal_view(history, None, "2025-07-01", book, today="2025-01-07")["file"]["grade"]
    assert (then["policy_version"], on["policy_version"]) == ("2024.1", "2025.1")


def test_the_fold_applies_the_policy_in_force_the_day_an_event_was_recorded():
    longer = replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-03-01",
                     min_publicity_months_by_severity={"GENERAL": 6, "SERIOUS": 6, "SEVERE": 12})
    book = PolicyBook((DEFAULT_POLICY, longer))
    events = [ev.subject_registered(), ev.penalty_imposed("P-1", "2024-10-15"), ev.penalty_fulfilled("P-1", "2024-10-15")]
    early = events + [ev.repair_requested("R-1", "P-1", "2025-02-10")]  # 2024 policy: 3 months have passed
    late = events + [ev.repair_requested("R-1", "P-1", "2025-03-10")]  # 2025 policy: 6 months have not
    assert replay(enumerate(early), policy=book).rejected == []
    assert [r["reasons"][0]["rule"] for r in replay(enumerate(late), policy=book).rejected] == ["min_publicity_not_reached"]


# --- properties ----------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@hypothesis_given(st.data())
def test_the_reasons_points_sum_to_the_score_and_grading_is_deterministic(data):
    result = replay(mixed_log(data))
    for state in result.states.values():
        first = grade(state, DEFAULT_POLICY)
        assert first["score"] == first["start_score"] + sum(r["points"] for r in first["reasons"])
        assert first == grade(state, DEFAULT_POLICY)
        assert first["letter"] in "ABCD"
        hard = [r for r in first["reasons"] if r["rule"] == "hard_rule"]
        assert not hard or first["letter"] == "D"
        assert all(r["record_id"] and r["rule"] in GRADING_RULES for r in first["reasons"])


def test_every_grading_rule_has_a_scenario():
    source = Path(__file__).read_text(encoding="utf-8")
    assert {rule for rule in GRADING_RULES if f'"{rule}"' not in source} == set()


# --- the policy files ----------------------------------------------------------------------------
def test_the_packaged_policy_is_the_default_and_follows_design():
    book = packaged_policies()
    assert book == DEFAULT_POLICIES and book.latest == DEFAULT_POLICY
    p = DEFAULT_POLICY
    assert (p.start_score, dict(p.grade_thresholds)) == (1000, {"A": 950, "B": 850, "C": 700})
    assert dict(p.inspection_ratios) == {"A": 0.02, "B": 0.05, "C": 0.10, "D": 0.30}
    assert p.hard_d_lists == {"SERIOUS_DISHONESTY", "DISHONEST_JUDGMENT_DEBTOR", "MAJOR_TAX_VIOLATION"}
    assert p.disclosure_working_days == 7 and p.max_publicity_months == 36


@pytest.mark.parametrize("change, key", [
    (lambda t: t.replace("disclosure: 7", "disclosure: 0"), "working_days.disclosure"),
    (lambda t: t.replace("thresholds: {A: 950", "thresholds: {A: 800"), "grading.thresholds"),
    (lambda t: t.replace("    RED_LIST: 50\n", ""), "grading.list_points"),
    (lambda t: t.replace("  FINE: GENERAL\n", "  FINE: HARSH\n"), "severity_by_penalty_kind"),
    (lambda t: t.replace("inspection_ratios: {A: 0.02", "inspection_ratios: {A: 2"), "inspection_ratios"),
    (lambda t: t.replace("effective_from: 2020-01-01", "effective_from: someday"), "effective_from"),
    (lambda t: t + "\nsurprise: 1\n", "surprise: unknown key"),
    (lambda t: t.replace("  max_months: 36\n", ""), "publicity.max_months: missing"),
    (lambda t: t.replace("version:", "version: [\n"), "not valid YAML"),
])
def test_a_bad_policy_file_is_refused_naming_the_key(change, key):
    with pytest.raises(ValueError, match=re.escape(key)):
        parse_policy(change(POLICY_FILE.read_text(encoding="utf-8")), "bad.yaml")


def test_two_policies_on_one_day_are_refused():
    with pytest.raises(ValueError, match="same day"):
        PolicyBook((DEFAULT_POLICY, replace(DEFAULT_POLICY, version="copy")))


def test_a_grade_change_names_what_moved_it_and_nothing_is_a_change_when_nothing_moved():
    from projections.grading import grade_change
    clean, penalised = grade(given(), DEFAULT_POLICY), grade(given(severe()), DEFAULT_POLICY)
    first = grade_change(None, clean)
    assert (first["from_letter"], first["to_letter"], first["added"], first["removed"]) == (None, "A", [], [])
    moved = grade_change(clean, penalised)
    assert (moved["from_letter"], moved["to_letter"], moved["from_score"], moved["to_score"]) == ("A", "B", 1000, 850)
    assert [(r["record_id"], r["points"]) for r in moved["added"]] == [("P-1", -150)] and moved["removed"] == []
    back = grade_change(penalised, clean)
    assert [(r["record_id"], r["points"]) for r in back["removed"]] == [("P-1", -150)]
    assert grade_change(penalised, grade(given(severe()), DEFAULT_POLICY)) is None


def test_a_grade_change_tells_two_authorities_records_of_one_id_apart():
    from projections.grading import grade_change
    ours = {"record_id": "P-1", "rule": "penalty_on_display", "points": -20, "detail": "GENERAL 行政处罚 郑市监罚〔2025〕1号"}
    theirs = {**ours, "detail": "GENERAL 行政处罚 郑税罚〔2025〕1号"}
    both = {"letter": "A", "score": 960, "policy_version": "2024.1", "reasons": [ours, theirs]}
    one = {**both, "score": 980, "reasons": [theirs]}
    assert (grade_change(both, one)["added"], grade_change(both, one)["removed"]) == ([], [ours])
    assert (grade_change(one, both)["added"], grade_change(one, both)["removed"]) == ([ours], [])
    # the same reason twice (equal in every field) is two reasons, one of them gone
    twice = {**both, "reasons": [ours, ours]}
    assert grade_change(twice, {**one, "reasons": [ours]})["removed"] == [ours]


def test_the_reasons_come_in_one_order_whatever_order_the_records_are_stored_in():
    import orjson
    state = given(ev.list_entered("L-9", list_kind="SERIOUS_DISHONESTY"), ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY"),
                  severe("P-9"), severe("P-1"))
    stored = orjson.loads(orjson.dumps(state, option=orjson.OPT_SORT_KEYS))  # as the store gives it back
    assert grade(stored, DEFAULT_POLICY) == grade(state, DEFAULT_POLICY)


def test_valid_at_takes_out_what_was_never_valid_and_keeps_what_was_true_on_the_day():
    from projections.replay import state_valid_at
    events = [ev.subject_registered(), severe("P-1", "2025-01-06"), ev.penalty_imposed("P-2", "2025-01-06"),
              ev.objection_filed("O-1", "P-2", "2025-02-03"),
              ev.objection_resolved("O-1", "P-2", "UPHELD_WITHDRAWN", "2025-02-10"),  # P-2 never valid
              ev.list_entered("L-1", "2025-03-03", list_kind="OTHER_BLACKLIST"), ev.list_exited("L-1", "2025-05-06"),
              ev.penalty_imposed("P-3", "2025-06-02")]
    history = replay(enumerate(events)).history[ev.COMPANY]
    on_april = state_valid_at(history, "2025-04-01")
    # P-2 retracted in valid time, P-3 not yet decided
    assert set(on_april["records"]["penalties"]) == {ev.key_of("P-1")}
    assert on_april["records"]["lists"][ev.key_of("L-1")]["status"] == "ACTIVE"  # listed on that day, exited later
    assert state_valid_at(history, "2025-05-07")["records"]["lists"][ev.key_of("L-1")]["status"] == "EXITED"
    assert state_valid_at(history, "2019-01-01") is None


# --- what grading reads ----------------------------------------------------------------------------
def test_grade_inputs_unchanged_tells_a_permit_from_a_penalty():
    from projections.fold import fold
    from projections.grading import grade_inputs_unchanged

    before = given()
    after_permit, permitted = fold(before, ev.permit_granted(), 1)
    after_penalty, penalised = fold(before, severe(), 1)
    assert permitted.kind == penalised.kind == APPLIED
    assert grade_inputs_unchanged(before, after_permit)
    assert not grade_inputs_unchanged(before, after_penalty)


@settings(max_examples=100, deadline=None)
@hypothesis_given(st.data())
def test_a_fold_that_leaves_the_graded_collections_alone_leaves_the_grade_alone(data):
    from projections.fold import fold
    from projections.grading import grade_inputs_unchanged

    policies = (DEFAULT_POLICY, stricter_from("2024-06-01"))
    state = None
    for offset, event in mixed_log(data):
        before = state
        state, _ = fold(state, event, offset)
        if before is not None and grade_inputs_unchanged(before, state):
            assert all(grade(before, p) == grade(state, p) for p in policies)


@settings(max_examples=60, deadline=None)
@hypothesis_given(st.data())
def test_the_processor_skipping_unchanged_grades_stores_and_publishes_what_regrading_every_event_does(data):
    import projections.effects as effects
    import streams.ledger as ledger
    from streams.codec import encode_event
    from streams.store import MemoryStore

    book = PolicyBook((DEFAULT_POLICY, stricter_from("2024-09-01")))
    records = [(0, offset, ev.COMPANY.encode(), encode_event(event)) for offset, event in mixed_log(data)]
    cut = data.draw(st.integers(1, len(records)), label="commit after")  # a second batch reads the store

    def run():
        processor, changes = ledger.LedgerProcessor(MemoryStore(), policy=book), []
        for chunk in (records[:cut], records[cut:]):
            batch = processor.process(chunk)
            changes += batch.grade_changes
            processor.commit(batch)
        return processor.store.grades, changes

    skipping = run()
    real = effects.grade_inputs_unchanged  # where the worker's effects decide whether to regrade
    effects.grade_inputs_unchanged = lambda before, after: False
    try:
        regrading = run()
    finally:
        effects.grade_inputs_unchanged = real
    assert skipping == regrading


def test_a_permit_recorded_under_a_new_policy_regrades_the_file_under_it():
    from streams.codec import encode_event
    from streams.ledger import LedgerProcessor
    from streams.store import MemoryStore

    stricter = stricter_from("2024-09-01")
    log = [ev.subject_registered(), severe(on="2024-06-10"), ev.permit_granted(on="2024-10-10")]
    processor = LedgerProcessor(MemoryStore(), policy=PolicyBook((DEFAULT_POLICY, stricter)))
    for offset, event in enumerate(log):  # one event a batch: the permit's "before" is read back from the store
        processor.commit(processor.process([(0, offset, ev.COMPANY.encode(), encode_event(event))]))
    stored = processor.store.grade(ev.COMPANY)
    assert stored == grade(processor.store.get(ev.COMPANY), stricter)
    assert stored["policy_version"] == stricter.version != DEFAULT_POLICY.version


def test_a_policy_book_pickles_to_an_equal_read_only_one():
    import pickle
    from types import MappingProxyType

    copy = pickle.loads(pickle.dumps(packaged_policies()))  # `rebuild` sends it to its child processes
    assert copy == packaged_policies()
    for policy, original in zip(copy.policies, packaged_policies().policies):
        assert policy.calendar == original.calendar
        assert isinstance(policy.rating_points, MappingProxyType)
        assert all(isinstance(points, MappingProxyType) for points in policy.rating_points.values())


def test_a_grade_change_carries_the_policy_it_was_graded_under():
    from projections.grading import grade_change
    change = grade_change(None, grade(given(severe()), DEFAULT_POLICY))
    assert change == {"from_letter": None, "to_letter": "B", "from_score": None, "to_score": 850,
                      "policy_version": "2024.1", "added": change["added"], "removed": []}
    assert [(r["record_id"], r["rule"], r["points"]) for r in change["added"]] == [("P-1", "penalty_on_display", -150)]


def test_grade_inputs_unchanged_compares_the_inspections_too():
    from projections.fold import fold
    from projections.grading import grade_inputs_unchanged

    inspected = given(ev.inspection_recorded("CC-1", "PROBLEM_FOUND"))
    after_permit, _ = fold(inspected, ev.permit_granted(), inspected["as_of"]["offset"] + 1)
    assert grade_inputs_unchanged(inspected, after_permit)
    after_second, _ = fold(inspected, ev.inspection_recorded("CC-2", "NO_PROBLEM"), inspected["as_of"]["offset"] + 1)
    assert not grade_inputs_unchanged(inspected, after_second)


def test_a_grade_s_reasons_are_pinned_whole_points_details_and_order():
    state = given(ev.commitment_made("C-0"), ev.commitment_made("C-1"), ev.commitment_breached("C-1", false_commitment=True),
                  ev.penalty_imposed("P-1"), ev.list_entered("L-1"), ev.rating_assigned("G-1"),
                  ev.inspection_recorded("CC-1", "PROBLEM_FOUND"))
    # by hand from policies/2024.1.yaml: 1000 - 150 (false commitment) - 100 (ABNORMAL_OPERATION) - 20 (inspection
    # PROBLEM_FOUND) - 20 (GENERAL penalty) + 30 (TAX A) = 740: C (at least 700); the open C-0 counts nothing
    result = grade(state, DEFAULT_POLICY)
    assert (result["letter"], result["score"], result["start_score"]) == ("C", 740, 1000)
    assert (result["policy_version"], result["policy_effective_from"]) == ("2024.1", "2020-01-01")
    assert result["reasons"] == [
        {"record_id": "C-1", "rule": "false_commitment", "points": -150, "detail": "虚假承诺"},
        {"record_id": "L-1", "rule": "list_entry", "points": -100, "detail": "ABNORMAL_OPERATION"},
        {"record_id": "CC-1", "rule": "inspection", "points": -20, "detail": "双随机抽查 2025-01-06：PROBLEM_FOUND"},
        {"record_id": "P-1", "rule": "penalty_on_display", "points": -20, "detail": "GENERAL 行政处罚 郑市监罚〔2025〕P-1号"},
        {"record_id": "G-1", "rule": "rating", "points": 30, "detail": "TAX A 级（有效期 2025-01-06 至 长期）"},
    ]


def test_a_hard_rule_reason_comes_first_and_says_why():
    result = grade(given(ev.list_entered("L-9", list_kind="SERIOUS_DISHONESTY"), ev.commitment_made("C-1"),
                         ev.commitment_breached("C-1")), DEFAULT_POLICY)
    assert (result["letter"], result["score"]) == ("D", 650)  # 1000 - 300 - 50, and D whatever the score
    assert result["reasons"] == [
        {"record_id": "L-9", "rule": "hard_rule", "points": 0, "detail": "SERIOUS_DISHONESTY 名单：直接评为 D"},
        {"record_id": "L-9", "rule": "list_entry", "points": -300, "detail": "SERIOUS_DISHONESTY"},
        {"record_id": "C-1", "rule": "commitment_breached", "points": -50, "detail": "违背承诺"},
    ]


def test_an_overdue_commitment_s_reason_names_its_due_date():
    state = given(ev.commitment_made("C-1", due_on="2025-03-31"),
                  ev.commitment_overdue("C-1", due_on="2025-03-31", on="2025-04-01"))
    result = grade(state, DEFAULT_POLICY)
    assert (result["letter"], result["score"]) == ("A", 950)  # 1000 - 50: counted as a breach, A from 950
    assert result["reasons"] == [
        {"record_id": "C-1", "rule": "commitment_overdue", "points": -50, "detail": "承诺逾期未履行（2025-03-31）"}]


def test_a_rating_the_policy_gives_no_points_counts_nothing():
    # a level the policy does not list (TAX has A, B, M, C, D), and a kind a policy leaves out
    expect(given(ev.rating_assigned("G-1", rating_kind="TAX", level="E")), "A", 1000, [])
    without_other = replace(DEFAULT_POLICY, rating_points={k: v for k, v in DEFAULT_POLICY.rating_points.items()
                                                           if k != "OTHER"})
    state = given(ev.rating_assigned("G-1", rating_kind="OTHER", level="D"), policy=without_other)
    expect(state, "A", 1000, [], policy=without_other)
    expect(state, "A", 950, [("G-1", "rating", -50)])  # the packaged policy: OTHER D is -50
