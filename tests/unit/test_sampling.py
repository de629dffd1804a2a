"""The 双随机一公开 inspection sample: allocation per grade, the seeded draw, filters, errors."""
from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.fold import new_state
from projections.sampling import (GRADES, SAMPLE_SIZE_MAX, ROW_FIELDS, Candidate, allocate, candidates, draw_sample,
                                  filter_candidates, sample_rows)

RATIOS = {"A": 0.02, "B": 0.05, "C": 0.10, "D": 0.30}


def cand(subject_id: str, grade: str, *, region: str | None = "420202", industry: str | None = "C1761",
         authorities=("AUTH-1",), name: str | None = None, score: int = 80) -> Candidate:
    return Candidate(subject_id=subject_id, name=name, grade=grade, score=score, region_code=region,
                     industry_code=industry, authorities=frozenset(authorities))


def population(**counts: int) -> list[Candidate]:
    return [cand(f"{grade}{i:05d}", grade) for grade, n in sorted(counts.items()) for i in range(n)]


def drawn(sample) -> dict[str, int]:
    counts = Counter(c.grade for c in sample)
    return {g: counts.get(g, 0) for g in GRADES}


# --- allocation, hand-computed ------------------------------------------------------------------
def test_largest_remainder_with_ties_to_the_earlier_letter():
    # weights 0.02*50=1, 0.05*20=1, 0.10*20=2, 0.30*10=3 (sum 7); size 10: quotas 1.43 1.43 2.86 4.29,
    # floors 1 1 2 4 (8), the 2 left go to C (.857) and then A before B (both .429)
    cands = population(A=50, B=20, C=20, D=10)
    assert drawn(draw_sample(cands, 10, seed=1, ratios=RATIOS)) == {"A": 2, "B": 1, "C": 3, "D": 4}
    assert allocate({"A": 50, "B": 20, "C": 20, "D": 10}, 10, RATIOS) == {"A": 2, "B": 1, "C": 3, "D": 4}


def test_a_d_subject_is_fifteen_times_as_likely_as_an_a_subject():
    # 1000 A and 1000 D: weights 20 and 300, so D takes 15/16 of a sample of 160
    assert allocate({"A": 1000, "D": 1000}, 160, RATIOS) == {"A": 10, "B": 0, "C": 0, "D": 150}


def test_a_full_grade_gives_its_excess_to_the_others_by_the_same_rule():
    # A 10, B 10, C 3, D 1, size 12: weights .2 .5 .3 .3 -> D's quota 2.77 > 1: all of D;
    # 11 left over .2 .5 .3 -> C's quota 3.3 > 3: all of C; 8 left over .2 .5 -> 2.29 5.71 -> A 2, B 6
    cands = population(A=10, B=10, C=3, D=1)
    assert drawn(draw_sample(cands, 12, seed=3, ratios=RATIOS)) == {"A": 2, "B": 6, "C": 3, "D": 1}


def test_a_single_capped_grade():
    # A 100, D 2, size 10: quotas 7.69 and 2.31 > 2 -> D 2, A 8
    assert allocate({"A": 100, "D": 2}, 10, RATIOS) == {"A": 8, "B": 0, "C": 0, "D": 2}


def test_grades_with_ratio_zero_are_drawn_only_when_the_others_run_out():
    ratios = {**RATIOS, "A": 0}
    assert allocate({"A": 5, "D": 10}, 4, ratios) == {"A": 0, "B": 0, "C": 0, "D": 4}
    assert allocate({"A": 5, "D": 1}, 4, ratios) == {"A": 3, "B": 0, "C": 0, "D": 1}  # total stays min(size, n)
    assert allocate({"A": 3, "B": 1}, 2, {g: 0 for g in GRADES}) == {"A": 2, "B": 0, "C": 0, "D": 0}


def test_ratios_count_as_the_decimals_they_are_written_as():
    # .1*3 and .3*1 are both 0.3 exactly: a tie, so C (the earlier letter) gets the extra subject,
    # although in binary floating point 0.1*3 > 0.3
    assert allocate({"C": 3, "D": 1}, 1, {"A": 0, "B": 0, "C": 0.1, "D": 0.3}) == {"A": 0, "B": 0, "C": 1, "D": 0}


def test_size_larger_than_the_population_returns_everyone():
    cands = population(A=3, B=2, C=1, D=1)
    sample = draw_sample(cands, 1000, seed=5, ratios=RATIOS)
    assert sample == sorted(cands, key=lambda c: (c.grade, c.subject_id))
    assert draw_sample([], 10, seed=5, ratios=RATIOS) == []


# --- the draw ----------------------------------------------------------------------------------
def test_same_seed_same_sample_whatever_the_input_order():
    cands = population(A=300, B=100, C=50, D=20)
    first = draw_sample(cands, 40, seed=2025, ratios=RATIOS)
    assert draw_sample(list(reversed(cands)), 40, seed=2025, ratios=RATIOS) == first
    assert first == sorted(first, key=lambda c: (c.grade, c.subject_id))
    assert len({c.subject_id for c in first}) == 40


def test_different_seeds_give_different_samples_of_the_same_composition():
    # weights 6 5 5 6 (sum 22): quotas 10.9 9.1 9.1 10.9 -> 11 9 9 11 whatever the seed
    cands = population(A=300, B=100, C=50, D=20)
    samples = [draw_sample(cands, 40, seed=s, ratios=RATIOS) for s in range(5)]
    assert len({tuple(c.subject_id for c in sample) for sample in samples}) == 5
    assert all(drawn(sample) == {"A": 11, "B": 9, "C": 9, "D": 11} for sample in samples)


def test_each_grade_is_drawn_with_its_own_stream():
    # other D subjects do not change which A subjects are drawn
    base = population(A=100, D=10)
    other = population(A=100) + [cand(f"X{i:04d}", "D") for i in range(10)]
    a_base = [c for c in draw_sample(base, 10, seed=9, ratios=RATIOS) if c.grade == "A"]
    a_other = [c for c in draw_sample(other, 10, seed=9, ratios=RATIOS) if c.grade == "A"]
    assert len(a_base) == 4 and a_base == a_other


grade_counts = st.fixed_dictionaries({g: st.integers(0, 40) for g in GRADES})
ratio_values = st.fixed_dictionaries({g: st.sampled_from([0, 0.01, 0.02, 0.05, 0.1, 0.3, 0.5, 1]) for g in GRADES})


@settings(max_examples=200, deadline=None)
@given(counts=grade_counts, size=st.integers(1, 200), ratios=ratio_values, seed=st.integers(-10**6, 10**6))
def test_allocation_and_draw_properties(counts, size, ratios, seed):
    cands = population(**counts)
    sample = draw_sample(cands, size, seed, ratios)
    got = drawn(sample)
    assert sum(got.values()) == min(size, len(cands))
    assert all(got[g] <= counts[g] for g in GRADES)
    assert got == allocate(counts, size, ratios)
    assert draw_sample(cands, size, seed, ratios) == sample
    assert len({c.subject_id for c in sample}) == len(sample)
    weights = {g: Fraction(str(ratios[g])) * counts[g] for g in GRADES}
    total = sum(weights.values())
    if total and all(min(size, len(cands)) * weights[g] / total < counts[g] for g in GRADES):
        # no grade is full: every count is its quota rounded down or up
        for g in GRADES:
            quota = min(size, len(cands)) * weights[g] / total
            assert math.floor(quota) <= got[g] <= math.ceil(quota)


# --- candidates and filters --------------------------------------------------------------------
def state(subject_id: str, *, name=None, region=None, industry=None, records=()) -> dict:
    s = new_state({"id": subject_id, "kind": "LEGAL_PERSON"})
    s["subject"].update({k: v for k, v in (("name", name), ("region_code", region), ("industry_code", industry))
                         if v is not None})
    for collection, record_id, authority in records:
        s["records"][collection][record_id] = {"source": {"authority_code": authority, "authority_name": "x"}}
    return s


def test_candidates_from_states():
    states = [state("S2", region="420202", industry="C1761",
                    records=[("penalties", "P-1", "AUTH-1"), ("permits", "L-1", "AUTH-2"), ("ratings", "R-1", "AUTH-1")]),
              state("S1", name="黄石市某某机械有限公司")]
    graded = {"S1": {"letter": "A", "score": 95, "reasons": []}, "S2": {"letter": "D", "score": 41, "reasons": []}}
    got = candidates(states, lambda s: graded[s["subject"]["id"]])
    assert got == [Candidate("S1", "黄石市某某机械有限公司", "A", 95, None, None, frozenset()),
                   Candidate("S2", None, "D", 41, "420202", "C1761", frozenset({"AUTH-1", "AUTH-2"}))]
    with pytest.raises(ValueError, match="^grade: S1"):
        candidates(states[1:], lambda s: {"letter": "E", "score": 0})


def test_filters():
    cands = [cand("1", "A", region="420202", industry="C1761", authorities={"X"}),
             cand("2", "B", region="420203", industry="C1762", authorities={"X", "Y"}),
             cand("3", "C", region="410105", industry="F5211", authorities={"Y"}),
             cand("4", "D", region=None, industry=None, authorities=())]
    ids = lambda cs: [c.subject_id for c in cs]  # noqa: E731
    assert ids(filter_candidates(cands)) == ["1", "2", "3", "4"]
    assert ids(filter_candidates(cands, region="4202")) == ["1", "2"]
    assert ids(filter_candidates(cands, region="420202")) == ["1"]
    assert ids(filter_candidates(cands, industry="C176")) == ["1", "2"]
    assert ids(filter_candidates(cands, industry="C")) == ["1", "2"]
    assert ids(filter_candidates(cands, authority="Y")) == ["2", "3"]
    assert ids(filter_candidates(cands, authority="X", region="4202", industry="C1762")) == ["2"]
    assert ids(filter_candidates(cands, authority="X1")) == []  # exact, not a prefix


def test_sample_rows():
    rows = sample_rows([cand("1", "A", name="甲", score=97)])
    assert rows == [{"subject_id": "1", "name": "甲", "grade": "A", "score": 97, "region_code": "420202",
                     "industry_code": "C1761"}]
    assert tuple(rows[0]) == ROW_FIELDS


# --- errors name the field ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, -1, SAMPLE_SIZE_MAX + 1, 2.5, "10", True])
def test_bad_size(size):
    with pytest.raises(ValueError, match=r"^size: .*1\.\.100000"):
        draw_sample(population(A=2), size, seed=1, ratios=RATIOS)


def test_the_largest_size_is_allowed():
    assert len(draw_sample(population(A=2), SAMPLE_SIZE_MAX, seed=1, ratios=RATIOS)) == 2


@pytest.mark.parametrize("ratios, words", [
    ({"A": 0.02, "B": 0.05, "C": 0.1}, "no ratio for grade D"),
    ({**RATIOS, "E": 0.5}, "unknown grade E"),
    ({**RATIOS, "B": 1.5}, "grade B"),
    ({**RATIOS, "C": -0.1}, "grade C"),
    ({**RATIOS, "D": float("nan")}, "grade D"),
    ({**RATIOS, "A": "0.02"}, "grade A"),
    ([0.02, 0.05, 0.1, 0.3], "must map"),
])
def test_bad_ratios(ratios, words):
    with pytest.raises(ValueError, match="^ratios: ") as error:
        draw_sample(population(A=2), 1, seed=1, ratios=ratios)
    assert words in str(error.value)


def test_bad_seed_and_candidates():
    with pytest.raises(ValueError, match="^seed: "):
        draw_sample(population(A=2), 1, seed="x", ratios=RATIOS)
    with pytest.raises(ValueError, match="^cands: .*appears twice"):
        draw_sample([cand("1", "A"), cand("1", "A")], 1, seed=1, ratios=RATIOS)
    with pytest.raises(ValueError, match="^cands: .*grade 'E'"):
        draw_sample([cand("1", "E")], 1, seed=1, ratios=RATIOS)


# --- the ratios as the policy means them (issue 29 R9) -----------------------------------------------
from dataclasses import replace  # noqa: E402

from projections.policy import DEFAULT_POLICY  # noqa: E402
from projections.sampling import (Inspector, assign_inspectors, by_ratio, draw_by_ratio,  # noqa: E402
                                  eligible)


def test_the_issue_s_case_draws_ceil_ratio_times_count_per_grade():
    cands = population(A=9000, B=800, C=150, D=50)
    draw = draw_by_ratio(cands, seed=1, ratios=RATIOS)
    assert draw.by_ratio == draw.drawn == {"A": 180, "B": 40, "C": 15, "D": 15} and not draw.capped
    assert drawn(draw.sample) == draw.drawn
    capped = draw_by_ratio(cands, seed=1, ratios=RATIOS, cap=20)  # scaled down in proportion, and says so
    assert capped.capped and capped.drawn == {"A": 15, "B": 3, "C": 1, "D": 1} and drawn(capped.sample) == capped.drawn
    assert draw_by_ratio(cands, seed=1, ratios=RATIOS, cap=1000).drawn == draw.drawn  # a cap above is no cap


def test_by_ratio_rounds_up_exactly():
    assert by_ratio({"A": 50, "B": 20, "C": 30, "D": 1}, RATIOS) == {"A": 1, "B": 1, "C": 3, "D": 1}
    assert by_ratio({"A": 0, "B": 0, "C": 0, "D": 0}, RATIOS) == {"A": 0, "B": 0, "C": 0, "D": 0}


@settings(max_examples=200, deadline=None)
@given(counts=grade_counts, cap=st.one_of(st.none(), st.integers(1, 60)), ratios=ratio_values,
       seed=st.integers(-10**6, 10**6))
def test_draw_by_ratio_properties(counts, cap, ratios, seed):
    cands = population(**counts)
    draw = draw_by_ratio(cands, seed, ratios, cap)
    wanted = {g: math.ceil(Fraction(str(ratios[g])) * counts[g]) for g in GRADES}
    assert draw.by_ratio == wanted and drawn(draw.sample) == draw.drawn
    assert all(draw.drawn[g] <= wanted[g] <= counts[g] for g in GRADES)
    assert sum(draw.drawn.values()) == (min(cap, sum(wanted.values())) if cap else sum(wanted.values()))
    assert draw.capped == (cap is not None and sum(wanted.values()) > cap)
    assert draw_by_ratio(list(reversed(cands)), seed, ratios, cap) == draw


def test_deregistered_subjects_and_natural_persons_are_never_drawn_individual_businesses_by_policy():
    cands = [cand("1", "D"), replace(cand("2", "D"), deregistered=True), replace(cand("3", "D"), subject_kind="NATURAL_PERSON"),
             replace(cand("4", "D"), subject_kind="INDIVIDUAL_BUSINESS")]
    assert [c.subject_id for c in eligible(cands, DEFAULT_POLICY.individual_business_drawn)] == ["1", "4"]
    assert [c.subject_id for c in eligible(cands, False)] == ["1"]


def test_candidates_know_the_subject_kind_and_deregistration():
    s = new_state({"id": "S1", "kind": "INDIVIDUAL_BUSINESS"})
    s["subject"]["deregistered_on"] = "2025-01-06"
    (c,) = candidates([s], lambda _: {"letter": "A", "score": 1000})
    assert (c.subject_kind, c.deregistered) == ("INDIVIDUAL_BUSINESS", True)


ROSTER = [Inspector(f"ZF{i:03d}", f"执法人员{i}", "AUTH-1" if i < 3 else "AUTH-2" if i < 6 else "AUTH-3")
          for i in range(9)]


def test_two_inspectors_a_subject_none_of_an_authority_with_a_record_on_it_deterministic_for_a_seed():
    sample = [cand("1", "A", authorities=("AUTH-1",)), cand("2", "D", authorities=("AUTH-2", "AUTH-3")),
              cand("3", "B", authorities=())]
    assigned = assign_inspectors(sample, ROSTER, seed=7)
    assert {k: len(v) for k, v in assigned.items()} == {"1": 2, "2": 2, "3": 2}
    assert all(i.authority_code != "AUTH-1" for i in assigned["1"])
    assert all(i.authority_code == "AUTH-1" for i in assigned["2"])  # the only authority without a record on it
    assert all(len({i.inspector_id for i in v}) == 2 for v in assigned.values())
    assert assign_inspectors(sample, list(reversed(ROSTER)), seed=7) == assigned
    with pytest.raises(ValueError, match="^inspectors: 2 needs 4"):
        assign_inspectors(sample, ROSTER, seed=7, per_subject=4)


@given(st.text(max_size=20), st.sampled_from(["=", "+", "-", "@", "\t", "\r", ""]))
def test_a_csv_cell_never_starts_like_a_formula(text, start):
    from projections.sampling import FORMULA_STARTS, spreadsheet_cell

    value = start + text
    cell = spreadsheet_cell(value)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell == value if not value.startswith(FORMULA_STARTS) else cell == "'" + value  # nothing else changes
    assert spreadsheet_cell(-5) == -5 and spreadsheet_cell(None) is None  # numbers are numbers


# --- what the draw says, word for word, at its bounds ------------------------------------------------
@pytest.mark.parametrize("ratios, message", [
    ([0.02, 0.05, 0.1, 0.3], "ratios: must map each grade A, B, C, D to a ratio, got [0.02, 0.05, 0.1, 0.3]"),
    ({"A": 0.02, "B": 0.05}, "ratios: no ratio for grade C, D"),
    ({**RATIOS, "F": 0.5, "E": 0.5}, "ratios: unknown grade E, F (grades are A, B, C, D)"),
])
def test_bad_ratios_are_named_in_full(ratios, message):
    with pytest.raises(ValueError) as error:
        by_ratio({"A": 1}, ratios)
    assert str(error.value) == message


def test_a_grade_out_of_the_letters_is_named_in_full():
    with pytest.raises(ValueError) as error:
        draw_sample([cand("1", "E")], 1, seed=1, ratios=RATIOS)
    assert str(error.value) == "cands: 1 has grade 'E', not one of A, B, C, D"
    with pytest.raises(ValueError) as error:
        candidates([state("S1")], lambda s: {"letter": "E", "score": 0})
    assert str(error.value) == "grade: S1 was graded 'E', not one of A, B, C, D"


def test_a_cap_goes_to_the_largest_remainders_not_the_largest_shares():
    # wanted A 7, B 2 (ratio 1): cap 3 gives quotas 7/3 = 2.33 and 2/3 = 0.67; floors 2 + 0, the one left to B
    draw = draw_by_ratio(population(A=7, B=2), seed=1, ratios={g: 1 for g in GRADES}, cap=3)
    assert (draw.population, draw.by_ratio, draw.drawn, draw.capped) == (
        {"A": 7, "B": 2, "C": 0, "D": 0}, {"A": 7, "B": 2, "C": 0, "D": 0}, {"A": 2, "B": 1, "C": 0, "D": 0}, True)


def test_by_ratio_counts_a_grade_missing_from_the_population_as_none():
    assert by_ratio({"A": 10}, RATIOS) == {"A": 1, "B": 0, "C": 0, "D": 0}


@pytest.mark.parametrize("seed", ["x", True, 1.0])
def test_draw_by_ratio_takes_a_whole_number_seed_only(seed):
    with pytest.raises(ValueError) as error:
        draw_by_ratio(population(A=2), seed, RATIOS)
    assert str(error.value) == f"seed: must be a whole number, got {seed!r}"


def test_a_subject_whose_grading_raises_is_left_out_and_named_or_stops_the_draw():
    def grade_of(s):
        if s["subject"]["id"] == "S1":
            raise ZeroDivisionError("a bug")
        return {"letter": "B", "score": 900}
    left_out: list[str] = []
    got = candidates([state("S1"), state("S2")], grade_of, left_out)
    assert [c.subject_id for c in got] == ["S2"] and left_out == ["S1"]
    with pytest.raises(ZeroDivisionError):
        candidates([state("S1"), state("S2")], grade_of)


def test_a_record_without_an_authority_code_names_no_authority():
    s = state("S1", records=[("penalties", "P-1", "AUTH-1"), ("permits", "L-1", "")])
    s["records"]["ratings"]["R-1"] = {"source": None}
    (got,) = candidates([s], lambda _: {"letter": "A", "score": 1000})
    assert got.authorities == frozenset({"AUTH-1"})


def test_inspectors_per_subject_from_one_to_ten_and_a_pool_of_exactly_that_many():
    one = assign_inspectors([cand("1", "A", authorities=())], ROSTER[:1], seed=7, per_subject=1)
    assert one == {"1": [ROSTER[0]]}
    roster = [Inspector(f"ZF{i:03d}", f"执法人员{i}", "AUTH-9") for i in range(10)]
    ten = assign_inspectors([cand("1", "A", authorities=())], roster, seed=7, per_subject=10)
    assert sorted(i.inspector_id for i in ten["1"]) == [f"ZF{i:03d}" for i in range(10)]
    for bad in (0, 11, True, "2"):
        with pytest.raises(ValueError) as error:
            assign_inspectors([], roster, seed=7, per_subject=bad)
        assert str(error.value) == f"per_subject: must be a whole number in 1..10, got {bad!r}"


def test_the_roster_is_bounded_and_its_ids_unique():
    roster = [Inspector(f"ZF{i:06d}", "执法人员", "AUTH-9") for i in range(100_000)]
    assert assign_inspectors([], roster, seed=7) == {}
    with pytest.raises(ValueError) as error:
        assign_inspectors([], roster + [Inspector("ZZ", "执法人员", "AUTH-9")], seed=7)
    assert str(error.value) == "inspectors: at most 100000"
    with pytest.raises(ValueError) as error:
        assign_inspectors([], ROSTER + ROSTER[:1], seed=7)
    assert str(error.value) == "inspectors: an inspector_id appears twice"
